package runbook

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/internal/daemontest"
)

// TestMigrateUndo drills "A migrated unit must be rolled back": a unit
// migrated with vault-migrate --remove-env-files is rolled back with the
// runbook's --undo, which must restore the unit file and the .env byte for
// byte and revoke the unit's token; doctor warns about the EnvironmentFile=
// again; then the runbook's second block migrates it again and doctor is
// ok. vault-migrate works under --root (a copy of /etc), as its own tests
// do; the .env's path is a symbolic link into that root, so that doctor,
// which reads EnvironmentFile= paths as the machine sees them, reads the
// same file.
func TestMigrateUndo(t *testing.T) {
	requireRoot(t, "vault-migrate writes root-owned token files")
	d := daemontest.New(t, bins, daemontest.Options{})
	d.Start()
	root := t.TempDir()
	host, err := os.MkdirTemp("", "jvmig")
	if err != nil {
		t.Fatal(err)
	}
	inRoot := filepath.Join(root, host)
	if err := os.MkdirAll(inRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(host); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(inRoot, host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(host) })

	const value = "xoxb-runbook-drill-0123456789"
	envFile := filepath.Join(host, "bot.env")
	envBytes := "# the bot's settings\nBOT_TOKEN=" + value + "\nLOG_LEVEL=info\n"
	writeFile(t, filepath.Join(inRoot, "bot.env"), envBytes, 0o600)
	units := filepath.Join(root, "etc/systemd/system")
	unitFile := filepath.Join(units, "bot.service")
	unitBytes := "[Unit]\nDescription=Bot for the runbook drill\n\n[Service]\nUser=root\nEnvironmentFile=" + envFile + "\nExecStart=/usr/bin/env\n"
	writeFile(t, unitFile, unitBytes, 0o644)
	writeFile(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n", 0o644)
	dropIn := filepath.Join(units, "bot.service.d", "jawn-vault.conf")
	tokenFile := filepath.Join(root, "etc/jawn-vault/credentials/bot.service.token")

	// service runs the unit as systemd would start it, and returns the
	// environment its program saw.
	service := func() string {
		t.Helper()
		b, err := os.ReadFile(dropIn)
		if os.IsNotExist(err) {
			// The unit file alone: EnvironmentFile= and /usr/bin/env.
			b, err := os.ReadFile(envFile)
			if err != nil {
				t.Fatalf("the unit's EnvironmentFile=: %v", err)
			}
			return string(b)
		}
		if err != nil {
			t.Fatal(err)
		}
		var cred, exec string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "LoadCredential=jawn-vault-token:"); ok {
				cred = v
			}
			if v, ok := strings.CutPrefix(line, "ExecStart="); ok && v != "" {
				exec = v
			}
		}
		tok, err := os.ReadFile(filepath.Join(root, cred))
		if err != nil {
			t.Fatalf("LoadCredential=: %v", err)
		}
		credDir := t.TempDir()
		writeFile(t, filepath.Join(credDir, "jawn-vault-token"), string(tok), 0o400)
		argv := strings.Fields(exec)
		r := d.Run(d.Env("CREDENTIALS_DIRECTORY="+credDir), "", argv[0], argv[1:]...)
		if r.Code != 0 {
			t.Fatalf("the migrated unit's ExecStart=:\n%s", r)
		}
		return r.Stdout
	}
	started := func(what string) {
		t.Helper()
		if env := service(); !strings.Contains(env, "BOT_TOKEN="+value+"\n") {
			t.Errorf("%s: the service's environment has no BOT_TOKEN:\n%s", what, env)
		}
	}

	// The migration to roll back.
	migrate := func(args ...string) daemontest.Result {
		t.Helper()
		return d.Run(nil, "", bins.Migrate, append([]string{"--root", root, "--vault-exec", bins.Exec}, args...)...)
	}
	if r := migrate("--yes", "--remove-env-files", "bot"); r.Code != 0 {
		t.Fatalf("vault-migrate:\n%s", r)
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Fatalf("--remove-env-files left the .env: %v", err)
	}
	migratedToken, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	started("migrated")
	migratedWarning(t, d.Doctor("--units-dir", units).Find("unit-envfile"), unitFile)

	b := blocks(t, "A migrated unit must be rolled back")
	if len(b) != 2 {
		t.Fatalf("want two ```sh blocks (undo, migrate again), got %d", len(b))
	}
	dr := newDrill(t, d,
		"vault-migrate ", "vault-migrate --root "+root+" --vault-exec "+bins.Exec+" ",
		"vault-cli doctor", "vault-cli doctor --units-dir "+units,
		"UNIT", "bot",
	)
	dr.on["sudo systemctl restart UNIT"] = func() { started("restarted") }
	dr.status["vault-cli doctor"] = 1 // unit-envfile warns again, as the runbook says
	dr.run(b[0])

	if got, err := os.ReadFile(unitFile); err != nil || !bytes.Equal(got, []byte(unitBytes)) {
		t.Errorf("--undo did not restore the unit file byte for byte (%v):\n%s", err, got)
	}
	if got, err := os.ReadFile(envFile); err != nil || string(got) != envBytes {
		t.Errorf("--undo did not write back the .env byte for byte (%v):\n%s", err, got)
	}
	for _, p := range []string{dropIn, tokenFile} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("--undo left %s (%v)", p, err)
		}
	}
	if _, err := d.Dial(strings.TrimSpace(string(migratedToken))).Get(tctx(t), "svc/none"); err == nil || !strings.Contains(err.Error(), "unauthenticated") {
		t.Errorf("the unit's token after --undo: %v, want unauthenticated", err)
	}
	out := dr.result("vault-cli doctor").Stdout
	if !strings.Contains(out, "unit-envfile") || !strings.Contains(out, "BOT_TOKEN") {
		t.Errorf("doctor after the rollback should warn that bot reads BOT_TOKEN from an EnvironmentFile=:\n%s", out)
	}

	dr.status["vault-cli doctor"] = 0 // migrated again: nothing to warn about
	dr.run(b[1])
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("migrating again left the .env: %v", err)
	}
	migratedWarning(t, d.Doctor("--units-dir", units).Find("unit-envfile"), unitFile)
}

// migratedWarning checks the unit-envfile findings for a migrated unit
// whose .env was removed: ok, because vault-migrate's drop-in resets
// EnvironmentFile=, which doctor applies as systemd does.
func migratedWarning(t *testing.T, fs []daemontest.Finding, unitFile string) {
	t.Helper()
	if len(fs) != 1 || fs[0].Status != "ok" {
		t.Errorf("unit-envfile after a migration of %s: %+v; want ok (the drop-in resets EnvironmentFile=)", unitFile, fs)
	}
}
