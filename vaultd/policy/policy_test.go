package policy_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/policy"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"claude/**", "claude/tokens/x", true},
		{"claude/**", "claude", true}, // ** matches zero segments
		{"claude/**", "claudette/x", false},
		{"claude/*", "claude/x", true},
		{"claude/*", "claude/x/y", false}, // * never crosses /
		{"claude/tokens/*", "claude/tokens/telegram-bot", true},
		{"claude/*/bot", "claude/x/bot", true},
		{"claude/*/bot", "claude/x/y/bot", false},
		{"claude/**/bot", "claude/x/y/bot", true},
		{"claude/**/bot", "claude/bot", true},
		{"a/b", "a/b", true},
		{"a/b", "a/bc", false},
		{"a/b", "A/b", false}, // byte-exact
		{"*-bot", "telegram-bot", true},
		{"*-bot", "telegram-bots", false},
		{"t*m*t", "telegram-bot", true},
		{"**/x", "x", true},
		{"**/x", "a/b/x", true},
		{"**/x", "a/b/y", false},
		{"a/**/b/**/c", "a/1/b/2/3/c", true},
		{"a/**/b/**/c", "a/1/2/c", false},
		{"é", "É", false},
	}
	for _, c := range cases {
		if got := policy.Match(c.pattern, vpath.MustParse(c.path)); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestAllowsLevels(t *testing.T) {
	p := vpath.MustParse("claude/tokens/bot")
	for _, c := range []struct {
		grant policy.Level
		ask   policy.Level
		want  bool
	}{
		{policy.Read, policy.Read, true}, {policy.Read, policy.Write, false}, {policy.Read, policy.Admin, false},
		{policy.Write, policy.Read, true}, {policy.Write, policy.Write, true}, {policy.Write, policy.Admin, false},
		{policy.Admin, policy.Read, true}, {policy.Admin, policy.Write, true}, {policy.Admin, policy.Admin, true},
		{policy.Admin, policy.None, false},
	} {
		if got := policy.Allows([]policy.Grant{{Pattern: "claude/**", Level: c.grant}}, p, c.ask); got != c.want {
			t.Errorf("grant %v, ask %v: got %v", c.grant, c.ask, got)
		}
	}
	if policy.Allows(nil, p, policy.Read) {
		t.Error("no grants allowed a read")
	}
}

// TestMatchProperties checks, on random paths, the properties that the
// security model states.
func TestMatchProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "ab", "x-y", "é", "A"}
	randPath := func() string {
		n := 1 + r.IntN(4)
		segs := make([]string, n)
		for i := range segs {
			segs[i] = alphabet[r.IntN(len(alphabet))] + alphabet[r.IntN(len(alphabet))]
		}
		return strings.Join(segs, "/")
	}
	for range 5000 {
		a, b := randPath(), randPath()
		pa, pb := vpath.MustParse(a), vpath.MustParse(b)
		// A pattern without wildcards matches only itself.
		if policy.Match(a, pb) != (a == b) {
			t.Fatalf("literal %q vs %q", a, b)
		}
		// * never crosses /: a one-star segment pattern matches only paths
		// with the same number of segments.
		star := strings.Repeat("*/", strings.Count(a, "/")) + "*"
		if policy.Match(star, pb) != (strings.Count(a, "/") == strings.Count(b, "/")) {
			t.Fatalf("%q vs %q", star, b)
		}
		// Matching is byte-exact: changing case changes the answer when it
		// changes the bytes.
		if up := strings.ToUpper(a); up != a && policy.Match(a, vpath.MustParse(up)) {
			t.Fatalf("case folded: %q matched %q", a, up)
		}
		_ = pa
	}
}

func TestValidatePattern(t *testing.T) {
	for _, p := range []string{"**", "claude/**", "a/*/b", "*-bot"} {
		if err := policy.ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "/**", "../**", "a//b", "a/", "a/.git/*", "-*"} {
		if err := policy.ValidatePattern(p); err == nil {
			t.Errorf("ValidatePattern(%q) accepted", p)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		outer, inner string
		want         bool
	}{
		{"**", "anything/**", true},
		{"claude/**", "claude/tokens/*", true},
		{"claude/**", "claude/**", true},
		{"claude/**", "claudette/x", false},
		{"claude/**", "**", false},
		{"claude/*", "claude/x", false},
		{"claude/x", "claude/x", true},
		{"c*/**", "claude/x", false},
	} {
		if got := policy.Covers(c.outer, c.inner); got != c.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", c.outer, c.inner, got, c.want)
		}
	}
}

func BenchmarkAllows(b *testing.B) {
	grants := []policy.Grant{{Pattern: "claude/api/*", Level: policy.Read}, {Pattern: "claude/tokens/**", Level: policy.Read}}
	p := vpath.MustParse("claude/tokens/telegram-bot")
	for b.Loop() {
		if !policy.Allows(grants, p, policy.Read) {
			b.Fatal("denied")
		}
	}
}

// Matching runs for every grant of every request: it must not allocate.
func TestMatchDoesNotAllocate(t *testing.T) {
	path := vpath.MustParse("claude/tokens/telegram-bot")
	grants := []policy.Grant{{Pattern: "other/**", Level: policy.Read}, {Pattern: "claude/*/telegram-*", Level: policy.Read}}
	if n := testing.AllocsPerRun(1000, func() {
		if !policy.Allows(grants, path, policy.Read) {
			t.Fatal("grant does not match")
		}
	}); n != 0 {
		t.Fatalf("Allows allocates %.1f times a call", n)
	}
}
