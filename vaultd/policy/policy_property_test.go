package policy_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/policy"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// The properties the security model states about grants, checked on
// random patterns and paths against a reference matcher that is slow but
// obviously right (plain backtracking over segments, then over bytes).

// refMatch is the reference: "**" matches any number of whole segments,
// "*" any run of bytes within one segment, everything else itself.
func refMatch(pattern, path string) bool {
	return refSegs(strings.Split(pattern, "/"), strings.Split(path, "/"))
}

func refSegs(ps, ss []string) bool {
	if len(ps) == 0 {
		return len(ss) == 0
	}
	if ps[0] == "**" {
		for i := 0; i <= len(ss); i++ {
			if refSegs(ps[1:], ss[i:]) {
				return true
			}
		}
		return false
	}
	if len(ss) == 0 {
		return false
	}
	return refSeg(ps[0], ss[0]) && refSegs(ps[1:], ss[1:])
}

// refSeg matches bytes by plain backtracking ("*" may split a multi-byte
// character, as it does in policy).
func refSeg(p, s string) bool {
	if p == "" {
		return s == ""
	}
	if p[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if refSeg(p[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return s != "" && p[0] == s[0] && refSeg(p[1:], s[1:])
}

// Pieces that look alike but differ in bytes: case, composed and
// decomposed accents, a fullwidth letter, separators inside names.
var alphabet = []string{"a", "b", "A", "ab", "x-y", "é", "e\u0301", "É", "ａ", "_", "a.b", "1"}

func randSegment(r *rand.Rand) string {
	n := 1 + r.IntN(2)
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func randPath(r *rand.Rand) string {
	segs := make([]string, 1+r.IntN(4))
	for i := range segs {
		segs[i] = randSegment(r)
	}
	return strings.Join(segs, "/")
}

// randPattern builds a pattern from literal segments, segments with "*"
// in them, "*" alone, "**", and "a**" (two stars inside a segment, which
// are not "**").
func randPattern(r *rand.Rand) string {
	segs := make([]string, 1+r.IntN(4))
	for i := range segs {
		switch r.IntN(6) {
		case 0:
			segs[i] = "**"
		case 1:
			segs[i] = "*"
		case 2:
			s := randSegment(r)
			k := r.IntN(len(s) + 1)
			segs[i] = s[:k] + "*" + s[k:]
		case 3:
			segs[i] = randSegment(r) + "**"
		default:
			segs[i] = randSegment(r)
		}
	}
	return strings.Join(segs, "/")
}

func TestPropertyMatchAgreesWithReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	matched, checked := 0, 0
	for range 20000 {
		pattern, path := randPattern(r), randPath(r)
		// Bias towards paths that could match: derive one from the pattern.
		if r.IntN(2) == 0 {
			path = strings.NewReplacer("**", randSegment(r), "*", "").Replace(pattern)
			if _, err := vpath.Parse(path); err != nil {
				continue
			}
		}
		p, err := vpath.Parse(path)
		if err != nil {
			t.Fatalf("generated an invalid path %q: %v", path, err)
		}
		got, want := policy.Match(pattern, p), refMatch(pattern, path)
		if got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", pattern, path, got, want)
		}
		checked++
		if got {
			matched++
		}
	}
	// Both answers must be well exercised, or the comparison proves little.
	if matched < checked/10 || matched > checked*9/10 {
		t.Fatalf("%d of %d random cases matched: the generator is lopsided", matched, checked)
	}
}

func TestPropertyStarNeverCrossesSlash(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for range 5000 {
		path := randPath(r)
		segs := strings.Split(path, "/")
		if len(segs) < 2 {
			continue
		}
		// Replace two neighbouring segments (and the slash between them)
		// with one star segment: it must not match.
		i := r.IntN(len(segs) - 1)
		pat := append(append(append([]string{}, segs[:i]...), "*"), segs[i+2:]...)
		if policy.Match(strings.Join(pat, "/"), vpath.MustParse(path)) {
			t.Fatalf("%q matched %q: * crossed a /", strings.Join(pat, "/"), path)
		}
		// "a**" inside a segment is two stars, not "**": it never crosses.
		pat[i] = segs[i][:1] + "**"
		if policy.Match(strings.Join(pat, "/"), vpath.MustParse(path)) {
			t.Fatalf("%q matched %q: ** inside a segment crossed a /", strings.Join(pat, "/"), path)
		}
	}
}

func TestPropertyLiteralMatchesOnlyItself(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 17))
	for range 10000 {
		a, b := randPath(r), randPath(r)
		if r.IntN(4) == 0 {
			b = a
		}
		if got := policy.Match(a, vpath.MustParse(b)); got != (a == b) {
			t.Fatalf("literal %q vs %q: %v", a, b, got)
		}
	}
}

func TestPropertyByteExact(t *testing.T) {
	for _, c := range [][2]string{
		{"café/x", "cafe\u0301/x"}, // NFC pattern, NFD path
		{"cafe\u0301/x", "café/x"}, // and the other way
		{"a/b", "A/b"},
		{"a/b", "ａ/b"}, // fullwidth
		{"Key", "key"},
		{"svc/*", "SVC/x"},
		{"ß", "ss"},
	} {
		if policy.Match(c[0], vpath.MustParse(c[1])) {
			t.Errorf("%q matched %q: matching must compare bytes", c[0], c[1])
		}
	}
	// "*" is bytes, not runes: it may take part of a multi-byte character.
	if !policy.Match("caf*", vpath.MustParse("café")) || !policy.Match("*\xa9", vpath.MustParse("café")) {
		t.Error("* does not match bytes")
	}
}

func randGrants(r *rand.Rand) []policy.Grant {
	g := make([]policy.Grant, r.IntN(4))
	for i := range g {
		g[i] = policy.Grant{Pattern: randPattern(r), Level: policy.Level(r.IntN(4))}
	}
	return g
}

func TestPropertyLevelsNest(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 23))
	for range 20000 {
		grants, p := randGrants(r), vpath.MustParse(randPath(r))
		read, write, admin := policy.Allows(grants, p, policy.Read), policy.Allows(grants, p, policy.Write), policy.Allows(grants, p, policy.Admin)
		if admin && !write || write && !read {
			t.Fatalf("grants %+v on %q: read %v write %v admin %v; want admin ⊆ write ⊆ read", grants, p, read, write, admin)
		}
		if policy.Allows(grants, p, policy.None) {
			t.Fatalf("level none was allowed by %+v", grants)
		}
		// Read grants never authorise a write or admin.
		readOnly := make([]policy.Grant, len(grants))
		for i, g := range grants {
			readOnly[i] = policy.Grant{Pattern: g.Pattern, Level: min(g.Level, policy.Read)}
		}
		if policy.Allows(readOnly, p, policy.Write) || policy.Allows(readOnly, p, policy.Admin) {
			t.Fatalf("read grants %+v authorised a write on %q", readOnly, p)
		}
		// A grant at level none grants nothing.
		none := make([]policy.Grant, len(grants))
		for i, g := range grants {
			none[i] = policy.Grant{Pattern: g.Pattern}
		}
		for _, l := range []policy.Level{policy.Read, policy.Write, policy.Admin} {
			if policy.Allows(none, p, l) {
				t.Fatalf("grants at level none %+v allowed %v on %q", none, l, p)
			}
		}
	}
}

func TestPropertyNoGrantsDenyEverything(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 31))
	for range 2000 {
		p := vpath.MustParse(randPath(r))
		for _, l := range []policy.Level{policy.None, policy.Read, policy.Write, policy.Admin} {
			if policy.Allows(nil, p, l) || policy.Allows([]policy.Grant{}, p, l) {
				t.Fatalf("no grants allowed %v on %q", l, p)
			}
		}
	}
	if policy.IsGlobalAdmin(nil) || policy.IsGlobalAdmin([]policy.Grant{{Pattern: "**", Level: policy.Write}}) {
		t.Fatal("global admin without an admin grant on **")
	}
}
