package vpath_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

func TestParse(t *testing.T) {
	good := []string{"a", "claude/tokens/telegram-bot", "a/b/c", "x.y", "a b/c", "日本/語", "a-b_c@d", "a/b.gp", "n/" + strings.Repeat("s", vpath.MaxSegment)}
	for _, s := range good {
		if p, err := vpath.Parse(s); err != nil || p.String() != s {
			t.Errorf("Parse(%q) = %q, %v; want ok", s, p, err)
		}
	}
	bad := []string{"", "/etc/passwd", "a/", "a//b", "../x", "a/../../x", "a/./b", ".", "..", "-rf", "a/--output=x",
		"a\x00b", "a\nb", "a\\b", "a/b.gpg", ".git/config", "a/.gpg-id", "a\x7f", "a\u0085b", "\xff",
		strings.Repeat("s", vpath.MaxSegment+1), strings.Repeat("a/", 3000) + "a"}
	for _, s := range bad {
		_, err := vpath.Parse(s)
		if !errors.Is(err, vpath.ErrInvalid) {
			t.Errorf("Parse(%q) = %v; want ErrInvalid", s, err)
			continue
		}
		if len(s) > 3 && strings.Contains(err.Error(), s) {
			t.Errorf("error for %q quotes the input: %v", s, err)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	for _, s := range []string{"", "claude/", "claude/tok", "a/b/"} {
		if _, err := vpath.ParsePrefix(s); err != nil {
			t.Errorf("ParsePrefix(%q): %v", s, err)
		}
	}
	for _, s := range []string{"/", "/etc", "../", "a//", "a/../", "-x/"} {
		if _, err := vpath.ParsePrefix(s); err == nil {
			t.Errorf("ParsePrefix(%q) accepted", s)
		}
	}
}

// FuzzParse checks the invariant every caller relies on: an accepted path
// is canonical.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a//b", "-rf", "a/b.gpg", "%2e%2e/x", "a\x00", "é/ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := vpath.Parse(s)
		if err != nil {
			return
		}
		if string(p) != s {
			t.Fatalf("Parse changed the path")
		}
		if strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.ContainsAny(s, "\x00\\") || strings.HasSuffix(s, ".gpg") {
			t.Fatalf("accepted non-canonical %q", s)
		}
		for _, seg := range strings.Split(s, "/") {
			if seg == "" || seg == "." || seg == ".." || seg[0] == '-' || seg[0] == '.' {
				t.Fatalf("accepted bad segment in %q", s)
			}
		}
	})
}
