// Package daemontest runs the built Jawn Vault binaries the way an owner
// runs them, for end-to-end tests: the real jawn-vault daemon on a real pass
// store (real gpg, a throwaway passphrase-less key made by internal/testpass)
// with a real SQLite state directory, and vault-cli, vault-exec and
// vault-migrate as separate processes.
//
// Binaries are located once per test binary (Setup, from TestMain): the
// paths in $JAWN_VAULT_BIN, $VAULT_CLI_BIN, $VAULT_EXEC_BIN and
// $VAULT_MIGRATE_BIN when set (make test-go sets them), else
// `go build` into a temporary directory. A daemon is started with a config
// file and NOTIFY_SOCKET, as systemd starts it, and is ready when it sends
// READY=1: readiness is awaited with a deadline, never slept for. Dev
// starts `jawn-vault dev --json` instead, the throwaway vault with its own
// key and example secrets, and awaits the line it prints when it serves.
//
// What it deliberately does not do: fake anything, or hide a failure. There
// is no in-process daemon and no mock; a daemon that exits before READY is
// reported with its exit status and what it printed. It does not skip when
// gpg or pass are missing (testpass fails with the package to install).
package daemontest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/internal/testpass"
)

// Module is this module's path.
const Module = "github.com/jamditis/jawn-vault"

// readyTimeout bounds the wait for READY=1 (or for a daemon to exit).
const readyTimeout = 60 * time.Second

// Bins are the binaries under test.
type Bins struct {
	Daemon, CLI, Exec, Migrate string
}

// Setup locates or builds the binaries; call it from TestMain and call the
// returned cleanup after m.Run.
func Setup() (Bins, func(), error) {
	tmp, err := os.MkdirTemp("", "jvbin")
	if err != nil {
		return Bins{}, nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	var b Bins
	for _, x := range []struct {
		dst *string
		env string
		cmd string
	}{
		{&b.Daemon, "JAWN_VAULT_BIN", "jawn-vault"},
		{&b.CLI, "VAULT_CLI_BIN", "vault-cli"},
		{&b.Exec, "VAULT_EXEC_BIN", "vault-exec"},
		{&b.Migrate, "VAULT_MIGRATE_BIN", "vault-migrate"},
	} {
		// The binary keeps its own name, so that a shell command from the
		// runbook ("vault-cli doctor") finds it on PATH.
		if p := os.Getenv(x.env); p != "" && filepath.Base(p) == x.cmd {
			if *x.dst, err = filepath.Abs(p); err != nil {
				cleanup()
				return Bins{}, nil, err
			}
			continue
		}
		*x.dst = filepath.Join(tmp, x.cmd)
		out, err := exec.Command("go", "build", "-o", *x.dst, Module+"/cmd/"+x.cmd).CombinedOutput()
		if err != nil {
			cleanup()
			return Bins{}, nil, fmt.Errorf("building %s: %v\n%s", x.cmd, err, out)
		}
	}
	return b, cleanup, nil
}

// PATH returns a PATH with the binaries' directories first.
func (b Bins) PATH() string {
	var dirs []string
	seen := map[string]bool{}
	for _, p := range []string{b.Daemon, b.CLI, b.Exec, b.Migrate} {
		if d := filepath.Dir(p); !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return strings.Join(append(dirs, path), string(os.PathListSeparator))
}

// Options describe a daemon's setup. Zero values get fresh temporary ones.
type Options struct {
	StateDir string // the state directory (e.g. a mount point the test made)
	Socket   string // the socket path, e.g. another daemon's
	Config   string // extra lines for config.toml

	// GnuPGHome and KeyID name an existing keyring (e.g. one made once in
	// TestMain with testpass.NewKeyringDir) to use instead of a new one;
	// Store, an existing store of that keyring to serve instead of a new
	// one. The caller owns and removes them.
	GnuPGHome, KeyID string
	Store            string
	// Args are extra daemon flags after --config (e.g. --max-conns 3, or
	// --log-level debug); a flag wins over the config file.
	Args []string
	// Env is extra environment for the daemon, after Env() and
	// NOTIFY_SOCKET (e.g. GOTRACEBACK=crash).
	Env []string
	// Launcher is a command the daemon runs under, which must exec it so
	// that its pid is the daemon's (e.g. prlimit --nofile=64:64).
	Launcher []string
	// OwnGroup starts the daemon in a process group of its own, so that
	// KillGroup can take its children (gpg, git) with it, as systemd's
	// control-group kill does.
	OwnGroup bool
}

// Daemon is one jawn-vault daemon and everything it uses.
type Daemon struct {
	t    testing.TB
	bins Bins

	Dir        string // short private directory: the socket and NOTIFY_SOCKET live here
	Socket     string
	StateDir   string
	Store      string
	GnuPGHome  string
	KeyID      string
	Config     string // config.toml; also $XDG_CONFIG_HOME/jawn-vault/config.toml
	ConfigHome string // XDG_CONFIG_HOME for vault-cli: finds Config with no --config
	Token      string // the admin token `jawn-vault dev` made (Dev only; else "")

	dev      bool     // started by Dev: it cannot be started again with Start
	args     []string // Options.Args, plus AddArgs
	env      []string // Options.Env
	launcher []string // Options.Launcher
	ownGroup bool     // Options.OwnGroup
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	err      error // cmd.Wait's result, once exited is closed
	notify   *net.UnixConn
	out      *logBuf // every run's stderr and stdout
}

// New makes a keyring, a store (`pass init`) and a config, but does not
// start the daemon. Everything it made is removed, and a daemon still
// running is killed, when t ends; a keyring or store given in o is the
// caller's and is left alone.
func New(t testing.TB, bins Bins, o Options) *Daemon {
	t.Helper()
	gnupg, key := o.GnuPGHome, o.KeyID
	if gnupg == "" {
		gnupg, key = testpass.NewKeyring(t)
	}
	// A Unix socket path must stay under 108 bytes; t.TempDir may not.
	dir, err := os.MkdirTemp("", "jvrb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &Daemon{t: t, bins: bins, Dir: dir, Socket: filepath.Join(dir, "vault.sock"),
		StateDir: o.StateDir, Store: o.Store, GnuPGHome: gnupg, KeyID: key, args: slices.Clone(o.Args),
		env: slices.Clone(o.Env), launcher: slices.Clone(o.Launcher), ownGroup: o.OwnGroup, out: &logBuf{}}
	if d.Store == "" {
		d.Store = testpass.NewStore(t, gnupg, key)
	}
	if o.Socket != "" {
		d.Socket = o.Socket
	}
	if d.StateDir == "" {
		d.StateDir = filepath.Join(t.TempDir(), "state")
	}
	d.ConfigHome = filepath.Join(t.TempDir(), "config")
	d.Config = filepath.Join(d.ConfigHome, "jawn-vault", "config.toml")
	if err := d.writeConfig(o.Config); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Kill)
	return d
}

// writeConfig writes Config: the socket, store, keyring and state
// directory, then extra.
func (d *Daemon) writeConfig(extra string) error {
	cfg := fmt.Sprintf("socket = %q\nstore = %q\ngnupghome = %q\nstate_dir = %q\n%s", d.Socket, d.Store, d.GnuPGHome, d.StateDir, extra)
	if err := os.MkdirAll(filepath.Dir(d.Config), 0o700); err != nil {
		return err
	}
	return os.WriteFile(d.Config, []byte(cfg), 0o600)
}

// SetConfig rewrites Config with extra in place of Options.Config, e.g.
// before a SIGHUP (Signal) makes the daemon read it again.
func (d *Daemon) SetConfig(extra string) {
	d.t.Helper()
	if err := d.writeConfig(extra); err != nil {
		d.t.Fatal(err)
	}
}

// Env is the environment for the daemon, vault-cli and the runbook's shell
// commands: built from scratch (testpass.Env), plus the binaries on PATH,
// VAULT_SOCKET and XDG_CONFIG_HOME. No VAULT_TOKEN: the caller is the
// daemon's owner unless it adds one.
func (d *Daemon) Env(extra ...string) []string {
	env := testpass.Env(d.GnuPGHome, d.Store)
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + d.bins.PATH()
		}
	}
	env = append(env, "VAULT_SOCKET="+d.Socket, "XDG_CONFIG_HOME="+d.ConfigHome)
	return append(env, extra...)
}

// Start starts the daemon and waits for READY=1; t fails if it exits first.
func (d *Daemon) Start() {
	d.t.Helper()
	if err := d.TryStart(); err != nil {
		d.t.Fatal(err)
	}
}

// TryStart starts the daemon and waits for READY=1. If the daemon exits
// first it returns an *ExitError with its status and what it printed.
func (d *Daemon) TryStart() error {
	d.t.Helper()
	d.mu.Lock()
	running := d.cmd != nil
	args := slices.Clone(d.args) // AddArgs may change d.args
	d.mu.Unlock()
	if running {
		return errors.New("daemontest: the daemon is already running")
	}
	if d.dev {
		return errors.New("daemontest: a dev daemon cannot be restarted: its store went with it")
	}
	d.closeNotify() // a previous run's
	nsPath := filepath.Join(d.Dir, "notify.sock")
	_ = os.Remove(nsPath)
	ns, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: nsPath, Net: "unixgram"})
	if err != nil {
		return err
	}
	mark := d.out.Len()
	argv := slices.Concat(d.launcher, []string{d.bins.Daemon, "--config", d.Config}, args)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = d.Env(append([]string{"NOTIFY_SOCKET=" + nsPath}, d.env...)...)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if d.ownGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	// Closing ns once the daemon exits ends the wait below if it dies
	// before READY. After READY it stays open, so that AwaitNotify can
	// read what the daemon sent before it exited (STOPPING=1); Stop, Kill,
	// Wait and the next start close it.
	readySeen := make(chan struct{})
	exited, err := d.launch(cmd, func() {
		select {
		case <-readySeen:
		default:
			ns.Close()
		}
	})
	if err != nil {
		ns.Close()
		return err
	}
	d.mu.Lock()
	d.notify = ns
	d.mu.Unlock()

	ready := make(chan bool, 1)
	go func() {
		buf := make([]byte, 4096)
		_ = ns.SetReadDeadline(time.Now().Add(readyTimeout))
		for {
			n, err := ns.Read(buf)
			if err != nil {
				ready <- false
				return
			}
			for line := range strings.SplitSeq(string(buf[:n]), "\n") {
				if line == "READY=1" {
					ready <- true
					return
				}
			}
		}
	}()
	if <-ready {
		close(readySeen)
		return nil
	}
	// The wait ended without READY=1: either the daemon exited (the
	// goroutine launch started closed exited, then the notify socket) or the
	// deadline passed with the daemon still running.
	select {
	case <-exited:
	default:
		d.Kill()
		return fmt.Errorf("daemontest: no READY=1 within %s\n%s", readyTimeout, d.out.From(mark))
	}
	d.mu.Lock()
	werr := d.err
	d.cmd = nil
	d.mu.Unlock()
	e := &ExitError{Output: d.out.From(mark), Code: -1}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		e.Code = ee.ExitCode()
	}
	return e
}

// ExitError is a daemon that exited before it was ready.
type ExitError struct {
	Code   int    // exit status (-1: killed by a signal)
	Output string // what it printed during this run
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("daemontest: jawn-vault exited with status %d before READY=1:\n%s", e.Code, e.Output)
}

// Running reports whether the daemon started by Start is still running.
func (d *Daemon) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// PID returns the running daemon's process id, or 0.
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// launch starts cmd and records it as the running daemon. When it exits,
// d.err holds cmd.Wait's result, the returned channel is closed, and then
// after (if not nil) runs.
func (d *Daemon) launch(cmd *exec.Cmd, after func()) (chan struct{}, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	d.mu.Lock()
	d.cmd, d.exited = cmd, exited
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		close(exited)
		if after != nil {
			after()
		}
	}()
	return exited, nil
}

// Stop sends SIGTERM, as systemctl stop does, and waits. t fails if the
// daemon does not stop within 20 s (it is then killed) or exits non-zero.
// Stopping a daemon that is not running does nothing.
func (d *Daemon) Stop() {
	d.t.Helper()
	d.StopWith(syscall.SIGTERM)
}

// StopWith is Stop with another signal: SIGINT is Ctrl-C in the terminal
// that runs `jawn-vault dev` or a foreground daemon.
func (d *Daemon) StopWith(sig syscall.Signal) {
	d.t.Helper()
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		if d.ownGroup {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		} else {
			_ = cmd.Process.Kill()
		}
		<-exited
		d.t.Errorf("daemontest: jawn-vault did not stop on %s\n%s", sigName(sig), d.Log())
	}
	d.mu.Lock()
	err := d.err
	d.cmd = nil
	d.mu.Unlock()
	d.closeNotify()
	if err != nil {
		d.t.Errorf("daemontest: jawn-vault exited with %v on %s\n%s", err, sigName(sig), d.Log())
	}
}

// Kill ends the daemon with SIGKILL, as a crash would; it does nothing if
// the daemon is not running.
func (d *Daemon) Kill() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
	d.mu.Lock()
	d.cmd = nil
	d.mu.Unlock()
	d.closeNotify()
}

// Log returns everything the daemon printed, over all its runs.
func (d *Daemon) Log() string { return d.out.String() }

// Owner connects as the daemon's owner (no token).
func (d *Daemon) Owner() *vault.Client { return d.Dial("") }

// Dial connects with token; the connection is closed when t ends.
func (d *Daemon) Dial(token string) *vault.Client {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := vault.Dial(ctx, vault.Options{Socket: d.Socket, Token: token})
	if err != nil {
		d.t.Fatalf("daemontest: dial %s: %v\n%s", d.Socket, err, d.Log())
	}
	d.t.Cleanup(func() { c.Close() })
	return c
}

// Result is what a command printed and its exit status.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Run runs a program with env (d.Env() if nil) and stdin, and returns its
// output and exit status; t fails only if it cannot be started.
func (d *Daemon) Run(env []string, stdin string, name string, args ...string) Result {
	d.t.Helper()
	if env == nil {
		env = d.Env()
	}
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		d.t.Fatalf("daemontest: %s: %v", name, err)
	}
	return r
}

// CLI runs vault-cli args with d.Env() plus env.
func (d *Daemon) CLI(env []string, args ...string) Result {
	d.t.Helper()
	return d.Run(d.Env(env...), "", d.bins.CLI, args...)
}

// Sh runs one shell command line with `sh -c` and d.Env() plus env.
func (d *Daemon) Sh(line string, env ...string) Result {
	d.t.Helper()
	return d.Run(d.Env(env...), "", "sh", "-c", line)
}

// Finding is one finding of `vault-cli doctor --json`.
type Finding struct {
	Check   string `json:"check"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// Report is a doctor run: its findings and exit status.
type Report struct {
	Findings []Finding
	Result
}

// Status returns the worst status of check's findings, "" if there are none.
func (r Report) Status(check string) string {
	rank := map[string]int{"ok": 1, "info": 2, "warn": 3, "fail": 4}
	worst := ""
	for _, f := range r.Findings {
		if f.Check == check && rank[f.Status] > rank[worst] {
			worst = f.Status
		}
	}
	return worst
}

// Find returns check's findings.
func (r Report) Find(check string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

// Doctor runs `vault-cli doctor --json` with the daemon's config and an
// empty units directory (the machine's own units are not the test's), plus
// args.
func (d *Daemon) Doctor(args ...string) Report {
	d.t.Helper()
	units := d.unitsPath()
	_ = os.MkdirAll(units, 0o755)
	args = append([]string{"doctor", "--json", "--config", d.Config, "--units-dir", units}, args...)
	// A later --units-dir in args wins over this one.
	r := Report{Result: d.CLI(nil, args...)}
	var rep struct {
		Findings []Finding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		d.t.Fatalf("daemontest: doctor --json printed no report: %v\n%s", err, r.Result)
	}
	r.Findings = rep.Findings
	return r
}

// logBuf collects a process's output; safe for concurrent use.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// From returns what was written from offset on.
func (l *logBuf) From(off int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off > l.b.Len() {
		return ""
	}
	return l.b.String()[off:]
}
