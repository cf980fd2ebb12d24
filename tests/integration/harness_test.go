// Package integration runs the real jawn-vault binary on a temporary socket
// against a real pass store (real gpg, a throwaway key) and a real SQLite
// state directory, and drives it the way clients do.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

var (
	daemonBin string // the jawn-vault binary under test
	cliBin    string // vault-cli
	gnupgHome string // one keyring for the package
	keyID     string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "jvit")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	daemonBin, cliBin = os.Getenv("JAWN_VAULT_BIN"), os.Getenv("VAULT_CLI_BIN")
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&daemonBin, "jawn-vault"}, {&cliBin, "vault-cli"}} {
		if *b.dst != "" {
			continue
		}
		*b.dst = filepath.Join(tmp, b.pkg)
		out, err := exec.Command("go", "build", "-o", *b.dst, "github.com/jamditis/jawn-vault/cmd/"+b.pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	gnupgHome = filepath.Join(tmp, "gnupg")
	if keyID, err = testpass.NewKeyringDir(gnupgHome); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testpass.RemoveKeyring(gnupgHome)
	return m.Run()
}

// lockedBuffer collects the daemon's stderr.
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

// vaultd is one running daemon.
type vaultd struct {
	t      *testing.T
	dir    string
	socket string
	state  string
	store  string
	config string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	notify *net.UnixConn
	exited chan error
}

type opts struct {
	args   []string // extra flags
	config string   // config file contents
	store  string   // an existing store, else a new one
	env    []string
}

// start runs the daemon and waits for its READY=1 on a NOTIFY_SOCKET, as
// systemd would: no sleeping, no polling.
func start(t *testing.T, o opts) *vaultd {
	t.Helper()
	dir, err := os.MkdirTemp("", "jvd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &vaultd{t: t, dir: dir, socket: filepath.Join(dir, "vault.sock"), state: filepath.Join(dir, "state"), store: o.store, stderr: &lockedBuffer{}}
	if d.store == "" {
		d.store = testpass.NewStore(t, gnupgHome, keyID)
	}
	d.config = filepath.Join(dir, "config.toml")
	if err := os.WriteFile(d.config, []byte(o.config), 0o600); err != nil {
		t.Fatal(err)
	}
	d.launch(o)
	t.Cleanup(d.stop)
	return d
}

func (d *vaultd) launch(o opts) {
	t := d.t
	t.Helper()
	nsPath := filepath.Join(d.dir, fmt.Sprintf("notify-%d.sock", time.Now().UnixNano()%1e6))
	ns, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: nsPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	d.notify = ns
	args := append([]string{"--config", d.config, "--socket", d.socket, "--state-dir", d.state, "--store", d.store, "--log-level", "debug"}, o.args...)
	d.cmd = exec.Command(daemonBin, args...)
	d.cmd.Env = append(testpass.Env(gnupgHome, ""), append([]string{"NOTIFY_SOCKET=" + nsPath}, o.env...)...)
	d.cmd.Stderr = d.stderr
	d.cmd.Stdout = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.exited = make(chan error, 1)
	go func() { d.exited <- d.cmd.Wait() }()
	d.awaitNotify("READY=1")
}

// awaitNotify waits for a state in the daemon's sd_notify messages.
func (d *vaultd) awaitNotify(state string) string {
	d.t.Helper()
	buf := make([]byte, 4096)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_ = d.notify.SetReadDeadline(deadline)
		n, err := d.notify.Read(buf)
		if err != nil {
			select {
			case err := <-d.exited:
				d.t.Fatalf("daemon exited before %s: %v\n%s", state, err, d.stderr)
			default:
			}
			d.t.Fatalf("no %s from the daemon: %v\n%s", state, err, d.stderr)
		}
		msg := string(buf[:n])
		for line := range strings.SplitSeq(msg, "\n") {
			if line == state {
				return msg
			}
		}
	}
}

// stop sends SIGTERM and waits; the daemon must exit cleanly.
func (d *vaultd) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		d.t.Errorf("daemon did not stop on SIGINT\n%s", d.stderr)
	}
	d.notify.Close()
	d.cmd = nil
}

// kill stops the daemon with SIGKILL, as a crash would.
func (d *vaultd) kill() {
	_ = d.cmd.Process.Kill()
	<-d.exited
	d.notify.Close()
	d.cmd = nil
}

func (d *vaultd) dial(token string) *vault.Client {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := vault.Dial(ctx, vault.Options{Socket: d.socket, Token: token})
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// token issues a token as the local owner.
func (d *vaultd) token(name string, bindUID *int64, grants ...string) string {
	d.t.Helper()
	p := wire.TokenCreateParams{Name: name, BindUID: bindUID}
	for _, g := range grants {
		pattern, level, _ := strings.Cut(g, ":")
		p.Grants = append(p.Grants, wire.GrantJSON{Pattern: pattern, Level: level})
	}
	res, err := d.dial("").TokenCreate(ctx(d.t), p)
	if err != nil {
		d.t.Fatal(err)
	}
	return res.Token
}

// raw is a plain socket connection for sending arbitrary bytes.
type raw struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (d *vaultd) raw() *raw {
	d.t.Helper()
	c, err := net.Dial("unix", d.socket)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { c.Close() })
	return &raw{t: d.t, c: c, br: bufio.NewReaderSize(c, 1<<20)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

// answer reads one answer line and decodes it.
func (r *raw) answer() wire.Response {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := r.br.ReadBytes('\n')
	if err != nil {
		r.t.Fatalf("reading an answer: %v (got %q)", err, line)
	}
	resp, err := wire.ParseResponse(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		r.t.Fatalf("bad answer %q: %v", line, err)
	}
	return resp
}

// closed reports whether the daemon closed the connection.
func (r *raw) closed() bool {
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := r.br.ReadByte()
	return err != nil
}

func code(err error) wire.Code { return wire.CodeOf(err) }

// auditRows reads the whole audit log as the owner.
func (d *vaultd) auditRows(q wire.AuditQueryParams) []wire.AuditEntry {
	d.t.Helper()
	if q.Limit == 0 {
		q.Limit = 10000
	}
	rows, err := d.dial("").AuditQuery(ctx(d.t), q)
	if err != nil {
		d.t.Fatal(err)
	}
	return rows
}

// cli runs vault-cli against the daemon.
func (d *vaultd) cli(stdin string, env []string, args ...string) (string, string, int) {
	d.t.Helper()
	cmd := exec.Command(cliBin, append([]string{"--socket", d.socket}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// mustJSON is json.Marshal for test inputs.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// grepDir reports the files under dir that contain needle.
func grepDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	_ = filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}
