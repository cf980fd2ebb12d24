package vaultd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// A rotation begun on someone's request carries the trigger into its audit
// row; a trigger that could forge or break an audit line is refused.
func TestRotationBeginTriggerIsAudited(t *testing.T) {
	sock := startServer(t, 0, "svc/token", "v")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := vault.Dial(ctx, vault.Options{Socket: sock}) // the owner: trusted without a token
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for _, bad := range []string{"telegram:1 2", "a\nb", string(make([]byte, 65))} {
		_, err := c.RotationBegin(ctx, wire.RotationBeginParams{Name: "r", Path: "svc/token", Trigger: bad})
		var we *wire.Error
		if !errors.As(err, &we) || we.Code != wire.CodeBadRequest {
			t.Fatalf("trigger %q: got %v, want bad_request", bad, err)
		}
	}
	if _, err := c.RotationBegin(ctx, wire.RotationBeginParams{Name: "r", Path: "svc/token", Trigger: "telegram:42"}); err != nil {
		t.Fatal(err)
	}
	rows, err := c.AuditQuery(ctx, wire.AuditQueryParams{Outcome: wire.OutcomeOK, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Method == wire.MethodRotationBegin {
			if r.Detail != "trigger=telegram:42" {
				t.Fatalf("audit detail = %q, want trigger=telegram:42", r.Detail)
			}
			return
		}
	}
	t.Fatalf("no ok rotation.begin row in %+v", rows)
}
