package wire

import (
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"
)

var nullID = json.RawMessage("null")

// AppendResult appends `{"id":ID,"result":RESULT}\n`. result must be a
// JSON object already encoded.
func AppendResult(dst []byte, id json.RawMessage, result []byte) []byte {
	dst = appendHead(dst, id)
	dst = append(dst, `,"result":`...)
	dst = append(dst, result...)
	return append(dst, "}\n"...)
}

// AppendError appends `{"id":ID,"error":{"code":...,"message":...}}\n`.
func AppendError(dst []byte, id json.RawMessage, e *Error) []byte {
	dst = appendHead(dst, id)
	dst = append(dst, `,"error":{"code":`...)
	dst = AppendString(dst, []byte(e.Code))
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, []byte(e.Message))
	return append(dst, "}}\n"...)
}

// AppendValueResult appends the answer to get: `{"value":"..."}` for UTF-8
// content, `{"value_b64":"..."}` otherwise, straight from value.
func AppendValueResult(dst []byte, id json.RawMessage, value []byte) []byte {
	dst = appendHead(dst, id)
	if utf8.Valid(value) {
		dst = append(dst, `,"result":{"value":`...)
		dst = AppendString(dst, value)
	} else {
		dst = append(dst, `,"result":{"value_b64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, value)
		dst = append(dst, '"')
	}
	return append(dst, "}}\n"...)
}

func appendHead(dst []byte, id json.RawMessage) []byte {
	if len(id) == 0 {
		id = nullID
	}
	dst = append(dst, `{"id":`...)
	return append(dst, id...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. s must be valid UTF-8 (callers
// check); control characters, quotes, backslashes and the characters that
// break embedding in HTML or JavaScript (<, >, &, U+2028, U+2029) are
// escaped, as encoding/json does.
func AppendString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
