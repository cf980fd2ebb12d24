package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/ops"
)

// plantedToken is a bot token the tests look for in logs and errors.
const plantedToken = "424242:PLANTED-bot-token-never-log-me"

// fakeBot is a Bot API on 127.0.0.1 with real getUpdates semantics: it
// returns every queued update whose id is at least the request's offset,
// and when there are none it reports idle and holds the request until the
// client gives up. Scripted raw replies, if any, come first.
type fakeBot struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	updates []map[string]any
	script  []scripted
	offsets []string // offset parameter of each getUpdates ("" if absent)
	sent    []sentMsg
	events  []string // "getUpdates" and "sleep <d>", in order
	polls   int
	idle    chan struct{}
}

type scripted struct {
	status int
	body   string
}

type sentMsg struct {
	ChatID int64  `json:"chat_id"`
	Text   string `json:"text"`
}

func newFakeBot(t *testing.T) *fakeBot {
	fb := &fakeBot{t: t, idle: make(chan struct{}, 1)}
	fb.srv = httptest.NewServer(http.HandlerFunc(fb.serve))
	t.Cleanup(func() { fb.srv.CloseClientConnections(); fb.srv.Close() })
	return fb
}

func (fb *fakeBot) queue(id int64, chat int64, text string) {
	fb.queueAt(id, chat, text, time.Now())
}

// queueAt queues a message sent at date.
func (fb *fakeBot) queueAt(id int64, chat int64, text string, date time.Time) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.updates = append(fb.updates, map[string]any{"update_id": id, "message": map[string]any{
		"message_id": id * 10, "date": date.Unix(), "text": text,
		"chat": map[string]any{"id": chat, "type": "private"},
	}})
}

func (fb *fakeBot) serve(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+plantedToken+"/")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	}
	switch method {
	case "sendMessage":
		var m sentMsg
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Text == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request"}`)
			return
		}
		fb.mu.Lock()
		fb.sent = append(fb.sent, m)
		fb.mu.Unlock()
		_, _ = io.WriteString(w, `{"ok":true,"result":{"message_id":1,"chat":{"id":1},"date":1}}`)
	case "getUpdates":
		q := r.URL.Query()
		if q.Get("allowed_updates") != `["message"]` || q.Get("timeout") == "" {
			fb.t.Errorf("getUpdates query %q lacks allowed_updates or timeout", r.URL.RawQuery)
		}
		fb.mu.Lock()
		fb.polls++
		fb.events = append(fb.events, "getUpdates")
		fb.offsets = append(fb.offsets, q.Get("offset"))
		if len(fb.script) > 0 {
			s := fb.script[0]
			fb.script = fb.script[1:]
			fb.mu.Unlock()
			w.WriteHeader(s.status)
			_, _ = io.WriteString(w, s.body)
			return
		}
		off := int64(0)
		fmt.Sscan(q.Get("offset"), &off)
		var out []map[string]any
		for _, u := range fb.updates {
			if u["update_id"].(int64) >= off {
				out = append(out, u)
			}
		}
		// A poller that never advances its offset would spin; stop it
		// after a while so the test can report the repeats.
		runaway := fb.polls > 20
		fb.mu.Unlock()
		if len(out) > 0 && !runaway || q.Get("timeout") == "0" {
			if out == nil {
				out = []map[string]any{}
			}
			b, _ := json.Marshal(map[string]any{"ok": true, "result": out})
			_, _ = w.Write(b)
			return
		}
		select {
		case fb.idle <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":404,"description":"Not Found"}`)
	}
}

func (fb *fakeBot) sentMsgs() []sentMsg {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]sentMsg(nil), fb.sent...)
}

// run polls against fb until the fake is idle (every queued update was
// handed out and the poller asked for more), then stops the poller and
// returns its error and log.
func (fb *fakeBot) run(t *testing.T, chats []int64, apiURL string) (error, string) {
	t.Helper()
	var logBuf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ops.PollCommands(ctx, ops.PollOptions{
			APIURL:   apiURL,
			BotToken: plantedToken,
			ChatIDs:  chats,
			Snapshot: func(context.Context) (ops.Snapshot, error) { return *sampleSnapshot(), nil },
			Logger:   slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Timeout:  time.Second,
			Sleep: func(ctx context.Context, d time.Duration) error {
				fb.mu.Lock()
				fb.events = append(fb.events, "sleep "+d.String())
				fb.mu.Unlock()
				return ctx.Err()
			},
		})
	}()
	select {
	case <-fb.idle:
	case err := <-done:
		t.Fatalf("PollCommands returned early: %v\nlog:\n%s", err, logBuf.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("the fake Bot API never went idle\nlog:\n%s", logBuf.String())
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("PollCommands did not stop on ctx")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("PollCommands = %v, want context.Canceled", err)
	}
	return err, logBuf.String()
}

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

func TestPollCommandsAnswersAllowedChatOnce(t *testing.T) {
	fb := newFakeBot(t)
	fb.queue(7, 1001, "/vault status")
	fb.queue(8, 1001, "hello, not a command")
	fb.queue(9, 1001, "/vaultish status")
	_, _ = fb.run(t, []int64{1001}, fb.srv.URL)

	want := ops.Answer("/vault status", *sampleSnapshot())
	got := fb.sentMsgs()
	if len(got) != 1 || got[0].ChatID != 1001 || got[0].Text != want {
		t.Fatalf("sent %+v, want exactly one reply to 1001:\n%s", got, want)
	}
}

func TestPollCommandsAdvancesOffset(t *testing.T) {
	fb := newFakeBot(t)
	fb.queue(100, 1001, "/vault status")
	fb.queue(101, 1001, "/vault rotation")
	_, _ = fb.run(t, []int64{1001}, fb.srv.URL)

	got := fb.sentMsgs()
	if len(got) != 2 {
		t.Fatalf("sent %d replies, want 2 (one per update): %+v", len(got), got)
	}
	if got[1].Text != ops.Answer("/vault rotation", *sampleSnapshot()) {
		t.Errorf("second reply = %q", got[1].Text)
	}
	fb.mu.Lock()
	offsets := fb.offsets
	fb.mu.Unlock()
	if len(offsets) != 2 || offsets[0] != "" || offsets[1] != "102" {
		t.Errorf("offsets sent = %q, want [\"\" \"102\"]", offsets)
	}
}

func TestPollCommandsIgnoresUnknownChat(t *testing.T) {
	fb := newFakeBot(t)
	fb.queue(1, 666, "/vault status stranger-text-one")
	fb.queue(2, 666, "/vault recent stranger-text-two")
	fb.queue(3, 1001, "/vault denied")
	_, log := fb.run(t, []int64{1001}, fb.srv.URL)

	for _, m := range fb.sentMsgs() {
		if m.ChatID == 666 {
			t.Errorf("answered the unknown chat: %+v", m)
		}
	}
	if n := len(fb.sentMsgs()); n != 1 {
		t.Errorf("sent %d replies, want 1 (to the allowed chat)", n)
	}
	if n := strings.Count(log, "chat_id=666"); n != 1 {
		t.Errorf("unknown chat logged %d times, want once:\n%s", n, log)
	}
	if strings.Contains(log, "stranger-text") {
		t.Errorf("the log holds a stranger's message text:\n%s", log)
	}
}

func TestPollCommandsHonoursRetryAfter(t *testing.T) {
	fb := newFakeBot(t)
	fb.script = []scripted{{http.StatusTooManyRequests,
		`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`}}
	fb.queue(5, 1001, "/vault status")
	_, _ = fb.run(t, []int64{1001}, fb.srv.URL)

	fb.mu.Lock()
	events := fb.events
	fb.mu.Unlock()
	if len(events) < 3 || events[0] != "getUpdates" || events[1] != "sleep 7s" || events[2] != "getUpdates" {
		t.Errorf("events = %q, want getUpdates, sleep 7s, getUpdates", events)
	}
	if n := len(fb.sentMsgs()); n != 1 {
		t.Errorf("sent %d replies after the 429, want 1", n)
	}
}

func TestPollCommandsBacksOffOnServerErrors(t *testing.T) {
	fb := newFakeBot(t)
	fb.script = []scripted{
		{http.StatusBadGateway, `<html>bad gateway</html>`},
		{http.StatusInternalServerError, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`},
	}
	fb.queue(1, 1001, "/vault status")
	_, _ = fb.run(t, []int64{1001}, fb.srv.URL)

	fb.mu.Lock()
	events := strings.Join(fb.events, ",")
	fb.mu.Unlock()
	if want := "getUpdates,sleep 1s,getUpdates,sleep 2s,getUpdates"; !strings.HasPrefix(events, want) {
		t.Errorf("events = %s, want prefix %s", events, want)
	}
	if n := len(fb.sentMsgs()); n != 1 {
		t.Errorf("sent %d replies after recovering, want 1", n)
	}
}

// TestPollCommandsNeverLeaksToken drives every error path that could quote
// the URL or echo the token: a refused connection (net/http's *url.Error
// quotes the URL), a Bot API description that echoes the path, and a
// failing sendMessage.
func TestPollCommandsNeverLeaksToken(t *testing.T) {
	t.Run("network", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close() // nothing listens: every request fails to connect

		var logBuf syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sleeps := 0
		err = ops.PollCommands(ctx, ops.PollOptions{
			APIURL: dead, BotToken: plantedToken, ChatIDs: []int64{1},
			Snapshot: func(context.Context) (ops.Snapshot, error) { return ops.Snapshot{}, nil },
			Logger:   slog.New(slog.NewTextHandler(&logBuf, nil)),
			Sleep: func(ctx context.Context, d time.Duration) error {
				if sleeps++; sleeps == 3 {
					cancel()
				}
				return ctx.Err()
			},
		})
		log := logBuf.String()
		if !strings.Contains(log, "getUpdates failed") {
			t.Fatalf("no failure was logged; the test exercised nothing:\n%s", log)
		}
		checkNoToken(t, log, err)
	})
	t.Run("echoed", func(t *testing.T) {
		fb := newFakeBot(t)
		fb.script = []scripted{{http.StatusBadRequest,
			fmt.Sprintf(`{"ok":false,"error_code":400,"description":"Bad Request: /bot%s/getUpdates and %s"}`, plantedToken, url.PathEscape(plantedToken))}}
		fb.queue(1, 1001, "/vault status")
		// sendMessage goes to a server that answers 404 with the path.
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/getUpdates") {
				fb.serve(w, r)
				return
			}
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"ok":false,"error_code":404,"description":"no route %s"}`, r.URL.Path)
		}))
		defer echo.Close()
		err, log := fb.run(t, []int64{1001}, echo.URL)
		if !strings.Contains(log, "getUpdates failed") || !strings.Contains(log, "telegram reply failed") {
			t.Fatalf("both failures should be logged; the test exercised nothing:\n%s", log)
		}
		checkNoToken(t, log, err)
	})
}

func checkNoToken(t *testing.T, log string, err error) {
	t.Helper()
	secret := strings.SplitN(plantedToken, ":", 2)[1]
	for _, s := range []string{log, fmt.Sprint(err)} {
		if strings.Contains(s, secret) || strings.Contains(s, url.PathEscape(plantedToken)) {
			t.Errorf("the bot token leaked:\n%s", s)
		}
	}
}

func TestPollCommandsRejectsMissingOptions(t *testing.T) {
	snap := func(context.Context) (ops.Snapshot, error) { return ops.Snapshot{}, nil }
	for name, o := range map[string]ops.PollOptions{
		"no token": {ChatIDs: []int64{1}, Snapshot: snap},
		"no chats": {BotToken: plantedToken, Snapshot: snap},
	} {
		if err := ops.PollCommands(context.Background(), o); err == nil {
			t.Errorf("%s: PollCommands = nil, want an error", name)
		}
	}
}
