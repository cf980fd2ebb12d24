package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/rotation/rotationtest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

var daemonBin, cliBin string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "jvrbin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	daemonBin, cliBin = os.Getenv("JAWN_VAULT_BIN"), os.Getenv("VAULT_CLI_BIN")
	var wg sync.WaitGroup
	failed := make(chan string, 2)
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&daemonBin, "jawn-vault"}, {&cliBin, "vault-cli"}} {
		if *b.dst != "" {
			continue
		}
		*b.dst = filepath.Join(tmp, b.pkg)
		wg.Go(func() {
			out, err := exec.Command("go", "build", "-o", *b.dst, "github.com/jamditis/jawn-vault/cmd/"+b.pkg).CombinedOutput()
			if err != nil {
				failed <- fmt.Sprintf("building %s: %v\n%s", b.pkg, err, out)
			}
		})
	}
	wg.Wait()
	close(failed)
	for msg := range failed {
		fmt.Fprintln(os.Stderr, msg)
		return 1
	}
	return m.Run()
}

// The rotation under test and its secrets. Every secret holds SENTINEL.
const (
	name         = "slack-bot"
	accessPath   = "claude/tokens/slack-bot"
	refreshPath  = "claude/tokens/slack-bot-refresh"
	idPath       = "claude/slack/client-id"
	secretPath   = "claude/slack/client-secret"
	botPath      = "claude/tokens/telegram-bot"
	clientID     = "cid-SENTINEL-ID"
	clientSecret = "csecret-SENTINEL-SECRET"
	refresh0     = "xoxe-1-SENTINEL-REFRESH-0"
	botToken     = "123456:SENTINEL-BOT-TOKEN"
	issued       = "SENTINEL-ISSUED-"
	chatID       = 4242
)

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is one test's world: a dev daemon with the rotation's secrets, a
// rotator token made as docs/ROTATION.md says, fakes, and a config file.
type env struct {
	t         *testing.T
	dir       string
	socket    string
	admin     string
	rotToken  string
	tokenFile string
	config    string
	slack     *rotationtest.TokenServer
	tg        *rotationtest.Telegram
	daemonLog *lockedBuffer

	mu      sync.Mutex
	outputs []string // every output of every process run, for the secret search
	secrets []string // further secrets (tokens a test made) for the search
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "jvr") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &env{t: t, dir: dir, socket: filepath.Join(dir, "s.sock"), daemonLog: &lockedBuffer{}}
	e.startDev()
	e.slack = rotationtest.NewSlack(t, clientID, clientSecret, refresh0, issued)
	e.tg = rotationtest.NewTelegram(t, botToken)

	c := e.client(e.admin)
	defer c.Close()
	for p, v := range map[string]string{refreshPath: refresh0, idPath: clientID, secretPath: clientSecret, botPath: botToken} {
		if err := c.Set(context.Background(), p, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	// The rotator's token, as docs/ROTATION.md makes it.
	r := e.cliRaw(e.admin, "token", "create", "rotator", "--grant", accessPath, "--grant", refreshPath,
		"--grant", idPath, "--grant", secretPath, "--grant", botPath, "-p", "write")
	if r.code != 0 {
		t.Fatalf("token create: %d %s", r.code, r.stderr)
	}
	e.rotToken = strings.TrimSpace(r.stdout)
	e.tokenFile = filepath.Join(dir, "rotator.token")
	if err := os.WriteFile(e.tokenFile, []byte(e.rotToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.writeConfig("4s", "3s")
	t.Cleanup(e.assertNoSecrets) // runs before the daemon stops
	return e
}

// startDev runs `jawn-vault dev --json` and reads its one line.
func (e *env) startDev() {
	t := e.t
	cmd := exec.Command(daemonBin, "dev", "--json", "--socket", e.socket, "--log-level", "info")
	cmd.Stderr = e.daemonLog
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("jawn-vault dev did not stop on SIGTERM")
		}
	})
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			lines <- s.Text()
		}
		_, _ = bufio.NewReader(out).WriteTo(e.daemonLog)
	}()
	select {
	case line := <-lines:
		var info struct{ Socket, Token string }
		if err := json.Unmarshal([]byte(line), &info); err != nil || info.Token == "" {
			t.Fatalf("jawn-vault dev printed %q", line)
		}
		e.admin = info.Token
	case err := <-exited:
		t.Fatalf("jawn-vault dev exited: %v\n%s", err, e.daemonLog)
	case <-time.After(60 * time.Second):
		t.Fatalf("jawn-vault dev printed nothing\n%s", e.daemonLog)
	}
}

// writeConfig writes the daemon's config file with the rotation and alerts
// pointed at the fakes.
func (e *env) writeConfig(lease, timeout string) {
	e.config = filepath.Join(e.dir, "config.toml")
	body := fmt.Sprintf(`socket = %q

[[rotation]]
name = %q
provider = "slack"
access_token_path = %q
refresh_token_path = %q
client_id_path = %q
client_secret_path = %q
token_url = %q
refresh_before = "2h"
lease = %q
timeout = %q

[alerts.telegram]
bot_token_path = %q
chat_ids = [%d]
api_url = %q
`, e.socket, name, accessPath, refreshPath, idPath, secretPath, e.slack.URL, lease, timeout, botPath, chatID, e.tg.URL)
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) client(token string) *vault.Client {
	e.t.Helper()
	c, err := vault.Dial(context.Background(), vault.Options{Socket: e.socket, Token: token})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) record(s ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outputs = append(e.outputs, s...)
}

// secret adds s to what assertNoSecrets searches for.
func (e *env) secret(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

type result struct {
	stdout, stderr string
	code           int
}

// cliEnv is a clean environment with token as VAULT_TOKEN.
func cliEnv(token string, extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") {
			out = append(out, kv)
		}
	}
	if token != "" {
		out = append(out, "VAULT_TOKEN="+token)
	}
	return append(out, extra...)
}

// cliRaw runs vault-cli without recording its output (token create
// prints a token by design).
func (e *env) cliRaw(token string, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(cliBin, append([]string{"--socket", e.socket}, args...)...)
	cmd.Env = cliEnv(token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// cli runs vault-cli and records what it printed.
func (e *env) cli(token string, args ...string) result {
	e.t.Helper()
	r := e.cliRaw(token, args...)
	e.record(r.stdout, r.stderr)
	return r
}

// proc is a background process.
type proc struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan error
	notify *net.UnixConn
}

// start runs a binary in the background, with a NOTIFY_SOCKET.
func (e *env) start(bin string, environ []string, args ...string) *proc {
	e.t.Helper()
	nsPath := filepath.Join(e.dir, fmt.Sprintf("n%d.sock", time.Now().UnixNano()%1e9))
	ns, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: nsPath, Net: "unixgram"})
	if err != nil {
		e.t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(bin, args...), out: &lockedBuffer{}, exited: make(chan error, 1), notify: ns}
	p.cmd.Env = append(environ, "NOTIFY_SOCKET="+nsPath)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	e.t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		ns.Close()
		e.record(p.out.String())
	})
	return p
}

// awaitNotify waits for a state in the process's sd_notify messages.
func (p *proc) awaitNotify(t *testing.T, state string) {
	t.Helper()
	buf := make([]byte, 4096)
	_ = p.notify.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		n, err := p.notify.Read(buf)
		if err != nil {
			t.Fatalf("no %s: %v\n%s", state, err, p.out)
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line == state {
				return
			}
		}
	}
}

// wait awaits the process's exit and returns its status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit\n%s", p.cmd.Path, p.out)
		return -1
	}
}

// state reads the rotation's state as the admin.
func (e *env) state() wire.RotationState {
	e.t.Helper()
	c := e.client(e.admin)
	defer c.Close()
	rs, err := c.RotationStatus(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	return wire.RotationState{}
}

// awaitState polls the daemon until the rotation is in state, or fails
// at the deadline.
func (e *env) awaitState(state string, within time.Duration) {
	e.t.Helper()
	e.awaitStateFn(state, within, func(st wire.RotationState) bool { return st.State == state })
}

// awaitStateFn polls the daemon until ok accepts the rotation's state.
func (e *env) awaitStateFn(what string, within time.Duration, ok func(wire.RotationState) bool) wire.RotationState {
	e.t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if st := e.state(); ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the rotation never reached %s (now %+v)", what, e.state())
		}
		<-tick.C
	}
}

// alert awaits a Telegram message containing s.
func (e *env) alert(s string) string {
	e.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case m := <-e.tg.Messages:
			if m.ChatID != chatID {
				e.t.Errorf("alert sent to chat %d", m.ChatID)
			}
			if strings.Contains(m.Text, s) {
				return m.Text
			}
		case <-timeout:
			e.t.Fatalf("no alert containing %q; got %+v", s, e.tg.All())
		}
	}
}

// assertNoSecrets searches everything the test's processes printed, the
// alerts, the daemon's log and audit log, and the rotation status for
// any secret: the sentinels and both vault tokens.
func (e *env) assertNoSecrets() {
	t := e.t
	audit := e.cliRaw(e.admin, "audit", "--json", "--limit", "10000")
	if audit.code != 0 {
		t.Errorf("audit: %s", audit.stderr)
	}
	var entries struct{ Entries []wire.AuditEntry }
	if err := json.Unmarshal([]byte(audit.stdout), &entries); err != nil || len(entries.Entries) == 0 {
		t.Errorf("audit log unreadable or empty (%v): the search would prove nothing", err)
	}
	status := e.cliRaw(e.admin, "rotation", "status", "--json")
	texts := map[string]string{"audit log": audit.stdout, "rotation status": status.stdout, "daemon log": e.daemonLog.String()}
	for i, m := range e.tg.All() {
		texts[fmt.Sprintf("alert %d", i)] = m.Text
	}
	e.mu.Lock()
	for i, o := range e.outputs {
		texts[fmt.Sprintf("process output %d", i)] = o
	}
	secrets := append([]string{"SENTINEL", e.admin, e.rotToken}, e.secrets...)
	e.mu.Unlock()
	for where, s := range texts {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("a secret (%.12s...) appears in the %s:\n%s", secret, where, s)
			}
		}
	}
}
