package passstore

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/jamditis/jawn-vault/internal/testpass"
)

// One keyring for the whole package: generating a key is cheap, but each
// keyring starts its own gpg-agent.
var (
	gnupghome string
	keyID     string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "jvg")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testpass.RemoveKeyring(dir)
	if keyID, err = testpass.NewKeyringDir(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	gnupghome = dir
	return m.Run()
}

// logBuffer collects a store's log lines and shows them if the test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newTestStore makes a store with the real `pass init` (and `pass git
// init` when git is set) and opens it.
func newTestStore(t *testing.T, git bool) (*Store, string, *logBuffer) {
	t.Helper()
	dir := testpass.NewStore(t, gnupghome, keyID)
	if git {
		testpass.InitGit(t, dir, gnupghome)
	}
	return openTestStore(t, Options{Dir: dir, GnuPGHome: gnupghome})
}

func openTestStore(t *testing.T, opts Options) (*Store, string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() && logs.String() != "" {
			t.Logf("store log:\n%s", logs)
		}
	})
	return s, opts.Dir, logs
}

// gitOut runs git in the store and returns its trimmed output.
func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = testpass.Env(gnupghome, dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
