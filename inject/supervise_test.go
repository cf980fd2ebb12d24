package inject

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/inject/vaulttest"
)

// awaitTimeout bounds every wait in the supervision tests.
const awaitTimeout = 20 * time.Second

func TestParseOnChange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		mode string
		sig  syscall.Signal
		ok   bool
	}{
		{"restart", "restart", 0, true},
		{"exit", "exit", 0, true},
		{"signal:HUP", "signal", syscall.SIGHUP, true},
		{"signal:SIGUSR1", "signal", syscall.SIGUSR1, true},
		{"signal:usr2", "signal", syscall.SIGUSR2, true},
		{"signal:NOPE", "", 0, false},
		{"signal:", "", 0, false},
		{"reload", "", 0, false},
		{"", "", 0, false},
	} {
		oc, err := parseOnChange(tc.in)
		if (err == nil) != tc.ok || oc.mode != tc.mode || oc.sig != tc.sig {
			t.Errorf("parseOnChange(%q) = %+v, %v; want mode %q sig %v ok=%v", tc.in, oc, err, tc.mode, tc.sig, tc.ok)
		}
	}
}

// supervised is a vault-exec --on-change running as a real process.
type supervised struct {
	cmd    *exec.Cmd
	done   chan int
	stderr *syncBuf
}

// syncBuf is vault-exec's stderr: written by os/exec's copier, read by the
// test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuf) Len() int { return len(s.String()) }

// script writes an executable shell script. It uses a child process, not
// os.WriteFile: a write descriptor held here could leak into a process
// forked meanwhile by a parallel test, and exec would fail with ETXTBSY.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prog.sh")
	cmd := exec.Command("sh", "-c", `cat > "$0" && chmod +x "$0"`, p)
	cmd.Stdin = strings.NewReader("#!/bin/sh\n" + body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writing %s: %v: %s", p, err, out)
	}
	return p
}

// setSecret stores value at path as the owner.
func setSecret(t *testing.T, d *vaulttest.Daemon, path, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
	defer cancel()
	c, err := d.Owner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, path, []byte(value)); err != nil {
		t.Fatal(err)
	}
}

// startSupervised runs the vault-exec binary with environ and args.
func startSupervised(t *testing.T, environ []string, args ...string) *supervised {
	t.Helper()
	bin, err := vaulttest.Build(vaulttest.Module + "/cmd/vault-exec")
	if err != nil {
		t.Fatal(err)
	}
	s := &supervised{cmd: exec.Command(bin, args...), done: make(chan int, 1), stderr: &syncBuf{}}
	s.cmd.Env = environ
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.done <- exitStatus(s.cmd.ProcessState)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(awaitTimeout):
			_ = s.cmd.Process.Kill()
		}
	})
	return s
}

// wait returns vault-exec's exit status, failing the test after the deadline.
func (s *supervised) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-s.done:
		s.done <- code
		return code
	case <-time.After(awaitTimeout):
		t.Fatalf("vault-exec still running after %v; stderr:\n%s", awaitTimeout, s.stderr)
		return -1
	}
}

// awaitLines polls file until its lines satisfy ok, or fails the test.
func awaitLines(t *testing.T, s *supervised, file, what string, ok func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(awaitTimeout)
	for {
		b, _ := os.ReadFile(file)
		lines := strings.Fields(string(b))
		if ok(lines) {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; %s holds %q; vault-exec's stderr:\n%s", what, awaitTimeout, file, lines, s.stderr)
		}
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("%s: vault-exec exited %d first; stderr:\n%s", what, code, s.stderr)
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
}

func lastIs(want string) func([]string) bool {
	return func(l []string) bool { return len(l) > 0 && l[len(l)-1] == want }
}

func baseEnviron(d *vaulttest.Daemon) []string {
	return []string{"PATH=/usr/bin:/bin", "VAULT_SOCKET=" + d.Socket}
}

// superviseRestart starts a dev vault holding "one" at path, and
// vault-exec --on-change restart around a program that appends $S (the
// secret at path) to the file out; it returns once the program started.
func superviseRestart(t *testing.T, path string) (d *vaulttest.Daemon, s *supervised, out string) {
	t.Helper()
	d = devVault(t)
	setSecret(t, d, path, "one")
	out = filepath.Join(t.TempDir(), "out")
	prog := script(t, `echo "$S" >> "$1"; exec sleep 600`+"\n")
	s = startSupervised(t, baseEnviron(d), "--on-change", "restart", "--map", "S="+path, prog, out)
	awaitLines(t, s, out, "first start", lastIs("one"))
	return d, s, out
}

func TestSuperviseRestart(t *testing.T) {
	t.Parallel()
	d, s, out := superviseRestart(t, "test/sup/restart")
	setSecret(t, d, "test/sup/restart", "two")
	lines := awaitLines(t, s, out, "restart with the new value", lastIs("two"))
	if lines[0] != "one" {
		t.Errorf("runs: %q", lines)
	}
	// A failed re-fetch keeps the program running with its old value.
	ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
	defer cancel()
	c, err := d.Owner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Delete(ctx, "test/sup/restart"); err != nil {
		t.Fatal(err)
	}
	awaitLog(t, s, "keeps its old secrets")
	if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") != len(lines) {
		t.Errorf("the program was restarted although the secret could not be read: %q", b)
	}
	if !strings.Contains(s.stderr.String(), "S (test/sup/restart)") {
		t.Errorf("the log does not name the variable and path:\n%s", s.stderr)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(t); code != 128+int(syscall.SIGTERM) {
		t.Errorf("status after SIGTERM = %d, want %d", code, 128+int(syscall.SIGTERM))
	}
}

func TestSuperviseSignal(t *testing.T) {
	t.Parallel()
	d := devVault(t)
	setSecret(t, d, "test/sup/signal", "one")
	shm, err := os.MkdirTemp("/dev/shm", "jvsup")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(shm)
	out := filepath.Join(t.TempDir(), "out")
	prog := script(t, `trap 'echo "hup:$(cat "$F_FILE")" >> "$1"' HUP
echo "start:$(cat "$F_FILE")" >> "$1"
while :; do sleep 0.05; done
`)
	environ := append(baseEnviron(d), "RUNTIME_DIRECTORY="+shm)
	s := startSupervised(t, environ, "--on-change", "signal:HUP", "--file", "F=test/sup/signal", prog, out)
	awaitLines(t, s, out, "start", lastIs("start:one"))
	setSecret(t, d, "test/sup/signal", "two")
	lines := awaitLines(t, s, out, "SIGHUP after the change, with the file rewritten", lastIs("hup:two"))
	if lines[0] != "start:one" || strings.Count(strings.Join(lines, " "), "start:") != 1 {
		t.Errorf("the program was restarted rather than signalled: %q", lines)
	}
}

func TestSuperviseExit(t *testing.T) {
	t.Parallel()
	d := devVault(t)
	setSecret(t, d, "test/sup/exit", "one")
	out := filepath.Join(t.TempDir(), "out")
	prog := script(t, `echo "$S" >> "$1"; exec sleep 600`+"\n")
	s := startSupervised(t, baseEnviron(d), "--on-change", "exit", "--map", "S=test/sup/exit", prog, out)
	awaitLines(t, s, out, "start", lastIs("one"))
	setSecret(t, d, "test/sup/exit", "two")
	if code := s.wait(t); code != ExitTempFail {
		t.Fatalf("status after a change = %d, want %d; stderr:\n%s", code, ExitTempFail, s.stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "one\n" {
		t.Errorf("the program ran again: %q", b)
	}
}

func TestSuperviseForwardsSignals(t *testing.T) {
	t.Parallel()
	d := devVault(t)
	setSecret(t, d, "test/sup/fwd", "one")
	out := filepath.Join(t.TempDir(), "out")
	prog := script(t, `trap 'echo usr1 >> "$1"' USR1
trap 'echo term >> "$1"; exit 7' TERM
echo ready >> "$1"
while :; do sleep 0.05; done
`)
	s := startSupervised(t, baseEnviron(d), "--on-change", "restart", "--map", "S=test/sup/fwd", prog, out)
	awaitLines(t, s, out, "start", lastIs("ready"))
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	awaitLines(t, s, out, "SIGUSR1 forwarded", lastIs("usr1"))
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(t); code != 7 {
		t.Fatalf("status = %d, want the program's 7; stderr:\n%s", code, s.stderr)
	}
	awaitLines(t, s, out, "SIGTERM forwarded", lastIs("term"))
}

func TestSuperviseTokenNotPassed(t *testing.T) {
	t.Parallel()
	d := devVault(t)
	if d.Token == "" {
		t.Fatal("the dev vault gave no token")
	}
	setSecret(t, d, "test/sup/token", "one")
	out := filepath.Join(t.TempDir(), "env")
	prog := script(t, `env > "$1"`+"\n")
	environ := append(baseEnviron(d), "VAULT_TOKEN="+d.Token)
	s := startSupervised(t, environ, "--on-change", "restart", "--map", "S=test/sup/token", prog, out)
	if code := s.wait(t); code != 0 {
		t.Fatalf("status = %d; stderr:\n%s", code, s.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "S=one\n") {
		t.Errorf("the secret is not in the program's environment:\n%s", b)
	}
	if strings.Contains(string(b), "VAULT_TOKEN") || strings.Contains(string(b), d.Token) {
		t.Errorf("the token reached the program:\n%s", b)
	}
}

func TestSuperviseExitStatus(t *testing.T) {
	t.Parallel()
	d := devVault(t)
	setSecret(t, d, "test/sup/status", "one")
	s := startSupervised(t, baseEnviron(d), "--on-change", "restart", "--map", "S=test/sup/status", "--", "sh", "-c", "exit 3")
	if code := s.wait(t); code != 3 {
		t.Fatalf("status = %d, want 3; stderr:\n%s", code, s.stderr)
	}
	if s.stderr.Len() != 0 {
		t.Errorf("stderr: %s", s.stderr)
	}
}

func TestSuperviseSkipsUnchanged(t *testing.T) {
	t.Parallel()
	d := devVault(t)
	setSecret(t, d, "test/sup/same", "one")
	out := filepath.Join(t.TempDir(), "out")
	prog := script(t, `echo "$S" >> "$1"; exec sleep 600`+"\n")
	s := startSupervised(t, baseEnviron(d), "--on-change", "restart", "--map", "S=test/sup/same", prog, out)
	awaitLines(t, s, out, "start", lastIs("one"))
	setSecret(t, d, "test/sup/same", "one")
	deadline := time.Now().Add(awaitTimeout)
	for !strings.Contains(s.stderr.String(), "unchanged; nothing to do") {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the unchanged value; stderr:\n%s", s.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if b, _ := os.ReadFile(out); string(b) != "one\n" {
		t.Errorf("the program was restarted for an unchanged value: %q", b)
	}
}

// When the daemon goes away under a supervised program, the program keeps
// running; once a daemon answers on the socket again vault-exec watches
// anew, and a change after that still restarts the program.
func TestSuperviseWatchReconnects(t *testing.T) {
	t.Parallel()
	d, s, out := superviseRestart(t, "test/sup/reconnect")

	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	awaitLog(t, s, "the watch on the mapped paths broke")
	// A new daemon on the same socket (jawn-vault dev: a fresh store).
	d2, err := vaulttest.StartDev(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d2.Stop() })
	awaitLog(t, s, "watching the mapped paths again\n")
	setSecret(t, d2, "test/sup/reconnect", "two")
	lines := awaitLines(t, s, out, "restart with the value from the new daemon", lastIs("two"))
	if lines[0] != "one" {
		t.Errorf("runs: %q", lines)
	}
	select {
	case code := <-s.done:
		t.Fatalf("vault-exec exited %d; stderr:\n%s", code, s.stderr)
	default:
	}
}

// awaitLog polls vault-exec's stderr until it holds want, or fails.
func awaitLog(t *testing.T, s *supervised, want string) {
	t.Helper()
	deadline := time.Now().Add(awaitTimeout)
	for !strings.Contains(s.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("vault-exec did not log %q; stderr:\n%s", want, s.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
