package provider_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/rotation/provider"
)

// script writes an executable shell script and returns a command provider
// running it.
func script(t *testing.T, body string) rotation.Provider {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rotate.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	pr, err := provider.New(provider.KindCommand, provider.Config{Name: "app", Paths: paths, Command: []string{p, "arg1"}})
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func TestCommandBareToken(t *testing.T) {
	res, err, answered := call(t, script(t, `echo "new-access-token"`), 5*time.Second)
	if err != nil || !answered || string(res.AccessToken) != "new-access-token" || res.RefreshToken != nil || res.ExpiresIn != 0 {
		t.Fatalf("res %+v err %v answered %v", res, err, answered)
	}
}

func TestCommandJSONAndInputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "stdin.json")
	env := filepath.Join(dir, "env")
	pr := script(t, `cat > `+in+`; env > `+env+`; test "$1" = arg1 || exit 3
echo '{"access_token":"acc-2","expires_in":600,"refresh_token":"ref-2"}'`)
	res, err, _ := call(t, pr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.AccessToken) != "acc-2" || string(res.RefreshToken) != "ref-2" || res.ExpiresIn != 10*time.Minute {
		t.Errorf("result %q %q %v", res.AccessToken, res.RefreshToken, res.ExpiresIn)
	}
	var got map[string]string
	b, _ := os.ReadFile(in)
	if err := json.Unmarshal(b, &got); err != nil || got["refresh_token"] != refresh0 || got["client_id"] != clientID || got["client_secret"] != clientSecret {
		t.Errorf("stdin %s (%v)", b, err)
	}
	e, _ := os.ReadFile(env)
	if !strings.Contains(string(e), "JAWN_VAULT_ROTATION=app") || strings.Contains(string(e), "HOME=") {
		t.Errorf("the command's environment is not the minimal one:\n%s", e)
	}
}

func TestCommandFailures(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       string
		permanent  bool
		timeout    time.Duration
	}{
		{"exit 1", `echo SENTINEL-ON-STDERR >&2; exit 1`, "command_failed", false, 5 * time.Second},
		{"exit 77 asks for re-authorisation", `exit 77`, "command_reauth", true, 5 * time.Second},
		{"empty output", `true`, "bad_response", true, 5 * time.Second},
		{"two words", `echo two words`, "bad_response", true, 5 * time.Second},
		{"unknown JSON key", `echo '{"access_token":"a","extra":1}'`, "bad_response", true, 5 * time.Second},
		{"hangs", `exec sleep 30`, "timeout", false, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err, _ := call(t, script(t, tc.body), tc.timeout)
			f := failure(t, err)
			if f.Code != tc.code || f.Permanent != tc.permanent {
				t.Errorf("got %v, want %s permanent=%v", f, tc.code, tc.permanent)
			}
		})
	}
}
