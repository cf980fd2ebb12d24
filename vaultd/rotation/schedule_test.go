package rotation_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/rotation/rotationtest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// run starts a scheduler; the returned stop cancels it and waits.
func (f *fixture) run(recheck time.Duration) (*rotation.Scheduler, func()) {
	s := rotation.NewScheduler(f.engine)
	s.Recheck = recheck
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			f.t.Error("the scheduler did not stop")
		}
	}
	f.t.Cleanup(stop)
	return s, stop
}

// request awaits the next call to the fake Slack.
func (f *fixture) request() url.Values {
	f.t.Helper()
	select {
	case r := <-f.slack.Requests:
		return r
	case <-time.After(10 * time.Second):
		f.t.Fatal("no call to Slack")
		return nil
	}
}

// timerAt awaits the scheduler sleeping until exactly at.
func (f *fixture) timerAt(at time.Time) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.clock.AwaitTimer(ctx, func(d time.Time) bool { return d.Equal(at) }); err != nil {
		f.t.Fatalf("the scheduler never waited until %v (pending: %v)", at, f.clock.Pending())
	}
}

// alert awaits a delivered alert containing s.
func (f *fixture) alert(s string) string {
	f.t.Helper()
	for {
		select {
		case m := <-f.tg.Messages:
			if strings.Contains(m.Text, s) {
				return m.Text
			}
		case <-time.After(10 * time.Second):
			f.t.Fatalf("no alert containing %q", s)
		}
	}
}

func TestSchedulerRefreshesBeforeExpiry(t *testing.T) {
	f := newFixture(t, nil)
	f.run(time.Hour)
	// Unknown to the daemon: runs once at start.
	f.request()
	firstRefresh := f.slack.Refresh()
	// Then sleeps until refresh_before (2h) ahead of the 12h expiry.
	f.timerAt(start.Add(10 * time.Hour))
	if n := f.slack.Calls(); n != 1 {
		t.Fatalf("%d calls before the due time", n)
	}
	f.clock.Set(start.Add(10 * time.Hour))
	if got := f.request().Get("refresh_token"); got != firstRefresh {
		t.Errorf("the second rotation sent refresh token %q, want the one the first issued (%q)", got, firstRefresh)
	}
	f.timerAt(start.Add(20 * time.Hour))
	if f.vault.Value(paths.Access) != f.slack.LastAccess() {
		t.Error("the second access token was not stored")
	}
}

func TestSchedulerBacksOffHonouringRetryAfter(t *testing.T) {
	f := newFixture(t, nil)
	f.slack.Script(rotationtest.TooMany("600", `{"ok":false,"error":"ratelimited"}`))
	f.run(time.Hour)
	f.request()
	f.timerAt(start.Add(600 * time.Second)) // not the 22.5s backoff
	f.clock.Set(start.Add(600 * time.Second))
	f.request()
	f.timerAt(start.Add(600*time.Second + 10*time.Hour))
	f.alert("FAILING: ratelimited")
	f.alert("RECOVERED after 1 failed attempt(s)")
}

func TestSchedulerPausesAfterPermanentFailureUntilInputsChange(t *testing.T) {
	f := newFixture(t, nil)
	f.slack.SetRefresh("xoxe-1-SENTINEL-reauthorised") // the stored one no longer works
	s, _ := f.run(time.Minute)
	f.request()
	f.alert("NEEDS RE-AUTHORISATION: invalid_refresh_token")
	// Paused: rechecks the state each minute but never calls Slack.
	f.timerAt(start.Add(time.Minute))
	f.clock.Set(start.Add(time.Minute))
	f.timerAt(start.Add(2 * time.Minute))
	if n := f.slack.Calls(); n != 1 {
		t.Fatalf("a paused rotation called Slack again (%d calls)", n)
	}
	// A person stores the new refresh token; the watch kicks the rotation.
	f.vault.Put(paths.Refresh, "xoxe-1-SENTINEL-reauthorised")
	s.KickPath(paths.Refresh)
	if got := f.request().Get("refresh_token"); got != "xoxe-1-SENTINEL-reauthorised" {
		t.Errorf("sent %q", got)
	}
	f.alert("RECOVERED")
}

func TestSchedulerPausesInDoubtAtStart(t *testing.T) {
	f := newFixture(t, nil)
	lease := start.Add(-time.Minute)
	f.vault.SetState(wire.RotationState{Name: name, Path: paths.Access, State: wire.RotationAnswered, LeaseUntil: &lease})
	f.run(time.Minute)
	f.alert("IN DOUBT")
	f.timerAt(start.Add(time.Minute))
	if n := f.slack.Calls(); n != 0 {
		t.Fatalf("a rotation in doubt called Slack (%d calls)", n)
	}
	f.vault.Clear(name) // vault-cli rotation clear
	f.clock.Set(start.Add(time.Minute))
	f.request()
}

func TestSchedulerAlertsInTheLastQuarter(t *testing.T) {
	f := newFixture(t, nil)
	last, exp := start.Add(-10*time.Hour-30*time.Minute), start.Add(90*time.Minute)
	f.vault.SetState(wire.RotationState{Name: name, Path: paths.Access, State: wire.RotationIdle, LastSuccess: &last, ExpiresAt: &exp})
	f.slack.Script(rotationtest.Reply{Status: 503}, rotationtest.Reply{Status: 503})
	f.run(time.Hour)
	f.request() // overdue since start-30m: runs at once, fails
	text := f.alert("EXPIRES")
	for _, want := range []string{"the token at claude/tokens/slack-bot (rotation slack-bot)", "EXPIRES 2026-03-01 13:30 UTC (in 1h30m)", "Last error: http_503"} {
		if !strings.Contains(text, want) {
			t.Errorf("alert %q lacks %q", text, want)
		}
	}
}

func TestSchedulerInterval(t *testing.T) {
	f := newFixture(t, nil)
	f.rot.RefreshBefore, f.rot.Interval = 0, 3*time.Hour
	f.run(time.Hour)
	f.request()
	f.timerAt(start.Add(3 * time.Hour))
}

func TestDue(t *testing.T) {
	at := func(h float64) *time.Time { t := start.Add(time.Duration(h * float64(time.Hour))); return &t }
	for _, tc := range []struct {
		name          string
		r             rotation.Rotation
		last, expires *time.Time
		want          *time.Time
	}{
		{"unknown", rotation.Rotation{RefreshBefore: time.Hour}, nil, nil, nil},
		{"refresh before", rotation.Rotation{RefreshBefore: 2 * time.Hour}, at(0), at(12), at(10)},
		{"default third", rotation.Rotation{}, at(0), at(12), at(8)},
		{"never before half the life", rotation.Rotation{RefreshBefore: 2 * time.Hour}, at(0), at(1), at(0.5)},
		{"expiry without a last success", rotation.Rotation{RefreshBefore: 2 * time.Hour}, nil, at(12), at(10)},
		{"interval", rotation.Rotation{Interval: 11 * time.Hour}, at(0), at(12), at(11)},
		{"interval, never succeeded", rotation.Rotation{Interval: 11 * time.Hour}, nil, nil, nil},
	} {
		got := tc.r.Due(tc.last, tc.expires)
		if tc.want == nil && !got.IsZero() || tc.want != nil && !got.Equal(*tc.want) {
			t.Errorf("%s: Due = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	b := rotation.Backoff{Base: 30 * time.Second, Max: 15 * time.Minute}
	for _, tc := range []struct {
		n          int
		retryAfter time.Duration
		r          float64
		want       time.Duration
	}{
		{1, 0, 0, 15 * time.Second},
		{1, 0, 0.999, 30 * time.Second},
		{3, 0, 0, 60 * time.Second},
		{20, 0, 0, 450 * time.Second},
		{1, 10 * time.Minute, 0.5, 10 * time.Minute},
	} {
		if got := b.Delay(tc.n, tc.retryAfter, tc.r); got.Round(time.Second) != tc.want {
			t.Errorf("Delay(%d, %v, %v) = %v, want %v", tc.n, tc.retryAfter, tc.r, got, tc.want)
		}
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{12 * time.Hour: "12h", 90 * time.Minute: "1h30m", 30*time.Minute + 20*time.Second: "30m", 45 * time.Second: "45s"} {
		if got := rotation.Human(d); got != want {
			t.Errorf("Human(%v) = %q, want %q", d, got, want)
		}
	}
}
