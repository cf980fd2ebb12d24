package integration

import (
	"time"

	"testing"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestWatchPushesChanges: a watching client hears of writes through the
// daemon and of edits made with pass, only for paths it may read, and is
// cut off when its token is revoked.
func TestWatchPushesChanges(t *testing.T) {
	d := start(t, opts{})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("v1"))
	tok := d.token("watcher", nil, "svc/*:read")
	w, err := vault.Watch(ctx(t), vault.Options{Socket: d.Socket, Token: tok}, wire.WatchParams{Prefix: "svc/"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	owner := d.Dial("")
	if err := owner.Set(ctx(t), "other/x", []byte("not for the watcher")); err != nil {
		t.Fatal(err)
	}
	if err := owner.Set(ctx(t), "svc/token", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	ev, err := w.Next(ctx(t))
	if err != nil || ev.Event != wire.EventChanged || ev.Path != "svc/token" || ev.Version <= w.Version {
		t.Fatalf("event after set: %+v %v (other/x must not be seen)", ev, err)
	}
	// An edit with pass behind the daemon's back is seen too. It is made to
	// a path the daemon never wrote, so no echo of its own writes can pass
	// for it.
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/external", []byte("from pass"))
	for {
		ev, err = w.Next(ctx(t))
		if err != nil {
			t.Fatalf("waiting for the external change: %v", err)
		}
		if ev.Path == "svc/external" || ev.Event == wire.EventStale {
			break
		}
	}
	// Revocation ends the subscription at the next event.
	if _, err := owner.TokenRevoke(ctx(t), "watcher"); err != nil {
		t.Fatal(err)
	}
	_ = owner.Set(ctx(t), "svc/token", []byte("v4"))
	for {
		if _, err := w.Next(ctx(t)); err != nil {
			break // disconnected
		}
	}
}

// TestRotationStateMachine: single flight, crash before and after the
// provider answered, clearing in_doubt, and grants on the path.
func TestRotationStateMachine(t *testing.T) {
	d := start(t, opts{})
	rot := d.Dial(d.token("rotator", nil, "claude/tokens/slack-bot:write"))
	other := d.Dial(d.token("other", nil, "claude/tokens/other:write"))
	begin := wire.RotationBeginParams{Name: "slack", Path: "claude/tokens/slack-bot", Lease: "1s"}

	if _, err := other.RotationBegin(ctx(t), begin); code(err) != wire.CodePermissionDenied {
		t.Fatalf("begin without write on the path: %v", err)
	}
	st, err := rot.RotationBegin(ctx(t), begin)
	if err != nil || st.State != wire.RotationRunning {
		t.Fatalf("begin: %+v %v", st, err)
	}
	if _, err := rot.RotationBegin(ctx(t), begin); code(err) != wire.CodeBusy {
		t.Fatalf("second begin during a live lease: %v", err)
	}
	// The attempt stalls before the provider answers: after the lease, a
	// new attempt may start, and the stalled one can no longer mark or end
	// it (fencing by attempt id).
	stalled := st.Attempt
	time.Sleep(1100 * time.Millisecond)
	st, err = rot.RotationBegin(ctx(t), begin)
	if err != nil || st.Attempt == "" || st.Attempt == stalled {
		t.Fatalf("begin after a dead running attempt: %+v %v", st, err)
	}
	if err := rot.RotationMarkAnswered(ctx(t), "slack", stalled); code(err) != wire.CodeBusy {
		t.Fatalf("the superseded attempt marked the new one: %v", err)
	}
	if _, err := rot.RotationEnd(ctx(t), wire.RotationEndParams{Name: "slack", Attempt: stalled, OK: true}); code(err) != wire.CodeBusy {
		t.Fatalf("the superseded attempt ended the new one: %v", err)
	}
	if err := rot.RotationMarkAnswered(ctx(t), "slack", st.Attempt); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(12 * time.Hour).UTC().Truncate(time.Second)
	st, err = rot.RotationEnd(ctx(t), wire.RotationEndParams{Name: "slack", OK: true, ExpiresAt: &exp})
	if err != nil || st.State != wire.RotationIdle || st.LastSuccess == nil || !st.ExpiresAt.Equal(exp) {
		t.Fatalf("end: %+v %v", st, err)
	}
	// This time it dies after the provider answered: in doubt.
	if _, err := rot.RotationBegin(ctx(t), begin); err != nil {
		t.Fatal(err)
	}
	if err := rot.RotationMarkAnswered(ctx(t), "slack", ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := rot.RotationBegin(ctx(t), begin); code(err) != wire.CodeInDoubt {
		t.Fatalf("begin after a death past the answer: %v", err)
	}
	states, err := rot.RotationStatus(ctx(t))
	if err != nil || len(states) != 1 || states[0].State != wire.RotationInDoubt {
		t.Fatalf("status: %+v %v", states, err)
	}
	if sts, _ := other.RotationStatus(ctx(t)); len(sts) != 0 {
		t.Fatalf("a token without write on the path sees the rotation: %+v", sts)
	}
	if err := rot.RotationClear(ctx(t), "slack"); code(err) != wire.CodePermissionDenied {
		t.Fatalf("clear without admin: %v", err)
	}
	if err := d.Dial("").RotationClear(ctx(t), "slack"); err != nil {
		t.Fatal(err)
	}
	if _, err := rot.RotationBegin(ctx(t), begin); err != nil {
		t.Fatalf("begin after clear: %v", err)
	}
	st, err = rot.RotationEnd(ctx(t), wire.RotationEndParams{Name: "slack", OK: false, ErrorCode: "invalid_refresh_token", Permanent: true})
	if err != nil || st.Failures != 1 || st.LastError != "invalid_refresh_token" || !st.Permanent {
		t.Fatalf("failed end: %+v %v", st, err)
	}
	if _, err := rot.RotationEnd(ctx(t), wire.RotationEndParams{Name: "slack", ErrorCode: "Bearer xoxe-secret"}); code(err) != wire.CodeBadRequest {
		t.Fatalf("free text in error_code: %v", err)
	}
	full, err := d.Dial("").Status(ctx(t))
	if err != nil || len(full.Rotations) != 1 {
		t.Fatalf("status has no rotations: %+v %v", full.Rotations, err)
	}
}
