package vaultd_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// fuzzMaxLine is the line limit of the fuzzed server, small enough that
// the fuzzer reaches line_too_long.
const fuzzMaxLine = 4096

// FuzzDispatch sends one arbitrary line, then a health probe, through a
// real server. Whatever the line, the server must not crash or hang; it
// answers a blank line with nothing, an over-long line with line_too_long
// (id null) and a close, and anything else with exactly one well-formed
// answer carrying a known code, after which the connection still serves.
func FuzzDispatch(f *testing.F) {
	vectors, _ := filepath.Glob("../testdata/protocol/*.json")
	for _, v := range vectors {
		b, err := os.ReadFile(v)
		if err != nil {
			f.Fatal(err)
		}
		var vec struct {
			Line string `json:"line"`
		}
		if json.Unmarshal(b, &vec) == nil && vec.Line != "" {
			f.Add([]byte(vec.Line))
		}
	}
	for _, s := range []string{
		`{"id":1,"method":"get","params":{"path":"svc/token"}}`,
		`{"id":1,"method":"set","params":{"path":"svc/x","value_b64":"/wA="}}`,
		`{"id":1,"method":"list","params":{"prefix":"svc/"}}`,
		`{"id":1,"method":"token.create","params":{"name":"t","grants":[{"pattern":"svc/*","level":"read"}]}}`,
		`{"id":1,"method":"audit.query","params":{"limit":5}}`,
		`{"id":1,"method":"watch","params":{"prefix":"svc/"}}`,
		`{"id":1,"method":"rotation.begin","params":{"name":"r","path":"svc/token"}}`,
		`{"id":1,"method":"status"}`,
		"{\"id\":1,\"method\":\"get\",\"params\":{\"path\":\"a\xff\"}}",
		`[[[[[[[[[[`, "  \t", "",
	} {
		f.Add([]byte(s))
	}
	sock := startServer(f, fuzzMaxLine, "svc/token", "v")
	codes := map[wire.Code]bool{}
	for _, c := range wire.Codes {
		codes[c] = true
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.ReplaceAll(line, []byte("\n"), []byte(" "))
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			// Written concurrently: past the limit the server stops
			// reading, and this write may then fail.
			_, _ = c.Write(slices.Concat(line, []byte("\n"+`{"id":"__probe__","method":"health"}`+"\n")))
		}()
		br := bufio.NewReader(c)
		next := func() (wire.Response, error) {
			for {
				l, err := br.ReadBytes('\n')
				if err != nil {
					return wire.Response{}, err
				}
				l = l[:len(l)-1]
				if bytes.HasPrefix(l, []byte(`{"event"`)) {
					continue // a watch event
				}
				r, err := wire.ParseResponse(l)
				if err != nil {
					t.Fatalf("malformed answer %q to %q", l, line)
				}
				if r.Error != nil && !codes[r.Error.Code] {
					t.Fatalf("unknown code %q for %q", r.Error.Code, line)
				}
				return r, nil
			}
		}
		blank := len(bytes.Trim(line, " \t\r")) == 0
		if len(line) > fuzzMaxLine {
			r, err := next()
			if err != nil || r.Error == nil || r.Error.Code != wire.CodeLineTooLong || string(r.ID) != "null" {
				t.Fatalf("over-long line: %+v %v", r, err)
			}
			// Closed: EOF, or a reset because our unread bytes were dropped.
			if _, err := next(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection not closed after line_too_long: %v", err)
			}
			return
		}
		if !blank {
			r, err := next()
			if err != nil {
				t.Fatalf("no answer to %q: %v", line, err)
			}
			if string(r.ID) == `"__probe__"` && !bytes.Contains(line, []byte("__probe__")) {
				t.Fatalf("no answer to %q before the probe's", line)
			}
		}
		r, err := next()
		if err != nil || string(r.ID) != `"__probe__"` || r.Error != nil {
			t.Fatalf("after %q the connection does not serve: %+v %v", line, r, err)
		}
	})
}
