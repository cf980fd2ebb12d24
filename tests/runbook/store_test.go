package runbook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// storeSection is the runbook's section for the store and keyring findings.
const storeSection = "Store unreadable"

// TestStoreGPGIDRemoved drills "Store unreadable", gpg-id: the .gpg-id of
// a git-backed store is deleted under the running daemon. Doctor fails
// gpg-id; the runbook's `git -C STORE checkout .gpg-id` brings it back as
// committed, and the daemon serves and stores again.
func TestStoreGPGIDRemoved(t *testing.T) {
	d := daemontest.New(t, bins, daemontest.Options{Config: warmConfig})
	const secret = "s3cret-value"
	testpass.PassInsert(t, d.GnuPGHome, d.Store, "svc/token", []byte(secret))
	testpass.InitGit(t, d.Store, d.GnuPGHome)
	startKeyChecked(t, d)
	ctx := tctx(t)

	gpgID := filepath.Join(d.Store, ".gpg-id")
	want, err := os.ReadFile(gpgID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gpgID); err != nil {
		t.Fatal(err)
	}
	r := d.Doctor()
	if r.Status("gpg-id") != "fail" || r.Code != 2 {
		t.Errorf("doctor with .gpg-id removed: gpg-id %q, exit %d; want fail, 2\n%s", r.Status("gpg-id"), r.Code, r.Result)
	}
	if r.Status("store-live") != "fail" {
		t.Errorf("doctor with .gpg-id removed: store-live %q, want fail (the daemon's own check)\n%s", r.Status("store-live"), r.Result)
	}
	if f := r.Find("gpg-id"); len(f) == 0 || !strings.Contains(f[0].Fix, "git -C "+d.Store+" checkout .gpg-id") {
		t.Errorf("doctor's gpg-id fix does not give the runbook's git command:\n%s", r.Result)
	}
	// Without .gpg-id nothing can be encrypted: pass would not know to
	// whom, and neither does the daemon.
	if err := d.Owner().Set(ctx, "svc/new", []byte("v")); err == nil {
		t.Errorf("set with no .gpg-id succeeded")
	}

	dr := newDrill(t, d, "STORE", d.Store)
	dr.run(lockedBlock(t, blocks(t, storeSection), "git -C STORE checkout .gpg-id"))

	got, err := os.ReadFile(gpgID)
	if err != nil || string(got) != string(want) {
		t.Fatalf(".gpg-id after the runbook: %q %v, want %q", got, err, want)
	}
	// A present .gpg-id shows as store ok; gpg-id is reported only failing.
	r = d.Doctor()
	doctorOK(t, r, "store", "recipients", "gpg-key", "store-live")
	if s := r.Status("gpg-id"); s != "" {
		t.Errorf("doctor: gpg-id %q after the runbook\n%s", s, r.Result)
	}
	c := d.Owner()
	if v, err := c.Get(ctx, "svc/token"); err != nil || string(v) != secret {
		t.Errorf("get after the runbook: %q %v", v, err)
	}
	if err := c.Set(ctx, "svc/new", []byte("v")); err != nil {
		t.Errorf("set after the runbook: %v", err)
	}
}

// TestStoreRecipientMissing drills "Store unreadable", recipients: the
// store's key is gone from the daemon's keyring (deleted, secret and
// public), as on a machine whose keyring was lost. Doctor fails
// recipients and gpg-key, and a read the daemon has not cached answers
// backend_unavailable. The runbook imports the owner's backup of the key
// (exported here first, as the runbook says to keep it) and the daemon
// serves again.
func TestStoreRecipientMissing(t *testing.T) {
	d := daemontest.New(t, bins, daemontest.Options{Config: warmConfig})
	const secret = "s3cret-value"
	testpass.PassInsert(t, d.GnuPGHome, d.Store, "svc/token", []byte(secret))
	startKeyChecked(t, d)
	ctx := tctx(t)

	// The owner's backup, made as the runbook's backup section says.
	backup := t.TempDir()
	dr := newDrill(t, d, "KEY-ID", d.KeyID, "/backup", backup)
	dr.run(lockedBlock(t, blocks(t, storeSection), "gpg --export-ownertrust > /backup/ownertrust.txt"))

	// The failure: the key leaves the keyring. The agent forgets it too.
	gpg := func(args ...string) {
		t.Helper()
		if r := d.Run(nil, "", "gpg", append([]string{"--batch", "--yes"}, args...)...); r.Code != 0 {
			t.Fatalf("gpg %s:\n%s", strings.Join(args, " "), r)
		}
	}
	gpg("--delete-secret-and-public-key", d.KeyID)
	if r := d.Run(nil, "", "gpgconf", "--kill", "gpg-agent"); r.Code != 0 {
		t.Fatalf("gpgconf --kill gpg-agent:\n%s", r)
	}

	r := d.Doctor()
	if r.Status("recipients") != "fail" || r.Status("gpg-key") != "fail" || r.Code != 2 {
		t.Errorf("doctor with the key deleted: recipients %q, gpg-key %q, exit %d; want fail, fail, 2\n%s",
			r.Status("recipients"), r.Status("gpg-key"), r.Code, r.Result)
	}
	if f := r.Find("recipients"); len(f) == 0 || !strings.Contains(f[0].Message, d.KeyID) || !strings.Contains(f[0].Fix, "gpg --import") {
		t.Errorf("doctor's recipients finding should name the key and say gpg --import:\n%s", r.Result)
	}
	if _, err := d.Owner().Get(ctx, "svc/token"); wire.CodeOf(err) != wire.CodeBackendUnavailable {
		t.Errorf("get with the key deleted: %v, want backend_unavailable", err)
	}

	dr.run(lockedBlock(t, blocks(t, storeSection), "gpg --import /backup/key.asc"))

	doctorOK(t, d.Doctor(), "recipients", "gpg-key", "store", "store-live")
	c := d.Owner()
	if v, err := c.Get(ctx, "svc/token"); err != nil || string(v) != secret {
		t.Errorf("get after the runbook: %q %v", v, err)
	}
	if err := c.Set(ctx, "svc/new", []byte("v")); err != nil {
		t.Errorf("set after the runbook (encrypting to the imported key): %v", err)
	}
}

// TestStoreLiveSeesKeyLoss checks the symptom the runbook lists for every
// store finding, store-live fail, when the key leaves the keyring of a
// running daemon (as in TestStoreRecipientMissing): the daemon's reads
// answer backend_unavailable, so its own view of its store fails too:
// status checks the key anew each time it is called.
func TestStoreLiveSeesKeyLoss(t *testing.T) {
	d := daemontest.New(t, bins, daemontest.Options{Config: warmConfig})
	testpass.PassInsert(t, d.GnuPGHome, d.Store, "svc/token", []byte("v"))
	startKeyChecked(t, d)
	if r := d.Run(nil, "", "gpg", "--batch", "--yes", "--delete-secret-and-public-key", d.KeyID); r.Code != 0 {
		t.Fatalf("deleting the key:\n%s", r)
	}
	if r := d.Run(nil, "", "gpgconf", "--kill", "gpg-agent"); r.Code != 0 {
		t.Fatalf("gpgconf --kill gpg-agent:\n%s", r)
	}
	if _, err := d.Owner().Get(tctx(t), "svc/token"); wire.CodeOf(err) != wire.CodeBackendUnavailable {
		t.Fatalf("get with the key deleted: %v, want backend_unavailable", err)
	}
	if r := d.Doctor(); r.Status("store-live") != "fail" {
		t.Errorf("doctor: store-live %q while the daemon cannot decrypt, want fail\n%s", r.Status("store-live"), r.Result)
	}
}
