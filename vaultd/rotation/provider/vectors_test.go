package provider_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation/rotationtest"
)

// vector is one file of testdata/rotation/providers.
type vector struct {
	Name         string            `json:"name"`
	Comment      string            `json:"comment"`
	Providers    []string          `json:"providers"`
	Status       int               `json:"status"`
	Headers      map[string]string `json:"headers"`
	Body         json.RawMessage   `json:"body"`
	Expect       string            `json:"expect"`
	AccessToken  string            `json:"access_token"`
	RefreshToken *string           `json:"refresh_token"`
	ExpiresInS   int               `json:"expires_in_s"`
	ErrorCode    string            `json:"error_code"`
	Permanent    bool              `json:"permanent"`
	RetryAfterS  int               `json:"retry_after_s"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	files, err := filepath.Glob("../../../testdata/rotation/providers/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors (%v)", err)
	}
	var out []vector
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vector
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if v.Name+".json" != filepath.Base(f) || len(v.Providers) == 0 || (v.Expect != "ok" && v.Expect != "error") {
			t.Fatalf("%s: bad vector", f)
		}
		out = append(out, v)
	}
	return out
}

// TestVectors serves each documented answer and checks what each
// provider makes of it.
func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		body := string(v.Body)
		var s string
		if json.Unmarshal(v.Body, &s) == nil {
			body = s
		}
		for _, kind := range v.Providers {
			t.Run(v.Name+"/"+kind, func(t *testing.T) {
				srv := rotationtest.NewGoogle(t, clientID, clientSecret, refresh0, prefix)
				srv.Script(rotationtest.Reply{Status: v.Status, Header: v.Headers, Body: body})
				res, err, answered := call(t, newProvider(t, kind, srv.URL), 5*time.Second)
				if !answered {
					t.Error("Answered was not called")
				}
				if v.Expect == "ok" {
					if err != nil {
						t.Fatal(err)
					}
					wantRefresh := ""
					if v.RefreshToken != nil {
						wantRefresh = *v.RefreshToken
					}
					if string(res.AccessToken) != v.AccessToken || string(res.RefreshToken) != wantRefresh || (v.RefreshToken == nil) != (res.RefreshToken == nil) ||
						res.ExpiresIn != time.Duration(v.ExpiresInS)*time.Second {
						t.Errorf("result %q %q %v", res.AccessToken, res.RefreshToken, res.ExpiresIn)
					}
					return
				}
				f := failure(t, err)
				if f.Code != v.ErrorCode || f.Permanent != v.Permanent || f.RetryAfter != time.Duration(v.RetryAfterS)*time.Second {
					t.Errorf("got %q permanent=%v retry-after=%v; want %q %v %ds", f.Code, f.Permanent, f.RetryAfter, v.ErrorCode, v.Permanent, v.RetryAfterS)
				}
				if len(body) > 8 && strings.Contains(f.Error(), body) {
					t.Errorf("the error quotes the body: %v", f)
				}
			})
		}
	}
}
