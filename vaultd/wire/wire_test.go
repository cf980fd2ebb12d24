package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

func TestLineReaderPipelinedAndSplit(t *testing.T) {
	input := "{\"id\":1}\n\n{\"id\":2}\n{\"id\":3}\npartial"
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(input),
		"one-byte": iotest.OneByteReader(strings.NewReader(input)),
		"half":     iotest.HalfReader(strings.NewReader(input)),
	} {
		t.Run(name, func(t *testing.T) {
			lr := wire.NewLineReader(r, 64)
			var got []string
			for {
				line, err := lr.ReadLine()
				if err != nil {
					if !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("final error = %v, want ErrUnexpectedEOF for the partial line", err)
					}
					break
				}
				got = append(got, string(line))
			}
			want := []string{`{"id":1}`, ``, `{"id":2}`, `{"id":3}`}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("lines = %q, want %q", got, want)
			}
		})
	}
}

// countingReader counts the bytes handed out, to prove the reader stops at
// the limit instead of buffering the whole line.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestLineReaderStopsAtLimit(t *testing.T) {
	const max = 1000
	src := &countingReader{r: io.MultiReader(strings.NewReader(strings.Repeat("a", 1<<20)), strings.NewReader("\n"))}
	lr := wire.NewLineReader(src, max)
	if _, err := lr.ReadLine(); !errors.Is(err, wire.ErrLineTooLong) {
		t.Fatalf("err = %v, want ErrLineTooLong", err)
	}
	if src.n > max+1 {
		t.Fatalf("read %d bytes for a limit of %d", src.n, max)
	}
	// A line of exactly max bytes is fine.
	lr = wire.NewLineReader(strings.NewReader(strings.Repeat("b", max)+"\n"), max)
	if line, err := lr.ReadLine(); err != nil || len(line) != max {
		t.Fatalf("exact-limit line: len %d, err %v", len(line), err)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{"", "plain", "quote\" back\\slash", "ctl \x00\x01\x1f\x7f", "nl\n cr\r tab\t",
		"<script>&amp;</script>", "é ü 日本 😀", "\u2028\u2029", strings.Repeat("x", 5000)}
	for _, s := range cases {
		got := wire.AppendString(nil, []byte(s))
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Fatalf("AppendString(%q) = %s does not decode back (%v)", s, got, err)
		}
		want, _ := json.Marshal(s)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, encoding/json says %s", s, got, want)
		}
	}
}

func TestValueResultForms(t *testing.T) {
	line := wire.AppendValueResult(nil, json.RawMessage(`"r1"`), []byte("tok\nen"))
	resp, err := wire.ParseResponse(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil || string(resp.Result) != `{"value":"tok\nen"}` {
		t.Fatalf("utf-8 value: %s %v", resp.Result, err)
	}
	line = wire.AppendValueResult(nil, json.RawMessage(`2`), []byte{0xff, 0x00, 'a'})
	resp, err = wire.ParseResponse(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil || string(resp.Result) != `{"value_b64":"/wBh"}` {
		t.Fatalf("binary value: %s %v", resp.Result, err)
	}
}

func TestSetParamsSecretForms(t *testing.T) {
	var p wire.SetParams
	if err := wire.DecodeParams(json.RawMessage(`{"path":"a","value_b64":"/wBh"}`), &p); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.ValueB64, []byte{0xff, 0, 'a'}) || p.Value != nil {
		t.Fatalf("value_b64 decoded to %v / %v", p.ValueB64, p.Value)
	}
	if err := wire.DecodeParams(json.RawMessage(`{"path":"a","value_b64":"!!"}`), &p); err == nil || err.Code != wire.CodeBadRequest {
		t.Fatalf("bad base64: %v", err)
	}
	if err := wire.DecodeParams(json.RawMessage(`{"path":"a","value":7}`), &p); err == nil || err.Code != wire.CodeBadRequest {
		t.Fatalf("numeric value: %v", err)
	}
}

func TestErrorMessagesDoNotEchoInput(t *testing.T) {
	const sentinel = "SENTINEL-7f3a"
	lines := []string{
		`{"id":1,"method":"get","` + sentinel + `":1}`,
		`{"id":1,"method":"get","params":{"` + sentinel + `":"x"}}`,
		`{"id":1,"method":"get","params":{"path":` + sentinel + `}}`,
		`{"id":1,"method":["` + sentinel + `"]}`,
		sentinel,
	}
	for _, l := range lines {
		req, _, perr := wire.ParseRequest([]byte(l))
		if perr == nil {
			var p wire.PathParams
			perr = wire.DecodeParams(req.Params, &p)
		}
		if perr == nil {
			t.Fatalf("accepted %s", l)
		}
		if strings.Contains(perr.Message, sentinel) {
			t.Fatalf("message %q echoes the input", perr.Message)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"id":1,"auth":"jv_x","method":"get","params":{"path":"a/b"}}`))
	f.Add([]byte(`{"id":"x","method":"set","params":{"path":"a","value":"\ud83d\ude00\n"}}`))
	f.Add([]byte(`{"id":1,"method":"set","params":{"path":"a","value_b64":"/w=="}}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		req, _, perr := wire.ParseRequest(line)
		if perr != nil {
			if perr.Code != wire.CodeBadRequest {
				t.Fatalf("code %s", perr.Code)
			}
			return
		}
		if !utf8.Valid(line) || req.Method == "" || len(req.ID) == 0 {
			t.Fatalf("accepted an invalid request")
		}
		var p wire.SetParams
		if err := wire.DecodeParams(req.Params, &p); err == nil && p.Value != nil {
			// wire.Secret must agree with encoding/json on every string.
			var std struct {
				Value string `json:"value"`
			}
			if json.Unmarshal(req.Params, &std) == nil && std.Value != string(p.Value) && utf8.ValidString(std.Value) && !strings.ContainsRune(std.Value, utf8.RuneError) {
				t.Fatalf("Secret decoded %q, encoding/json %q", p.Value, std.Value)
			}
		}
	})
}

// FuzzFastPath: whatever the fast path accepts, the strict decoder accepts
// with the same result.
func FuzzFastPath(f *testing.F) {
	f.Add([]byte(`{"id":1,"auth":"jv_x","method":"get","params":{"path":"a/b"}}`))
	f.Add([]byte(` {"method":"list" , "id":"x-1","params":{"prefix":"claude/"}} `))
	f.Add([]byte(`{"id":-0,"method":"get","params":{"path":"a","path":"b"}}`))
	f.Add([]byte(`{"id":01,"method":"get"}`))
	f.Add([]byte(`{"id":1,"method":"get","params":{"path":"a\"}"}}`))
	f.Add([]byte(`{"id":0,"method":"0","params":{""}}`)) // params must be valid JSON
	f.Fuzz(func(t *testing.T, line []byte) {
		if !utf8.Valid(line) {
			return
		}
		fast, ok := wire.ParseFastForTest(line)
		if !ok {
			return
		}
		strict, _, err := wire.ParseStrictForTest(line)
		if err != nil {
			t.Fatalf("fast path accepted what the strict decoder refuses (%v): %q", err, line)
		}
		if string(fast.ID) != string(strict.ID) || fast.Auth != strict.Auth || fast.Method != strict.Method || string(fast.Params) != string(strict.Params) {
			t.Fatalf("fast %+v, strict %+v for %q", fast, strict, line)
		}
		for _, key := range []string{"path", "prefix"} {
			if v, ok := wire.PathParamsFastForTest(fast.Params, key); ok {
				var m map[string]string
				if json.Unmarshal(fast.Params, &m) != nil || len(m) != 1 || m[key] != v {
					t.Fatalf("params fast path %q gave %q", fast.Params, v)
				}
			}
		}
	})
}

func TestValidNameAndTrigger(t *testing.T) {
	for n, want := range map[string]bool{
		"slack-bot": true, "a.b_c@d-e": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a b": false, "a/b": false, "é": false, "a\n": false,
	} {
		if got := wire.ValidName(n); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", n, got, want)
		}
	}
	for tr, want := range map[string]bool{
		"": true, "cli": true, "telegram:-100123": true, strings.Repeat("x", 64): true,
		strings.Repeat("x", 65): false, "a b": false, "a\tb": false, "a\x7f": false, "é": false,
	} {
		if got := wire.ValidTrigger(tr); got != want {
			t.Errorf("ValidTrigger(%q) = %v, want %v", tr, got, want)
		}
	}
}
