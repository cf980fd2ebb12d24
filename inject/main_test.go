package inject

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/inject/vaulttest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

func TestMain(m *testing.M) {
	code := m.Run()
	vaulttest.Cleanup()
	os.Exit(code)
}

// devVault starts a dev vault for one test.
func devVault(t *testing.T) *vaulttest.Daemon {
	t.Helper()
	sock, rm, err := vaulttest.SocketPath()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rm)
	d, err := vaulttest.StartDev(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// execCall is what Main handed to execve.
type execCall struct {
	argv0 string
	argv  []string
	env   []string
}

// runMain runs Main with a fake execve and returns the status, stderr and
// the call (nil when Main did not get as far as execve).
func runMain(t *testing.T, environ []string, args ...string) (int, string, *execCall) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var call *execCall
	code := Main(context.Background(), args, Env{
		Environ: environ, Stdout: &stdout, Stderr: &stderr,
		Exec: func(argv0 string, argv, envv []string) error {
			call = &execCall{argv0, argv, envv}
			return os.ErrProcessDone // pretend execve failed, so Main returns
		},
	})
	if call != nil {
		if code != ExitCannotExec {
			t.Fatalf("status after a failed execve = %d, want %d", code, ExitCannotExec)
		}
		code = ExitOK
	}
	return code, stderr.String(), call
}

func TestMainEnvironment(t *testing.T) {
	t.Parallel()
	d := devVault(t)
	rt, err := os.MkdirTemp("/dev/shm", "jvrt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(rt)
	environ := []string{
		"PATH=/usr/bin:/bin", "HOME=/home/bot", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",
		"NOTIFY_SOCKET=/run/systemd/notify", "LISTEN_FDS=1", "LISTEN_PID=1", "WATCHDOG_USEC=5",
		"RUNTIME_DIRECTORY=" + rt, "INVOCATION_ID=abc",
		"VAULT_TOKEN=" + d.Token, "VAULT_SOCKET=" + d.Socket,
		"AWS_SECRET_ACCESS_KEY=leak", "TELEGRAM_BOT_TOKEN=stale", "KEEPME=1", "DROPME=1",
	}
	code, stderr, call := runMain(t, environ,
		"--map", "TELEGRAM_BOT_TOKEN=claude/tokens/telegram-bot",
		"--file", "DB=claude/dashboard/db-url",
		"--keep-env", "KEEPME",
		"sh", "-c", "exit 0", "--map", "X=y")
	if code != ExitOK {
		t.Fatalf("status %d\n%s", code, stderr)
	}
	if call.argv0 != "/usr/bin/sh" && call.argv0 != "/bin/sh" {
		t.Errorf("argv0 = %q, want sh resolved in the program's PATH", call.argv0)
	}
	// Flags stop at the program: its own --map is an argument.
	if want := []string{"sh", "-c", "exit 0", "--map", "X=y"}; !slices.Equal(call.argv, want) {
		t.Errorf("argv = %q, want %q", call.argv, want)
	}
	dbFile := ""
	for _, kv := range call.env {
		if v, ok := strings.CutPrefix(kv, "DB_FILE="); ok {
			dbFile = v
		}
	}
	want := []string{
		"PATH=/usr/bin:/bin", "HOME=/home/bot", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",
		"NOTIFY_SOCKET=/run/systemd/notify", "LISTEN_FDS=1", "LISTEN_PID=1", "WATCHDOG_USEC=5",
		"RUNTIME_DIRECTORY=" + rt, "INVOCATION_ID=abc", "KEEPME=1",
		"TELEGRAM_BOT_TOKEN=123456789:DEV-example-telegram-token", "DB_FILE=" + dbFile,
	}
	if !slices.Equal(call.env, want) {
		t.Errorf("environment:\n got %q\nwant %q", call.env, want)
	}
	if !strings.HasPrefix(dbFile, rt+"/vault-exec.") {
		t.Errorf("DB_FILE = %q, want a file under $RUNTIME_DIRECTORY", dbFile)
	}
	// The fake execve "failed", so the secret files are gone again.
	if _, err := os.Stat(filepath.Dir(dbFile)); err == nil {
		t.Errorf("%s left behind after a failed execve", filepath.Dir(dbFile))
	}
}

func TestMainAllOrNothing(t *testing.T) {
	t.Parallel()
	d := devVault(t)
	ctx := context.Background()
	owner, err := d.Owner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	tok, err := owner.TokenCreate(ctx, wire.TokenCreateParams{Name: "bot", Grants: []wire.GrantJSON{{Pattern: "claude/tokens/**", Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	environ := []string{"PATH=/usr/bin:/bin", "VAULT_SOCKET=" + d.Socket, "VAULT_TOKEN=" + tok.Token}

	code, stderr, call := runMain(t, environ,
		"--map", "TG=claude/tokens/telegram-bot",
		"--map", "ANTHROPIC=claude/api/anthropic",
		"--map", "MISSING=claude/tokens/nope",
		"true")
	if call != nil {
		t.Fatalf("the program was started despite failures")
	}
	if code != ExitDenied {
		t.Errorf("status %d, want %d (denied outranks not found)", code, ExitDenied)
	}
	for _, want := range []string{
		"vault-exec: error: ANTHROPIC (claude/api/anthropic): ",
		"(permission_denied)\n",
		"vault-exec: error: MISSING (claude/tokens/nope): ",
		"(not_found)\n",
		"vault-exec: hint: ",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "TG (") || strings.Contains(stderr, "DEV-example") {
		t.Errorf("stderr names a variable that did not fail, or a value:\n%s", stderr)
	}

	// A revoked token is refused on every variable.
	if _, err := owner.TokenRevoke(ctx, "bot"); err != nil {
		t.Fatal(err)
	}
	code, stderr, call = runMain(t, environ, "--map", "TG=claude/tokens/telegram-bot", "true")
	if call != nil || code != ExitDenied || !strings.Contains(stderr, "TG (claude/tokens/telegram-bot): ") {
		t.Errorf("revoked token: status %d, started=%v\n%s", code, call != nil, stderr)
	}
}

func TestMainUnavailable(t *testing.T) {
	t.Parallel()
	sock, rm, err := vaulttest.SocketPath()
	if err != nil {
		t.Fatal(err)
	}
	defer rm()
	code, stderr, call := runMain(t, []string{"PATH=/usr/bin:/bin"},
		"--socket", sock, "--wait", "200ms", "--map", "A=a/b", "--map", "B=c/d", "true")
	if call != nil || code != ExitUnavailable {
		t.Fatalf("status %d, started=%v\n%s", code, call != nil, stderr)
	}
	for _, want := range []string{"A (a/b): not fetched", "B (c/d): not fetched", "vault-exec: hint: is jawn-vault running"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestMainUsage(t *testing.T) {
	environ := []string{"PATH=/usr/bin:/bin"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no program", []string{"--map", "A=a/b"}, ExitUsage, "no program to run"},
		{"bad name", []string{"--map", "1A=a/b", "true"}, ExitUsage, "not a valid variable name"},
		{"bad path", []string{"--map", "A=../x", "true"}, ExitUsage, "invalid path"},
		{"duplicate", []string{"--map", "A=a/b", "--file", "A=a/c", "true"}, ExitUsage, "mapped twice"},
		{"keep token", []string{"--keep-env", "VAULT_TOKEN", "true"}, ExitUsage, "never reaches the program"},
		{"unknown flag", []string{"--nope", "true"}, ExitUsage, "unknown flag"},
		{"missing map file", []string{"--map-file", "/nonexistent/map", "true"}, ExitUsage, "--map-file"},
		{"missing token file", []string{"--token-file", "/nonexistent/token", "true"}, ExitUsage, "reading the token"},
		{"program not found", []string{"no-such-program-here"}, ExitNoProgram, "not found in PATH"},
		{"program not executable", []string{"/etc/passwd"}, ExitCannotExec, "not executable"},
	} {
		code, stderr, call := runMain(t, environ, tc.args...)
		if call != nil || code != tc.code || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "vault-exec: error: ") {
			t.Errorf("%s: status %d (want %d), started=%v, stderr:\n%s", tc.name, code, tc.code, call != nil, stderr)
		}
	}
}
