package policy

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitSlashAgreesWithSplit(t *testing.T) {
	for _, s := range []string{"", "a", "a/b", "/a", "a/", "a//b", strings.Repeat("x/", 20) + "y"} {
		if got, want := splitSlash(nil, s), strings.Split(s, "/"); !slices.Equal(got, want) {
			t.Errorf("splitSlash(%q) = %q, want %q", s, got, want)
		}
	}
}
