package auth

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

func TestGenerateFormat(t *testing.T) {
	raw, hash, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if TokenLen != 46 || len(raw) != TokenLen {
		t.Fatalf("len(raw) = %d, want 46", len(raw))
	}
	if !strings.HasPrefix(raw, "jv_") {
		t.Fatalf("raw %q lacks the jv_ prefix", raw)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(raw[3:])
	if err != nil || len(b) != 32 {
		t.Fatalf("body decodes to %d bytes, err %v; want 32 bytes", len(b), err)
	}
	if hash != Hash(raw) {
		t.Fatal("Generate's hash differs from Hash(raw)")
	}
	if !LooksLikeToken(raw) {
		t.Fatalf("LooksLikeToken(%q) = false for a generated token", raw)
	}
}

func TestGenerateUnique(t *testing.T) {
	seen := make(map[string]bool)
	hashes := make(map[[32]byte]bool)
	for range 1000 {
		raw, hash, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if seen[raw] || hashes[hash] {
			t.Fatalf("duplicate token %q", raw)
		}
		seen[raw], hashes[hash] = true, true
	}
}

func TestHashStable(t *testing.T) {
	// The stored form must never change, or every issued token stops
	// working. The expected value is `printf %s RAW | sha256sum`.
	const raw = "jv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	const want = "22e6d4519874650f7a5c5ea1852dc68ce4a5a9211d415bf8ba3a657fdd9d8805"
	h := Hash(raw)
	if got := hex.EncodeToString(h[:]); got != want {
		t.Fatalf("Hash(%q) = %s, want %s", raw, got, want)
	}
}

func TestEqual(t *testing.T) {
	a, b := Hash("jv_a"), Hash("jv_b")
	if !Equal(a, a) || Equal(a, b) {
		t.Fatal("Equal disagrees with ==")
	}
}

func TestLooksLikeToken(t *testing.T) {
	good, _, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("A", 43)
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"generated", good, true},
		{"all A", "jv_" + body, true},
		{"dash and underscore", "jv_-_" + body[2:], true},
		{"empty", "", false},
		{"prefix only", "jv_", false},
		{"wrong prefix", "jw_" + body, false},
		{"upper prefix", "JV_" + body, false},
		{"one short", "jv_" + body[1:], false},
		{"one long", "jv_" + body + "A", false},
		{"plus sign", "jv_+" + body[1:], false},
		{"slash", "jv_/" + body[1:], false},
		{"padding", "jv_" + body[1:] + "=", false},
		{"space", "jv_ " + body[1:], false},
		{"non-canonical last char", "jv_" + body[1:] + "B", false},
		{"non-ascii", "jv_é" + body[2:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LooksLikeToken(tt.s); got != tt.want {
				t.Errorf("LooksLikeToken(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^tok_[0-9a-f]{12}$`)
	seen := make(map[string]bool)
	for range 1000 {
		id := NewID()
		if !re.MatchString(id) {
			t.Fatalf("NewID() = %q, want tok_ and 12 lowercase hex", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}
