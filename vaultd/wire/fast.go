package wire

import "encoding/json"

// The fast path decodes the request shape that clients send almost always —
// a flat object with id, auth, method and params, strings without escapes,
// an integer or string id — without reflection. It never rejects: anything
// it does not fully understand (escapes, floats, unknown or repeated keys,
// odd params) is handed to the strict decoder, which has the last word.
// FuzzFastPath checks that the two agree on every input the fast path
// accepts.

// scanner walks a line.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// plainString reads a string with no escapes and no control characters and
// returns its contents; ok is false for anything else.
func (s *scanner) plainString() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// integer reads -?[0-9]+ without leading zeros, as JSON allows.
func (s *scanner) integer() ([]byte, bool) {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || (n > 1 && s.b[digits] == '0') {
		return nil, false
	}
	switch s.peek() {
	case '.', 'e', 'E':
		return nil, false
	}
	return s.b[start:s.i], true
}

// object skips a balanced JSON object, honouring strings, and returns it.
// It does not validate: the strict decoder of params does.
func (s *scanner) object() ([]byte, bool) {
	if s.peek() != '{' {
		return nil, false
	}
	start, depth := s.i, 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return s.b[start:s.i], true
			}
		case '"':
			s.i++
			for s.i < len(s.b) && s.b[s.i] != '"' {
				if s.b[s.i] == '\\' {
					s.i++
				}
				s.i++
			}
		}
		s.i++
	}
	return nil, false
}

// parseFast decodes line if it has the common shape.
func parseFast(line []byte) (Request, bool) {
	s := scanner{b: line}
	s.ws()
	if s.peek() != '{' {
		return Request{}, false
	}
	s.i++
	var req Request
	var seen [4]bool
	for {
		s.ws()
		key, ok := s.plainString()
		if !ok {
			return Request{}, false
		}
		s.ws()
		if s.peek() != ':' {
			return Request{}, false
		}
		s.i++
		s.ws()
		var k int
		switch string(key) {
		case "id":
			k = 0
			var v []byte
			if s.peek() == '"' {
				start := s.i
				if _, ok = s.plainString(); ok {
					v = s.b[start:s.i]
				}
			} else {
				v, ok = s.integer()
			}
			if !ok || len(v) > MaxIDLen {
				return Request{}, false
			}
			req.ID = append(json.RawMessage(nil), v...)
		case "auth":
			k = 1
			var v []byte
			if v, ok = s.plainString(); !ok {
				return Request{}, false
			}
			req.Auth = string(v)
		case "method":
			k = 2
			var v []byte
			if v, ok = s.plainString(); !ok || len(v) == 0 {
				return Request{}, false
			}
			req.Method = string(v)
		case "params":
			k = 3
			if req.Params, ok = s.object(); !ok || !json.Valid(req.Params) {
				return Request{}, false
			}
		default:
			return Request{}, false
		}
		if seen[k] {
			return Request{}, false
		}
		seen[k] = true
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
		default:
			return Request{}, false
		}
		break
	}
	s.ws()
	if s.i != len(s.b) || !seen[0] || !seen[2] {
		return Request{}, false
	}
	return req, true
}

// pathParamsFast decodes {"path":"..."} (or, with key "prefix", list's
// params) when the string has no escapes.
func pathParamsFast(params []byte, key string) (string, bool) {
	s := scanner{b: params}
	s.ws()
	if s.peek() != '{' {
		return "", false
	}
	s.i++
	s.ws()
	k, ok := s.plainString()
	if !ok || string(k) != key {
		return "", false
	}
	s.ws()
	if s.peek() != ':' {
		return "", false
	}
	s.i++
	s.ws()
	v, ok := s.plainString()
	if !ok {
		return "", false
	}
	s.ws()
	if s.peek() != '}' {
		return "", false
	}
	s.i++
	s.ws()
	if s.i != len(s.b) {
		return "", false
	}
	return string(v), true
}
