package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"unicode/utf16"
	"unicode/utf8"
)

// Secret is a JSON string decoded straight into bytes, so that a value sent
// with set never becomes a Go string (which could not be wiped). Call Wipe
// when done.
type Secret []byte

// UnmarshalJSON decodes a JSON string.
func (s *Secret) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		*s = nil
		return nil
	}
	out, err := unquote(data)
	if err != nil {
		return err
	}
	*s = out
	return nil
}

// Wipe zeroes the bytes.
func (s Secret) Wipe() { clear(s) }

// SecretB64 is a JSON string of standard base64 decoded into bytes.
type SecretB64 []byte

// UnmarshalJSON decodes a base64 JSON string.
func (s *SecretB64) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		*s = nil
		return nil
	}
	raw, err := unquote(data)
	if err != nil {
		return err
	}
	defer clear(raw)
	out := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := base64.StdEncoding.Decode(out, raw)
	if err != nil {
		clear(out)
		return &Error{Code: CodeBadRequest, Message: "value_b64 is not valid base64 (standard alphabet, with padding)"}
	}
	*s = out[:n]
	return nil
}

// Wipe zeroes the bytes.
func (s SecretB64) Wipe() { clear(s) }

var (
	errLoneSurrogate = &Error{Code: CodeBadRequest, Message: "a value holds a lone UTF-16 surrogate, which has no UTF-8 form; send the bytes as value_b64"}
	errNotString     = errors.New("want a JSON string")
	stringType       = reflect.TypeOf("")
)

// unquote decodes a JSON string literal (quotes included) into new bytes.
func unquote(data []byte) ([]byte, error) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return nil, &json.UnmarshalTypeError{Value: "non-string", Type: stringType}
	}
	data = data[1 : len(data)-1]
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		c := data[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(data) {
			return nil, errNotString
		}
		i++
		switch data[i] {
		case '"', '\\', '/':
			out = append(out, data[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(data[i+1:])
			if !ok {
				return nil, errNotString
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// Only a valid pair may follow; a lone surrogate has no
				// UTF-8 form, and turning it into U+FFFD would change the
				// value behind the caller's back.
				var r2 rune = -1
				ok := false
				if i+6 < len(data) && data[i+1] == '\\' && data[i+2] == 'u' {
					r2, ok = hex4(data[i+3:])
				}
				if !ok {
					return nil, errLoneSurrogate
				}
				dec := utf16.DecodeRune(r, r2)
				if dec == utf8.RuneError {
					return nil, errLoneSurrogate
				}
				r = dec
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, errNotString
		}
		i++
	}
	return out, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
