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

// status reports per-method counts with latencies, the audit journal's
// write latencies, and rotation outcomes.
func TestStatusMetrics(t *testing.T) {
	sock := startServer(t, 0, "svc/token", "v")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := vault.Dial(ctx, vault.Options{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if _, err := c.Get(ctx, "svc/token"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get(ctx, "svc/missing"); err == nil {
		t.Fatal("get of a missing path succeeded")
	}
	for _, ok := range []bool{true, false, true} {
		st, err := c.RotationBegin(ctx, wire.RotationBeginParams{Name: "r", Path: "svc/token"})
		if err != nil {
			t.Fatal(err)
		}
		end := wire.RotationEndParams{Name: "r", Attempt: st.Attempt, OK: ok}
		if !ok {
			end.ErrorCode = "invalid_grant"
		}
		if _, err := c.RotationEnd(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := st.Metrics
	if m == nil {
		t.Fatal("status has no metrics")
	}
	count := map[[2]string]uint64{}
	for _, r := range m.Requests {
		if len(r.Counts) != len(m.BoundsUS)+1 {
			t.Fatalf("%s/%s: %d buckets for %d bounds", r.Method, r.Outcome, len(r.Counts), len(m.BoundsUS))
		}
		var sum uint64
		for _, n := range r.Counts {
			sum += n
		}
		if sum != r.Count {
			t.Errorf("%s/%s: buckets add up to %d, count %d", r.Method, r.Outcome, sum, r.Count)
		}
		count[[2]string{r.Method, r.Outcome}] = r.Count
	}
	if count[[2]string{"get", "ok"}] != 3 || count[[2]string{"get", "error"}] != 1 || count[[2]string{"rotation.end", "ok"}] != 3 {
		t.Errorf("request counts = %v", count)
	}
	if m.AuditCommit.Count == 0 {
		t.Error("no audit journal write counted")
	}
	if len(m.Rotations) != 1 || m.Rotations[0] != (wire.RotationMetric{Name: "r", Succeeded: 2, Failed: 1}) {
		t.Errorf("rotation metrics = %+v, want r: 2 ok, 1 failed", m.Rotations)
	}
}
