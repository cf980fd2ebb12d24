package rotation_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/rotation/provider"
	"github.com/jamditis/jawn-vault/vaultd/rotation/rotationtest"
	"github.com/jamditis/jawn-vault/vaultd/rotation/telegram"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Every secret holds "SENTINEL", so one search finds any leak.
const (
	clientID     = "cid-SENTINEL-ID"
	clientSecret = "csecret-SENTINEL-SECRET"
	refresh0     = "xoxe-1-SENTINEL-REFRESH-0"
	access0      = "xoxe.xoxb-SENTINEL-ACCESS-0"
	botToken     = "123456:SENTINEL-BOT-TOKEN"
	issued       = "SENTINEL-ISSUED-"
	name         = "slack-bot"
	botPath      = "claude/tokens/telegram-bot"
)

var paths = rotation.Paths{Access: "claude/tokens/slack-bot", Refresh: "claude/tokens/slack-bot-refresh", ClientID: "claude/slack/client-id", ClientSecret: "claude/slack/client-secret"}

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	t      *testing.T
	clock  *rotationtest.Clock
	vault  *rotationtest.Vault
	slack  *rotationtest.TokenServer
	tg     *rotationtest.Telegram
	logs   *syncBuffer
	rot    *rotation.Rotation
	engine *rotation.Engine
}

func newFixture(t *testing.T, tweak func(*rotation.Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: rotationtest.NewClock(start), logs: &syncBuffer{}}
	f.vault = rotationtest.NewVault(f.clock)
	for p, v := range map[string]string{paths.Access: access0, paths.Refresh: refresh0, paths.ClientID: clientID, paths.ClientSecret: clientSecret, botPath: botToken} {
		f.vault.Put(p, v)
	}
	f.slack = rotationtest.NewSlack(t, clientID, clientSecret, refresh0, issued)
	f.tg = rotationtest.NewTelegram(t, botToken)
	prov, err := provider.New(provider.KindSlack, provider.Config{Name: name, Paths: paths, TokenURL: f.slack.URL})
	if err != nil {
		t.Fatal(err)
	}
	f.rot = &rotation.Rotation{Provider: prov, RefreshBefore: 2 * time.Hour, Lease: time.Minute, Timeout: 5 * time.Second}
	f.engine = f.newEngine(tweak)
	return f
}

// newEngine builds an engine on the fixture's vault, as another process
// sharing the daemon would.
func (f *fixture) newEngine(tweak func(*rotation.Options)) *rotation.Engine {
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := &telegram.Notifier{APIURL: f.tg.URL, ChatIDs: []int64{42}, Token: func(ctx context.Context) ([]byte, error) {
		v, _ := f.vault.Connect(ctx)
		return v.Get(ctx, botPath)
	}}
	alerts := rotation.NewAlerts(n, log)
	f.t.Cleanup(func() { _ = alerts.Close(context.Background()) })
	o := rotation.Options{Connect: f.vault.Connect, Rotations: []*rotation.Rotation{f.rot}, Alerts: alerts, Clock: f.clock, Logger: log, Rand: func() float64 { return 0.5 }}
	if tweak != nil {
		tweak(&o)
	}
	e, err := rotation.NewEngine(o)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// alerts flushes the engine's alerts and returns every text delivered.
func (f *fixture) alerts() []string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.engine.Alerts().Close(ctx); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, m := range f.tg.All() {
		out = append(out, m.Text)
	}
	return out
}

func (f *fixture) rotate() rotation.Outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return f.engine.Rotate(ctx, name)
}

func indexOf(ops []string, op string) int { return slices.Index(ops, op) }

func TestRotateStoresRefreshBeforeAccess(t *testing.T) {
	f := newFixture(t, nil)
	out := f.rotate()
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	if got, want := f.vault.Value(paths.Refresh), f.slack.Refresh(); got != want || got == refresh0 {
		t.Errorf("refresh token stored %q, Slack issued %q", got, want)
	}
	if got := f.vault.Value(paths.Access); got != f.slack.LastAccess() {
		t.Errorf("access token stored %q, Slack issued %q", got, f.slack.LastAccess())
	}
	ops := f.vault.Ops()
	mark, setR, getR, setA := indexOf(ops, "mark "+name), indexOf(ops, "set "+paths.Refresh), slices.Index(ops[indexOf(ops, "set "+paths.Refresh)+1:], "get "+paths.Refresh), indexOf(ops, "set "+paths.Access)
	if mark < 0 || setR < mark || getR < 0 || setA < setR+1+getR || indexOf(ops, "end "+name+" ok") < setA {
		t.Errorf("wrong order: want mark, set refresh, get refresh, set access, end; got %v", ops)
	}
	st, _ := f.vault.State(name)
	if st.ExpiresAt == nil || !st.ExpiresAt.Equal(start.Add(12*time.Hour)) || st.NextDue == nil || !st.NextDue.Equal(start.Add(10*time.Hour)) {
		t.Errorf("state %+v: want expiry start+12h, next due start+10h", st)
	}
	if alerts := f.alerts(); len(alerts) != 0 {
		t.Errorf("alerts on a plain success: %q", alerts)
	}
}

func TestRefreshThatCannotBeStoredIsNeverFollowedByAccess(t *testing.T) {
	f := newFixture(t, func(o *rotation.Options) { o.StoreBudget = time.Second })
	f.vault.FailSets[paths.Refresh] = 1 << 30
	out := f.rotate()
	if out.Failure == nil || out.Failure.Code != "store_refresh_failed" || !out.Failure.Permanent {
		t.Fatalf("outcome %+v, want a permanent store_refresh_failed", out)
	}
	if slices.Contains(f.vault.Ops(), "set "+paths.Access) || f.vault.Value(paths.Access) != access0 {
		t.Error("the access token was published although the refresh token was not stored")
	}
	alerts := f.alerts()
	if len(alerts) != 1 || !strings.Contains(alerts[0], "NEEDS RE-AUTHORISATION: store_refresh_failed") {
		t.Errorf("alerts %q", alerts)
	}
}

func TestTransientStoreFailuresAreRetried(t *testing.T) {
	f := newFixture(t, nil)
	f.vault.FailSets[paths.Refresh] = 2
	if out := f.rotate(); out.Err != nil {
		t.Fatal(out.Err)
	}
	if f.vault.Value(paths.Refresh) != f.slack.Refresh() {
		t.Error("refresh token not stored after retries")
	}
}

func TestCrashAfterAnswerIsInDoubtAndNeverRetried(t *testing.T) {
	crash := true
	f := newFixture(t, func(o *rotation.Options) {
		o.AfterAnswer = func(string) error {
			if crash {
				return errors.New("simulated crash")
			}
			return nil
		}
	})
	if out := f.rotate(); out.Err == nil || !out.Answered {
		t.Fatalf("the simulated crash did not happen: %+v", out)
	}
	crash = false
	if st, _ := f.vault.State(name); st.State != wire.RotationAnswered {
		t.Fatalf("state %q after the crash, want answered", st.State)
	}
	f.clock.Advance(2 * time.Minute) // the dead attempt's lease runs out
	for range 3 {
		if out := f.rotate(); !errors.Is(out.Err, rotation.ErrInDoubt) {
			t.Fatalf("outcome %v, want ErrInDoubt", out.Err)
		}
	}
	if n := f.slack.Calls(); n != 1 {
		t.Errorf("Slack was called %d times; a rotation in doubt must not call it again", n)
	}
	if f.vault.Value(paths.Refresh) != refresh0 {
		t.Error("the refresh token changed")
	}

	// After a person clears it, the spent refresh token fails for good:
	// one call, a re-authorisation alert, no loop.
	f.vault.Clear(name)
	out := f.rotate()
	if out.Failure == nil || out.Failure.Code != "invalid_refresh_token" || !out.Failure.Permanent {
		t.Fatalf("after clear: %+v", out)
	}
	alerts := f.alerts()
	if len(alerts) != 2 || !strings.Contains(alerts[0], "IN DOUBT") || !strings.Contains(alerts[0], "vault-cli rotation clear slack-bot") ||
		!strings.Contains(alerts[1], "NEEDS RE-AUTHORISATION: invalid_refresh_token") {
		t.Errorf("alerts %q: want one in-doubt alert, then one re-authorisation alert", alerts)
	}
}

func TestConcurrentTriggersMakeOneCall(t *testing.T) {
	const callers = 8
	joined := make(chan struct{}, callers)
	f := newFixture(t, func(o *rotation.Options) { o.Joined = func(string) { joined <- struct{}{} } })
	gate := make(chan struct{})
	f.slack.Script(rotationtest.Reply{WaitFor: gate})
	outs := make(chan rotation.Outcome, callers)
	for range callers {
		go func() { outs <- f.rotate() }()
	}
	deadline := time.After(10 * time.Second)
	for range callers - 1 {
		select {
		case <-joined:
		case <-deadline:
			t.Fatal("the callers never joined one attempt")
		}
	}
	close(gate)
	for range callers {
		if out := <-outs; out.Err != nil {
			t.Error(out.Err)
		}
	}
	if n := f.slack.Calls(); n != 1 {
		t.Errorf("%d concurrent triggers made %d calls to Slack, want 1", callers, n)
	}
}

func TestSecondProcessIsBusy(t *testing.T) {
	f := newFixture(t, nil)
	other := f.newEngine(nil)
	gate := make(chan struct{})
	f.slack.Script(rotationtest.Reply{WaitFor: gate})
	first := make(chan rotation.Outcome, 1)
	go func() { first <- f.rotate() }()
	select {
	case <-f.slack.Requests:
	case <-time.After(10 * time.Second):
		t.Fatal("the first attempt never reached Slack")
	}
	if out := other.Rotate(context.Background(), name); !errors.Is(out.Err, rotation.ErrBusy) {
		t.Errorf("second process: %v, want ErrBusy", out.Err)
	}
	close(gate)
	if out := <-first; out.Err != nil {
		t.Fatal(out.Err)
	}
	if n := f.slack.Calls(); n != 1 {
		t.Errorf("Slack calls %d, want 1", n)
	}
}

func TestAlertsOncePerStreakAndOnRecovery(t *testing.T) {
	f := newFixture(t, nil)
	f.slack.Script(rotationtest.Reply{Status: 503, Body: "down"}, rotationtest.TooMany("120", `{"ok":false,"error":"ratelimited"}`))
	out := f.rotate()
	if out.Failure == nil || out.Failure.Code != "http_503" || out.Failure.Permanent {
		t.Fatalf("first: %+v", out)
	}
	// Backoff: 30s base with the test's jitter of 0.5 gives 22.5s.
	if want := start.Add(22500 * time.Millisecond); !out.RetryAt.Equal(want) {
		t.Errorf("retry at %v, want %v", out.RetryAt, want)
	}
	out = f.rotate()
	if out.Failure == nil || out.Failure.Code != "ratelimited" || !out.RetryAt.Equal(start.Add(120*time.Second)) {
		t.Fatalf("second: %+v (Retry-After 120 must win over a 45s backoff)", out)
	}
	if st, _ := f.vault.State(name); st.Failures != 2 || st.LastError != "ratelimited" || st.NextDue == nil || !st.NextDue.Equal(out.RetryAt) {
		t.Errorf("state %+v", st)
	}
	if out := f.rotate(); out.Err != nil {
		t.Fatal(out.Err)
	}
	alerts := f.alerts()
	if len(alerts) != 2 || !strings.Contains(alerts[0], "rotation slack-bot is FAILING: http_503") || !strings.Contains(alerts[1], "RECOVERED after 2 failed attempt(s)") {
		t.Errorf("alerts %q: want one failing alert for the streak, then one recovery", alerts)
	}
}

func TestPermanentFailureAlertsOnce(t *testing.T) {
	f := newFixture(t, nil)
	f.slack.Script(rotationtest.SlackError("token_revoked"), rotationtest.SlackError("token_revoked"))
	for range 2 {
		if out := f.rotate(); out.Failure == nil || !out.Failure.Permanent {
			t.Fatalf("%+v", out)
		}
	}
	if st, _ := f.vault.State(name); !st.Permanent || st.Failures != 2 {
		t.Errorf("state %+v", st)
	}
	alerts := f.alerts()
	if len(alerts) != 1 || !strings.Contains(alerts[0], "NEEDS RE-AUTHORISATION: token_revoked") || !strings.Contains(alerts[0], "vault-cli set claude/tokens/slack-bot-refresh") {
		t.Errorf("alerts %q", alerts)
	}
}

// TestNoSecretsInLogsErrorsOrAlerts runs success, transient and permanent
// failures and an undeliverable alert (whose URL holds the bot token),
// then searches every output for the sentinel.
func TestNoSecretsInLogsErrorsOrAlerts(t *testing.T) {
	f := newFixture(t, nil)
	f.tg.Script(rotationtest.Reply{Drop: true}, rotationtest.Reply{Status: 500, Body: `{"ok":false,"error_code":500,"description":"no bot ` + botToken + `"}`})
	f.slack.Script(rotationtest.Reply{Status: 502, Body: "SENTINEL in a body"}, rotationtest.Reply{Body: `{"ok":false,"error":"SENTINEL text"}`})
	var texts []string
	for range 3 {
		out := f.rotate()
		if out.Err != nil {
			texts = append(texts, out.Err.Error())
		}
	}
	f.slack.Script(rotationtest.SlackError("invalid_refresh_token"))
	out := f.rotate()
	texts = append(texts, out.Err.Error())
	texts = append(texts, f.alerts()...)
	texts = append(texts, f.logs.String())
	st, _ := f.vault.State(name)
	texts = append(texts, st.LastError)
	if !strings.Contains(f.logs.String(), "alert not delivered") {
		t.Error("the undeliverable alert was not logged, so the test proves nothing")
	}
	for _, s := range texts {
		if strings.Contains(s, "SENTINEL") {
			t.Errorf("a secret leaked:\n%s", s)
		}
	}
}

func TestBeginRefusedByTheDaemonAlertsOnce(t *testing.T) {
	f := newFixture(t, nil)
	// The daemon knows the name for another path: begin is refused.
	f.vault.SetState(wire.RotationState{Name: name, Path: "claude/tokens/other", State: wire.RotationIdle})
	for range 2 {
		if out := f.rotate(); out.Err == nil || out.Failure != nil {
			t.Fatalf("%+v", out)
		}
	}
	if n := f.slack.Calls(); n != 0 {
		t.Errorf("Slack called %d times", n)
	}
	alerts := f.alerts()
	if len(alerts) != 1 || !strings.Contains(alerts[0], "CANNOT START: the daemon answers bad_request") {
		t.Errorf("alerts %q", alerts)
	}
}

func TestShutdownBeforeTheAnswerIsNotAFailure(t *testing.T) {
	f := newFixture(t, nil)
	f.slack.Script(rotationtest.Reply{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan rotation.Outcome, 1)
	go func() { done <- f.engine.Rotate(ctx, name) }()
	<-f.slack.Requests
	cancel()
	out := <-done
	if !errors.Is(out.Err, context.Canceled) || out.Failure != nil {
		t.Fatalf("outcome %+v", out)
	}
	st, _ := f.vault.State(name)
	if st.State != wire.RotationRunning || st.Failures != 0 {
		t.Errorf("state %+v: want running (left to its lease), no failure counted", st)
	}
	f.clock.Advance(2 * time.Minute) // the lease runs out: the next attempt replaces it
	if out := f.rotate(); out.Err != nil {
		t.Fatal(out.Err)
	}
	if alerts := f.alerts(); len(alerts) != 0 {
		t.Errorf("alerts %q", alerts)
	}
}

// TestTriggerReachesBegin: a trigger is passed to rotation.begin as given,
// the schedule passes none, and one the daemon would refuse is refused
// before any attempt begins (a refused begin would alert).
func TestTriggerReachesBegin(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, bad := range []string{"has space", "tab\tin", strings.Repeat("x", 65), "é"} {
		out := f.engine.Rotate(ctx, name, rotation.WithTrigger(bad))
		if !errors.Is(out.Err, rotation.ErrBadTrigger) {
			t.Errorf("trigger %q: %v, want ErrBadTrigger", bad, out.Err)
		}
	}
	if ops := f.vault.Ops(); len(ops) != 0 {
		t.Fatalf("a refused trigger reached the daemon: %v", ops)
	}
	if out := f.engine.Rotate(ctx, name, rotation.WithTrigger("telegram:42")); out.Err != nil || out.Trigger != "telegram:42" {
		t.Fatalf("rotate: %+v", out)
	}
	if out := f.rotate(); out.Err != nil || out.Trigger != "" {
		t.Fatalf("rotate: %+v", out)
	}
	if got := f.vault.Triggers(); !slices.Equal(got, []string{"telegram:42", ""}) {
		t.Errorf("triggers at begin %q", got)
	}
	if a := f.alerts(); len(a) != 0 {
		t.Errorf("alerts %q", a)
	}
}
