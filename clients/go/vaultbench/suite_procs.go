package vaultbench

// The processes the suite starts — dev vaults, a Redis server — and their
// environment. Each start returns a value whose stop method signals the
// process, waits for it (killing it after a grace period) and removes what
// it left behind; callers defer it, so an error or Ctrl-C stops them too.

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

const (
	startTimeout = 60 * time.Second // a dev vault generates a gpg key first
	stopGrace    = 20 * time.Second // the daemon drains for up to 15s
)

// env is the environment of every process the suite starts: ours, without
// what would change how they behave — a systemd notify socket or inherited
// listening sockets, a vault address or token, the user's GnuPG home or
// store — and with a config home of our own, so no user config.toml is
// read. extra is added last.
func (s *suite) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "NOTIFY_SOCKET", name == "JOURNAL_STREAM", name == "GNUPGHOME", name == "PYTHONPATH",
			name == "XDG_CONFIG_HOME",
			strings.HasPrefix(name, "LISTEN_"), strings.HasPrefix(name, "WATCHDOG_"),
			strings.HasPrefix(name, "VAULT_"), strings.HasPrefix(name, "PASSWORD_STORE_"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "XDG_CONFIG_HOME="+filepath.Join(s.tmp, "config"))
	return append(env, extra...)
}

// process is a started child with its exit awaited in the background.
type process struct {
	cmd    *exec.Cmd
	output *tailBuffer // the end of its stderr (and stdout, for Redis)
	done   chan struct{}
	err    error // Wait's result, once done is closed
}

// startProcess starts cmd with its stderr, and its stdout unless already
// set, kept in the process's output.
func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, output: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.output
	if cmd.Stdout == nil {
		cmd.Stdout = p.output
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes an early exit with the end of the process's output.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited: %v: %s", filepath.Base(p.cmd.Path), p.err, strings.TrimSpace(p.output.String()))
}

// stop sends SIGTERM and waits, killing the process after grace.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// devVault is a running `jawn-vault dev --json`.
type devVault struct {
	*process
	Socket    string `json:"socket"`
	Token     string `json:"token"` // the admin token
	StateDir  string `json:"state_dir"`
	Store     string `json:"store"`
	Backend   string `json:"backend"`
	GnuPGHome string `json:"gnupghome"`
}

// startDev starts a dev vault and returns once it printed its JSON line,
// that is once it serves.
func (s *suite) startDev(ctx context.Context, args ...string) (*devVault, error) {
	cmd := exec.Command(s.vaultBin, append([]string{"dev", "--json"}, args...)...)
	cmd.Env = s.env()
	line := &firstLine{ch: make(chan []byte, 1)}
	cmd.Stdout = line
	p, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	v := &devVault{process: p}
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case b := <-line.ch:
		if err := json.Unmarshal(b, v); err != nil || v.Socket == "" || v.Token == "" {
			v.stop()
			return nil, fmt.Errorf("jawn-vault dev printed %q, not its JSON line", bytes.TrimSpace(b))
		}
		if v.Backend == "pass" && v.GnuPGHome == "" {
			// A daemon from before DevInfo had "gnupghome": the key is
			// beside the store.
			v.GnuPGHome = filepath.Join(filepath.Dir(v.Store), "gnupg")
		}
		return v, nil
	case <-p.done:
		return nil, p.exitError()
	case <-timer.C:
		p.stop(stopGrace)
		return nil, fmt.Errorf("jawn-vault dev printed nothing in %s: %s", startTimeout, strings.TrimSpace(p.output.String()))
	case <-ctx.Done():
		p.stop(stopGrace)
		return nil, ctx.Err()
	}
}

// stop stops the vault. A vault that had to be killed could not remove its
// temporary directory or stop its gpg-agent; stop does that for it.
func (v *devVault) stop() {
	v.process.stop(stopGrace)
	dir := filepath.Dir(v.StateDir)
	if v.StateDir == "" || !strings.HasPrefix(filepath.Base(dir), "jvdev") {
		return
	}
	if _, err := os.Stat(dir); err != nil {
		return
	}
	if v.GnuPGHome != "" {
		_ = exec.Command("gpgconf", "--homedir", v.GnuPGHome, "--kill", "all").Run()
	}
	_ = os.RemoveAll(dir)
}

func (v *devVault) dial(ctx context.Context, token string) (*vault.Client, error) {
	return vault.Dial(ctx, vault.Options{Socket: v.Socket, Token: token})
}

// status returns the vault's counters, read with the admin token.
func (v *devVault) status(ctx context.Context) (wire.StatusResult, error) {
	c, err := v.dial(ctx, v.Token)
	if err != nil {
		return wire.StatusResult{}, err
	}
	defer c.Close()
	return c.Status(ctx)
}

// benchValue is the i-th value the suite stores: valueSize bytes of text
// that JSON needs not escape.
func benchValue(i int) []byte {
	v := []byte(fmt.Sprintf("bench-value-%04d-", i))
	for len(v) < valueSize {
		v = append(v, 'x')
	}
	return v[:valueSize]
}

// seed stores n values under prefix as the admin and makes a token that
// may read them (and nothing else), as a service would have.
func seed(ctx context.Context, v *devVault, prefix string, n int) (paths []string, reader string, err error) {
	c, err := v.dial(ctx, v.Token)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	for i := range n {
		p := fmt.Sprintf("%s/k%02d", prefix, i)
		if err := c.Set(ctx, p, benchValue(i)); err != nil {
			return nil, "", fmt.Errorf("set %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	res, err := c.TokenCreate(ctx, wire.TokenCreateParams{
		Name:   "bench-reader-" + strings.ReplaceAll(prefix, "/", "-"),
		Grants: []wire.GrantJSON{{Pattern: prefix + "/**", Level: "read"}},
	})
	if err != nil {
		return nil, "", fmt.Errorf("creating the reader token: %w", err)
	}
	return paths, res.Token, nil
}

// redisServer is a running redis-server on a Unix socket, without
// persistence.
type redisServer struct {
	*process
	sock    string
	version string
}

func (s *suite) startRedis(ctx context.Context) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed (Debian package redis-server; `make bench` installs it as root)")
	}
	dir := filepath.Join(s.tmp, "redis")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--unixsocket", sock, "--unixsocketperm", "700", "--port", "0",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no")
	cmd.Env = s.env()
	r := &redisServer{sock: sock}
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		r.version = strings.TrimSpace(string(out))
	}
	p, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	r.process = p
	// Await the socket: Redis creates it once it accepts commands.
	deadline := time.Now().Add(10 * time.Second)
	for delay := time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		if reply, err := r.do("PING"); err == nil && reply == "+PONG" {
			return r, nil
		}
		if p.exited() {
			return nil, p.exitError()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.stop(5 * time.Second)
			return nil, fmt.Errorf("redis-server did not answer on %s: %s", sock, strings.TrimSpace(p.output.String()))
		}
		time.Sleep(delay)
	}
}

// do sends one command on a new connection and returns the first line of
// the reply, without its CRLF.
func (r *redisServer) do(args ...string) (string, error) {
	c, err := net.DialTimeout("unix", r.sock, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	if _, err := c.Write(b); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func (r *redisServer) set(key string, value []byte) error {
	reply, err := r.do("SET", key, string(value))
	if err != nil {
		return err
	}
	if reply != "+OK" {
		return fmt.Errorf("redis SET %s: %s", key, reply)
	}
	return nil
}

// firstLine is a writer that delivers the first line written to it.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	ch   chan []byte // buffered, 1
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent {
		return len(p), nil
	}
	f.buf = append(f.buf, p...)
	if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
		f.sent = true
		f.ch <- f.buf[:i+1]
	} else if len(f.buf) > 64<<10 {
		f.sent = true
		f.ch <- f.buf
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
