// Package deploy holds the systemd units and the example configuration.
// Its test checks the units with the real systemd-analyze: they must
// verify cleanly, and the daemon's sandbox must score SAFE.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// prepare copies the units into a temp dir with ExecStart pointing at a
// binary that exists, as systemd-analyze verify insists.
func prepare(t *testing.T, units ...string) string {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not found: apt-get install systemd")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "jawn-vault")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "/usr/local/bin/jawn-vault", fake)
		s = strings.ReplaceAll(s, "%h/.local/bin/jawn-vault", fake)
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(u)), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestUnitsVerify(t *testing.T) {
	for _, set := range [][]string{
		{"jawn-vault.service", "jawn-vault.socket"},
		{"user/jawn-vault.service", "user/jawn-vault.socket"},
	} {
		dir := prepare(t, set...)
		args := []string{"verify"}
		if strings.HasPrefix(set[0], "user/") {
			args = append(args, "--user")
		}
		for _, u := range set {
			args = append(args, filepath.Join(dir, filepath.Base(u)))
		}
		cmd := exec.Command("systemd-analyze", args...)
		// A user manager needs a runtime directory even for verify.
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%v: systemd-analyze verify: %v\n%s", set, err, out)
		}
		// verify only warns about unknown keys; any remark on our units fails.
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "jawn-vault") {
				t.Errorf("%v: %s", set, line)
			}
		}
	}
}

// TestDaemonSeesPeerUIDs: options that would hide who is connecting stay
// out of the unit (see its comment).
func TestDaemonSeesPeerUIDs(t *testing.T) {
	b, err := os.ReadFile("jawn-vault.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"PrivateUsers=yes", "PrivateUsers=true", "ProtectProc=invisible", "ProtectProc=noaccess"} {
		if strings.Contains(string(b), "\n"+opt) {
			t.Errorf("%s would break uid binding or the audit log's peer details", opt)
		}
	}
}

var exposure = regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9.]+)`)

// TestDaemonSandboxIsSafe: the unit that holds the whole store scores at
// most 1.0 ("SAFE") in systemd-analyze security --offline=yes.
func TestDaemonSandboxIsSafe(t *testing.T) {
	dir := prepare(t, "jawn-vault.service", "jawn-vault.socket")
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", filepath.Join(dir, "jawn-vault.service")).CombinedOutput()
	m := exposure.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure score in the output (%v):\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("jawn-vault.service exposure: %.1f", score)
	if score > 1.0 {
		t.Fatalf("exposure %.1f > 1.0:\n%s", score, out)
	}
}
