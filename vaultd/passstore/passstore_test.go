package passstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

var roundTripValues = []struct {
	name  string
	value []byte
}{
	{"simple", []byte("hunter2")},
	{"multi-line", []byte("line one\nline two\n\nline four")},
	{"ends-with-newline", []byte("value\n")},
	{"two-newlines", []byte("value\n\n")},
	{"only-newline", []byte("\n")},
	{"not-utf8", []byte{0xff, 0xfe, 0x80, 'x', 0xc3}},
	{"nul-bytes", []byte("a\x00b\x00\x00")},
	{"empty", []byte{}},
	{"large", bytes.Repeat([]byte("0123456789abcdef"), 8<<10)},
}

func TestPassInsertThenGet(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	ctx := context.Background()
	for _, tc := range roundTripValues {
		p := vpath.MustParse("insert/" + tc.name)
		testpass.PassInsert(t, gnupghome, dir, p.String(), tc.value)
		got, err := s.Get(ctx, p)
		if err != nil {
			t.Fatalf("%s: Get: %v", tc.name, err)
		}
		if !bytes.Equal(got, tc.value) {
			t.Errorf("%s: Get = %q, want %q", tc.name, got, tc.value)
		}
	}
}

func TestGetStripsExactlyOneNewline(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	for content, want := range map[string]string{
		"no newline":  "no newline",
		"one\n":       "one",
		"two\n\n":     "two\n",
		"mid\nline\n": "mid\nline",
	} {
		// `pass insert -m` stores its input verbatim.
		testpass.Pass(t, gnupghome, dir, []byte(content), "insert", "-m", "-f", "raw")
		got, err := s.Get(context.Background(), "raw")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("content %q: Get = %q, want %q", content, got, want)
		}
	}
}

func TestSetThenPassShow(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	ctx := context.Background()
	for _, tc := range roundTripValues {
		p := vpath.MustParse("set/deep/" + tc.name)
		if err := s.Set(ctx, p, tc.value); err != nil {
			t.Fatalf("%s: Set: %v", tc.name, err)
		}
		want := append(slices.Clone(tc.value), '\n')
		if got := testpass.PassShow(t, gnupghome, dir, p.String()); !bytes.Equal(got, want) {
			t.Errorf("%s: pass show = %q, want %q", tc.name, got, want)
		}
		got, err := s.Get(ctx, p)
		if err != nil || !bytes.Equal(got, tc.value) {
			t.Errorf("%s: Get = %q, %v; want %q", tc.name, got, err, tc.value)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "set", "deep", "simple.gpg"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("entry mode = %v, want 0600", fi.Mode().Perm())
	}
	if fi, err := os.Stat(filepath.Join(dir, "set")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("folder mode = %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}

// encryptedTo returns the key ids an entry file is encrypted to.
func encryptedTo(t *testing.T, file string) []string {
	t.Helper()
	cmd := exec.Command("gpg", "--batch", "--status-fd=1", "--list-only", "--decrypt", file)
	cmd.Env = testpass.Env(gnupghome, "")
	out, _ := cmd.Output() // --list-only exits non-zero; the status lines are what we want
	var ids []string
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "[GNUPG:]" && f[1] == "ENC_TO" {
			ids = append(ids, f[2])
		}
	}
	slices.Sort(ids)
	return ids
}

// encryptionSubkey returns the key id of the encryption subkey of fpr.
func encryptionSubkey(t *testing.T, fpr string) string {
	t.Helper()
	cmd := exec.Command("gpg", "--batch", "--with-colons", "--list-keys", fpr)
	cmd.Env = testpass.Env(gnupghome, "")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Split(line, ":"); len(f) > 11 && f[0] == "sub" && strings.Contains(f[11], "e") {
			return f[4]
		}
	}
	t.Fatalf("no encryption subkey for %s", fpr)
	return ""
}

func TestRecipientsFromNearestGPGID(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	ctx := context.Background()
	// The keyring outlives the test (-count=2 runs it again): a fresh uid.
	second := testpass.AddKey(t, gnupghome, "Second "+strconv.FormatInt(time.Now().UnixNano(), 36)+" <second@jawn.invalid>")
	// pass init -p writes team/.gpg-id.
	testpass.Pass(t, gnupghome, dir, nil, "init", "-p", "team", second)
	// A hand-written .gpg-id with comments, blank lines and two keys.
	if err := os.MkdirAll(filepath.Join(dir, "both"), 0o700); err != nil {
		t.Fatal(err)
	}
	gpgID := "# who can read this folder\n\n  " + second + "  # the second key\n" + keyID + "\n"
	if err := os.WriteFile(filepath.Join(dir, "both", ".gpg-id"), []byte(gpgID), 0o600); err != nil {
		t.Fatal(err)
	}

	first, sub2 := encryptionSubkey(t, keyID), encryptionSubkey(t, second)
	for p, want := range map[string][]string{
		"top":              {first},
		"other/x":          {first},
		"team/x":           {sub2},
		"team/deeper/y":    {sub2},
		"both/z":           slices.Sorted(slices.Values([]string{first, sub2})),
		"both/deeper/more": slices.Sorted(slices.Values([]string{first, sub2})),
	} {
		if err := s.Set(ctx, vpath.MustParse(p), []byte("v")); err != nil {
			t.Fatalf("Set %s: %v", p, err)
		}
		if got := encryptedTo(t, filepath.Join(dir, p+".gpg")); !slices.Equal(got, want) {
			t.Errorf("%s encrypted to %v, want %v", p, got, want)
		}
		if got, err := s.Get(ctx, vpath.MustParse(p)); err != nil || string(got) != "v" {
			t.Errorf("Get %s = %q, %v", p, got, err)
		}
	}

	// A .gpg-id that names nobody is an error, not "encrypt to no one".
	if err := os.WriteFile(filepath.Join(dir, "both", ".gpg-id"), []byte("# nobody\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "both/z", []byte("v")); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Set with an empty .gpg-id: %v, want ErrUnavailable", err)
	}
}

func TestGitCommitPerChange(t *testing.T) {
	t.Parallel()
	s, dir, logs := newTestStore(t, true)
	ctx := context.Background()
	count := func() int {
		n, err := strconv.Atoi(gitOut(t, dir, "rev-list", "--count", "HEAD"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := count()
	steps := []struct {
		do  func() error
		msg string
	}{
		{func() error { return s.Set(ctx, "web/api-key", []byte("one")) }, "Add given password for web/api-key to store."},
		{func() error { return s.Set(ctx, "web/api-key", []byte("two")) }, "Add given password for web/api-key to store."},
		{func() error { return s.Set(ctx, "odd [name]*", []byte("x")) }, "Add given password for odd [name]* to store."},
		{func() error { return s.Delete(ctx, "web/api-key") }, "Remove web/api-key from store."},
	}
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		n++
		if got := count(); got != n {
			t.Fatalf("step %d: %d commits, want %d\nlog: %s", i, got, n, logs)
		}
		if got := gitOut(t, dir, "log", "-1", "--format=%s"); got != st.msg {
			t.Errorf("step %d: commit message %q, want %q", i, got, st.msg)
		}
	}
	if st := gitOut(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("work tree not clean after our commits:\n%s", st)
	}
	// pass itself still works on the store, and commits as before.
	testpass.PassInsert(t, gnupghome, dir, "web/from-pass", []byte("p"))
	if got := count(); got != n+1 {
		t.Errorf("%d commits after pass insert, want %d", got, n+1)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("unexpected warnings:\n%s", logs)
	}
}

// TestGitFallbackIdentity runs git with no configuration at all: commits
// must still happen, under the fallback identity. It sets the environment,
// so it cannot run in parallel.
func TestGitFallbackIdentity(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("HOME", empty)
	t.Setenv("XDG_CONFIG_HOME", empty)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	for _, k := range []string{"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL", "GIT_CONFIG_GLOBAL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	s, dir, logs := newTestStore(t, true)
	if err := s.Set(context.Background(), "x", []byte("v")); err != nil {
		t.Fatal(err)
	}
	want := fallbackGitName + " <" + fallbackGitEmail + ">"
	if got := gitOut(t, dir, "log", "-1", "--format=%an <%ae>"); got != want {
		t.Errorf("author %q, want %q\nlog: %s", got, want, logs)
	}
}

func TestNoTempFilesLeft(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	for i := range 5 {
		if err := s.Set(context.Background(), vpath.MustParse("a/b/entry"+strconv.Itoa(i%2)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), tempMarker) {
			t.Errorf("temporary file left: %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSetGet: readers racing a writer on one entry only ever see
// a whole old or a whole new value.
func TestConcurrentSetGet(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t, false)
	ctx := context.Background()
	a, b := bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 64<<10)
	if err := s.Set(ctx, "race", a); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := s.Get(ctx, "race")
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
					t.Errorf("Get returned a mixed value of %d bytes", len(got))
					return
				}
			}
		})
	}
	for i := range 10 {
		v := a
		if i%2 == 0 {
			v = b
		}
		if err := s.Set(ctx, "race", v); err != nil {
			t.Error(err)
		}
	}
	close(done)
	wg.Wait()
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	ctx := context.Background()
	if err := s.Set(ctx, "folder/entry", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plainfile"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []vpath.Path{"missing", "folder", "folder/missing", "plainfile/x"} {
		if _, err := s.Get(ctx, p); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Get %s: %v, want ErrNotFound", p, err)
		}
		if err := s.Delete(ctx, p); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Delete %s: %v, want ErrNotFound", p, err)
		}
	}
}

func TestDeleteRemovesEmptyFolders(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	ctx := context.Background()
	testpass.Pass(t, gnupghome, dir, nil, "init", "-p", "keep", keyID)
	for _, p := range []vpath.Path{"a/b/c/x", "a/y", "keep/inner/z"} {
		if err := s.Set(ctx, p, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []vpath.Path{"a/b/c/x", "keep/inner/z"} {
		if err := s.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, p); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Get after Delete: %v", err)
		}
	}
	exists := func(rel string) bool {
		_, err := os.Lstat(filepath.Join(dir, rel))
		return err == nil
	}
	for rel, want := range map[string]bool{"a/b": false, "a": true, "a/y.gpg": true, "keep/inner": false, "keep": true, ".gpg-id": true} {
		if got := exists(rel); got != want {
			t.Errorf("%s exists = %v, want %v", rel, got, want)
		}
	}
}

func TestSymlinksAndHiddenFiles(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	ctx := context.Background()
	for _, p := range []vpath.Path{"real", "realdir/y"} {
		if err := s.Set(ctx, p, []byte("in:"+p.String())); err != nil {
			t.Fatal(err)
		}
	}
	// Outside the store: a valid entry file and a folder holding one.
	outside := testpass.NewStore(t, gnupghome, keyID)
	testpass.PassInsert(t, gnupghome, outside, "secret", []byte("outside"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) { must(os.Symlink(target, filepath.Join(dir, name))) }
	link(filepath.Join(outside, "secret.gpg"), "evil-abs.gpg")
	rel, err := filepath.Rel(dir, filepath.Join(outside, "secret.gpg"))
	must(err)
	link(rel, "evil-rel.gpg")
	link(outside, "outdir")
	link("real.gpg", "alias.gpg")
	link("realdir", "linkdir")
	link(".", "loop")
	link("missing.gpg", "dangling.gpg")
	must(syscall.Mkfifo(filepath.Join(dir, "fifo.gpg"), 0o600))
	for _, name := range []string{".hidden.gpg", ".dir/x.gpg", ".git/x.gpg", ".extensions/ext.gpg", "-dash.gpg", "notanentry.txt"} {
		must(os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700))
		must(os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600))
	}

	got, err := s.List(ctx, "")
	must(err)
	want := []vpath.Path{"alias", "linkdir/y", "real", "realdir/y"}
	if !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	for p, want := range map[vpath.Path]error{
		"evil-abs":      backend.ErrRefused,
		"evil-rel":      backend.ErrRefused,
		"outdir/secret": backend.ErrRefused,
		"fifo":          backend.ErrRefused,
		"dangling":      backend.ErrNotFound,
		"alias":         nil,
		"linkdir/y":     nil,
	} {
		v, err := s.Get(ctx, p)
		if !errors.Is(err, want) {
			t.Errorf("Get %s: %v, want %v", p, err, want)
		}
		if err != nil && v != nil {
			t.Errorf("Get %s returned a value with an error", p)
		}
	}
	// Writing through or over a symlink is refused; so is deleting an
	// entry Get cannot see.
	for _, p := range []vpath.Path{"evil-abs", "alias", "outdir/new"} {
		if err := s.Set(ctx, p, []byte("v")); !errors.Is(err, backend.ErrRefused) {
			t.Errorf("Set %s: %v, want ErrRefused", p, err)
		}
	}
	if err := s.Delete(ctx, "outdir/secret"); !errors.Is(err, backend.ErrRefused) {
		t.Errorf("Delete outdir/secret: %v, want ErrRefused", err)
	}
	if got := testpass.PassShow(t, gnupghome, outside, "secret"); string(got) != "outside\n" {
		t.Errorf("the file outside changed: %q", got)
	}
}

func TestListPrefix(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t, false)
	ctx := context.Background()
	for _, p := range []vpath.Path{"claude/tokens/a", "claude/tokens/b", "claude/tokensx", "claude/other", "web/x"} {
		if err := s.Set(ctx, p, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for prefix, want := range map[string][]vpath.Path{
		"":               {"claude/other", "claude/tokens/a", "claude/tokens/b", "claude/tokensx", "web/x"},
		"claude/tokens/": {"claude/tokens/a", "claude/tokens/b"},
		"claude/tok":     {"claude/tokens/a", "claude/tokens/b", "claude/tokensx"},
		"web/x":          {"web/x"},
		"nothing/":       nil,
	} {
		got, err := s.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	ctx := context.Background()
	if err := s.Set(ctx, "big", make([]byte, MaxValueSize+1)); !errors.Is(err, backend.ErrTooLarge) {
		t.Errorf("Set of %d bytes: %v, want ErrTooLarge", MaxValueSize+1, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "huge.gpg"), make([]byte, MaxEntrySize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "huge"); !errors.Is(err, backend.ErrTooLarge) {
		t.Errorf("Get of a %d-byte file: %v, want ErrTooLarge", MaxEntrySize+1, err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t, false)
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := s.CheckKey(ctx); err != nil {
		t.Errorf("CheckKey: %v", err)
	}

	bare, _, _ := openTestStore(t, Options{Dir: t.TempDir(), GnuPGHome: gnupghome})
	if err := bare.Check(ctx); !errors.Is(err, backend.ErrUnavailable) || !strings.Contains(err.Error(), "pass init") {
		t.Errorf("Check without .gpg-id: %v, want ErrUnavailable with a hint", err)
	}
	if err := bare.Set(ctx, "x", []byte("v")); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Set without .gpg-id: %v, want ErrUnavailable", err)
	}
	if _, err := Open(Options{Dir: filepath.Join(t.TempDir(), "missing")}); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Open of a missing folder: %v, want ErrUnavailable", err)
	}
	if _, err := Open(Options{Dir: t.TempDir(), GPG: "no-such-gpg-binary"}); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Open without gpg: %v, want ErrUnavailable", err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("PASSWORD_STORE_DIR", "/some/store")
	if got := DefaultDir(); got != "/some/store" {
		t.Errorf("DefaultDir = %q", got)
	}
	t.Setenv("PASSWORD_STORE_DIR", "")
	t.Setenv("HOME", "/home/someone")
	if got := DefaultDir(); got != "/home/someone/.password-store" {
		t.Errorf("DefaultDir = %q", got)
	}
}

// TestStaleTempFilesRemovedAtOpen: a write interrupted by a crash leaves
// its temporary file; the next Open removes it and keeps the entry.
func TestStaleTempFilesRemovedAtOpen(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, false)
	ctx := context.Background()
	if err := s.Set(ctx, "svc/x", []byte("old")); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "svc", ".x.gpg"+tempMarker+"0123456789abcdef")
	if err := os.WriteFile(stale, []byte("half a ciphertext"), 0o600); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "svc", ".notes")
	if err := os.WriteFile(keep, []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, _, _ := openTestStore(t, Options{Dir: dir, GnuPGHome: gnupghome})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temp file survived Open: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("Open removed a file that is not a temp file: %v", err)
	}
	if v, err := s2.Get(ctx, "svc/x"); err != nil || string(v) != "old" {
		t.Fatalf("entry after cleanup: %q %v", v, err)
	}
}
