// Package policy decides what a token may do: access levels, grants and
// path pattern matching. It is pure: no I/O, no clock, no globals.
//
// A grant pairs a pattern with a level. Patterns are slash-separated like
// paths; within a segment "*" matches any run of bytes except "/", and a
// segment that is exactly "**" matches any number of whole segments,
// including none. Matching is byte-exact: no case folding, no Unicode
// normalisation. There is no negation and no precedence: access is allowed
// if any grant allows it, and no grant means no access.
//
// Levels are ordered read < write < admin; a higher level includes the lower
// ones.
package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// Level is an access level.
type Level uint8

// The access levels, in increasing order of power. The zero Level grants
// nothing.
const (
	None Level = iota
	Read
	Write
	Admin
)

// Status is a level apart from the path levels: granted on "**", it lets a
// token read the daemon's own state — status, the token list (never
// secrets), the audit log and rotation states — and nothing else: no
// value, no list of paths, no change. It is what a status page or a
// monitoring check should hold.
const Status Level = 0x10

// ParseLevel parses "read", "write" or "admin".
func ParseLevel(s string) (Level, error) {
	switch s {
	case "read":
		return Read, nil
	case "write":
		return Write, nil
	case "admin":
		return Admin, nil
	case "status":
		return Status, nil
	}
	return None, errors.New(`level must be "read", "write", "admin" or "status"`)
}

// String returns the level's name as the protocol spells it.
func (l Level) String() string {
	switch l {
	case Read:
		return "read"
	case Write:
		return "write"
	case Admin:
		return "admin"
	case Status:
		return "status"
	}
	return "none"
}

// Grant allows Level on every path that Pattern matches.
type Grant struct {
	Pattern string `json:"pattern"`
	Level   Level  `json:"-"`
}

// MaxPatternLen bounds a pattern's length in bytes.
const MaxPatternLen = vpath.MaxLen

// ValidatePattern checks that p is a well-formed pattern: the rules of
// vpath.Parse, with "*" allowed inside segments.
func ValidatePattern(p string) error {
	if p == "" {
		return errors.New("pattern is empty")
	}
	if len(p) > MaxPatternLen {
		return fmt.Errorf("pattern is longer than %d bytes", MaxPatternLen)
	}
	// Replace each wildcard with a harmless letter and let vpath judge the
	// rest, so patterns and paths can never disagree on what a segment is.
	probe := strings.ReplaceAll(p, "*", "x")
	if _, err := vpath.Parse(probe); err != nil {
		return fmt.Errorf("pattern: %w", errors.Unwrap(err))
	}
	return nil
}

// Match reports whether pattern matches path. An invalid pattern matches
// nothing.
func Match(pattern string, path vpath.Path) bool {
	return matchSegments(pattern, string(path))
}

// MatchString is Match for a path that has not been validated (audit rows
// store validated paths, but the filter must not trust that).
func MatchString(pattern, path string) bool {
	if _, err := vpath.Parse(path); err != nil {
		return false
	}
	return matchSegments(pattern, path)
}

// Allows reports whether grants allow level on path.
func Allows(grants []Grant, path vpath.Path, level Level) bool {
	if level == None {
		return false
	}
	for _, g := range grants {
		if g.Level != Status && g.Level >= level && Match(g.Pattern, path) {
			return true
		}
	}
	return false
}

// CanObserve reports whether grants may read the daemon's state: global
// admin, or Status on "**".
func CanObserve(grants []Grant) bool {
	for _, g := range grants {
		if g.Pattern == "**" && (g.Level == Admin || g.Level == Status) {
			return true
		}
	}
	return false
}

// IsGlobalAdmin reports whether grants include admin on "**", the level that
// token management and the audit log need.
func IsGlobalAdmin(grants []Grant) bool {
	for _, g := range grants {
		if g.Level == Admin && g.Pattern == "**" {
			return true
		}
	}
	return false
}

// Covers reports whether holding admin on pattern outer entitles its holder
// to hand out a grant on pattern inner. It is deliberately conservative:
// "**" covers everything, "p/**" covers any pattern that starts with "p/"
// and has no wildcard before that point, and any other pattern covers only
// itself.
func Covers(outer, inner string) bool {
	if outer == "**" || outer == inner {
		return true
	}
	base, ok := strings.CutSuffix(outer, "/**")
	if !ok || strings.Contains(base, "*") {
		return false
	}
	return strings.HasPrefix(inner, base+"/")
}

// matchSegments matches slash-separated pattern segments against path
// segments, with "**" standing for any number of segments. It is the
// classic wildcard algorithm with a single backtrack point, which is exact
// for patterns made of literals and one kind of star.
func matchSegments(pattern, path string) bool {
	// Split into arrays on the stack: this runs for every grant of every
	// request, and paths deeper than 16 segments are rare (they still
	// work, on the heap).
	var pbuf, sbuf [16]string
	ps := splitSlash(pbuf[:0], pattern)
	ss := splitSlash(sbuf[:0], path)
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(ss) {
		switch {
		case pi < len(ps) && ps[pi] == "**":
			starP, starS = pi, si
			pi++
		case pi < len(ps) && matchSegment(ps[pi], ss[si]):
			pi++
			si++
		case starP >= 0:
			starS++
			pi, si = starP+1, starS
		default:
			return false
		}
	}
	for pi < len(ps) && ps[pi] == "**" {
		pi++
	}
	return pi == len(ps)
}

// splitSlash appends the slash-separated parts of s to dst, as
// strings.Split(s, "/") would return them.
func splitSlash(dst []string, s string) []string {
	for {
		i := strings.IndexByte(s, '/')
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
}

// matchSegment matches one segment against a pattern segment in which "*"
// matches any run of bytes. Neither contains "/".
func matchSegment(pattern, seg string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(seg) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			starP, starS = pi, si
			pi++
		case pi < len(pattern) && pattern[pi] == seg[si]:
			pi++
			si++
		case starP >= 0:
			starS++
			pi, si = starP+1, starS
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
