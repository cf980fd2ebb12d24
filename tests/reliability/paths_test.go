package reliability

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestHostilePathsNeverReachGPG: every path that breaks the path rules is
// invalid_path for get, set and delete (and as a list prefix where it is
// not a valid prefix), decided before the store is touched: the gpg wrapper
// records no run at all. "%2e%2e" is a literal, valid name and stays inside
// the store.
func TestHostilePathsNeverReachGPG(t *testing.T) {
	w := newGPGWrapper(t)
	d := start(t, opts{config: w.config()})
	d.awaitKeyCheck(w)
	const secret = "SENTINEL-hostile-31d4"
	d.plant([]byte(secret))
	outside := filepath.Join(filepath.Dir(d.Store), "x.gpg")
	before := len(w.calls())

	hostile := map[string]string{
		"parent":                  "../x",
		"parent after a folder":   "a/../../x",
		"absolute":                "/etc/passwd",
		"empty segment":           "a//b",
		"dot segment":             "a/./b",
		"trailing slash":          "a/",
		"option-like":             "-rf",
		"option-like segment":     "a/--output=x",
		"NUL":                     "a\x00b",
		"NUL at the end":          "a/b\x00",
		".gpg suffix":             "a/b.gpg",
		"256-byte segment":        "a/" + strings.Repeat("s", 256),
		"5,000-byte path":         strings.Repeat("abcd/", 999) + "abcd",
		"backslash":               `a\..\x`,
		"hidden .gpg-id":          ".gpg-id",
		"hidden .git":             "a/.git/config",
		"just ..":                 "..",
		"just .":                  ".",
		"empty":                   "",
		"DEL":                     "a/\x7f",
		"C1 control (U+0085)":     "a/\u0085b",
		"newline":                 "a\nb",
		"tab":                     "a\tb",
		"leading dot segment":     "a/.hidden",
		"slash only":              "/",
		"double slash at start":   "//x",
		"parent as last":          "a/b/..",
		"dot-dot with .gpg":       "../x.gpg",
		"escape with many parent": strings.Repeat("../", 40) + "etc/passwd",
	}
	r := d.Raw()
	id := 0
	for name, p := range hostile {
		for _, m := range []struct {
			method string
			params any
		}{
			{"get", map[string]string{"path": p}},
			{"set", map[string]string{"path": p, "value": secret}},
			{"delete", map[string]string{"path": p}},
		} {
			id++
			r.Send(mustJSON(map[string]any{"id": id, "method": m.method, "params": m.params}) + "\n")
			a := r.Answer()
			want := wire.CodeInvalidPath
			if a.Error == nil || a.Error.Code != want {
				t.Errorf("%s %s (%q): %+v, want %s", m.method, name, p, a.Error, want)
			} else if len(p) > 3 && strings.Contains(a.Error.Message, p) {
				t.Errorf("%s %s: the message quotes the path: %q", m.method, name, a.Error.Message)
			}
		}
		// As a list prefix, a trailing slash is allowed; the rest is not.
		if p != "a/" && p != "" {
			id++
			r.Send(mustJSON(map[string]any{"id": id, "method": "list", "params": map[string]string{"prefix": p}}) + "\n")
			if a := r.Answer(); a.Error == nil || a.Error.Code != wire.CodeInvalidPath {
				t.Errorf("list prefix %s (%q): %+v, want invalid_path", name, p, a.Error)
			}
		}
	}
	if calls := w.calls()[before:]; len(calls) > 0 {
		t.Fatalf("gpg ran for hostile paths: %q", calls)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Fatal("a file was written outside the store")
	}
	for _, row := range d.auditRows(wire.AuditQueryParams{}) {
		for _, p := range []string{"../x", "/etc/passwd", "etc/passwd", "-rf"} {
			if strings.Contains(row.Path, p) {
				t.Errorf("the audit log recorded an invalid path: %+v", row)
			}
		}
	}

	// %2e%2e is a literal name. Reading it finds nothing; writing it makes
	// an entry named "%2e%2e" inside the store; a token without a grant on
	// it is refused. Never traversal.
	c := d.Dial("")
	if _, err := c.Get(ctx(t), "%2e%2e/x"); code(err) != wire.CodeNotFound {
		t.Fatalf("get %%2e%%2e/x: %v, want not_found", err)
	}
	if err := c.Set(ctx(t), "%2e%2e/x", []byte("literal")); err != nil {
		t.Fatalf("set %%2e%%2e/x: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.Store, "%2e%2e", "x.gpg")); err != nil {
		t.Fatalf("the literal entry is not inside the store: %v", err)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Fatal("%2e%2e was decoded into a traversal")
	}
	if v, err := c.Get(ctx(t), "%2e%2e/x"); err != nil || string(v) != "literal" {
		t.Fatalf("get %%2e%%2e/x after set: %q %v", v, err)
	}
	scoped := d.Dial(d.token("scoped", "svc/**:write"))
	if _, err := scoped.Get(ctx(t), "svc/%2e%2e/%2e%2e/x"); code(err) != wire.CodeNotFound {
		t.Fatalf("scoped get of svc/%%2e%%2e/%%2e%%2e/x: %v, want not_found", err)
	}
	if _, err := scoped.Get(ctx(t), "%2e%2e/x"); code(err) != wire.CodePermissionDenied {
		t.Fatalf("scoped get of %%2e%%2e/x: %v, want permission_denied", err)
	}
	if len(w.calls()) == before {
		t.Fatal("the gpg wrapper was never used: this test proves nothing")
	}
}

// TestSymlinksOutOfTheStore: entries and folders that are symlinks leading
// outside the store (absolute or relative) are refused by get, set and
// delete and are left out of list, even though what they point to is a
// valid entry encrypted to the store's key; gpg never sees them. Symlinks
// inside the store still work.
func TestSymlinksOutOfTheStore(t *testing.T) {
	w := newGPGWrapper(t)
	d := start(t, opts{config: w.config()})
	d.awaitKeyCheck(w)
	const secret = "SENTINEL-outside-ab12"
	d.plant([]byte(secret))

	// A valid entry, encrypted to our key, in a store of its own outside.
	outStore := testpass.NewStore(t, gnupgHome, keyID)
	testpass.PassInsert(t, gnupgHome, outStore, "dir/x", []byte(secret))
	testpass.PassInsert(t, gnupgHome, outStore, "secret", []byte(secret))
	outFile := filepath.Join(outStore, "secret.gpg")
	outDir := filepath.Join(outStore, "dir")
	sum := func(p string) [32]byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	fileSum, dirSum := sum(outFile), sum(filepath.Join(outDir, "x.gpg"))

	d.insert("svc/real", []byte("inside"))
	svc := filepath.Join(d.Store, "svc")
	rel := func(target string) string {
		r, err := filepath.Rel(svc, target)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	links := map[string]string{
		"abs.gpg":   outFile,
		"rel.gpg":   rel(outFile),
		"absdir":    outDir,
		"reldir":    rel(outDir),
		"alias.gpg": "real.gpg", // inside: allowed
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(svc, name)); err != nil {
			t.Fatal(err)
		}
	}
	before := len(w.calls())
	c := d.Dial("")
	for _, p := range []string{"svc/abs", "svc/rel", "svc/absdir/x", "svc/reldir/x"} {
		v, err := c.Get(ctx(t), p)
		if err == nil || bytes.Contains(v, []byte(secret)) {
			t.Fatalf("get %s through a symlink out of the store: %q %v", p, v, err)
		}
		if code(err) != wire.CodeInvalidPath {
			t.Errorf("get %s: %v, want invalid_path (refused)", p, err)
		}
	}
	if calls := w.calls()[before:]; len(calls) > 0 {
		t.Errorf("gpg ran for symlinks out of the store: %q", calls)
	}
	paths, err := c.List(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(paths, ","); got != "svc/alias,svc/real" {
		t.Errorf("list = %s, want svc/alias,svc/real", got)
	}
	if v, err := c.Get(ctx(t), "svc/alias"); err != nil || string(v) != "inside" {
		t.Errorf("a symlink inside the store: %q %v", v, err)
	}

	// Writes and deletes through them are refused too, and the outside
	// files are untouched.
	for _, p := range []string{"svc/abs", "svc/rel", "svc/absdir/x", "svc/absdir/new", "svc/reldir/new"} {
		if err := c.Set(ctx(t), p, []byte("overwrite")); err == nil {
			t.Errorf("set %s through a symlink out of the store succeeded", p)
		}
	}
	for _, p := range []string{"svc/abs", "svc/rel", "svc/absdir/x", "svc/reldir/x"} {
		if err := c.Delete(ctx(t), p); err == nil {
			t.Errorf("delete %s through a symlink out of the store succeeded", p)
		}
	}
	if sum(outFile) != fileSum || sum(filepath.Join(outDir, "x.gpg")) != dirSum {
		t.Fatal("a file outside the store was changed")
	}
	for _, f := range []string{"new.gpg"} {
		if _, err := os.Stat(filepath.Join(outDir, f)); err == nil {
			t.Fatal("a file was created outside the store")
		}
	}
	for _, name := range []string{"abs.gpg", "rel.gpg"} {
		if fi, err := os.Lstat(filepath.Join(svc, name)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the symlink %s was replaced or removed: %v", name, err)
		}
	}

}
