package migrate

// End-to-end tests: the real daemon on a real pass store, vault-migrate on
// a copy of the fixtures under --root, then the drop-in's ExecStart= run the
// way systemd would run it, and --undo.

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/inject/vaulttest"
	"github.com/jamditis/jawn-vault/internal/testpass"
)

func TestMain(m *testing.M) {
	// Main reads these; the tests pass what they mean explicitly.
	os.Unsetenv("VAULT_TOKEN")
	os.Unsetenv("VAULT_SOCKET")
	code := m.Run()
	vaulttest.Cleanup()
	os.Exit(code)
}

// e2e is one end-to-end setup.
type e2e struct {
	t         *testing.T
	root      string
	d         *vaulttest.Daemon
	gnupg     string
	store     string
	vaultExec string
}

// serviceUID and usersGID are who the fixture's User=jamditis runs as in
// these tests: uid 1000 as in the fixture's etc/passwd, and a group that
// may connect to the daemon's socket.
const (
	serviceUID   = 1000
	usersGID     = 100
	socketGroup  = "100"
	printEnvExec = "/usr/bin/env -0"
)

func newE2E(t *testing.T) *e2e {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("the end-to-end tests run the service as another uid, which needs root")
	}
	gnupg, key := testpass.NewKeyring(t)
	store := testpass.NewStore(t, gnupg, key)
	sock, rm, err := vaulttest.SocketPath()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rm)
	d, err := vaulttest.Start(vaulttest.Options{Socket: sock, Store: store, GnuPGHome: gnupg,
		StateDir: t.TempDir(), Env: testpass.Env(gnupg, store), SocketGroup: socketGroup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	})
	bin, err := vaulttest.Build(vaulttest.Module + "/cmd/vault-exec")
	if err != nil {
		t.Fatal(err)
	}
	return &e2e{t: t, root: copyRoot(t), d: d, gnupg: gnupg, store: store, vaultExec: bin}
}

// migrate runs vault-migrate against the daemon and the fixture root.
func (e *e2e) migrate(args ...string) (int, string, string) {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	base := []string{"--root", e.root, "--socket", e.d.Socket, "--vault-exec", e.vaultExec}
	code := Main(context.Background(), append(base, args...), IO{Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

// setExecStart replaces a fixture unit's ExecStart= (continuation lines
// included) with cmd, a program that prints its environment.
func (e *e2e) setExecStart(unit, cmd string) {
	e.t.Helper()
	p := filepath.Join(e.root, "etc/systemd/system", unit+".service")
	b, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^ExecStart=(.*\\\n)*.*$`)
	if err := os.WriteFile(p, re.ReplaceAll(b, []byte("ExecStart="+cmd)), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// owner connects as the local owner.
func (e *e2e) owner() *vault.Client {
	e.t.Helper()
	c, err := e.d.Owner(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// runService runs the drop-in's last ExecStart= as systemd would: as uid
// and gid, in /, with a clean environment holding what systemd sets, the
// drop-in's Environment=, extra (standing in for anything else the manager
// might pass), and $CREDENTIALS_DIRECTORY holding the LoadCredential= file.
// It returns the exit status, the program's environment (printed by
// env -0) and stderr.
func (e *e2e) runService(unit string, uid, gid int, extra ...string) (int, map[string]string, string) {
	e.t.Helper()
	dropIn := filepath.Join(e.root, "etc/systemd/system", unit+".service.d", DropInName)
	b, err := os.ReadFile(dropIn)
	if err != nil {
		e.t.Fatal(err)
	}
	as, err := ParseUnitFile(b, dropIn)
	if err != nil {
		e.t.Fatal(err)
	}
	var execStart, credential string
	var env []string
	for _, a := range as {
		switch {
		case a.Value == "":
		case a.Key == "ExecStart":
			execStart = a.Value
		case a.Key == "LoadCredential":
			credential = a.Value
		case a.Key == "Environment":
			ws, err := SplitWords(a.Value)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, w := range ws {
				v, err := Unspecify(w.Value, nil)
				if err != nil {
					e.t.Fatal(err)
				}
				env = append(env, v)
			}
		}
	}
	id, src, _ := strings.Cut(credential, ":")
	creds := e.credentialsDir(id, filepath.Join(e.root, src), uid, gid)
	env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/jamditis", "USER=jamditis",
		"LOGNAME=jamditis", "INVOCATION_ID=5f0c0ffee", "CREDENTIALS_DIRECTORY="+creds)
	env = append(env, extra...)

	e1 := ParseExec(execStart, "")
	if strings.Contains(e1.Command, "$") || strings.Contains(e1.Command, "%") {
		e.t.Fatalf("ExecStart= needs expansion this test does not do: %s", e1.Command)
	}
	ws, err := SplitWords(e1.Command)
	if err != nil {
		e.t.Fatal(err)
	}
	var argv []string
	for _, w := range ws {
		argv = append(argv, w.Value)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(stdout.String(), "\x00"), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			got[k] = v
		}
	}
	return cmd.ProcessState.ExitCode(), got, stderr.String()
}

// credentialsDir makes a directory like systemd's $CREDENTIALS_DIRECTORY:
// readable by the service's user only, holding the credential file.
func (e *e2e) credentialsDir(id, src string, uid, gid int) string {
	e.t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		e.t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "jvcred")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, id)
	if err := os.WriteFile(p, b, 0o400); err != nil {
		e.t.Fatal(err)
	}
	for _, f := range []string{dir, p} {
		if err := os.Chown(f, uid, gid); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// snapshot records every file under root: mode, and content or link target.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		entry := info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			entry += " -> " + target
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			entry += " " + sha256Hex(b)
		}
		out[rel] = entry
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(before, after map[string]string) []string {
	var d []string
	for k, v := range before {
		if after[k] != v {
			d = append(d, "changed or gone: "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, "new: "+k)
		}
	}
	slices.Sort(d)
	return d
}

func TestEndToEndBot(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	e.setExecStart("houseofjawn-bot", printEnvExec)
	before := snapshot(t, e.root)

	code, out, errOut := e.migrate("--yes", "houseofjawn-bot")
	if code != 0 {
		t.Fatalf("vault-migrate --yes: %d\n%s\n%s", code, out, errOut)
	}
	// Every value is in the real pass store, byte for byte.
	secrets := map[string]string{
		"TELEGRAM_BOT_TOKEN": "123456789:AAF-fixture-telegram-token",
		"ANTHROPIC_API_KEY":  "sk-ant-fixture-0001",
		"SLACK_BOT_TOKEN":    "xoxb-fixture-slack",
	}
	for name, want := range secrets {
		p := "claude/houseofjawn-bot/" + Kebab(name)
		if got := testpass.PassShow(t, e.gnupg, e.store, p); string(got) != want+"\n" {
			t.Errorf("pass show %s = %q, want %q", p, got, want+"\n")
		}
	}
	for _, s := range []string{"houseofjawn-bot.service: migrated", "token      houseofjawn-bot.service (tok_",
		"bound to uid 1000 (User=jamditis)", "/home/jamditis/.claude/.env still holds the secrets in plaintext"} {
		if !strings.Contains(out, s) {
			t.Errorf("summary lacks %q:\n%s", s, out)
		}
	}
	for _, v := range secrets {
		if strings.Contains(out+errOut, v) {
			t.Errorf("output shows a secret value:\n%s%s", out, errOut)
		}
	}
	tokenFile := filepath.Join(e.root, "etc/jawn-vault/credentials/houseofjawn-bot.service.token")
	for p, mode := range map[string]fs.FileMode{tokenFile: 0o400, filepath.Dir(tokenFile): 0o700 | fs.ModeDir} {
		if st, err := os.Stat(p); err != nil || st.Mode() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", p, st.Mode(), mode, err)
		}
	}

	// The service, run as systemd would run it, gets exactly what it had
	// before: the plain settings and the secrets, plus systemd's own.
	status, env, stderr := e.runService("houseofjawn-bot", serviceUID, usersGID, "LEAKED_BY_MANAGER=1")
	if status != 0 {
		t.Fatalf("ExecStart exited %d:\n%s", status, stderr)
	}
	want := map[string]string{
		"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/jamditis", "USER": "jamditis", "LOGNAME": "jamditis",
		"INVOCATION_ID": "5f0c0ffee", "CREDENTIALS_DIRECTORY": env["CREDENTIALS_DIRECTORY"],
		"LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1", "TELEGRAM_CHAT_ID": "-1001234567890",
	}
	for k, v := range secrets {
		want[k] = v
	}
	if !mapsEqual(env, want) {
		t.Errorf("the service's environment:\n got %q\nwant %q", env, want)
	}

	// Running it again changes nothing.
	migrated := snapshot(t, e.root)
	code, out, errOut = e.migrate("--yes", "houseofjawn-bot")
	if code != 0 || !strings.Contains(out, "houseofjawn-bot.service: already migrated, unchanged") {
		t.Errorf("second run: %d\n%s%s", code, out, errOut)
	}
	if d := diffSnapshots(migrated, snapshot(t, e.root)); len(d) > 0 {
		t.Errorf("the second run changed files: %q", d)
	}

	// --undo restores the tree byte for byte and revokes the token.
	saved := filepath.Join(t.TempDir(), "token")
	copyFile(t, tokenFile, saved)
	code, out, errOut = e.migrate("--undo", "houseofjawn-bot")
	if code != 0 || !strings.Contains(out, "houseofjawn-bot.service: restored") {
		t.Fatalf("--undo: %d\n%s%s", code, out, errOut)
	}
	if d := diffSnapshots(before, snapshot(t, e.root)); len(d) > 0 {
		t.Errorf("--undo did not restore the tree: %q", d)
	}
	status, stderr = e.useToken(saved, "claude/houseofjawn-bot/telegram-bot-token")
	if status != 77 || !strings.Contains(stderr, "(unauthenticated)") {
		t.Errorf("the revoked token still works? vault-exec exited %d:\n%s", status, stderr)
	}
	// Undoing again is harmless.
	if code, out, _ := e.migrate("--undo", "houseofjawn-bot"); code != 0 || !strings.Contains(out, OutcomeNothing) {
		t.Errorf("second --undo: %d\n%s", code, out)
	}
}

// useToken runs vault-exec as the service's uid with a token file, mapping
// one path, and returns its exit status and stderr.
func (e *e2e) useToken(tokenFile, path string) (int, string) {
	e.t.Helper()
	creds := e.credentialsDir("token", tokenFile, serviceUID, usersGID)
	cmd := exec.Command(e.vaultExec, "--socket", e.d.Socket, "--token-file", filepath.Join(creds, "token"),
		"--map", "X="+path, "/bin/true")
	cmd.Env, cmd.Dir = []string{"PATH=/usr/bin:/bin"}, "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: serviceUID, Gid: usersGID}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), stderr.String()
}

func TestEndToEndDashboard(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	e.setExecStart("houseofjawn-dashboard", printEnvExec)
	before := snapshot(t, e.root)
	code, out, errOut := e.migrate("--yes", "--path", "DASHBOARD_DB_URL=claude/dashboard/db-url", "houseofjawn-dashboard")
	if code != 0 {
		t.Fatalf("vault-migrate --yes: %d\n%s\n%s", code, out, errOut)
	}
	// No User=: the service runs as root, and its token is bound to uid 0.
	status, env, stderr := e.runService("houseofjawn-dashboard", 0, 0)
	if status != 0 {
		t.Fatalf("ExecStart exited %d:\n%s", status, stderr)
	}
	want := map[string]string{
		"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/jamditis", "USER": "jamditis", "LOGNAME": "jamditis",
		"INVOCATION_ID": "5f0c0ffee", "CREDENTIALS_DIRECTORY": env["CREDENTIALS_DIRECTORY"],
		// plain
		"DASHBOARD_TITLE": "House of Jawn", "PORT": "8080", "LOG_LEVEL": "info", "TELEGRAM_CHAT_ID": "-1001234567890",
		"THEME": "dark", "EMPTY_TOKEN": "", "QUOTED_HASH": "value # not a comment", "CACHE_TTL": "900",
		"ESCAPED": `tabthere "quoted" back\slash 100%`,
		// secrets: several tokens, a DSN, a multi-line value, a JSON key
		"TELEGRAM_BOT_TOKEN": "123456789:AAF-fixture-telegram-token", "ANTHROPIC_API_KEY": "sk-ant-fixture-0001",
		"SLACK_BOT_TOKEN":             "xoxb-fixture-slack",
		"DASHBOARD_DB_URL":            "postgres://dash:fixture-db-pass@localhost:5432/dash",
		"SLACK_WEBHOOK_URL":           "https://hooks.slack.com/services/T000/B000/fixtureXYZ",
		"SESSION_SECRET":              "line one\nline two",
		"DASHBOARD_ADMIN_PASSWORD":    "fixture-admin-pw",
		"GOOGLE_SERVICE_ACCOUNT_JSON": `{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIfixture\n-----END PRIVATE KEY-----\n"}`,
	}
	if !mapsEqual(env, want) {
		t.Errorf("the service's environment:\n got %q\nwant %q", env, want)
	}
	if got := testpass.PassShow(t, e.gnupg, e.store, "claude/dashboard/db-url"); string(got) != want["DASHBOARD_DB_URL"]+"\n" {
		t.Errorf("--path: pass show claude/dashboard/db-url = %q", got)
	}
	// The token may read exactly the unit's eight paths.
	tokens, err := e.owner().TokenList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var grants []string
	for _, tk := range tokens {
		if tk.Name == "houseofjawn-dashboard.service" {
			for _, g := range tk.Grants {
				grants = append(grants, g.Pattern+":"+g.Level)
			}
			if tk.BindUID == nil || *tk.BindUID != 0 {
				t.Errorf("token bound to %v, want uid 0", tk.BindUID)
			}
		}
	}
	wantGrants := []string{"claude/dashboard/db-url:read",
		"claude/houseofjawn-dashboard/anthropic-api-key:read", "claude/houseofjawn-dashboard/dashboard-admin-password:read",
		"claude/houseofjawn-dashboard/google-service-account-json:read", "claude/houseofjawn-dashboard/session-secret:read",
		"claude/houseofjawn-dashboard/slack-bot-token:read", "claude/houseofjawn-dashboard/slack-webhook-url:read",
		"claude/houseofjawn-dashboard/telegram-bot-token:read"}
	if !slices.Equal(grants, wantGrants) {
		t.Errorf("grants:\n got %q\nwant %q", grants, wantGrants)
	}

	// --remove-env-files: dashboard.env and dashboard.local.env go; the
	// shared .env stays because other units still read it.
	code, out, errOut = e.migrate("--yes", "--remove-env-files", "houseofjawn-dashboard")
	if code != 0 {
		t.Fatalf("--remove-env-files: %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"etc/houseofjawn/dashboard.env", "etc/houseofjawn/dashboard.local.env"} {
		if _, err := os.Stat(filepath.Join(e.root, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after --remove-env-files", f)
		}
	}
	if _, err := os.Stat(filepath.Join(e.root, "home/jamditis/.claude/.env")); err != nil {
		t.Errorf("the shared .env was removed: %v", err)
	}
	if !strings.Contains(out, "kept /home/jamditis/.claude/.env: houseofjawn-bot.service, notify-service.service still read(s) it") {
		t.Errorf("no warning naming the other readers:\n%s", out)
	}

	// --undo writes the removed files back, byte for byte, from the vault.
	code, out, errOut = e.migrate("--undo", "houseofjawn-dashboard")
	if code != 0 {
		t.Fatalf("--undo: %d\n%s%s", code, out, errOut)
	}
	if d := diffSnapshots(before, snapshot(t, e.root)); len(d) > 0 {
		t.Errorf("--undo did not restore the tree: %q", d)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
