package wire_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// vector is one file of testdata/protocol. Unknown keys are an error, so a
// vector that this loader does not fully understand never passes silently.
type vector struct {
	Name      string          `json:"name"`
	Comment   string          `json:"comment"`
	Kind      string          `json:"kind"`
	Line      *string         `json:"line"`
	LineB64   *string         `json:"line_b64"`
	Repeat    int             `json:"repeat"`
	Expect    string          `json:"expect"`
	Decoded   json.RawMessage `json:"decoded"`
	ErrorCode string          `json:"error_code"`
}

func (v vector) bytes(t *testing.T) []byte {
	t.Helper()
	var line []byte
	switch {
	case v.Line != nil && v.LineB64 == nil:
		line = []byte(*v.Line)
	case v.LineB64 != nil && v.Line == nil:
		b, err := base64.StdEncoding.DecodeString(*v.LineB64)
		if err != nil {
			t.Fatalf("line_b64: %v", err)
		}
		line = b
	default:
		t.Fatal("a vector needs exactly one of line and line_b64")
	}
	if v.Repeat > 0 {
		line = bytes.Repeat(line, v.Repeat)
	}
	return line
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	files, err := filepath.Glob("../../testdata/protocol/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors found: %v", err)
	}
	var out []vector
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vector
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".json"); v.Name != want {
			t.Fatalf("%s: name %q does not match the file", f, v.Name)
		}
		out = append(out, v)
	}
	return out
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			line := v.bytes(t)
			switch v.Kind {
			case "request":
				checkRequestVector(t, v, line)
			case "response":
				checkResponseVector(t, v, line)
			default:
				t.Fatalf("unknown kind %q", v.Kind)
			}
		})
	}
}

func checkRequestVector(t *testing.T, v vector, line []byte) {
	if v.ErrorCode == string(wire.CodeLineTooLong) {
		lr := wire.NewLineReader(bytes.NewReader(append(line, '\n')), wire.DefaultMaxLine)
		if _, err := lr.ReadLine(); !errors.Is(err, wire.ErrLineTooLong) {
			t.Fatalf("ReadLine: got %v, want ErrLineTooLong", err)
		}
		return
	}
	req, _, perr := wire.ParseRequest(line)
	if perr == nil && v.Expect == "error" {
		// Some lines are refused only when their params are decoded.
		var params any
		switch req.Method {
		case wire.MethodSet:
			params = &wire.SetParams{}
		case wire.MethodGet, wire.MethodDelete:
			params = &wire.PathParams{}
		}
		if params != nil {
			perr = wire.DecodeParams(req.Params, params)
		}
	}
	switch v.Expect {
	case "ok":
		if perr != nil {
			t.Fatalf("ParseRequest: %v", perr)
		}
		got := map[string]any{"id": rawToAny(t, req.ID), "auth": req.Auth, "method": req.Method, "params": rawToAny(t, req.Params)}
		// A set's value must decode the same way through wire.Secret.
		if req.Method == wire.MethodSet {
			var p wire.SetParams
			if err := wire.DecodeParams(req.Params, &p); err != nil {
				t.Fatalf("DecodeParams: %v", err)
			}
			got["params"].(map[string]any)["value"] = string(p.Value)
		}
		compareDecoded(t, v.Decoded, got)
	case "error":
		if perr == nil {
			t.Fatalf("ParseRequest accepted a bad line")
		}
		if string(perr.Code) != v.ErrorCode {
			t.Fatalf("code = %s, want %s", perr.Code, v.ErrorCode)
		}
		if len(line) > 20 && strings.Contains(perr.Message, string(line[len(line)/2:len(line)/2+8])) {
			t.Fatalf("message echoes the request: %q", perr.Message)
		}
	default:
		t.Fatalf("unknown expect %q", v.Expect)
	}
}

func checkResponseVector(t *testing.T, v vector, line []byte) {
	resp, err := wire.ParseResponse(line)
	switch v.Expect {
	case "ok":
		if err != nil || resp.Error != nil {
			t.Fatalf("ParseResponse: %v %v", err, resp.Error)
		}
		compareDecoded(t, v.Decoded, map[string]any{"id": rawToAny(t, resp.ID), "result": rawToAny(t, resp.Result)})
	case "error":
		if err != nil || resp.Error == nil {
			t.Fatalf("ParseResponse: %v, error %v", err, resp.Error)
		}
		if string(resp.Error.Code) != v.ErrorCode {
			t.Fatalf("code = %s, want %s", resp.Error.Code, v.ErrorCode)
		}
		compareDecoded(t, v.Decoded, map[string]any{"id": rawToAny(t, resp.ID)})
	case "invalid":
		if !errors.Is(err, wire.ErrBadResponse) {
			t.Fatalf("ParseResponse accepted an invalid line: %+v", resp)
		}
	default:
		t.Fatalf("unknown expect %q", v.Expect)
	}
}

func rawToAny(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	if raw == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("unmarshal %s: %v", raw, err)
	}
	return v
}

func compareDecoded(t *testing.T, want json.RawMessage, got map[string]any) {
	t.Helper()
	var w any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("decoded: %v", err)
	}
	// Round-trip got through JSON so numbers compare as float64 on both sides.
	b, _ := json.Marshal(got)
	var g any
	_ = json.Unmarshal(b, &g)
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("decoded mismatch\n got: %s\nwant: %s", b, want)
	}
}
