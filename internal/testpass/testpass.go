// Package testpass builds throwaway gpg keyrings and pass stores for tests,
// using the real gpg and pass binaries.
//
// Everything it makes lives under temporary directories and is removed when
// the test ends, including the gpg-agent it starts. It never touches the
// caller's own keyring or store: every command runs with an environment
// built by Env, not the test process's environment.
//
// What it deliberately does not do: skip. A machine without gpg or pass
// fails the test with the Debian package to install, so CI cannot go green
// by silently testing nothing.
package testpass

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// UserID is the user id of every key NewKeyring generates.
const UserID = "Jawn Vault Test <test@jawn.invalid>"

// Git identity used for commits made by pass in test stores.
const (
	gitName  = "Jawn Vault Test"
	gitEmail = "test@jawn.invalid"
)

// installHint names the packages that provide the binaries we need.
const installHint = "install them with: apt-get install pass gnupg git"

// RequireTools fails tb unless gpg, gpgconf, pass and git are on PATH.
func RequireTools(tb testing.TB) {
	tb.Helper()
	if err := lookTools("gpg", "gpgconf", "pass", "git"); err != nil {
		tb.Fatal(err)
	}
}

func lookTools(names ...string) error {
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("testpass: %s not found on PATH; %s", strings.Join(missing, ", "), installHint)
	}
	return nil
}

// NewKeyring creates a GNUPGHOME holding one fresh key without a passphrase
// (an ed25519 primary key and a cv25519 encryption subkey) and returns the
// directory and the key's fingerprint. The directory and its gpg-agent are
// removed when tb ends.
//
// The directory comes from os.MkdirTemp("", "jvg") rather than tb.TempDir:
// gpg-agent puts its sockets there, and a Unix socket path must be shorter
// than 108 bytes, which a test's TempDir often is not.
func NewKeyring(tb testing.TB) (gnupghome, keyID string) {
	tb.Helper()
	RequireTools(tb)
	dir, err := os.MkdirTemp("", "jvg")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := RemoveKeyring(dir); err != nil {
			tb.Errorf("testpass: removing keyring: %v", err)
		}
	})
	keyID, err = NewKeyringDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return dir, keyID
}

// EmptyKeyring creates a GNUPGHOME with no keys at all, removed when tb ends.
// Decrypting anything with it fails, which is what tests of gpg failures want.
func EmptyKeyring(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "jvg")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := RemoveKeyring(dir); err != nil {
			tb.Errorf("testpass: removing keyring: %v", err)
		}
	})
	if err := os.Chmod(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// NewKeyringDir generates a passphrase-less key in dir, creating dir (0700)
// if needed, and returns the key's fingerprint. It is NewKeyring for a
// TestMain or a dev command: the caller removes the keyring with
// RemoveKeyring. Keep dir short (see NewKeyring).
func NewKeyringDir(dir string) (keyID string, err error) {
	if err := lookTools("gpg", "gpgconf"); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("testpass: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("testpass: %w", err)
	}
	return genKey(dir, UserID)
}

// AddKey generates another passphrase-less key with the given user id in
// the keyring and returns its fingerprint. Like every key generated here it
// is ultimately trusted, so gpg encrypts to it in batch mode.
func AddKey(tb testing.TB, gnupghome, userID string) string {
	tb.Helper()
	fpr, err := genKey(gnupghome, userID)
	if err != nil {
		tb.Fatal(err)
	}
	return fpr
}

func genKey(gnupghome, userID string) (string, error) {
	env := Env(gnupghome, "")
	// "future-default" is ed25519 for signing and certification plus a
	// cv25519 encryption subkey, generated in one call (about 0.1 s).
	if _, err := run(env, nil, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
		"--quick-gen-key", userID, "future-default", "default", "never"); err != nil {
		return "", err
	}
	out, err := run(env, nil, "gpg", "--batch", "--with-colons", "--list-secret-keys", "="+userID)
	if err != nil {
		return "", err
	}
	// The first fpr record after the sec record is the primary key's.
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 9 && f[0] == "fpr" {
			return f[9], nil
		}
	}
	return "", errors.New("testpass: no fingerprint in gpg --list-secret-keys output")
}

// RemoveKeyring stops the gpg daemons of the keyring in dir and removes dir.
func RemoveKeyring(dir string) error {
	// The agent may not be running at all; gpgconf's complaint is not ours.
	_, _ = run(Env(dir, ""), nil, "gpgconf", "--homedir", dir, "--kill", "all")
	// The agent may still be saving its random_seed as it exits; a
	// removal racing it fails with "directory not empty". Try again.
	var err error
	for range 10 {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// NewStore runs the real `pass init keyID` on a fresh directory and returns
// the store's path. The directory is removed when tb ends.
func NewStore(tb testing.TB, gnupghome, keyID string) string {
	tb.Helper()
	RequireTools(tb)
	dir := filepath.Join(tb.TempDir(), "store")
	Pass(tb, gnupghome, dir, nil, "init", keyID)
	return dir
}

// InitGit runs `pass git init` in the store, which also commits what is
// already there. It works on a machine with no git configuration: Env
// supplies the author and committer.
func InitGit(tb testing.TB, storeDir, gnupghome string) {
	tb.Helper()
	Pass(tb, gnupghome, storeDir, nil, "git", "init")
}

// PassInsert stores value at path with the real `pass insert -m -f`,
// followed by one newline, as `pass insert` stores a typed password; the
// backend strips that newline, so Get returns value exactly. (`pass insert
// -m` itself stores its input verbatim; to write raw content, use Pass.)
func PassInsert(tb testing.TB, gnupghome, storeDir, path string, value []byte) {
	tb.Helper()
	content := append(append(make([]byte, 0, len(value)+1), value...), '\n')
	Pass(tb, gnupghome, storeDir, content, "insert", "-m", "-f", path)
}

// PassShow returns what the real `pass show path` prints, byte for byte:
// the entry's whole content, trailing newline included.
func PassShow(tb testing.TB, gnupghome, storeDir, path string) []byte {
	tb.Helper()
	return Pass(tb, gnupghome, storeDir, nil, "show", path)
}

// Pass runs `pass args...` against the store with stdin as its input and
// returns its standard output, failing tb if pass fails.
func Pass(tb testing.TB, gnupghome, storeDir string, stdin []byte, args ...string) []byte {
	tb.Helper()
	out, err := run(Env(gnupghome, storeDir), stdin, "pass", args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Env returns the environment for running pass, gpg, git or the daemon
// against this keyring and store: GNUPGHOME, PASSWORD_STORE_DIR (omitted if
// storeDir is empty), PATH, HOME (the keyring, so no personal dotfiles are
// read) and a git identity. It is built from scratch, not from os.Environ.
func Env(gnupghome, storeDir string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{
		"PATH=" + path,
		"HOME=" + gnupghome,
		"GNUPGHOME=" + gnupghome,
		"LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=" + gitName,
		"GIT_AUTHOR_EMAIL=" + gitEmail,
		"GIT_COMMITTER_NAME=" + gitName,
		"GIT_COMMITTER_EMAIL=" + gitEmail,
	}
	if storeDir != "" {
		env = append(env, "PASSWORD_STORE_DIR="+storeDir)
	}
	return env
}

// run executes name with args, no shell, and a deadline generous enough for
// a loaded CI machine; the error carries the command's stderr.
func run(env []string, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testpass: %s: %w (%s)", name, err, installHint)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("testpass: %s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return nil, fmt.Errorf("testpass: %s %s: timed out\n%s", name, strings.Join(args, " "), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}
