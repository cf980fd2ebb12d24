package ops_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/ops"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// runWith polls fb with o (its API URL, token, chats and sleep filled in)
// until the fake is idle, like fakeBot.run.
func (fb *fakeBot) runWith(t *testing.T, o ops.PollOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.APIURL, o.BotToken, o.Timeout = fb.srv.URL, plantedToken, time.Second
	if o.ChatIDs == nil {
		o.ChatIDs = []int64{1001}
	}
	if o.Snapshot == nil {
		o.Snapshot = func(context.Context) (ops.Snapshot, error) { return *sampleSnapshot(), nil }
	}
	o.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	done := make(chan error, 1)
	go func() { done <- ops.PollCommands(ctx, o) }()
	select {
	case <-fb.idle:
	case err := <-done:
		t.Fatalf("PollCommands returned early: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the fake Bot API never went idle")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("PollCommands = %v", err)
	}
}

// fakeAudit is an audit.query over fixed rows that records each query.
type fakeAudit struct {
	mu      sync.Mutex
	queries []wire.AuditQueryParams
	rows    []wire.AuditEntry
}

func (a *fakeAudit) query(_ context.Context, q wire.AuditQueryParams) ([]wire.AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.queries = append(a.queries, q)
	var out []wire.AuditEntry
	for _, e := range a.rows {
		if q.Outcome == "" || e.Outcome == q.Outcome {
			out = append(out, e)
		}
	}
	return out, nil
}

func TestPollCommandsWhoAndDeniedSince(t *testing.T) {
	fb := newFakeBot(t)
	fb.queue(1, 1001, "/vault who claude/slack/*")
	fb.queue(2, 1001, "/vault who claude/** 2026-11-01T00:00:00Z")
	fb.queue(3, 1001, "/vault denied 7d")
	fb.queue(4, 1001, "/vault who claude/../x")
	a := &fakeAudit{rows: []wire.AuditEntry{
		{Time: now.Add(-time.Minute), Client: "slack-bot", UID: 1000, Unit: "slack-bot.service", Method: "get", Path: "claude/slack/bot", Outcome: "ok"},
		{Time: now.Add(-2 * time.Minute), Client: "rogue", UID: 1001, Exe: "/usr/bin/curl", Method: "get", Path: "claude/slack/bot", Outcome: "denied", Detail: "permission_denied"},
		{Time: now.Add(-3 * time.Hour), UID: 1000, Exe: "/usr/bin/python3", Method: "get", Path: "claude/slack/app", Outcome: "ok"},
		{Time: now.Add(-4 * time.Hour), Client: "slack-bot", UID: 1000, Unit: "slack-bot.service", Method: "get", Path: "claude/slack/bot", Outcome: "ok"},
		{Time: now.Add(-5 * time.Hour), Client: "admin", UID: 1000, Method: "set", Path: "claude/slack/bot", Outcome: "ok"},
	}}
	fb.runWith(t, ops.PollOptions{Audit: a.query, Now: func() time.Time { return now }})

	got := fb.sentMsgs()
	if len(got) != 4 {
		t.Fatalf("sent %d replies, want 4: %+v", len(got), got)
	}
	who := got[0].Text
	for _, w := range []string{
		"Reads of claude/slack/* in the last 24h: 3 by 2 client(s)",
		"slack-bot · uid 1000 · slack-bot.service: 2, last 1m ago",
		"(no token) · uid 1000 · /usr/bin/python3: 1, last 3h ago",
		"⚠️ 1 refused read(s): /vault denied 24h",
	} {
		if !strings.Contains(who, w) {
			t.Errorf("who lacks %q:\n%s", w, who)
		}
	}
	if strings.Contains(who, "admin") || strings.Index(who, "slack-bot ·") > strings.Index(who, "(no token)") {
		t.Errorf("who counts a set, or is not newest first:\n%s", who)
	}
	if !strings.Contains(got[1].Text, "since 2026-11-01 00:00 UTC") {
		t.Errorf("who with an RFC 3339 SINCE:\n%s", got[1].Text)
	}
	if d := got[2].Text; !strings.Contains(d, "1 denied in the last 7d; latest 1:") || !strings.Contains(d, "rogue get claude/slack/bot ✗ DENIED (permission_denied)") {
		t.Errorf("denied 7d:\n%s", d)
	}
	if !strings.Contains(got[3].Text, "PATH-GLOB must be") {
		t.Errorf("bad glob: %s", got[3].Text)
	}
	want := []wire.AuditQueryParams{
		{Path: "claude/slack/*", Since: "24h", Limit: 10000},
		{Path: "claude/**", Since: "2026-11-01T00:00:00Z", Limit: 10000},
		{Outcome: "denied", Since: "7d", Limit: 10000},
	}
	if len(a.queries) != len(want) {
		t.Fatalf("queries %+v, want %+v (none for the bad glob)", a.queries, want)
	}
	for i := range want {
		if a.queries[i] != want[i] {
			t.Errorf("query %d = %+v, want %+v", i, a.queries[i], want[i])
		}
	}
}

func TestPollCommandsRotate(t *testing.T) {
	t.Run("disabled", func(t *testing.T) {
		fb := newFakeBot(t)
		fb.queue(1, 1001, "/vault rotate slack-bot")
		fb.runWith(t, ops.PollOptions{})
		got := fb.sentMsgs()
		if len(got) != 1 || !strings.Contains(got[0].Text, "disabled") || !strings.Contains(got[0].Text, "allow_rotate = true") {
			t.Fatalf("sent %+v", got)
		}
	})
	t.Run("enabled", func(t *testing.T) {
		fb := newFakeBot(t)
		fb.queue(1, 666, "/vault rotate slack-bot")
		fb.queue(2, 1001, "/vault rotate slack-bot")
		fb.queue(3, 1002, "/vault@jawn_bot rotate google")
		type call struct {
			chat      int64
			name      string
			confirmed string // the last offset the Bot API had been sent
		}
		var calls []call
		fb.runWith(t, ops.PollOptions{ChatIDs: []int64{1001, 1002}, Rotate: func(_ context.Context, chat int64, name string) string {
			fb.mu.Lock()
			last := fb.offsets[len(fb.offsets)-1]
			fb.mu.Unlock()
			calls = append(calls, call{chat, name, last})
			return "rotated " + name
		}})
		// Each rotation runs once, and only after Telegram was told its
		// update was handled: a crash mid-rotation cannot run it again.
		if len(calls) != 2 || calls[0] != (call{1001, "slack-bot", "3"}) || calls[1] != (call{1002, "google", "4"}) {
			t.Errorf("Rotate calls %+v: want the two configured chats only, each after its update was confirmed", calls)
		}
		got := fb.sentMsgs()
		if len(got) != 2 || got[0].ChatID != 1001 || got[0].Text != "rotated slack-bot" || got[1].ChatID != 1002 {
			t.Errorf("sent %+v", got)
		}
	})
}

// TestRunCommandsAgainstTheDaemon: "/vault who" and "/vault denied SINCE"
// read the real daemon's audit log as the bot's token, a page at a time,
// show the reader and the refused read, hold no secret, and the reads
// behind them are audited under the bot's token.
func TestRunCommandsAgainstTheDaemon(t *testing.T) {
	// One row per audit.query: the answers must not change when the
	// reads behind them are paged.
	defer func(n int) { *ops.AuditPageRows = n }(*ops.AuditPageRows)
	*ops.AuditPageRows = 1
	f := newFixture(t)
	admin := f.dev.client(t, f.dev.Token)
	const botPath = "tg/bot"
	if err := admin.Set(ctx(t), botPath, []byte(plantedToken)); err != nil {
		t.Fatal(err)
	}
	bot, err := admin.TokenCreate(ctx(t), wire.TokenCreateParams{Name: "tg-commands", Grants: []wire.GrantJSON{{Pattern: "**", Level: "status"}, {Pattern: botPath, Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	secrets := append(f.secrets, bot.Token, strings.SplitN(plantedToken, ":", 2)[1])

	fb := newFakeBot(t)
	fb.queue(1, 1001, "/vault who ops/**")
	fb.queue(2, 1001, "/vault denied 1h")
	fb.queue(3, 1001, "/vault rotate x")
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ops.RunCommands(rctx, ops.CommandsOptions{Socket: f.dev.Socket, VaultToken: bot.Token, BotTokenPath: botPath, APIURL: fb.srv.URL, ChatIDs: []int64{1001}})
	}()
	select {
	case <-fb.idle:
	case err := <-done:
		t.Fatalf("RunCommands returned: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the fake Bot API never went idle")
	}
	cancel()
	<-done

	got := fb.sentMsgs()
	if len(got) != 3 {
		t.Fatalf("sent %+v", got)
	}
	if w := got[0].Text; !strings.Contains(w, "Reads of ops/** in the last 24h: 1 by 1 client(s)") || !strings.Contains(w, "reader-app · uid ") || !strings.Contains(w, "1 refused read(s)") {
		t.Errorf("who:\n%s", w)
	}
	if d := got[1].Text; !strings.Contains(d, "1 denied in the last 1h") || !strings.Contains(d, "limited-app get "+f.path+" ✗ DENIED") {
		t.Errorf("denied 1h:\n%s", d)
	}
	if !strings.Contains(got[2].Text, "disabled") {
		t.Errorf("rotate without a Rotate: %s", got[2].Text)
	}
	for _, m := range got {
		for _, s := range secrets {
			if strings.Contains(m.Text, s) {
				t.Errorf("a reply holds a secret:\n%s", m.Text)
			}
		}
	}
	// Without status on **, the answers say what may not be read.
	weak, err := admin.TokenCreate(ctx(t), wire.TokenCreateParams{Name: "tg-weak", Grants: []wire.GrantJSON{{Pattern: botPath, Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	fb2 := newFakeBot(t)
	fb2.queue(1, 1001, "/vault who ops/**")
	fb2.queue(2, 1001, "/vault status")
	rctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() {
		done2 <- ops.RunCommands(rctx2, ops.CommandsOptions{Socket: f.dev.Socket, VaultToken: weak.Token, BotTokenPath: botPath, APIURL: fb2.srv.URL, ChatIDs: []int64{1001}})
	}()
	select {
	case <-fb2.idle:
	case <-time.After(30 * time.Second):
		t.Fatal("the fake Bot API never went idle")
	}
	cancel2()
	<-done2
	if got := fb2.sentMsgs(); len(got) != 2 || !strings.HasPrefix(got[0].Text, "Audit not readable: permission_denied") || !strings.HasPrefix(got[1].Text, "🟡 Vault up, status unreadable: status: permission_denied") {
		t.Errorf("answers with a token lacking status: %+v", got)
	}

	rows, err := admin.AuditQuery(ctx(t), wire.AuditQueryParams{Client: "tg-commands", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range rows {
		if e.Method == wire.MethodAuditQuery && e.Outcome == wire.OutcomeOK {
			n++
		}
	}
	if n < 4 {
		t.Errorf("%d audit.query rows under the bot's token, want one per page, at least 4: %+v", n, rows)
	}
}

// TestPollCommandsConfirmsOnStop: stopped right after answering, before
// the next long poll, the poller still tells the Bot API what it handled
// (a getUpdates with the new offset and no wait), so a restart does not
// hand the same commands out again.
func TestPollCommandsConfirmsOnStop(t *testing.T) {
	fb := newFakeBot(t)
	fb.queue(5, 1001, "/vault status")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := ops.PollCommands(ctx, ops.PollOptions{
		APIURL: fb.srv.URL, BotToken: plantedToken, ChatIDs: []int64{1001}, Timeout: time.Second,
		Snapshot: func(context.Context) (ops.Snapshot, error) { return *sampleSnapshot(), nil },
		Send:     func(context.Context, int64, string) error { cancel(); return nil },
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("PollCommands = %v", err)
	}
	fb.mu.Lock()
	offsets := fb.offsets
	fb.mu.Unlock()
	if len(offsets) != 2 || offsets[1] != "6" {
		t.Errorf("offsets sent = %q, want [\"\" \"6\"]", offsets)
	}
}

// TestPollCommandsRefusesAStaleRotate: a "/vault rotate" older than a few
// minutes (handed out again after a restart) does not rotate.
func TestPollCommandsRefusesAStaleRotate(t *testing.T) {
	fb := newFakeBot(t)
	fb.queueAt(1, 1001, "/vault rotate slack-bot", time.Now().Add(-time.Hour))
	fb.queue(2, 1001, "/vault rotate google")
	var names []string
	fb.runWith(t, ops.PollOptions{Rotate: func(_ context.Context, _ int64, name string) string {
		names = append(names, name)
		return "rotated " + name
	}})
	got := fb.sentMsgs()
	if len(got) != 2 || !strings.HasPrefix(got[0].Text, "Not rotating slack-bot: that command was sent 1h ago") || got[1].Text != "rotated google" {
		t.Errorf("sent %+v", got)
	}
	if len(names) != 1 || names[0] != "google" {
		t.Errorf("Rotate ran for %q, want only google", names)
	}
}
