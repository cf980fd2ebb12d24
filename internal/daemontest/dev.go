package daemontest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Dev starts `jawn-vault dev --json`, the throwaway vault a user tries
// things out with, and waits for the JSON line it prints once it serves and
// has made its admin token (d.Token). The daemon makes its own key, pass
// store (with example secrets under claude/) and state directory; Dev fills
// Socket, Store, GnuPGHome, KeyID and StateDir from what it printed, and
// writes a Config that describes that vault, for `vault-cli doctor
// --config`. t fails if the daemon exits or prints nothing within the
// deadline, or uses the in-memory store (gpg is required, as for New).
//
// Like `jawn-vault dev` typed in a terminal, the daemon inherits the test's
// environment, less the systemd variables (NOTIFY_SOCKET, LISTEN_*) that
// belong to whoever started the test. It is stopped with SIGINT, as Ctrl-C
// stops it, when t ends, so that it removes its temporary directory and
// gpg-agent (Kill would leave them behind). It cannot be restarted: Start
// and TryStart return an error.
func Dev(t testing.TB, bins Bins) *Daemon {
	t.Helper()
	// A Unix socket path must stay under 108 bytes; t.TempDir may not.
	dir, err := os.MkdirTemp("", "jvdv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &Daemon{t: t, bins: bins, Dir: dir, Socket: filepath.Join(dir, "vault.sock"), dev: true, out: &logBuf{}}
	line := &firstLine{ch: make(chan string, 1)}
	cmd := exec.Command(bins.Daemon, "dev", "--json", "--socket", d.Socket)
	cmd.Env = inheritedEnv()
	cmd.Stdout, cmd.Stderr = line, d.out
	exited, err := d.launch(cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.StopWith(syscall.SIGINT) })

	var s string
	select {
	case s = <-line.ch:
	case <-exited:
		e := &ExitError{Output: d.Log(), Code: -1}
		var ee *exec.ExitError
		if errors.As(d.exitErr(), &ee) {
			e.Code = ee.ExitCode()
		}
		d.mu.Lock()
		d.cmd = nil
		d.mu.Unlock()
		t.Fatalf("daemontest: jawn-vault dev printed nothing: %v", e)
	case <-time.After(readyTimeout):
		d.Kill()
		t.Fatalf("daemontest: jawn-vault dev printed nothing within %s\n%s", readyTimeout, d.Log())
	}
	var info struct {
		Socket    string `json:"socket"`
		Token     string `json:"token"`
		StateDir  string `json:"state_dir"`
		Store     string `json:"store"`
		Backend   string `json:"backend"`
		GnuPGHome string `json:"gnupghome"`
	}
	if err := json.Unmarshal([]byte(s), &info); err != nil || info.Socket == "" {
		t.Fatalf("daemontest: jawn-vault dev printed %q: %v\n%s", s, err, d.Log())
	}
	if info.Backend != "pass" {
		t.Fatalf("daemontest: jawn-vault dev uses the %s backend; the tests need gpg and a pass store\n%s", info.Backend, d.Log())
	}
	d.Socket, d.Token, d.StateDir, d.Store, d.GnuPGHome = info.Socket, info.Token, info.StateDir, info.Store, info.GnuPGHome
	id, err := os.ReadFile(filepath.Join(d.Store, ".gpg-id"))
	if err != nil {
		t.Fatal(err)
	}
	d.KeyID = strings.TrimSpace(string(id))
	d.ConfigHome = filepath.Join(t.TempDir(), "config")
	d.Config = filepath.Join(d.ConfigHome, "jawn-vault", "config.toml")
	cfg := fmt.Sprintf("socket = %q\nstore = %q\ngnupghome = %q\nstate_dir = %q\n", d.Socket, d.Store, d.GnuPGHome, d.StateDir)
	if err := os.MkdirAll(filepath.Dir(d.Config), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// exitErr is cmd.Wait's result once the daemon has exited.
func (d *Daemon) exitErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// inheritedEnv is the test's environment without the variables by which
// systemd talks to the process it started: a daemon under test must not
// notify, or take the sockets of, the service manager that runs the tests.
func inheritedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "NOTIFY_SOCKET" || strings.HasPrefix(name, "LISTEN_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// firstLine is a process's stdout that hands over its first line and
// discards the rest.
type firstLine struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
	ch   chan string // receives the first line, newline included
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return len(p), nil
	}
	f.buf.Write(p)
	if i := bytes.IndexByte(f.buf.Bytes(), '\n'); i >= 0 {
		f.done = true
		f.ch <- string(f.buf.Bytes()[:i+1])
	}
	return len(p), nil
}

// Units returns the units directory that Doctor passes to --units-dir
// (created if needed): empty unless the test puts unit files and drop-ins
// in it, so that doctor never reads the machine's own units. Doctor
// callers that build their own command line pass it themselves.
func (d *Daemon) Units() string {
	d.t.Helper()
	units := d.unitsPath()
	if err := os.MkdirAll(units, 0o755); err != nil {
		d.t.Fatal(err)
	}
	return units
}

// unitsPath is where Units and Doctor keep the units directory. (The name
// is older than Units: the directory is empty unless a test fills it.)
func (d *Daemon) unitsPath() string { return filepath.Join(d.Dir, "no-units") }

// ParseReport decodes the output of `vault-cli doctor --json` strictly: a
// field the tests do not know, in the report or in a finding, is an error,
// so a new field cannot slip past them unread.
func ParseReport(stdout string) ([]Finding, error) {
	var rep struct {
		Findings []Finding `json:"findings"`
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		return nil, err
	}
	return rep.Findings, nil
}

// sigName names the signals Stop and StopWith send, for their messages.
func sigName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return sig.String()
}
