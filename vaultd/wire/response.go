package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Response is one decoded answer line, as a client sees it.
type Response struct {
	// ID is the id of the request answered, exactly as the daemon sent it
	// (null for a line the daemon could not attribute to a request).
	ID json.RawMessage
	// Result is the raw result object; nil when Error is set.
	Result json.RawMessage
	// Error is the error; nil when Result is set.
	Error *Error
}

// ErrBadResponse is wrapped by ParseResponse's errors: the line is not a
// valid answer, so the connection can no longer be trusted.
var ErrBadResponse = errors.New("malformed response from daemon")

type rawResponse struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
	} `json:"error"`
}

// ParseResponse decodes an answer strictly: an object with "id" and exactly
// one of "result" (an object) or "error" (with a string code and message).
// Unknown top-level fields are refused, so a client never misreads a line.
func ParseResponse(line []byte) (Response, error) {
	if !utf8.Valid(line) {
		return Response{}, ErrBadResponse
	}
	var raw rawResponse
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil || dec.More() {
		return Response{}, ErrBadResponse
	}
	if len(raw.ID) == 0 {
		return Response{}, ErrBadResponse
	}
	hasResult := len(raw.Result) > 0 && !bytes.Equal(raw.Result, []byte("null"))
	switch {
	case hasResult && raw.Error == nil:
		if raw.Result[0] != '{' {
			return Response{}, ErrBadResponse
		}
		return Response{ID: raw.ID, Result: raw.Result}, nil
	case !hasResult && raw.Error != nil:
		if raw.Error.Code == nil || *raw.Error.Code == "" || raw.Error.Message == nil {
			return Response{}, ErrBadResponse
		}
		return Response{ID: raw.ID, Error: &Error{Code: Code(*raw.Error.Code), Message: *raw.Error.Message}}, nil
	}
	return Response{}, ErrBadResponse
}

// IsEvent reports whether a line is a pushed event rather than an answer
// (events carry "event" and no "id").
func IsEvent(line []byte) bool {
	return bytes.Contains(line, []byte(`"event"`)) && !bytes.Contains(line, []byte(`"id"`))
}

// ParseEvent decodes a pushed event line strictly.
func ParseEvent(line []byte) (Event, error) {
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil || dec.More() || ev.Event == "" {
		return Event{}, ErrBadResponse
	}
	return ev, nil
}

// AppendEvent appends an event line.
func AppendEvent(dst []byte, ev Event) []byte {
	dst = append(dst, `{"event":`...)
	dst = AppendString(dst, []byte(ev.Event))
	if ev.Path != "" {
		dst = append(dst, `,"path":`...)
		dst = AppendString(dst, []byte(ev.Path))
	}
	dst = append(dst, `,"version":`...)
	dst = appendUint(dst, ev.Version)
	return append(dst, "}\n"...)
}

func appendUint(dst []byte, v uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}
