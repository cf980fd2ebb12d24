package vaultd_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/clients/go/vaultcli"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// A second token.create with a live token's name answers name_taken, not
// bad_request, and leaves the first token alone; once that token is
// revoked, the name can be used again.
func TestTokenCreateNameTaken(t *testing.T) {
	sock := startServer(t, 0, "svc/token", "v")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := vault.Dial(ctx, vault.Options{Socket: sock}) // the owner: trusted without a token
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	p := wire.TokenCreateParams{Name: "bot", Grants: []wire.GrantJSON{{Pattern: "svc/*", Level: "read"}}}
	first, err := c.TokenCreate(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.TokenCreate(ctx, p)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeNameTaken {
		t.Fatalf("second create: got %v, want name_taken", err)
	}
	if !strings.Contains(we.Message, "bot") || !strings.Contains(we.Message, "revoke") {
		t.Errorf("message %q does not name the token and say what to do", we.Message)
	}
	if !errors.Is(err, &wire.Error{Code: wire.CodeNameTaken}) {
		t.Errorf("errors.Is does not match %v on its code", err)
	}

	// The refusal is audited as an error, not as a denial.
	rows, err := c.AuditQuery(ctx, wire.AuditQueryParams{Outcome: wire.OutcomeError, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		found = found || r.Method == wire.MethodTokenCreate && r.Code == string(wire.CodeNameTaken)
	}
	if !found {
		t.Errorf("no error row for token.create with code name_taken in %+v", rows)
	}

	if _, err := c.TokenRevoke(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	second, err := c.TokenCreate(ctx, p)
	if err != nil {
		t.Fatalf("create after revoke: %v", err)
	}
	if second.ID == first.ID || second.Token == first.Token {
		t.Fatal("create after revoke returned the revoked token")
	}
}

// vault-cli exits 73 (EX_CANTCREAT) with a hint when the name is taken.
func TestVaultCLITokenCreateNameTaken(t *testing.T) {
	sock := startServer(t, 0, "svc/token", "v")
	t.Setenv("VAULT_TOKEN", "") // the owner: trusted without a token
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func() (int, string) {
		var stdout, stderr bytes.Buffer
		code := vaultcli.Main(ctx, []string{"--socket", sock, "token", "create", "bot", "--grant", "svc/*"},
			vaultcli.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
		return code, stderr.String()
	}
	if code, stderr := run(); code != vaultcli.ExitOK {
		t.Fatalf("first create: exit %d\n%s", code, stderr)
	}
	code, stderr := run()
	if code != 73 { // the number, not the constant: scripts depend on it
		t.Fatalf("second create: exit %d, want 73\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "(name_taken)") || !strings.Contains(stderr, "hint:") || !strings.Contains(stderr, "token revoke") {
		t.Errorf("stderr lacks the code or the hint:\n%s", stderr)
	}
}
