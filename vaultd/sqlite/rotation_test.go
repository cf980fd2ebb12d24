package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRotationStateRoundTrip(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	if _, err := db.GetRotation(ctx, "slack"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing rotation: %v", err)
	}
	now := time.Unix(1700000000, 123)
	r := Rotation{Name: "slack", Path: "claude/tokens/slack-bot", State: "running", LastAttempt: now, LeaseUntil: now.Add(time.Minute)}
	if err := db.PutRotation(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.State, r.Failures, r.LastError, r.Permanent, r.ExpiresAt = "idle", 2, "invalid_refresh_token", true, now.Add(12*time.Hour)
	if err := db.PutRotation(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetRotation(ctx, "slack")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "idle" || got.Failures != 2 || !got.Permanent || got.LastError != "invalid_refresh_token" ||
		!got.ExpiresAt.Equal(r.ExpiresAt) || !got.LastAttempt.Equal(now) || !got.LastSuccess.IsZero() {
		t.Fatalf("round trip: %+v", got)
	}
	all, err := db.Rotations(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("Rotations: %v %v", all, err)
	}
}
