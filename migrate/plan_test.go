package migrate

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/inject/vaulttest"
)

var update = flag.Bool("update", false, "rewrite the golden drop-ins in testdata/migrate/golden")

const (
	fixtureRoot = "../testdata/migrate/root"
	goldenDir   = "../testdata/migrate/golden"
)

// systemUnits are the four services of Phase 5, as fixtures.
var systemUnits = []string{"houseofjawn-bot", "notify-service", "houseofjawn-dashboard", "student-tracker"}

// copyRoot copies the fixture root into a temporary directory.
func copyRoot(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "root")
	if err := os.CopyFS(dst, os.DirFS(fixtureRoot)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// testOptions are fixed options, so that the drop-ins are the same on every
// machine.
func testOptions(root string, user bool) Options {
	s := Scope{Root: root, User: user}
	if user {
		s.Home = "/home/jamditis"
		s.ConfigHome = "/home/jamditis/.config"
		s.DataHome = "/home/jamditis/.local/share"
		s.StateHome = "/home/jamditis/.local/state"
	}
	o := Options{Scope: s, Socket: "/run/jawn-vault/jawn-vault.sock", VaultExec: "/usr/local/bin/vault-exec",
		VaultUnit: "jawn-vault.socket", Wait: 30 * time.Second, LookupUser: LookupUser(root), Uid: 1000,
		StateDir: "/var/lib/jawn-vault-migrate", CredentialsDir: "/etc/jawn-vault/credentials"}
	if user {
		o.StateDir = "/home/jamditis/.local/state/jawn-vault/migrate"
		o.CredentialsDir = "/home/jamditis/.config/jawn-vault/credentials"
	}
	return o
}

func plan(t *testing.T, o Options, names ...string) *Plan {
	t.Helper()
	var units []*Unit
	for _, n := range names {
		u, err := o.Scope.Find(n)
		if err != nil {
			t.Fatal(err)
		}
		units = append(units, u)
	}
	p, err := MakePlan(units, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGoldenDropIns(t *testing.T) {
	root := copyRoot(t)
	p := plan(t, testOptions(root, false), systemUnits...)
	up := plan(t, testOptions(root, true), "notes-sync")
	for _, u := range append(p.Units, up.Units...) {
		golden := filepath.Join(goldenDir, u.Unit.Name+".conf")
		if *update {
			if err := os.WriteFile(golden, u.DropIn, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./migrate -run TestGoldenDropIns -update to create it)", err)
		}
		if !bytes.Equal(u.DropIn, want) {
			t.Errorf("%s: drop-in differs from %s:\n%s", u.Unit.Name, golden, u.DropIn)
		}
	}
}

// TestVerifyDropIns runs systemd-analyze verify on each unit with its new
// drop-in next to it, vault-exec pointing at a real binary (verify checks
// that ExecStart='s program exists). Any complaint about the drop-in fails.
func TestVerifyDropIns(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	bin, err := vaulttest.Build(vaulttest.Module + "/cmd/vault-exec")
	if err != nil {
		t.Fatal(err)
	}
	root := copyRoot(t)
	for _, user := range []bool{false, true} {
		o := testOptions(root, user)
		o.VaultExec = bin // a host path: verify looks on the host
		o.SocketGroup = "users"
		names := systemUnits
		if user {
			names = []string{"notes-sync"}
		}
		for _, up := range plan(t, o, names...).Units {
			dropIn := o.Scope.Host(up.Unit.DropInPath())
			if err := os.MkdirAll(filepath.Dir(dropIn), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dropIn, up.DropIn, 0o644); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(up.DropIn, []byte("\nSupplementaryGroups=users\n")) {
				t.Errorf("%s: no SupplementaryGroups= for --socket-group", up.Unit.Name)
			}
			out, err := exec.Command(analyze, "verify", o.Scope.Host(up.Unit.File)).CombinedOutput()
			if err != nil || bytes.Contains(out, []byte(DropInName)) {
				t.Errorf("systemd-analyze verify %s: %v\n%s", up.Unit.Name, err, out)
			}
		}
	}
}

func TestCollectDashboard(t *testing.T) {
	root := copyRoot(t)
	o := testOptions(root, false)
	u, err := o.Scope.Find("houseofjawn-dashboard")
	if err != nil {
		t.Fatal(err)
	}
	vars, files, err := o.Scope.Collect(u)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range vars {
		got[v.Name] = v.Value
	}
	want := map[string]string{
		// Environment= in the unit, quoted.
		"DASHBOARD_TITLE": "House of Jawn", "PORT": "8080",
		// The shared .env: export, single and double quotes, inline comment.
		"TELEGRAM_BOT_TOKEN": "123456789:AAF-fixture-telegram-token", "ANTHROPIC_API_KEY": "sk-ant-fixture-0001",
		"SLACK_BOT_TOKEN": "xoxb-fixture-slack", "TELEGRAM_CHAT_ID": "-1001234567890", "LOG_LEVEL": "info",
		// dashboard.env: export, a multi-line value, duplicates, spaces
		// around '=', an empty value, '#' inside quotes, escapes.
		"DASHBOARD_DB_URL":            "postgres://dash:fixture-db-pass@localhost:5432/dash",
		"SLACK_WEBHOOK_URL":           "https://hooks.slack.com/services/T000/B000/fixtureXYZ",
		"GOOGLE_SERVICE_ACCOUNT_JSON": `{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIfixture\n-----END PRIVATE KEY-----\n"}`,
		"SESSION_SECRET":              "line one\nline two",
		"THEME":                       "dark", "EMPTY_TOKEN": "", "QUOTED_HASH": "value # not a comment",
		"ESCAPED": `tabthere "quoted" back\slash 100%`, // godotenv's reading of \t
		// dashboard.local.env comes later and overrides CACHE_TTL.
		"CACHE_TTL": "900", "DASHBOARD_ADMIN_PASSWORD": "fixture-admin-pw",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected variable %s", k)
		}
	}
	var exists []bool
	for _, f := range files {
		exists = append(exists, f.Exists)
	}
	if !slices.Equal(exists, []bool{true, true, true, false}) {
		t.Errorf("files exist = %v, want the optional missing.env skipped", exists)
	}
}

func TestFind(t *testing.T) {
	root := copyRoot(t)
	o := testOptions(root, false)
	u, err := o.Scope.Find("notify-service.service")
	if err != nil {
		t.Fatal(err)
	}
	if u.File != "/etc/systemd/system/notify-service.service" || u.User != "jamditis" ||
		u.DropInPath() != "/etc/systemd/system/notify-service.service.d/jawn-vault.conf" {
		t.Errorf("unit: %+v", u)
	}
	if len(u.ExecStart) != 1 || u.ExecStart[0].Prefix != "-" {
		t.Errorf("ExecStart: %+v", u.ExecStart)
	}
	// By path, relative to the working directory.
	if u, err := o.Scope.Find(filepath.Join(root, "etc/systemd/system/houseofjawn-bot.service")); err != nil || u.Name != "houseofjawn-bot.service" {
		t.Errorf("by path: %+v, %v", u, err)
	}
	// User units are found with --user only.
	if _, err := o.Scope.Find("notes-sync"); !errors.Is(err, ErrUnitNotFound) {
		t.Errorf("notes-sync as a system unit: %v", err)
	}
	uo := testOptions(root, true)
	uu, err := uo.Scope.Find("notes-sync")
	if err != nil || uu.EnvFiles[0].Path != "/home/jamditis/.config/notes-sync/env" {
		t.Errorf("user unit: %+v, %v", uu, err)
	}
	for _, bad := range []string{"getty@tty1", "foo.socket", "no-such-unit"} {
		if _, err := o.Scope.Find(bad); err == nil {
			t.Errorf("Find(%q) succeeded", bad)
		}
	}

	// A vendor unit with drop-ins: an earlier one adds an EnvironmentFile=
	// and is read; our drop-in goes to /etc; a later one that sets
	// ExecStart= would override ours, so the plan refuses.
	write(t, root, "usr/lib/systemd/system/vendor.service", "[Service]\nExecStart=/usr/bin/vendor\n")
	write(t, root, "etc/systemd/system/vendor.service.d/10-env.conf", "[Service]\nEnvironmentFile=/etc/vendor.env\n")
	write(t, root, "etc/vendor.env", "VENDOR_TOKEN=x\n")
	vu, err := o.Scope.Find("vendor")
	if err != nil {
		t.Fatal(err)
	}
	if vu.DropInPath() != "/etc/systemd/system/vendor.service.d/jawn-vault.conf" || len(vu.EnvFiles) != 1 {
		t.Errorf("vendor unit: %+v", vu)
	}
	write(t, root, "etc/systemd/system/vendor.service.d/override.conf", "[Service]\nExecStart=\nExecStart=/usr/bin/vendor --other\n")
	vu, _ = o.Scope.Find("vendor")
	if _, err := MakePlan([]*Unit{vu}, nil, o); err == nil || !strings.Contains(err.Error(), "override.conf") {
		t.Errorf("a later overriding drop-in was not refused: %v", err)
	}
	// Masked units are refused.
	os.Symlink("/dev/null", filepath.Join(root, "etc/systemd/system/masked.service"))
	if _, err := o.Scope.Find("masked"); err == nil || !strings.Contains(err.Error(), "masked") {
		t.Errorf("masked: %v", err)
	}
}

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPlanRefuses(t *testing.T) {
	for _, tc := range []struct{ name, unit, env, want string }{
		{"secret on the command line", "[Service]\nEnvironmentFile=/e.env\nExecStart=/bin/x --token ${API_TOKEN}\n", "API_TOKEN=x\n", "on the command line"},
		{"missing required env file", "[Service]\nEnvironmentFile=/nope.env\nExecStart=/bin/x\n", "", "no such file"},
		{"argv0 prefix", "[Service]\nEnvironmentFile=/e.env\nExecStart=@/bin/x y\n", "A=1\n", "'@' prefix"},
		{"no ExecStart", "[Service]\nEnvironmentFile=/e.env\n", "A=1\n", "no ExecStart"},
		{"bad env name", "[Service]\nEnvironmentFile=/e.env\nExecStart=/bin/x\n", "A.B=1\n", "not a portable variable name"},
		{"unresolvable specifier", "[Service]\nEnvironmentFile=/%i.env\nExecStart=/bin/x\n", "", "%i"},
		{"broken quoting", "[Service]\nEnvironmentFile=/e.env\nExecStart=/bin/x\n", "A=\"sk-unterminated\n", "not terminated"},
	} {
		root := t.TempDir()
		write(t, root, "etc/systemd/system/x.service", tc.unit)
		if tc.env != "" {
			write(t, root, "e.env", tc.env)
		}
		o := testOptions(root, false)
		u, err := o.Scope.Find("x")
		if err == nil {
			_, err = MakePlan([]*Unit{u}, nil, o)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "sk-unterminated") {
			t.Errorf("%s: the error quotes the file: %v", tc.name, err)
		}
	}
}

func TestPlanPaths(t *testing.T) {
	root := copyRoot(t)
	o := testOptions(root, false)
	o.Paths = map[string]string{"TELEGRAM_BOT_TOKEN": "claude/tokens/telegram-bot"}
	known := map[string]string{"sk-ant-fixture-0001": "claude/api/anthropic"}
	units := []*Unit{}
	for _, n := range []string{"houseofjawn-bot", "notify-service"} {
		u, err := o.Scope.Find(n)
		if err != nil {
			t.Fatal(err)
		}
		units = append(units, u)
	}
	p, err := MakePlan(units, known, o)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, up := range p.Units {
		for _, s := range up.Secrets {
			if prev, ok := paths[s.Name]; ok && prev != s.Path {
				t.Errorf("%s has two paths: %s and %s", s.Name, prev, s.Path)
			}
			paths[s.Name] = s.Path
		}
	}
	want := map[string]string{
		"TELEGRAM_BOT_TOKEN": "claude/tokens/telegram-bot",               // --path
		"ANTHROPIC_API_KEY":  "claude/api/anthropic",                     // migrated before
		"SLACK_BOT_TOKEN":    "claude/shared/slack-bot-token",            // shared by both
		"NOTIFY_SIGNING_KEY": "claude/notify-service/notify-signing-key", // one unit's own
	}
	for k, v := range want {
		if paths[k] != v {
			t.Errorf("%s -> %s, want %s", k, paths[k], v)
		}
	}
	// One import per path, whatever the number of units.
	var importPaths []string
	for _, im := range p.Imports {
		importPaths = append(importPaths, im.Path)
	}
	if !slices.Equal(importPaths, []string{"claude/api/anthropic", "claude/notify-service/notify-signing-key", "claude/shared/slack-bot-token", "claude/tokens/telegram-bot"}) {
		t.Errorf("imports: %q", importPaths)
	}

	// Two different values for one path are refused.
	o.Paths = map[string]string{"TELEGRAM_BOT_TOKEN": "claude/x", "SLACK_BOT_TOKEN": "claude/x"}
	if _, err := MakePlan(units, nil, o); err == nil || !strings.Contains(err.Error(), "two different values") {
		t.Errorf("conflicting --path: %v", err)
	}
	// --drop leaves a variable out.
	o.Paths = nil
	o.Drop = map[string]bool{"SLACK_BOT_TOKEN": true, "LOG_LEVEL": true}
	p, err = MakePlan(units[:1], nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Units[0].DropIn, []byte("SLACK_BOT_TOKEN")) || bytes.Contains(p.Units[0].DropIn, []byte("LOG_LEVEL")) {
		t.Errorf("--drop: still in the drop-in:\n%s", p.Units[0].DropIn)
	}
}
