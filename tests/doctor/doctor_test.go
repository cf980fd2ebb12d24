// Package doctor tests `vault-cli doctor` as users run it: the built
// vault-cli binary against a real `jawn-vault dev` daemon (real pass store,
// real gpg key, real SQLite state), healthy first, then broken one thing at
// a time. The daemon and the binaries come from internal/daemontest.
package doctor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

var bins daemontest.Bins

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if _, err := exec.LookPath("gpg"); err != nil {
		fmt.Fprintln(os.Stderr, "gpg not found: apt-get install gnupg")
		return 1
	}
	b, cleanup, err := daemontest.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	bins = b
	return m.Run()
}

// vaultd is a running dev daemon (daemontest.Dev: its Config describes it,
// its Units directory is empty unless a test puts units in it).
type vaultd struct {
	*daemontest.Daemon
	t *testing.T
}

func start(t *testing.T) *vaultd {
	t.Helper()
	return &vaultd{Daemon: daemontest.Dev(t, bins), t: t}
}

// stop ends the daemon with SIGINT, as Ctrl-C would; it is idempotent.
func (d *vaultd) stop() { d.StopWith(syscall.SIGINT) }

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// doctor runs `vault-cli doctor` against d with a clean environment (no
// VAULT_TOKEN: the caller is the daemon's owner) plus env.
func (d *vaultd) doctor(env []string, args ...string) daemontest.Report {
	d.t.Helper()
	args = append([]string{"doctor", "--config", d.Config, "--units-dir", d.Units()}, args...)
	env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.t.TempDir()}, env...)
	r := daemontest.Report{Result: d.Run(env, "", bins.CLI, args...)}
	if slices.Contains(args, "--json") {
		var err error
		if r.Findings, err = daemontest.ParseReport(r.Stdout); err != nil {
			d.t.Fatalf("doctor --json printed no report: %v\n%s", err, r)
		}
	}
	// No finding ever carries a secret: not the admin token, not a value
	// of the dev store.
	for _, secret := range []string{d.Token, "sk-ant-dev-example", "DEV-example-telegram-token", "xoxb-dev-example", "dash:dev-example"} {
		if secret != "" && strings.Contains(r.String(), secret) {
			d.t.Errorf("doctor printed a secret (%q):\n%s", secret, r)
		}
	}
	return r
}

// expect checks one check's worst status and the exit code.
func expect(t *testing.T, r daemontest.Report, check, status string, code int) {
	t.Helper()
	if got := r.Status(check); got != status {
		t.Errorf("check %s: status %q, want %q\n%s", check, got, status, r)
	}
	if r.Code != code {
		t.Errorf("exit status %d, want %d\n%s", r.Code, code, r)
	}
}

func TestHealthySetup(t *testing.T) {
	d := start(t)
	r := d.doctor(nil, "--json")
	if r.Code != 0 {
		t.Fatalf("healthy setup: exit %d, want 0\n%s", r.Code, r)
	}
	for _, check := range []string{"config", "daemon", "audit", "store-live", "socket", "store", "recipients", "gpg-key",
		"state-dir", "database", "tokens-expiring", "tokens-unused", "rotation", "unit-envfile"} {
		if got := r.Status(check); got != "ok" {
			t.Errorf("check %s: %q, want ok\n%s", check, got, r)
		}
	}
	for _, check := range []string{"unit-security", "env-files"} {
		if got := r.Status(check); got != "info" {
			t.Errorf("check %s: %q, want info (skipped)\n%s", check, got, r)
		}
	}
	h, err := d.Owner().Health(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if msg := r.Find("daemon")[0].Message; !strings.Contains(msg, h.Version) {
		t.Errorf("daemon finding %q does not name version %q", msg, h.Version)
	}
	for _, f := range r.Findings {
		if f.Status == "ok" && f.Fix != "" {
			t.Errorf("an ok finding carries a fix: %+v", f)
		}
	}

	// The text form says the same in lines, with a summary.
	txt := d.doctor(nil)
	if txt.Code != 0 || !strings.Contains(txt.Stdout, "doctor: 0 fail, 0 warn") || !strings.Contains(txt.Stdout, "gpg-key") {
		t.Errorf("text report (exit %d):\n%s", txt.Code, txt)
	}
}

func TestSocketTooOpenFails(t *testing.T) {
	d := start(t)
	if err := os.Chmod(d.Socket, 0o666); err != nil {
		t.Fatal(err)
	}
	r := d.doctor(nil, "--json")
	expect(t, r, "socket", "fail", 2)
	if f := r.Find("socket"); len(f) == 1 && !strings.Contains(f[0].Fix, "chmod 0600") {
		t.Errorf("socket fix %q does not say chmod 0600", f[0].Fix)
	}
	// Narrower than configured is a warning, not a failure.
	if err := os.Chmod(d.Socket, 0o400); err != nil {
		t.Fatal(err)
	}
	r = d.doctor(nil, "--json")
	expect(t, r, "socket", "warn", 1)
}

func TestGPGIDRemovedFails(t *testing.T) {
	d := start(t)
	if err := os.Remove(filepath.Join(d.Store, ".gpg-id")); err != nil {
		t.Fatal(err)
	}
	r := d.doctor(nil, "--json")
	expect(t, r, "gpg-id", "fail", 2)
	if f := r.Find("gpg-id"); len(f) == 1 && !strings.Contains(f[0].Fix, "pass init") {
		t.Errorf("gpg-id fix %q does not say pass init", f[0].Fix)
	}
}

func TestRecipientMissingFromKeyring(t *testing.T) {
	d := start(t)
	id := filepath.Join(d.Store, ".gpg-id")
	if err := os.WriteFile(id, []byte("0123456789ABCDEF0123456789ABCDEF01234567\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := d.doctor(nil, "--json")
	expect(t, r, "recipients", "fail", 2)
	if got := r.Status("gpg-key"); got != "fail" {
		t.Errorf("gpg-key: %q, want fail (cannot encrypt to an unknown key)\n%s", got, r)
	}
}

func TestStateModes(t *testing.T) {
	d := start(t)
	db := filepath.Join(d.StateDir, "jawn-vault.db")
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.doctor(nil, "--json")
	expect(t, r, "database", "fail", 2)
	if err := os.Chmod(db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	r = d.doctor(nil, "--json")
	expect(t, r, "state-dir", "fail", 2)
	if r.Status("database") != "ok" {
		t.Errorf("database should be ok again\n%s", r)
	}
}

const tokenValue = "ghp_thisIsAPlaintextTokenValue0123456789"

func writeEnv(t *testing.T, mode os.FileMode) string {
	t.Helper()
	env := filepath.Join(t.TempDir(), "bot.env")
	if err := os.WriteFile(env, []byte("BOT_TOKEN="+tokenValue+"\nLOG_LEVEL=debug\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(env, mode); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestUnitWithSecretEnvironmentFileWarns(t *testing.T) {
	d := start(t)
	env := writeEnv(t, 0o600)
	unit := "[Unit]\nDescription=bot\n\n[Service]\nExecStart=/usr/bin/true\nEnvironmentFile=-" + env + "\n"
	if err := os.WriteFile(filepath.Join(d.Units(), "bot.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.doctor(nil, "--json")
	expect(t, r, "unit-envfile", "warn", 1)
	f := r.Find("unit-envfile")[0]
	if !strings.Contains(f.Message, "BOT_TOKEN") || strings.Contains(f.Message, "LOG_LEVEL") || !strings.Contains(f.Fix, "vault-migrate") {
		t.Errorf("finding should name BOT_TOKEN only and point at vault-migrate: %+v", f)
	}
	if strings.Contains(r.String(), tokenValue) {
		t.Errorf("doctor printed the .env value:\n%s", r)
	}
	// A drop-in that resets EnvironmentFile=, as vault-migrate's does,
	// takes the file out of the unit, as it does for systemd; a later
	// drop-in that names it again brings it back.
	dropins := filepath.Join(d.Units(), "bot.service.d")
	if err := os.MkdirAll(dropins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dropins, "jawn-vault.conf"), []byte("[Service]\nEnvironmentFile=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, d.doctor(nil, "--json"), "unit-envfile", "ok", 0)
	if err := os.WriteFile(filepath.Join(dropins, "override.conf"), []byte("[Service]\nEnvironmentFile="+env+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = d.doctor(nil, "--json")
	expect(t, r, "unit-envfile", "warn", 1)
	if f := r.Find("unit-envfile")[0]; !strings.Contains(f.Message, "override.conf") {
		t.Errorf("the warning should point at the drop-in that names the file again: %+v", f)
	}
	if err := os.Remove(filepath.Join(dropins, "override.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dropins, "jawn-vault.conf")); err != nil {
		t.Fatal(err)
	}
	// A unit whose file holds no secret-looking name is fine.
	if err := os.WriteFile(env, []byte("LOG_LEVEL=debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, d.doctor(nil, "--json"), "unit-envfile", "ok", 0)
}

func TestLeftoverEnvFiles(t *testing.T) {
	d := start(t)
	env := writeEnv(t, 0o600)
	glob := filepath.Join(filepath.Dir(env), "*.env")
	r := d.doctor(nil, "--json", "--env-files", glob)
	expect(t, r, "env-files", "warn", 1)
	if err := os.Chmod(env, 0o644); err != nil {
		t.Fatal(err)
	}
	r = d.doctor(nil, "--json", "--env-files", glob)
	expect(t, r, "env-files", "fail", 2)
	if strings.Contains(r.String(), tokenValue) {
		t.Errorf("doctor printed the .env value:\n%s", r)
	}
	if err := os.Remove(env); err != nil {
		t.Fatal(err)
	}
	expect(t, d.doctor(nil, "--json", "--env-files", glob), "env-files", "ok", 0)
}

func TestExpiringTokenWarns(t *testing.T) {
	d := start(t)
	res, err := d.Owner().TokenCreate(tctx(t), wire.TokenCreateParams{Name: "short-lived", TTL: "1h",
		Grants: []wire.GrantJSON{{Pattern: "claude/**", Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := d.doctor(nil, "--json")
	expect(t, r, "tokens-expiring", "warn", 1)
	if f := r.Find("tokens-expiring")[0]; !strings.Contains(f.Message, "short-lived") {
		t.Errorf("finding does not name the token: %+v", f)
	}
	if strings.Contains(r.String(), res.Token) {
		t.Errorf("doctor printed the token:\n%s", r)
	}
	// A token with only read grants cannot list tokens: the admin checks
	// are skipped, not failed, and its value appears nowhere.
	r = d.doctor([]string{"VAULT_TOKEN=" + res.Token}, "--json")
	if got := r.Status("admin"); got != "info" {
		t.Errorf("admin with a read token: %q, want info\n%s", got, r)
	}
	if r.Status("tokens-expiring") != "" {
		t.Errorf("token checks ran without admin\n%s", r)
	}
	if strings.Contains(r.String(), res.Token) {
		t.Errorf("doctor printed the token:\n%s", r)
	}
}

func TestFailingRotationWarns(t *testing.T) {
	d := start(t)
	c := d.Owner()
	ctx := tctx(t)
	if _, err := c.RotationBegin(ctx, wire.RotationBeginParams{Name: "slack", Path: "claude/tokens/slack-bot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RotationEnd(ctx, wire.RotationEndParams{Name: "slack", OK: false, ErrorCode: "invalid_grant_test"}); err != nil {
		t.Fatal(err)
	}
	r := d.doctor(nil, "--json")
	expect(t, r, "rotation", "warn", 1)
	if _, err := c.RotationBegin(ctx, wire.RotationBeginParams{Name: "slack", Path: "claude/tokens/slack-bot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RotationEnd(ctx, wire.RotationEndParams{Name: "slack", OK: false, ErrorCode: "invalid_grant", Permanent: true}); err != nil {
		t.Fatal(err)
	}
	r = d.doctor(nil, "--json")
	expect(t, r, "rotation", "fail", 2)
	if f := r.Find("rotation")[0]; !strings.Contains(f.Message, "re-authorisation") {
		t.Errorf("permanent failure finding: %+v", f)
	}
}

func TestDaemonStoppedFails(t *testing.T) {
	d := start(t)
	d.stop()
	r := d.doctor(nil, "--json")
	expect(t, r, "daemon", "fail", 2)
	f := r.Find("daemon")[0]
	if !strings.Contains(f.Fix, "systemctl") || !strings.Contains(f.Fix, "start") {
		t.Errorf("daemon finding has no hint to start it: %+v", f)
	}
	if r.Status("admin") != "info" {
		t.Errorf("admin checks should be skipped\n%s", r)
	}
	// The text form prints the fix under the finding.
	txt := d.doctor(nil)
	if txt.Code != 2 || !strings.Contains(txt.Stdout, "fix: start it") {
		t.Errorf("text report (exit %d):\n%s", txt.Code, txt)
	}
}

func TestUnitSecurity(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	d := start(t)
	shipped, err := os.ReadFile("../../deploy/jawn-vault.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(d.Units(), "jawn-vault.service")
	if err := os.WriteFile(unit, shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.doctor(nil, "--json")
	if got := r.Status("unit-security"); got != "ok" {
		t.Errorf("shipped unit: %q, want ok\n%s", got, r)
	}
	weak := "[Unit]\nDescription=weak\n\n[Service]\nExecStart=/usr/local/bin/jawn-vault\n"
	if err := os.WriteFile(unit, []byte(weak), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, d.doctor(nil, "--json"), "unit-security", "warn", 1)
}

func TestInDoubtRotationFails(t *testing.T) {
	d := start(t)
	c := d.Owner()
	ctx := tctx(t)
	if _, err := c.RotationBegin(ctx, wire.RotationBeginParams{Name: "canvas", Path: "claude/canvas/student-tracker", Lease: "1s"}); err != nil {
		t.Fatal(err)
	}
	if err := c.RotationMarkAnswered(ctx, "canvas", ""); err != nil {
		t.Fatal(err)
	}
	// The attempt "dies" here: its lease runs out after the provider
	// answered. Wait for the daemon to report it in doubt.
	deadline := time.Now().Add(15 * time.Second)
	for {
		rs, err := c.RotationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 1 && rs[0].State == wire.RotationInDoubt {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation never in doubt: %+v", rs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := d.doctor(nil, "--json")
	expect(t, r, "rotation", "fail", 2)
	if f := r.Find("rotation")[0]; !strings.Contains(f.Fix, "vault-cli rotation clear canvas") {
		t.Errorf("in-doubt fix does not say how to clear it: %+v", f)
	}
	// The runbook's procedure: check, then clear; doctor is happy again.
	if err := c.RotationClear(ctx, "canvas"); err != nil {
		t.Fatal(err)
	}
	expect(t, d.doctor(nil, "--json"), "rotation", "ok", 0)
}

// TestLockedKeyFails: a key whose passphrase gpg-agent has not cached
// cannot decrypt unattended; doctor says so instead of the daemon prompting.
func TestLockedKeyFails(t *testing.T) {
	d := start(t)
	home, err := os.MkdirTemp("", "jvgpg") // gpg-agent's socket path must stay short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	gpg := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--no-tty", "--quiet"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	gpg("--passphrase", "correct horse", "--pinentry-mode", "loopback", "--quick-gen-key", "Locked <locked@jawn-vault.invalid>", "ed25519", "sign", "never")
	fpr := ""
	for line := range strings.SplitSeq(gpg("--list-secret-keys", "--with-colons"), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	gpg("--passphrase", "correct horse", "--pinentry-mode", "loopback", "--quick-add-key", fpr, "cv25519", "encr", "never")
	// Forget any passphrase the agent cached while generating.
	_ = exec.Command("gpgconf", "--homedir", home, "--reload", "gpg-agent").Run()
	store := t.TempDir()
	if err := os.WriteFile(filepath.Join(store, ".gpg-id"), []byte(fpr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("socket = %q\nstore = %q\ngnupghome = %q\nstate_dir = %q\n", d.Socket, store, home, d.StateDir)
	if err := os.WriteFile(d.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := d.doctor(nil, "--json")
	expect(t, r, "gpg-key", "fail", 2)
	if f := r.Find("gpg-key"); len(f) == 1 && !strings.Contains(f[0].Message, "decrypting") {
		t.Errorf("the key should fail at decrypting, not before: %+v", f[0])
	}
	if r.Status("recipients") != "ok" || r.Status("store") != "ok" {
		t.Errorf("only the key should fail: the store and its recipients are fine\n%s", r)
	}
	if strings.Contains(r.String(), "correct horse") {
		t.Errorf("doctor printed the passphrase\n%s", r)
	}
}
