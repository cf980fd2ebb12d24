package runbook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestTokenHandOver drills "Rotating the vault's own tokens": a migrated
// service reads its secret with a token from the credentials directory;
// the token expires in 3 days, so doctor warns. After the runbook (issue
// a new token, write it over the old file, restart the unit, check the
// audit, revoke the old one) the service works with the new token, the
// old one is refused and doctor's tokens-expiring is ok.
func TestTokenHandOver(t *testing.T) {
	requireRoot(t, "the runbook writes the token file as root (0400 root)")
	d := daemontest.New(t, bins, daemontest.Options{})
	d.Start()
	ctx := tctx(t)
	owner := d.Owner()
	const secret = "s3cret-value"
	if err := owner.Set(ctx, "svc/token", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	uid := int64(os.Getuid())
	old, err := owner.TokenCreate(ctx, wire.TokenCreateParams{Name: "bot", TTL: "72h", BindUID: &uid,
		Grants: []wire.GrantJSON{{Pattern: "svc/token", Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(creds, "bot.service.token")
	writeFile(t, tokenFile, old.Token+"\n", 0o400)

	// The service, as systemd starts the unit vault-migrate wrote:
	// LoadCredential= copies the token file into $CREDENTIALS_DIRECTORY,
	// and ExecStart= is vault-exec.
	service := func() daemontest.Result {
		t.Helper()
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			t.Fatalf("LoadCredential=: %v", err)
		}
		credDir := t.TempDir()
		writeFile(t, filepath.Join(credDir, "jawn-vault-token"), string(b), 0o400)
		return d.Run(d.Env("CREDENTIALS_DIRECTORY="+credDir), "", bins.Exec,
			"--socket", d.Socket, "--map", "BOT_TOKEN=svc/token", "--", "sh", "-c", `printf %s "$BOT_TOKEN"`)
	}
	if r := service(); r.Code != 0 || r.Stdout != secret {
		t.Fatalf("the service before the rotation:\n%s", r)
	}
	r := d.Doctor()
	if r.Status("tokens-expiring") != "warn" || !strings.Contains(r.Find("tokens-expiring")[0].Message, "bot") {
		t.Errorf("doctor: tokens-expiring should warn about bot\n%s", r.Result)
	}

	var restarted daemontest.Result
	dr := newDrill(t, d,
		"/etc/jawn-vault/credentials", creds,
		"NAME", "bot",
		"PATTERN", "svc/token",
		"UID", "0",
		"UNIT", "bot",
	)
	dr.on["sudo systemctl restart UNIT"] = func() { restarted = service() }
	dr.run(blocks(t, "Rotating the vault's own tokens")[0])

	if restarted.Code != 0 || restarted.Stdout != secret {
		t.Errorf("the service restarted with the new token:\n%s", restarted)
	}
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o400 {
		t.Errorf("the new token file has mode %04o, want 0400", fi.Mode().Perm())
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	newToken := strings.TrimSpace(string(b))
	if newToken == "" || newToken == old.Token {
		t.Fatalf("the token file does not hold a new token")
	}
	if out := dr.result("vault-cli audit --client NAME-2026-12").Stdout; !strings.Contains(out, "svc/token") {
		t.Errorf("the audit under the new name does not show the service's read:\n%s", out)
	}
	if _, err := d.Dial(old.Token).Get(ctx, "svc/token"); wire.CodeOf(err) != wire.CodeUnauthenticated {
		t.Errorf("the old token after the hand-over: %v, want unauthenticated", err)
	}
	if v, err := d.Dial(newToken).Get(ctx, "svc/token"); err != nil || string(v) != secret {
		t.Errorf("the new token: %q %v", v, err)
	}
	if r := service(); r.Code != 0 || r.Stdout != secret {
		t.Errorf("the service after the old token was revoked:\n%s", r)
	}
	doctorOK(t, d.Doctor(), "tokens-expiring", "tokens-unused")
}
