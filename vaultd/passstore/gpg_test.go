package passstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/backend"
)

func TestEmptyKeyringIsUnavailable(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	ctx := context.Background()
	if err := s.Set(ctx, "x", []byte("v")); err != nil {
		t.Fatal(err)
	}
	other, _, _ := openTestStore(t, Options{Dir: dir, GnuPGHome: testpass.EmptyKeyring(t)})
	_, err := other.Get(ctx, "x")
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Get with no secret key: %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "gpg:") {
		t.Errorf("error does not summarise gpg's complaint: %v", err)
	}
	t.Logf("Get error: %v", err)
	if err := other.Set(ctx, "y", []byte("v")); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Set with no public key: %v, want ErrUnavailable", err)
	}
	if err := other.CheckKey(ctx); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("CheckKey with an empty keyring: %v, want ErrUnavailable", err)
	}
}

// fakeGPG writes an executable shell script standing in for gpg.
func fakeGPG(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-gpg")
	// Written by a child process, not os.WriteFile: these tests run in
	// parallel with others that fork, and a write descriptor of ours leaked
	// into such a fork would make exec of the script fail with ETXTBSY.
	cmd := exec.Command("sh", "-c", `cat > "$0" && chmod 700 "$0"`, path)
	cmd.Stdin = strings.NewReader("#!/bin/sh\n" + script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writing the fake gpg: %v %s", err, out)
	}
	return path
}

func TestGPGTimeoutKillsAndReaps(t *testing.T) {
	t.Parallel()
	_, dir, _ := newTestStore(t, false)
	testpass.PassInsert(t, gnupghome, dir, "x", []byte("v"))
	pidFile := filepath.Join(t.TempDir(), "pid")
	// exec keeps the pid: the process we must see killed and reaped is
	// the one that sleeps.
	gpg := fakeGPG(t, "echo $$ > "+pidFile+"\nexec sleep 60\n")
	s, _, _ := openTestStore(t, Options{Dir: dir, GPG: gpg, Timeout: 500 * time.Millisecond})

	start := time.Now()
	_, err := s.Get(context.Background(), "x")
	if !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Get with a hanging gpg: %v, want ErrUnavailable (timed out)", err)
	}
	// Not a timing assertion: only that we did not wait for the sleep.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Get took %v", d)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the fake gpg never ran: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// Reaped means gone: a zombie would still have a /proc entry.
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		t.Errorf("gpg child %d still exists after Get returned: %s", pid, stat)
	}
}

func TestGPGFailureSummary(t *testing.T) {
	t.Parallel()
	_, dir, _ := newTestStore(t, false)
	testpass.PassInsert(t, gnupghome, dir, "x", []byte("v"))
	noise := strings.Repeat("n", 20000)
	gpg := fakeGPG(t, "echo '"+noise+"' >&2\necho 'gpg: decryption failed: No secret key' >&2\nexit 2\n")
	s, _, _ := openTestStore(t, Options{Dir: dir, GPG: gpg})
	_, err := s.Get(context.Background(), "x")
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Get: %v, want ErrUnavailable", err)
	}
	if len(err.Error()) > 1000 {
		t.Errorf("error is %d bytes long; stderr is not bounded", len(err.Error()))
	}
}

func TestGPGOutputBounded(t *testing.T) {
	t.Parallel()
	_, dir, _ := newTestStore(t, false)
	testpass.PassInsert(t, gnupghome, dir, "x", []byte("v"))
	gpg := fakeGPG(t, "exec head -c "+strconv.Itoa(MaxEntrySize+4096)+" /dev/zero\n")
	s, _, _ := openTestStore(t, Options{Dir: dir, GPG: gpg})
	if _, err := s.Get(context.Background(), "x"); !errors.Is(err, backend.ErrTooLarge) {
		t.Errorf("Get with endless output: %v, want ErrTooLarge", err)
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	testpass.PassInsert(t, gnupghome, dir, "x", []byte("v"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, "x"); !errors.Is(err, backend.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: %v", err)
	}
}

func TestSummarize(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "",
		"gpg: one\n":                    "gpg: one",
		"a\nb\n\nc\nd\n":                "b; c; d",
		"gpg: bad \x1b[31mcolour\x00\n": "gpg: bad [31mcolour",
	} {
		if got := summarize([]byte(in)); got != want {
			t.Errorf("summarize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := summarize(bytes.Repeat([]byte("é"), 1000)); len(got) > maxSummary+3 || !strings.HasSuffix(got, "...") {
		t.Errorf("summarize did not bound a long line: %d bytes", len(got))
	}
}

func TestSecretBuffer(t *testing.T) {
	b := newSecretBuffer(1, 2048)
	first := b.buf[:cap(b.buf)]
	secret := bytes.Repeat([]byte("s"), 1000)
	if _, err := b.ReadFrom(bytes.NewReader(secret)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.buf, secret) {
		t.Errorf("buf holds %d bytes, want the 1000 written", len(b.buf))
	}
	if len(first) >= cap(b.buf) || bytes.ContainsRune(first, 's') {
		t.Errorf("the outgrown array was not wiped (or not outgrown)")
	}
	if _, err := b.Write(make([]byte, 2000)); err == nil || !b.overflow {
		t.Errorf("writing past the limit: err %v, overflow %v", err, b.overflow)
	}
	if _, err := b.ReadFrom(bytes.NewReader(make([]byte, 2000))); err == nil {
		t.Errorf("reading past the limit: no error")
	}
	b.wipe()
	if len(b.buf) != 0 || bytes.ContainsRune(b.buf[:cap(b.buf)], 's') {
		t.Errorf("wipe left data behind")
	}
}
