// Package vpath validates secret paths before anything touches disk or gpg.
//
// A Path is the canonical name of a pass entry relative to the store root,
// without the ".gpg" suffix: "claude/tokens/telegram-bot". Parse is the only
// way to make one from untrusted input, so a function that takes a Path never
// has to check it again.
//
// What Parse refuses, and why:
//   - empty paths, empty segments ("a//b"), a leading or trailing "/":
//     they have no single canonical form;
//   - "." and ".." segments: traversal out of the store;
//   - NUL, other control characters and backslash: they confuse shells,
//     logs and other tools that read the store;
//   - a segment starting with "-": it would read as an option to gpg or git;
//   - a segment starting with ".": pass hides dotfiles (.gpg-id, .git,
//     .extensions), and so do we;
//   - a ".gpg" suffix: the suffix is the store's business, not the caller's;
//   - invalid UTF-8, over-long segments and over-long paths.
//
// Parse does not resolve symlinks: that needs the file system and is done by
// the store (through os.Root).
package vpath

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

const (
	// MaxLen is the longest path accepted, in bytes.
	MaxLen = 1024
	// MaxSegment is the longest path segment accepted, in bytes. File
	// systems allow 255 bytes per name and the store adds ".gpg".
	MaxSegment = 200
)

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid path")

// Path is a validated, canonical secret path.
type Path string

// String returns the path as a string.
func (p Path) String() string { return string(p) }

// Parse validates s and returns it as a Path.
//
// The error wraps ErrInvalid and names the rule that was broken, never the
// offending input (it may be hostile or contain a secret pasted by mistake).
func Parse(s string) (Path, error) {
	if err := check(s); err != nil {
		return "", fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	return Path(s), nil
}

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(s string) Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

type ruleError string

func (e ruleError) Error() string { return string(e) }

func check(s string) error {
	switch {
	case s == "":
		return ruleError("path is empty")
	case len(s) > MaxLen:
		return ruleError(fmt.Sprintf("path is longer than %d bytes", MaxLen))
	case !utf8.ValidString(s):
		return ruleError("path is not valid UTF-8")
	case s[0] == '/':
		return ruleError("path must be relative (no leading /)")
	case s[len(s)-1] == '/':
		return ruleError("path must not end with /")
	case strings.HasSuffix(s, ".gpg"):
		return ruleError("path must not end in .gpg (name the entry, not the file)")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ruleError("path contains a control character")
		}
		if r == '\\' {
			return ruleError("path contains a backslash")
		}
	}
	for seg := range strings.SplitSeq(s, "/") {
		switch {
		case seg == "":
			return ruleError("path has an empty segment")
		case seg == "." || seg == "..":
			return ruleError("path has a . or .. segment")
		case seg[0] == '-':
			return ruleError("a path segment must not start with -")
		case seg[0] == '.':
			return ruleError("a path segment must not start with . (hidden files are not entries)")
		case len(seg) > MaxSegment:
			return ruleError(fmt.Sprintf("a path segment is longer than %d bytes", MaxSegment))
		}
	}
	return nil
}

// ParsePrefix validates a list prefix. A prefix is either empty (everything),
// a folder ending in "/" ("claude/tokens/"), or any leading part of a path
// ("claude/tok"). It obeys the same rules as a path, except that it may be
// empty and may end with "/".
func ParsePrefix(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	trimmed := strings.TrimSuffix(s, "/")
	if trimmed == "" {
		return "", fmt.Errorf("%w: %s", ErrInvalid, "prefix must be relative (no leading /)")
	}
	if err := check(trimmed); err != nil {
		return "", fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	return s, nil
}

// HasPrefix reports whether p lies under prefix as ParsePrefix accepts it:
// a prefix ending in "/" matches the paths inside that folder, any other
// prefix matches by leading bytes.
func HasPrefix(p Path, prefix string) bool {
	return strings.HasPrefix(string(p), prefix)
}
