package reliability

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// assertCleanChildren checks that no child of the daemon is a zombie now,
// and that all of them are gone within the deadline (gpg reaped).
func assertCleanChildren(t *testing.T, d *daemon) {
	t.Helper()
	if z := zombies(d.PID()); len(z) > 0 {
		t.Errorf("zombie children of the daemon: %v", z)
	}
	awaitNoChildren(t, d.PID(), 15*time.Second)
}

// timedGet reads path on c and reports the error code and how long it
// took (reported, not asserted).
func timedGet(t *testing.T, d *daemon, token, path string) (wire.Code, []byte, time.Duration) {
	t.Helper()
	c := d.Dial(token)
	t0 := time.Now()
	v, err := c.Get(ctx(t), path)
	return code(err), v, time.Since(t0)
}

// TestGPGAgentKilledMidRun: the agent is killed between two reads; gpg
// starts a new one on demand, so the read after it is expected to succeed.
// Whatever it answers, it answers within the gpg timeout, leaves no zombie,
// and the next request is served.
func TestGPGAgentKilledMidRun(t *testing.T) {
	d := start(t, opts{args: []string{"--cache-ttl", "0", "--gpg-timeout", "3s"}})
	d.insert("svc/token", []byte("v"))
	if c, v, _ := timedGet(t, d, "", "svc/token"); c != "" || string(v) != "v" {
		t.Fatalf("before: %s %q", c, v)
	}
	out, err := exec.Command("gpgconf", "--homedir", gnupgHome, "--kill", "gpg-agent").CombinedOutput()
	if err != nil {
		t.Fatalf("gpgconf --kill gpg-agent: %v %s", err, out)
	}
	c, v, took := timedGet(t, d, "", "svc/token")
	t.Logf("read right after gpg-agent was killed: code %q, value ok %v, in %s", c, string(v) == "v", took.Round(time.Millisecond))
	if c != "" && c != wire.CodeBackendUnavailable {
		t.Fatalf("after the agent was killed: %s, want the value or backend_unavailable", c)
	}
	if c, v, _ := timedGet(t, d, "", "svc/token"); c != "" || string(v) != "v" {
		t.Fatalf("the next read: %s %q", c, v)
	}
	assertCleanChildren(t, d)
}

// TestGPGWithoutTheSecretKey: a GNUPGHOME that lacks the store's secret
// key makes reads backend_unavailable at once, and the daemon carries on.
func TestGPGWithoutTheSecretKey(t *testing.T) {
	store := testpass.NewStore(t, gnupgHome, keyID)
	testpass.PassInsert(t, gnupgHome, store, "svc/token", []byte("v"))
	empty := testpass.EmptyKeyring(t)
	d := start(t, opts{store: store, gnupghome: empty, args: []string{"--cache-ttl", "0", "--gpg-timeout", "3s"}})
	c, v, took := timedGet(t, d, "", "svc/token")
	t.Logf("read without the secret key: %q in %s", c, took.Round(time.Millisecond))
	if c != wire.CodeBackendUnavailable || len(v) > 0 {
		t.Fatalf("read without the secret key: %s %q, want backend_unavailable", c, v)
	}
	d.mustServe("after a failed decrypt")
	assertCleanChildren(t, d)
}

// TestGPGPassphraseNotCached: the store's key has a passphrase and the
// agent has none cached; gpg must not prompt (there is no one to answer),
// so reads are backend_unavailable within the timeout.
func TestGPGPassphraseNotCached(t *testing.T) {
	home := testpass.EmptyKeyring(t)
	env := testpass.Env(home, "")
	run := func(args ...string) string {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// A fixed, small S2K count spares the agent its calibration (seconds).
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte("s2k-count 65536\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run("gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "correct horse",
		"--quick-gen-key", "Locked Key <locked@jawn.invalid>", "future-default", "default", "never")
	var fpr string
	for line := range strings.SplitSeq(run("gpg", "--batch", "--with-colons", "--list-secret-keys"), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" && fpr == "" {
			fpr = f[9]
		}
	}
	// A fresh agent has nothing cached.
	run("gpgconf", "--homedir", home, "--kill", "gpg-agent")
	store := testpass.NewStore(t, home, fpr)
	testpass.PassInsert(t, home, store, "svc/token", []byte("v"))
	run("gpgconf", "--homedir", home, "--kill", "gpg-agent")

	d := start(t, opts{store: store, gnupghome: home, args: []string{"--cache-ttl", "0", "--gpg-timeout", "3s"}})
	c, v, took := timedGet(t, d, "", "svc/token")
	t.Logf("read with an uncached passphrase: %q in %s", c, took.Round(time.Millisecond))
	if c != wire.CodeBackendUnavailable || len(v) > 0 {
		t.Fatalf("read with an uncached passphrase: %s %q, want backend_unavailable", c, v)
	}
	if c, _, _ := timedGet(t, d, "", "svc/token"); c != wire.CodeBackendUnavailable {
		t.Fatalf("second read: %s", c)
	}
	d.mustServe("after prompts were refused")
	assertCleanChildren(t, d)
}

// TestGPGHangsIsKilledAndReaped: a gpg that never finishes (and leaves a
// grandchild holding its pipes) is killed at --gpg-timeout; the read is
// backend_unavailable, the child is reaped (no zombie), other clients are
// served meanwhile, and the same connection serves the next request.
func TestGPGHangsIsKilledAndReaped(t *testing.T) {
	w := newGPGWrapper(t)
	d := start(t, opts{config: w.config(), args: []string{"--cache-ttl", "0", "--gpg-timeout", "3s"}})
	d.insert("svc/token", []byte("v"))
	d.awaitKeyCheck(w)
	c := d.Dial("")
	w.set("hang-decrypt", true)
	type res struct {
		code wire.Code
		took time.Duration
	}
	done := make(chan res, 1)
	go func() {
		t0 := time.Now()
		_, err := c.Get(ctx(t), "svc/token")
		done <- res{code(err), time.Since(t0)}
	}()
	awaitFile(t, filepath.Join(w.dir, "decrypt-started"), 15*time.Second)
	// While gpg hangs, everyone else is served.
	other := d.Dial("")
	if _, err := other.Health(ctx(t)); err != nil {
		t.Fatalf("a client was held up by a hung gpg: %v", err)
	}
	if _, err := other.List(ctx(t), ""); err != nil {
		t.Fatalf("list during a hung gpg: %v", err)
	}
	r := <-done
	t.Logf("a hung gpg (gpg timeout 3s, grandchild holding its pipes): %q after %s", r.code, r.took.Round(time.Millisecond))
	if r.code != wire.CodeBackendUnavailable {
		t.Fatalf("hung gpg: %s, want backend_unavailable", r.code)
	}
	assertCleanChildren(t, d)
	w.set("hang-decrypt", false)
	os.Remove(filepath.Join(w.dir, "decrypt-started"))
	if v, err := c.Get(ctx(t), "svc/token"); err != nil || string(v) != "v" {
		t.Fatalf("the same connection after the timeout: %q %v", v, err)
	}
	assertCleanChildren(t, d)
}
