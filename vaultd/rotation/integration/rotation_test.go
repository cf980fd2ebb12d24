package integration

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/rotation/rotationtest"
	"github.com/jamditis/jawn-vault/vaultd/rotation/rotator"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestRotateNowReachesAWatcherWithinASecond: `vault-cli rotate` stores
// Slack's new tokens through the daemon, and a service watching the
// access token hears of it within a second of the rotation.
func TestRotateNowReachesAWatcherWithinASecond(t *testing.T) {
	e := newEnv(t)
	w, err := vault.Watch(context.Background(), vault.Options{Socket: e.socket, Token: e.admin}, wire.WatchParams{Paths: []string{accessPath}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	r := e.cli(e.rotToken, "rotate", name, "--config", e.config)
	if r.code != 0 || !strings.Contains(r.stdout, "slack-bot: rotated. The new token expires") {
		t.Fatalf("rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ev, err := w.Next(ctx)
	if err != nil || ev.Event != wire.EventChanged || ev.Path != accessPath {
		t.Fatalf("watcher: %+v %v, want a change of %s within a second", ev, err, accessPath)
	}

	c := e.client(e.admin)
	defer c.Close()
	for path, want := range map[string]string{accessPath: e.slack.LastAccess(), refreshPath: e.slack.Refresh()} {
		got, err := c.Get(context.Background(), path)
		if err != nil || string(got) != want {
			t.Errorf("%s holds %q (%v), Slack issued %q", path, got, err, want)
		}
	}

	st := e.cli(e.rotToken, "rotation", "status", "--json")
	var res wire.RotationStatusResult
	if err := json.Unmarshal([]byte(st.stdout), &res); err != nil || len(res.Rotations) != 1 {
		t.Fatalf("status --json: %v\n%s%s", err, st.stdout, st.stderr)
	}
	got := res.Rotations[0]
	if got.State != wire.RotationIdle || got.LastSuccess == nil || got.ExpiresAt == nil || got.NextDue == nil || got.Failures != 0 ||
		time.Until(*got.ExpiresAt) < 11*time.Hour || !got.NextDue.Equal(got.ExpiresAt.Add(-2*time.Hour)) {
		t.Errorf("state %+v", got)
	}
	text := e.cli(e.rotToken, "rotation", "status")
	if !strings.Contains(text.stdout, "NAME") || !strings.Contains(text.stdout, "slack-bot  idle") {
		t.Errorf("status:\n%s", text.stdout)
	}
}

// TestCrashBetweenAnswerAndPersist kills `vault-cli rotate` after Slack
// answered and before anything was stored: the rotation is in doubt, the
// next attempts (vault-cli and the rotator) alert and never call Slack
// with the spent refresh token, until a person clears it.
func TestCrashBetweenAnswerAndPersist(t *testing.T) {
	e := newEnv(t)
	e.slack.Script(rotationtest.Reply{HeadersThenHang: true})
	p := e.start(cliBin, cliEnv(e.rotToken), "--socket", e.socket, "rotate", name, "--config", e.config)
	e.awaitState(wire.RotationAnswered, 10*time.Second)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t)
	e.slack.SetRefresh("xoxe-1-SENTINEL-issued-but-lost") // Slack spent the old one when it answered

	e.awaitState(wire.RotationInDoubt, 10*time.Second) // the dead attempt's 4s lease ran out
	r := e.cli(e.rotToken, "rotate", name, "--config", e.config)
	if r.code == 0 || !strings.Contains(r.stderr, "rotation is in doubt") || !strings.Contains(r.stderr, "hint:") || !strings.Contains(r.stderr, "vault-cli rotation clear slack-bot") {
		t.Errorf("rotate in doubt: exit %d\n%s", r.code, r.stderr)
	}
	e.alert("IN DOUBT")

	// The rotator, started now, alerts too and leaves Slack alone.
	rot := e.start(daemonBin, cliEnv(e.rotToken), "rotator", "--config", e.config, "--log-level", "debug")
	rot.awaitNotify(t, "READY=1")
	e.alert("rotation slack-bot is IN DOUBT")
	if n := e.slack.Calls(); n != 1 {
		t.Errorf("Slack was called %d times; the spent refresh token must not be retried", n)
	}
	_ = rot.cmd.Process.Signal(syscall.SIGTERM)
	if code := rot.wait(t); code != 0 {
		t.Errorf("rotator exit %d\n%s", code, rot.out)
	}

	// Only an admin may clear; then the spent token fails for good.
	if r := e.cli(e.rotToken, "rotation", "clear", name); r.code == 0 {
		t.Error("the rotator's token cleared a rotation in doubt")
	}
	if r := e.cli(e.admin, "rotation", "clear", name); r.code != 0 {
		t.Fatalf("clear: %s", r.stderr)
	}
	r = e.cli(e.rotToken, "rotate", name, "--config", e.config)
	if r.code == 0 || !strings.Contains(r.stderr, "invalid_refresh_token") || !strings.Contains(r.stderr, "vault-cli set "+refreshPath) {
		t.Errorf("after clear: exit %d\n%s", r.code, r.stderr)
	}
	e.alert("NEEDS RE-AUTHORISATION: invalid_refresh_token")
	if n := e.slack.Calls(); n != 2 {
		t.Errorf("Slack calls %d, want 2", n)
	}
}

// TestOneRotationAtATimeAcrossProcesses: while one vault-cli waits for
// Slack, another is refused as busy and makes no call.
func TestOneRotationAtATimeAcrossProcesses(t *testing.T) {
	e := newEnv(t)
	gate := make(chan struct{})
	e.slack.Script(rotationtest.Reply{WaitFor: gate})
	first := e.start(cliBin, cliEnv(e.rotToken), "--socket", e.socket, "rotate", name, "--config", e.config)
	select {
	case <-e.slack.Requests:
	case <-time.After(15 * time.Second):
		t.Fatalf("the first rotation never reached Slack\n%s", first.out)
	}
	r := e.cli(e.rotToken, "rotate", name, "--config", e.config)
	if r.code == 0 || !strings.Contains(r.stderr, "another rotation attempt is running") {
		t.Errorf("second: exit %d\n%s", r.code, r.stderr)
	}
	close(gate)
	if code := first.wait(t); code != 0 {
		t.Fatalf("first: exit %d\n%s", code, first.out)
	}
	if n := e.slack.Calls(); n != 1 {
		t.Errorf("Slack calls %d, want 1", n)
	}
}

// TestRotatorService runs `jawn-vault rotator` as systemd would: token
// from $CREDENTIALS_DIRECTORY, READY=1, a first rotation at start (no
// expiry known), the change pushed to a watcher, failing alerts that are
// delivered without the bot token, and a clean stop on SIGTERM.
func TestRotatorService(t *testing.T) {
	e := newEnv(t)
	creds := t.TempDir()
	if err := os.WriteFile(creds+"/"+rotator.CredentialName, []byte(e.rotToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := vault.Watch(context.Background(), vault.Options{Socket: e.socket, Token: e.rotToken}, wire.WatchParams{Paths: []string{accessPath}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// One undeliverable alert first: the error quotes Telegram's URL,
	// which holds the bot token.
	e.tg.Script(rotationtest.Reply{Drop: true})
	e.slack.Script(rotationtest.Reply{Status: 503, Body: "busy"})
	e.writeConfig("20s", "5s")

	p := e.start(daemonBin, cliEnv("", "CREDENTIALS_DIRECTORY="+creds), "rotator", "--config", e.config, "--log-level", "debug")
	p.awaitNotify(t, "READY=1")
	<-e.slack.Requests // the first attempt, at start: 503
	st := e.awaitStateFn("the end of the first attempt", 10*time.Second, func(st wire.RotationState) bool { return st.State == wire.RotationIdle })
	if st.Failures != 1 || st.LastError != "http_503" || st.NextDue == nil {
		t.Errorf("after the 503: %+v", st)
	}
	// The retry is 15-30s away; a person runs it now instead.
	r := e.cli(e.rotToken, "rotate", name, "--config", e.config)
	if r.code != 0 {
		t.Fatalf("rotate: %s", r.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if ev, err := w.Next(ctx); err != nil || ev.Path != accessPath {
		t.Fatalf("watcher: %+v %v", ev, err)
	}
	e.alert("RECOVERED after 1 failed attempt(s)")

	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.awaitNotify(t, "STOPPING=1")
	if code := p.wait(t); code != 0 {
		t.Fatalf("rotator exit %d\n%s", code, p.out)
	}
	if !strings.Contains(p.out.String(), "alert not delivered") {
		t.Errorf("the dropped alert was not logged, so the redaction went untested:\n%s", p.out)
	}
}

// TestScheduledRefreshAgainstTheDaemon drives the library's scheduler on
// an injected clock against the real daemon: a rotation at start, then
// one exactly refresh_before ahead of the expiry the daemon recorded,
// using the refresh token the first one stored.
func TestScheduledRefreshAgainstTheDaemon(t *testing.T) {
	e := newEnv(t)
	plan, err := rotator.Load(e.config, true)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Second)
	clock := rotationtest.NewClock(start)
	eng, err := plan.Engine(rotator.Dialer(e.socket, e.rotToken), slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	s := rotation.NewScheduler(eng)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	<-e.slack.Requests
	firstRefresh := e.slack.Refresh()
	due := start.Add(10 * time.Hour)
	await := func(at time.Time) {
		actx, acancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer acancel()
		if _, err := clock.AwaitTimer(actx, func(d time.Time) bool { return d.Equal(at) }); err != nil {
			t.Fatalf("the scheduler never slept until %v (pending %v, state %+v)", at, clock.Pending(), e.state())
		}
	}
	await(due)
	if st := e.state(); st.ExpiresAt == nil || !st.ExpiresAt.Equal(start.Add(12*time.Hour)) || st.NextDue == nil || !st.NextDue.Equal(due) {
		t.Errorf("daemon state %+v", st)
	}
	clock.Set(due)
	select {
	case form := <-e.slack.Requests:
		if form.Get("refresh_token") != firstRefresh {
			t.Errorf("the second rotation used another refresh token than the first stored")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no rotation at the due time")
	}
	await(due.Add(10 * time.Hour))
}

// TestRotatorResumesWhenANewRefreshTokenIsStored: after a permanent
// failure the rotator pauses; a person re-authorises and stores the new
// refresh token, the daemon's watch tells the rotator, and it rotates.
func TestRotatorResumesWhenANewRefreshTokenIsStored(t *testing.T) {
	e := newEnv(t)
	e.slack.SetRefresh("xoxe-1-SENTINEL-after-reauthorisation") // the stored one was revoked
	p := e.start(daemonBin, cliEnv(e.rotToken), "rotator", "--config", e.config, "--log-level", "debug")
	p.awaitNotify(t, "READY=1")
	e.alert("NEEDS RE-AUTHORISATION: invalid_refresh_token")

	c := e.client(e.admin)
	defer c.Close()
	if err := c.Set(context.Background(), refreshPath, []byte("xoxe-1-SENTINEL-after-reauthorisation")); err != nil {
		t.Fatal(err)
	}
	e.alert("RECOVERED after 1 failed attempt(s)")
	if n := e.slack.Calls(); n != 2 {
		t.Errorf("Slack calls %d, want 2 (one failure, one after the new token)", n)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("rotator exit %d\n%s", code, p.out)
	}
}
