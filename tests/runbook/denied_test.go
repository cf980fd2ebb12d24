package runbook

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestPermissionDenied drills "A service gets permission_denied": a
// service's token has a grant that does not cover the path it reads, so
// the read answers permission_denied. The runbook's audit query names the
// token and the path, token list shows the grant, and the token it creates
// reads the path; once it is handed over and the old one revoked, the old
// one is unauthenticated.
func TestPermissionDenied(t *testing.T) {
	d := daemontest.New(t, bins, daemontest.Options{})
	d.Start()
	ctx := tctx(t)
	owner := d.Owner()
	const secret = "s3cret-value"
	if err := owner.Set(ctx, "svc/token", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	uid := int64(os.Getuid())
	old, err := owner.TokenCreate(ctx, wire.TokenCreateParams{Name: "bot", BindUID: &uid,
		Grants: []wire.GrantJSON{{Pattern: "svc/other", Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	// The symptom: the service's read is refused as not granted, not as
	// an unknown token.
	if _, err := d.Dial(old.Token).Get(ctx, "svc/token"); wire.CodeOf(err) != wire.CodePermissionDenied {
		t.Fatalf("the service's read: %v, want permission_denied", err)
	}

	bs := blocks(t, "A service gets permission_denied")
	const (
		audit  = "vault-cli audit --outcome denied --since 1h"
		list   = "vault-cli token list"
		create = "vault-cli token create NAME-2 --grant PATH -p read --uid UID"
		revoke = "vault-cli token revoke NAME"
	)
	dr := newDrill(t, d, "NAME", "bot", "PATH", "svc/token", "UID", strconv.FormatInt(uid, 10))
	dr.run(lockedBlock(t, bs, create))
	if out := dr.result(audit).Stdout; !strings.Contains(out, "bot") || !strings.Contains(out, "svc/token") {
		t.Errorf("%s does not name the token and the path:\n%s", audit, out)
	}
	if out := dr.result(list).Stdout; !strings.Contains(out, "bot") || !strings.Contains(out, "svc/other") {
		t.Errorf("%s does not show bot's grant:\n%s", list, out)
	}
	newToken := strings.TrimSpace(dr.result(create).Stdout)
	if newToken == "" || strings.ContainsAny(newToken, " \n") {
		t.Fatalf("%s printed %q, want the token alone", create, newToken)
	}

	// The hand-over: the service now reads with the new token.
	if v, err := d.Dial(newToken).Get(ctx, "svc/token"); err != nil || string(v) != secret {
		t.Fatalf("the new token: %q %v", v, err)
	}
	dr.run(lockedBlock(t, bs, revoke))
	if _, err := d.Dial(old.Token).Get(ctx, "svc/other"); wire.CodeOf(err) != wire.CodeUnauthenticated {
		t.Errorf("the old token after the runbook: %v, want unauthenticated", err)
	}
	if v, err := d.Dial(newToken).Get(ctx, "svc/token"); err != nil || string(v) != secret {
		t.Errorf("the new token after the old one was revoked: %q %v", v, err)
	}
}
