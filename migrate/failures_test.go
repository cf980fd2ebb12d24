package migrate

// Failure paths: whatever goes wrong, the units are left as they were and
// no value is lost.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// unitPaths are the vault paths a lone migration of houseofjawn-bot uses.
var unitPaths = []string{
	"claude/houseofjawn-bot/anthropic-api-key",
	"claude/houseofjawn-bot/slack-bot-token",
	"claude/houseofjawn-bot/telegram-bot-token",
}

// assertUntouched checks the tree against before and that no token was
// issued for the unit.
func (e *e2e) assertUntouched(before map[string]string, unit string) {
	e.t.Helper()
	if d := diffSnapshots(before, snapshot(e.t, e.root)); len(d) > 0 {
		e.t.Errorf("files changed: %q", d)
	}
	tokens, err := e.owner().TokenList(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tk := range tokens {
		if tk.Name == unit {
			e.t.Errorf("a token %s (%s) was left behind", tk.Name, tk.ID)
		}
	}
}

// stored lists which of paths exist in the vault.
func (e *e2e) stored(paths []string) []string {
	e.t.Helper()
	var out []string
	for _, p := range paths {
		_, err := e.owner().Get(context.Background(), p)
		switch wire.CodeOf(err) {
		case "":
			out = append(out, p)
		case wire.CodeNotFound:
		default:
			e.t.Fatal(err)
		}
	}
	return out
}

func TestFailureDaemonDown(t *testing.T) {
	t.Parallel()
	root := copyRoot(t)
	before := snapshot(t, root)
	var out, errOut strings.Builder
	code := Main(context.Background(), []string{"--root", root, "--socket", filepath.Join(t.TempDir(), "none.sock"), "--yes", "houseofjawn-bot"},
		IO{Stdout: &out, Stderr: &errOut})
	if code != ExitUnavailable || !strings.Contains(errOut.String(), "vault-migrate: hint: is jawn-vault running") {
		t.Errorf("status %d\n%s%s", code, out.String(), errOut.String())
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("files changed: %q", d)
	}
	// A dry run works without the daemon, and changes nothing either.
	out.Reset()
	code = Main(context.Background(), []string{"--root", root, "--socket", filepath.Join(t.TempDir(), "none.sock"), "houseofjawn-bot"},
		IO{Stdout: &out, Stderr: &errOut})
	if code != 0 || !strings.Contains(out.String(), ImportUnknown) || !strings.Contains(out.String(), "Dry run: nothing was changed") {
		t.Errorf("dry run: %d\n%s", code, out.String())
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("the dry run changed files: %q", d)
	}
}

func TestFailureDeniedImport(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	before := snapshot(t, e.root)
	// An admin of the unit's own folder only: the first imports succeed,
	// the one sent elsewhere with --path is denied.
	tok, err := e.owner().TokenCreate(context.Background(), wire.TokenCreateParams{Name: "migrator", Grants: []wire.GrantJSON{
		{Pattern: "claude/**", Level: "read"}, {Pattern: "claude/houseofjawn-bot/**", Level: "admin"}}})
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte(tok.Token), 0o600)
	code, out, errOut := e.migrate("--yes", "--token-file", tokFile, "--path", "TELEGRAM_BOT_TOKEN=claude/tokens/telegram-bot", "houseofjawn-bot")
	if code != ExitDenied || !strings.Contains(errOut, "importing claude/tokens/telegram-bot: ") || !strings.Contains(errOut, "(permission_denied)") {
		t.Errorf("status %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "houseofjawn-bot.service: left as it was") {
		t.Errorf("summary:\n%s", out)
	}
	e.assertUntouched(before, "houseofjawn-bot.service")
	// The values imported before the refusal stay, and the summary says so.
	got := e.stored([]string{"claude/houseofjawn-bot/anthropic-api-key", "claude/houseofjawn-bot/slack-bot-token", "claude/tokens/telegram-bot"})
	if want := []string{"claude/houseofjawn-bot/anthropic-api-key", "claude/houseofjawn-bot/slack-bot-token"}; !slices.Equal(got, want) {
		t.Errorf("in the vault: %q, want %q", got, want)
	}
	if !strings.Contains(out, "imported into the vault: claude/houseofjawn-bot/anthropic-api-key, claude/houseofjawn-bot/slack-bot-token") {
		t.Errorf("summary does not list what was imported:\n%s", out)
	}
	// With the grant fixed, the same command goes through: nothing is
	// imported twice.
	code, out, errOut = e.migrate("--yes", "houseofjawn-bot")
	if code != 0 {
		t.Fatalf("second attempt: %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "imported into the vault: claude/houseofjawn-bot/telegram-bot-token\n") {
		t.Errorf("second attempt imported:\n%s", out)
	}
}

func TestFailureUnwritableUnitDir(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	// Root writes anywhere, so "unwritable" is a file where the drop-in
	// directory should be.
	write(t, e.root, "etc/systemd/system/houseofjawn-bot.service.d", "in the way\n")
	before := snapshot(t, e.root)
	code, out, errOut := e.migrate("--yes", "houseofjawn-bot")
	if code != ExitCantCreate || !strings.Contains(errOut, "vault-migrate: hint: nothing was imported or changed") {
		t.Errorf("status %d\n%s%s", code, out, errOut)
	}
	e.assertUntouched(before, "houseofjawn-bot.service")
	if got := e.stored(unitPaths); len(got) > 0 {
		t.Errorf("imported before the failure was found: %q", got)
	}
}

func TestFailureGPG(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	before := snapshot(t, e.root)
	// Point the store at a key that is not in the keyring: every encryption
	// fails in gpg.
	if err := os.WriteFile(filepath.Join(e.store, ".gpg-id"), []byte("0000000000000000000000000000000000000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := e.migrate("--yes", "houseofjawn-bot")
	if code != ExitTempFail || !strings.Contains(errOut, "(backend_unavailable)") {
		t.Errorf("status %d\n%s%s", code, out, errOut)
	}
	e.assertUntouched(before, "houseofjawn-bot.service")
}

// fakeSystemd records calls and fails restarts of one unit.
type fakeSystemd struct {
	calls []string
	fail  string
}

func (f *fakeSystemd) Reload(context.Context) error {
	f.calls = append(f.calls, "daemon-reload")
	return nil
}

func (f *fakeSystemd) Restart(_ context.Context, unit string) error {
	f.calls = append(f.calls, "restart "+unit)
	if unit == f.fail && len(f.calls) < 4 {
		return errors.New(unit + " did not come up")
	}
	return nil
}

func TestRestartFailureRollsBack(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	before := snapshot(t, e.root)
	o := testOptions(e.root, false)
	o.Socket = e.d.Socket
	p := plan(t, o, "houseofjawn-bot", "student-tracker")
	sd := &fakeSystemd{fail: "houseofjawn-bot.service"}
	a := &Applier{Opts: o, Vault: e.owner(), Systemd: sd, Restart: true}
	err := a.Apply(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "did not come up") {
		t.Fatalf("Apply: %v", err)
	}
	// The bot is put back and started the old way; the tracker stays migrated.
	if want := []string{"daemon-reload", "restart houseofjawn-bot.service", "daemon-reload", "restart houseofjawn-bot.service",
		"restart student-tracker.service"}; !slices.Equal(sd.calls, want) {
		t.Errorf("systemd calls %q, want %q", sd.calls, want)
	}
	e.assertUntouched(withoutPrefix(before, snapshot(t, e.root), "houseofjawn-bot"), "houseofjawn-bot.service")
	if _, err := os.Stat(filepath.Join(e.root, "etc/systemd/system/student-tracker.service.d", DropInName)); err != nil {
		t.Errorf("student-tracker's drop-in: %v", err)
	}
}

// withoutPrefix returns after with the bot's files from before and
// everything else from after: the expected tree when only the bot was put
// back.
func withoutPrefix(before, after map[string]string, unit string) map[string]string {
	out := map[string]string{}
	for k, v := range after {
		if !strings.Contains(k, unit) {
			out[k] = v
		}
	}
	for k, v := range before {
		if strings.Contains(k, unit) {
			out[k] = v
		}
	}
	return out
}

func TestSharedAcrossRuns(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	if code, out, errOut := e.migrate("--yes", "--path", "TELEGRAM_BOT_TOKEN=claude/tokens/telegram-bot", "houseofjawn-bot"); code != 0 {
		t.Fatalf("bot: %d\n%s%s", code, out, errOut)
	}
	// notify-service, migrated later, reuses the bot's paths for the values
	// they share instead of importing them again.
	code, out, errOut := e.migrate("--yes", "notify-service")
	if code != 0 {
		t.Fatalf("notify: %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "imported into the vault: claude/notify-service/notify-signing-key\n") {
		t.Errorf("notify imported more than its own secret:\n%s", out)
	}
	for _, s := range []string{"TELEGRAM_BOT_TOKEN -> claude/tokens/telegram-bot", "SLACK_BOT_TOKEN -> claude/houseofjawn-bot/slack-bot-token"} {
		if !strings.Contains(out, s) {
			t.Errorf("summary lacks %q:\n%s", s, out)
		}
	}
	// The shared .env is kept while the dashboard still reads it.
	code, out, _ = e.migrate("--yes", "--remove-env-files", "houseofjawn-bot", "notify-service")
	if code != 0 || !strings.Contains(out, "kept /home/jamditis/.claude/.env: houseofjawn-dashboard.service still read(s) it") {
		t.Errorf("--remove-env-files: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(e.root, "home/jamditis/.claude/.env")); err != nil {
		t.Errorf("the shared .env is gone: %v", err)
	}
}

func TestInterruptedRun(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ctx := context.Background()
	// A token with the unit's name that vault-migrate did not issue: refused.
	if _, err := e.owner().TokenCreate(ctx, wire.TokenCreateParams{Name: "houseofjawn-bot.service",
		Grants: []wire.GrantJSON{{Pattern: "claude/**", Level: "read"}}}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, e.root)
	code, out, errOut := e.migrate("--yes", "houseofjawn-bot")
	if code != ExitDataErr || !strings.Contains(errOut, "a token named houseofjawn-bot.service exists that vault-migrate did not issue") {
		t.Errorf("status %d\n%s%s", code, out, errOut)
	}
	if d := diffSnapshots(before, snapshot(t, e.root)); len(d) > 0 {
		t.Errorf("files changed: %q", d)
	}

	// The same token and a drop-in left by a run of ours that stopped half
	// way (its manifest says "applying"): both are replaced.
	o := testOptions(e.root, false)
	m := &Manifest{Version: 1, Unit: "houseofjawn-bot.service", Status: StatusApplying,
		DropIn: "/etc/systemd/system/houseofjawn-bot.service.d/jawn-vault.conf", TokenName: "houseofjawn-bot.service"}
	if err := m.Write(o.Scope, o.StateDir); err != nil {
		t.Fatal(err)
	}
	write(t, e.root, "etc/systemd/system/houseofjawn-bot.service.d/jawn-vault.conf", "[Service]\n# half written\n")
	code, out, errOut = e.migrate("--yes", "houseofjawn-bot")
	if code != 0 || !strings.Contains(out, "houseofjawn-bot.service: migrated") {
		t.Fatalf("status %d\n%s%s", code, out, errOut)
	}
	tokens, err := e.owner().TokenList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tk := range tokens {
		if tk.Name == "houseofjawn-bot.service" {
			n++
			if len(tk.Grants) != 3 {
				t.Errorf("the live token is the old one: %+v", tk)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d live tokens named houseofjawn-bot.service", n)
	}
}
