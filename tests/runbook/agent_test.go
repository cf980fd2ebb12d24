package runbook

import (
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// passphrase is the locked key's, as the owner would type it.
const passphrase = "correct horse battery staple"

// lockedKey is a store encrypted to a key with a passphrase.
type lockedKey struct {
	d         *daemontest.Daemon
	fpr, grip string // the key's fingerprint; its encryption subkey's keygrip
	secret    string // the value at svc/token
}

// newLockedKey makes a daemon (not started) whose store is encrypted to a
// fresh key with a passphrase, with one entry, svc/token.
func newLockedKey(t *testing.T) *lockedKey {
	t.Helper()
	d := daemontest.New(t, bins, daemontest.Options{Config: warmConfig})
	preset := d.Run(nil, "", "sh", "-c", `test -x "$(gpgconf --list-dirs libexecdir)/gpg-preset-passphrase"`)
	if preset.Code != 0 {
		t.Skip("the runbook's procedure uses gpg-preset-passphrase, which is not installed next to gpg-agent (Debian: apt-get install gpg-agent)")
	}
	const uid = "Locked Test <locked@jawn.invalid>"
	gpg := func(args ...string) string {
		t.Helper()
		r := d.Run(nil, "", "gpg", append([]string{"--batch"}, args...)...)
		if r.Code != 0 {
			t.Fatalf("gpg %s:\n%s", strings.Join(args, " "), r)
		}
		return r.Stdout
	}
	gpg("--pinentry-mode", "loopback", "--passphrase", passphrase, "--quick-gen-key", uid, "future-default", "default", "never")
	k := &lockedKey{d: d, secret: "s3cret-value"}
	sub := false
	for line := range strings.SplitSeq(gpg("--with-colons", "--with-keygrip", "--list-secret-keys", "="+uid), "\n") {
		f := strings.Split(line, ":")
		switch {
		case len(f) > 9 && f[0] == "fpr" && k.fpr == "":
			k.fpr = f[9]
		case f[0] == "ssb":
			sub = true
		case len(f) > 9 && f[0] == "grp" && sub:
			k.grip = f[9] // the encryption subkey's: the one that decrypts
		}
	}
	if k.fpr == "" || k.grip == "" {
		t.Fatalf("no fingerprint or subkey keygrip for %s", uid)
	}
	testpass.Pass(t, d.GnuPGHome, d.Store, nil, "init", k.fpr)
	testpass.PassInsert(t, d.GnuPGHome, d.Store, "svc/token", []byte(k.secret))
	return k
}

// lockAgent restarts the agent, which forgets every passphrase it had (a
// reboot does the same).
func (k *lockedKey) lockAgent(t *testing.T) {
	t.Helper()
	if r := k.d.Run(nil, "", "gpgconf", "--kill", "gpg-agent"); r.Code != 0 {
		t.Fatalf("gpgconf --kill gpg-agent:\n%s", r)
	}
}

// unlockAgent caches the passphrase as `pass show` does once typed.
func (k *lockedKey) unlockAgent(t *testing.T) {
	t.Helper()
	r := k.d.Run(nil, "", "sh", "-c", `gpg --batch --pinentry-mode loopback --passphrase-fd 3 --decrypt "$PASSWORD_STORE_DIR/svc/token.gpg" 3<<EOF
`+passphrase+`
EOF`)
	if r.Code != 0 || !strings.Contains(r.Stdout, k.secret) {
		t.Fatalf("unlocking the agent:\n%s", r)
	}
}

// checkLocked checks the symptoms: gpg-key fails and an uncached read
// answers backend_unavailable.
func (k *lockedKey) checkLocked(t *testing.T) {
	t.Helper()
	r := k.d.Doctor()
	if r.Status("gpg-key") != "fail" || r.Code != 2 {
		t.Errorf("doctor with the agent locked: gpg-key %q, exit %d; want fail, 2\n%s", r.Status("gpg-key"), r.Code, r.Result)
	}
	if f := r.Find("gpg-key"); len(f) == 0 || !strings.Contains(f[0].Message, "does not decrypt without a prompt") {
		t.Errorf("doctor's gpg-key finding is not the runbook's:\n%s", r.Result)
	}
	if _, err := k.d.Owner().Get(tctx(t), "svc/token"); wire.CodeOf(err) != wire.CodeBackendUnavailable {
		t.Errorf("get with the agent locked: %v, want backend_unavailable", err)
	}
}

// runbook runs the procedure, typing the passphrase into the preset, and
// checks its recovery: gpg-key and store-live ok, the read served.
func (k *lockedKey) runbook(t *testing.T) {
	t.Helper()
	const list = "gpg --with-keygrip --list-secret-keys KEY-ID"
	const presetCmd = `"$(gpgconf --list-dirs libexecdir)"/gpg-preset-passphrase --preset KEYGRIP`
	dr := newDrill(t, k.d, "KEY-ID", k.fpr, "KEYGRIP", k.grip)
	dr.stdin[presetCmd] = passphrase + "\n"
	dr.run(lockedBlock(t, blocks(t, "gpg-agent is locked or asks for a passphrase"), presetCmd))
	// The owner finds the keygrip the test substituted in what the
	// runbook's listing prints.
	if out := dr.result(list).Stdout; !strings.Contains(out, k.grip) {
		t.Errorf("%s does not show the subkey's keygrip %s:\n%s", list, k.grip, out)
	}
	doctorOK(t, k.d.Doctor(), "gpg-key", "store-live")
	if v, err := k.d.Owner().Get(tctx(t), "svc/token"); err != nil || string(v) != k.secret {
		t.Errorf("get after the runbook: %q %v", v, err)
	}
}

// TestAgentLocked drills "gpg-agent is locked or asks for a passphrase":
// the store is encrypted to a key with a passphrase, the daemon started
// with it unlocked, then gpg-agent forgot it (its cache ran out, or it
// restarted). Doctor's gpg-key fails and a read the daemon has not cached
// answers backend_unavailable, since the daemon never prompts. The
// runbook presets the passphrase with gpg-preset-passphrase, typed on its
// standard input; then gpg-key is ok and the read is served.
func TestAgentLocked(t *testing.T) {
	k := newLockedKey(t)
	k.unlockAgent(t)
	startKeyChecked(t, k.d)
	k.lockAgent(t)
	k.checkLocked(t)
	k.runbook(t)
}

// TestAgentLockedAtStart drills the same procedure after a reboot: the
// daemon starts while the agent is locked, so its own check of the key
// fails (store-live fail, rightly). After the runbook the daemon serves
// the read, and store-live is ok again without a restart: status checks
// the key anew each time it is called.
func TestAgentLockedAtStart(t *testing.T) {
	k := newLockedKey(t)
	k.lockAgent(t)
	startKeyChecked(t, k.d)
	k.checkLocked(t)
	if r := k.d.Doctor(); r.Status("store-live") != "fail" {
		t.Errorf("doctor: store-live %q with the daemon started locked, want fail\n%s", r.Status("store-live"), r.Result)
	}
	k.runbook(t)
}
