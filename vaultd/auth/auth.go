// Package auth makes and checks API tokens. It is pure apart from reading
// crypto/rand: no files, no clock, no database.
//
// A token is "jv_" followed by 32 random bytes in unpadded base64url, 46
// characters in all. The daemon keeps only the SHA-256 of the token's text,
// so a copy of its database does not let anyone authenticate. Because the
// token carries 256 bits of entropy, a plain unsalted hash is enough: there
// is nothing to brute-force, and the hash can be looked up directly.
//
// This package deliberately does not store tokens, decide what a token may
// do (see vaultd/policy), or check expiry and uid binding (the daemon does,
// with the token's record from vaultd/sqlite).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// Prefix starts every token, so that a token is recognisable in a leaked
// log or a secret scanner's output.
const Prefix = "jv_"

// TokenLen is the length in bytes of a token's text.
const TokenLen = len(Prefix) + 43 // 32 bytes in unpadded base64 take 43 characters

// Generate returns a new random token and its hash. Show raw to the user
// once; store only hash.
func Generate() (raw string, hash [32]byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [32]byte{}, err
	}
	raw = Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return raw, Hash(raw), nil
}

// Hash returns the SHA-256 of the token's text, the form in which tokens are
// stored and looked up.
func Hash(raw string) [32]byte {
	return sha256.Sum256([]byte(raw))
}

// Equal compares two hashes in constant time.
func Equal(a, b [32]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// LooksLikeToken reports whether s has the exact shape of a token that
// Generate could have made: the prefix, the length, the base64url alphabet,
// and a last character whose unused low bits are zero. It says nothing about
// whether the token is valid.
func LooksLikeToken(s string) bool {
	if len(s) != TokenLen || s[:len(Prefix)] != Prefix {
		return false
	}
	body := s[len(Prefix):]
	for i := 0; i < len(body); i++ {
		if b64Index(body[i]) < 0 {
			return false
		}
	}
	// 43 characters carry 258 bits for 256 bits of data; canonical
	// encoding leaves the last character's two low bits zero.
	return b64Index(body[len(body)-1])&3 == 0
}

// b64Index returns c's value in the base64url alphabet, or -1.
func b64Index(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// NewID returns a random token id: "tok_" and 12 lowercase hex characters.
// Ids name tokens in the audit log and in management commands; unlike the
// token itself they are not secret.
func NewID() string {
	var b [6]byte
	// crypto/rand.Read does not fail on supported platforms; if it ever
	// did, it would crash the program rather than return weak bytes.
	_, _ = rand.Read(b[:])
	return "tok_" + hex.EncodeToString(b[:])
}
