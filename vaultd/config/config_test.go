package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/config"
)

func TestExampleConfigLoads(t *testing.T) {
	c, err := config.Load("../../deploy/config.example.toml", true)
	if err != nil {
		t.Fatalf("the documented example does not load: %v", err)
	}
	if c.CacheTTL.Duration != 5*time.Minute || c.AuditRetention.Duration != 90*24*time.Hour || c.MaxLine != 65536 || !*c.TrustOwner {
		t.Fatalf("example values not applied: %+v", c)
	}
}

func TestUnknownKeyIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte("cache_tll = \"5m\"\n"), 0o600)
	if _, err := config.Load(p, true); err == nil || !strings.Contains(err.Error(), "cache_tll") {
		t.Fatalf("misspelt key: %v", err)
	}
	// The rotator's tables are reserved, not unknown.
	os.WriteFile(p, []byte("[[rotation]]\nname = \"x\"\nprovider = \"slack\"\n[alerts.telegram]\nchat_ids = [1]\n"), 0o600)
	if _, err := config.Load(p, true); err != nil {
		t.Fatalf("reserved tables refused: %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.toml")
	if _, err := config.Load(p, true); err == nil {
		t.Fatal("an explicit missing file was accepted")
	}
	if c, err := config.Load(p, false); err != nil || c.File != "" {
		t.Fatalf("default missing file: %v", err)
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	t.Setenv("VAULT_SOCKET", "")
	t.Setenv("RUNTIME_DIRECTORY", "")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/4242")
	t.Setenv("PASSWORD_STORE_DIR", "/srv/store")
	t.Setenv("STATE_DIRECTORY", "/var/lib/jawn-vault:/var/lib/other")
	c := &config.Config{}
	if err := c.Defaults(); err != nil {
		t.Fatal(err)
	}
	if c.Socket != "/run/user/4242/jawn-vault.sock" || c.Store != "/srv/store" || c.StateDir != "/var/lib/jawn-vault" {
		t.Fatalf("defaults: socket %s store %s state %s", c.Socket, c.Store, c.StateDir)
	}
}

func TestSocketModeAndDurations(t *testing.T) {
	for mode, ok := range map[string]bool{"0600": true, "0660": true, "0666": false, "600x": false, "01600": false} {
		c := &config.Config{SocketMode: mode}
		if err := c.Defaults(); (err == nil) != ok {
			t.Errorf("socket_mode %s: err %v", mode, err)
		}
	}
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "30d": 720 * time.Hour, "1d12h": 36 * time.Hour} {
		if got, err := config.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%s) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x", "-5m", "d", "3x"} {
		if _, err := config.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}
