// Package wire is the Go form of the Jawn Vault protocol, version 1: the
// request and response shapes, the error codes, line framing, and the JSON
// encoding of answers. docs/PROTOCOL.md is the normative description; the
// vectors in testdata/protocol are shared with the Python and Node SDKs.
//
// The package does no I/O beyond framing: it reads lines from an io.Reader
// and appends encoded answers to byte slices. It knows nothing of sockets,
// tokens or stores.
//
// Values travel in one of two forms: "value", a JSON string, when the bytes
// are valid UTF-8, and "value_b64", standard base64 with padding, when they
// are not. Encoders append values straight from the caller's memory so that
// a secret is never copied into an intermediate Go string.
package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
)

// ProtocolVersion is the protocol's version, reported by health.
const ProtocolVersion = 1

// MaxIDLen bounds the encoded length of a request id.
const MaxIDLen = 128

// Request is one decoded request line.
type Request struct {
	// ID is the request's id exactly as sent: a JSON string or number.
	ID json.RawMessage
	// Auth is the token, or "" for none.
	Auth string
	// Method is the method name.
	Method string
	// Params is the raw params object, or nil when absent or null. It is a
	// slice of the request line, not a copy: valid until the next line.
	Params json.RawMessage
}

type rawRequest struct {
	ID     json.RawMessage `json:"id"`
	Auth   *string         `json:"auth"`
	Method *string         `json:"method"`
	Params inPlace         `json:"params"`
}

// inPlace keeps a JSON value as a slice of the decoded input rather than a
// copy (json.RawMessage copies), so that params, which may carry a value
// being set, never leave the line buffer that the connection wipes. It is
// valid only while that buffer is.
type inPlace []byte

// UnmarshalJSON implements json.Unmarshaler.
func (r *inPlace) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// skip decodes any JSON value into nothing.
type skip struct{}

// UnmarshalJSON implements json.Unmarshaler.
func (skip) UnmarshalJSON([]byte) error { return nil }

// ParseRequest decodes one line. On failure it returns an *Error with code
// bad_request and, when the line was valid enough to carry one, the id so
// the answer can echo it. Messages never quote the line.
func ParseRequest(line []byte) (Request, json.RawMessage, *Error) {
	if !utf8.Valid(line) {
		return Request{}, nil, Errorf(CodeBadRequest, "request is not valid UTF-8")
	}
	if req, ok := parseFast(line); ok {
		return req, req.ID, nil
	}
	return parseStrict(line)
}

// parseStrict is ParseRequest without the fast path.
func parseStrict(line []byte) (Request, json.RawMessage, *Error) {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Request{}, nil, Errorf(CodeBadRequest, "request must be a JSON object")
	}
	var raw rawRequest
	if err := decodeStrict(trimmed, &raw); err != nil {
		return Request{}, nil, err
	}
	id, idErr := checkID(raw.ID)
	if idErr != nil {
		return Request{}, nil, idErr
	}
	if raw.Method == nil || *raw.Method == "" {
		return Request{}, id, Errorf(CodeBadRequest, `"method" is required`)
	}
	req := Request{ID: id, Method: *raw.Method}
	if raw.Auth != nil {
		req.Auth = *raw.Auth
	}
	if p := bytes.TrimSpace(raw.Params); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		// p is a slice of line: valid until the next line is read.
		if p[0] != '{' {
			return Request{}, id, Errorf(CodeBadRequest, `"params" must be an object`)
		}
		req.Params = p
	}
	return req, id, nil
}

// checkID accepts a JSON string or number of bounded length.
func checkID(id json.RawMessage) (json.RawMessage, *Error) {
	id = bytes.TrimSpace(id)
	if len(id) == 0 || bytes.Equal(id, []byte("null")) {
		return nil, Errorf(CodeBadRequest, `"id" is required (a string or a number)`)
	}
	if len(id) > MaxIDLen {
		return nil, Errorf(CodeBadRequest, `"id" is longer than %d bytes`, MaxIDLen)
	}
	switch c := id[0]; {
	case c == '"':
	case c == '-' || (c >= '0' && c <= '9'):
		// Integers only: 1e400 or 0.1 do not survive every client's
		// number type, and the answer must echo the id exactly.
		s := scanner{b: id}
		if _, ok := s.integer(); !ok || s.i != len(id) {
			return nil, Errorf(CodeBadRequest, `a numeric "id" must be an integer`)
		}
	default:
		return nil, Errorf(CodeBadRequest, `"id" must be a string or a number`)
	}
	return id, nil
}

// DecodeParams decodes a params object into v, refusing unknown fields and
// wrong types. nil params decode as an empty object.
func DecodeParams(params json.RawMessage, v any) *Error {
	if params == nil {
		return nil
	}
	switch p := v.(type) {
	case *PathParams:
		if path, ok := pathParamsFast(params, "path"); ok {
			p.Path = path
			return nil
		}
	case *ListParams:
		if prefix, ok := pathParamsFast(params, "prefix"); ok {
			p.Prefix = prefix
			return nil
		}
	}
	return decodeStrict(params, v)
}

// decodeStrict decodes a JSON object into v, refusing keys that are not
// exactly one of v's JSON field names (encoding/json would match them
// case-insensitively). It uses json.Unmarshal rather than a json.Decoder:
// a Decoder copies its input into a buffer of its own, which would leave an
// unwiped copy of any value being set.
func decodeStrict(data []byte, v any) *Error {
	var keys map[string]skip
	if err := json.Unmarshal(data, &keys); err != nil {
		return Errorf(CodeBadRequest, "%s", describeJSONError(err))
	}
	if keys == nil {
		return Errorf(CodeBadRequest, "want a JSON object")
	}
	known := fieldNames(reflect.TypeOf(v))
	for k := range keys {
		if !known[k] {
			return Errorf(CodeBadRequest, "unknown field")
		}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return Errorf(CodeBadRequest, "%s", describeJSONError(err))
	}
	return nil
}

var fieldCache sync.Map // reflect.Type -> map[string]bool

// fieldNames returns the JSON names of the fields of *struct type t.
func fieldNames(t reflect.Type) map[string]bool {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	st := t
	for st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() == reflect.Struct {
		for i := 0; i < st.NumField(); i++ {
			f := st.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
			case name != "":
				m[name] = true
			case f.Anonymous:
				for k := range fieldNames(f.Type) {
					m[k] = true
				}
			default:
				m[f.Name] = true
			}
		}
	}
	fieldCache.Store(t, m)
	return m
}

// describeJSONError turns a decoding error into a message that names the
// problem without quoting input. encoding/json's own messages can quote
// unknown field names and offending values, so they are not passed on.
func describeJSONError(err error) string {
	switch e := err.(type) {
	case *Error: // from a strict nested decoder (GrantJSON)
		return e.Message
	case *json.SyntaxError:
		return "malformed JSON"
	case *json.UnmarshalTypeError:
		if e.Field != "" && isPlainName(e.Field) {
			return `field "` + e.Field + `" has the wrong type, want ` + e.Type.String()
		}
		return "a field has the wrong type"
	}
	msg := err.Error()
	switch {
	case bytes.HasPrefix([]byte(msg), []byte("json: unknown field")):
		return "unknown field"
	case msg == "unexpected EOF" || msg == "EOF":
		return "truncated JSON"
	}
	return "malformed JSON"
}

// isPlainName reports whether a field name is one of ours (short, ASCII
// identifier), so it is safe to repeat in a message.
func isPlainName(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}
