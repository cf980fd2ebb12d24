package rotator

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The rotator's systemd unit (deploy/jawn-vault-rotator.service) must
// verify cleanly next to the daemon's units, and its sandbox must score
// at most 1.5 in systemd-analyze security --offline=yes, network and all.

const deployDir = "../../../deploy"

// units copies the rotator's unit and the daemon's into a temp dir with
// ExecStart pointing at a binary that exists, as verify insists.
func units(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not found: apt-get install systemd")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "jawn-vault")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"jawn-vault-rotator.service", "jawn-vault.service", "jawn-vault.socket"} {
		b, err := os.ReadFile(filepath.Join(deployDir, u))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "/usr/local/bin/jawn-vault", fake)
		if err := os.WriteFile(filepath.Join(dir, u), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRotatorUnitVerifies(t *testing.T) {
	dir := units(t)
	out, err := exec.Command("systemd-analyze", "verify",
		filepath.Join(dir, "jawn-vault-rotator.service"), filepath.Join(dir, "jawn-vault.service"), filepath.Join(dir, "jawn-vault.socket")).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "jawn-vault") {
			t.Errorf("verify: %s", line)
		}
	}
}

var exposure = regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9.]+)`)

func TestRotatorSandboxScore(t *testing.T) {
	dir := units(t)
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", filepath.Join(dir, "jawn-vault-rotator.service")).CombinedOutput()
	m := exposure.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure score (%v):\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("jawn-vault-rotator.service exposure: %.1f", score)
	if score > 1.5 {
		t.Fatalf("exposure %.1f > 1.5:\n%s", score, out)
	}
}

func TestRotatorUnitTakesTheTokenAsACredential(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "jawn-vault-rotator.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"LoadCredential=" + CredentialName + ":", "Type=notify", "ExecStart=/usr/local/bin/jawn-vault rotator "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	if strings.Contains(string(b), "VAULT_TOKEN") {
		t.Error("the unit puts a token in the environment")
	}
}
