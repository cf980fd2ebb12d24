package rotationtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reply is one scripted answer of a fake server, used instead of its
// normal behaviour for one request.
type Reply struct {
	Status int               // default 200
	Body   string            // sent as is
	Header map[string]string // extra headers
	// Hang never answers: the request blocks until the client gives up
	// or the test calls Release.
	Hang bool
	// HeadersThenHang sends the status line and headers, then blocks
	// before the body: the provider has "answered" and the body never
	// comes.
	HeadersThenHang bool
	// Drop closes the connection without answering.
	Drop bool
	// WaitFor, when set, holds the request until it is closed; then the
	// reply is served, or, if it has nothing else set, the server's
	// normal answer.
	WaitFor chan struct{}
}

// normalAfterWait reports whether rep only waits.
func (rep Reply) normalAfterWait() bool {
	return rep.Status == 0 && rep.Body == "" && rep.Header == nil && !rep.Hang && !rep.HeadersThenHang && !rep.Drop
}

// SlackError is Slack's failure answer: HTTP 200, "ok": false.
func SlackError(code string) Reply {
	return Reply{Body: fmt.Sprintf(`{"ok":false,"error":%q}`, code)}
}

// OAuthError is an RFC 6749 §5.2 error answer (Google's shape).
func OAuthError(status int, code, description string) Reply {
	return Reply{Status: status, Body: fmt.Sprintf(`{"error":%q,"error_description":%q}`, code, description)}
}

// TooMany is a 429 with Retry-After.
func TooMany(retryAfter string, body string) Reply {
	return Reply{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": retryAfter}, Body: body}
}

// Dialects of TokenServer.
const (
	DialectSlack = "slack" // oauth.v2.access: 200 with "ok"
	DialectRFC   = "rfc"   // RFC 6749 / Google: errors as 4xx with "error"
)

// TokenServer is a token endpoint on 127.0.0.1. By default it behaves as
// the real one: it checks the client credentials and the current refresh
// token, and issues a new access token (and, for Slack or when
// RotateRefresh is set, a new refresh token, spending the old one).
type TokenServer struct {
	URL     string
	Dialect string
	srv     *httptest.Server

	mu            sync.Mutex
	clientID      string
	clientSecret  string
	refresh       string
	prefix        string
	n             int
	expiresIn     int
	rotateRefresh bool
	lastAccess    string
	script        []Reply
	calls         int
	release       chan struct{}
	// Requests receives every request's form (buffered; never blocks
	// the server).
	Requests chan url.Values
}

// NewSlack starts a fake Slack oauth.v2.access. Tokens it issues start
// with prefix (tests plant sentinels there).
func NewSlack(t testing.TB, clientID, clientSecret, refresh, prefix string) *TokenServer {
	return newTokenServer(t, DialectSlack, clientID, clientSecret, refresh, prefix, 43200, true)
}

// NewGoogle starts a fake Google token endpoint (expires_in 3599, no new
// refresh token unless RotateRefresh).
func NewGoogle(t testing.TB, clientID, clientSecret, refresh, prefix string) *TokenServer {
	return newTokenServer(t, DialectRFC, clientID, clientSecret, refresh, prefix, 3599, false)
}

func newTokenServer(t testing.TB, dialect, id, secret, refresh, prefix string, expiresIn int, rotate bool) *TokenServer {
	s := &TokenServer{Dialect: dialect, clientID: id, clientSecret: secret, refresh: refresh, prefix: prefix,
		expiresIn: expiresIn, rotateRefresh: rotate, release: make(chan struct{}), Requests: make(chan url.Values, 100)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/token"
	t.Cleanup(func() {
		s.Release()
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
	return s
}

// Script queues replies for the next requests.
func (s *TokenServer) Script(r ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, r...)
}

// SetRotateRefresh makes an RFC server issue new refresh tokens.
func (s *TokenServer) SetRotateRefresh(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotateRefresh = on
}

// SetExpiresIn sets the lifetime of issued tokens, in seconds.
func (s *TokenServer) SetExpiresIn(sec int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiresIn = sec
}

// Calls counts requests so far.
func (s *TokenServer) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Refresh is the refresh token the server currently accepts.
func (s *TokenServer) Refresh() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh
}

// SetRefresh makes the server accept another refresh token (a person
// re-authorised).
func (s *TokenServer) SetRefresh(r string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh = r
}

// LastAccess is the last access token issued.
func (s *TokenServer) LastAccess() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAccess
}

// Release unblocks every hanging request, now and later.
func (s *TokenServer) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

func (s *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	_ = r.ParseForm()
	form := r.PostForm
	if id, secret, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	select {
	case s.Requests <- form:
	default:
	}
	s.mu.Lock()
	s.calls++
	var reply *Reply
	if len(s.script) > 0 {
		reply = &s.script[0]
		s.script = s.script[1:]
	}
	release := s.release
	s.mu.Unlock()
	if reply != nil && reply.WaitFor != nil {
		select {
		case <-reply.WaitFor:
		case <-r.Context().Done():
			return
		}
		if reply.normalAfterWait() {
			reply = nil
		}
	}
	if reply != nil {
		serveReply(w, r, *reply, release)
		return
	}
	status, body := s.normal(form)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// normal is the endpoint's documented behaviour.
func (s *TokenServer) normal(f url.Values) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(status int, code string) (int, string) {
		if s.Dialect == DialectSlack {
			return http.StatusOK, fmt.Sprintf(`{"ok":false,"error":%q}`, code)
		}
		return status, fmt.Sprintf(`{"error":%q,"error_description":"fake says no"}`, code)
	}
	switch {
	case f.Get("grant_type") != "refresh_token":
		return fail(http.StatusBadRequest, map[string]string{DialectSlack: "invalid_grant_type", DialectRFC: "unsupported_grant_type"}[s.Dialect])
	case f.Get("client_id") != s.clientID:
		return fail(http.StatusUnauthorized, map[string]string{DialectSlack: "invalid_client_id", DialectRFC: "invalid_client"}[s.Dialect])
	case f.Get("client_secret") != s.clientSecret:
		return fail(http.StatusUnauthorized, map[string]string{DialectSlack: "bad_client_secret", DialectRFC: "invalid_client"}[s.Dialect])
	case f.Get("refresh_token") != s.refresh:
		return fail(http.StatusBadRequest, map[string]string{DialectSlack: "invalid_refresh_token", DialectRFC: "invalid_grant"}[s.Dialect])
	}
	s.n++
	ans := map[string]any{"expires_in": s.expiresIn}
	if s.Dialect == DialectSlack {
		s.lastAccess = fmt.Sprintf("%sxoxe.xoxb-1-access-%d", s.prefix, s.n)
		ans["ok"], ans["app_id"], ans["token_type"], ans["scope"] = true, "A0KRD7HC3", "bot", "chat:write"
		ans["bot_user_id"], ans["team"], ans["enterprise"], ans["is_enterprise_install"] = "U0KRQLJ9H", map[string]string{"id": "T9TK3CUKW", "name": "Jawn"}, nil, false
	} else {
		s.lastAccess = fmt.Sprintf("%sya29.access-%d", s.prefix, s.n)
		ans["token_type"], ans["scope"] = "Bearer", "https://www.googleapis.com/auth/drive.readonly"
	}
	ans["access_token"] = s.lastAccess
	if s.rotateRefresh {
		s.refresh = fmt.Sprintf("%sxoxe-1-refresh-%d", s.prefix, s.n)
		ans["refresh_token"] = s.refresh
	}
	b, _ := json.Marshal(ans)
	return http.StatusOK, string(b)
}

func serveReply(w http.ResponseWriter, r *http.Request, rep Reply, release chan struct{}) {
	switch {
	case rep.Drop:
		if hj, ok := w.(http.Hijacker); ok {
			c, _, err := hj.Hijack()
			if err == nil {
				c.Close()
			}
		}
		return
	case rep.Hang:
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return
	}
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	if rep.HeadersThenHang {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(status)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, rep.Body)
}

// Message is one sendMessage the fake Telegram received.
type Message struct {
	ChatID int64  `json:"chat_id"`
	Text   string `json:"text"`
}

// Telegram is a fake Bot API for one bot token, serving sendMessage and
// getUpdates. getUpdates answers as Telegram documents it: every queued
// update whose update_id is at least the request's offset (earlier ones
// are confirmed and dropped), and when there is none it holds the request
// for up to its timeout, answering as soon as an update is queued.
type Telegram struct {
	URL   string
	token string
	srv   *httptest.Server

	mu      sync.Mutex
	script  []Reply
	all     []Message
	updates []Update
	nextID  int64
	queued  chan struct{} // closed and replaced by Queue
	// Messages receives every delivered message (buffered).
	Messages chan Message
}

// Update is one queued update, in the Bot API's JSON form.
type Update struct {
	UpdateID int64          `json:"update_id"`
	Message  map[string]any `json:"message"`
}

// NewTelegram starts a fake Bot API for token.
func NewTelegram(t testing.TB, token string) *Telegram {
	tg := &Telegram{token: token, Messages: make(chan Message, 100), nextID: 700000000, queued: make(chan struct{})}
	tg.srv = httptest.NewServer(http.HandlerFunc(tg.serve))
	tg.URL = tg.srv.URL
	t.Cleanup(func() { tg.srv.CloseClientConnections(); tg.srv.Close() })
	return tg
}

// Queue adds a text message from a private chat, as a person typing it in
// chatID would send it, and returns its update_id.
func (tg *Telegram) Queue(chatID int64, text string) int64 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.nextID++
	id := tg.nextID
	tg.updates = append(tg.updates, Update{UpdateID: id, Message: map[string]any{
		"message_id": id - 700000000,
		"from":       map[string]any{"id": chatID, "is_bot": false, "first_name": "Op", "username": "op"},
		"chat":       map[string]any{"id": chatID, "first_name": "Op", "username": "op", "type": "private"},
		"date":       time.Now().Unix(),
		"text":       text,
		"entities":   []map[string]any{{"offset": 0, "length": len(strings.Fields(text)[0]), "type": "bot_command"}},
	}})
	close(tg.queued)
	tg.queued = make(chan struct{})
	return id
}

// pending confirms the updates below offset and returns the rest, with a
// channel closed when another is queued.
func (tg *Telegram) pending(offset int64) ([]Update, chan struct{}) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	i := 0
	for i < len(tg.updates) && tg.updates[i].UpdateID < offset {
		i++
	}
	tg.updates = tg.updates[i:]
	return append([]Update(nil), tg.updates...), tg.queued
}

// serveUpdates is getUpdates.
func (tg *Telegram) serveUpdates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var offset int64
	var timeout int
	if v := q.Get("offset"); v != "" {
		if _, err := fmt.Sscan(v, &offset); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: wrong offset"}`)
			return
		}
	}
	if v := q.Get("timeout"); v != "" {
		_, _ = fmt.Sscan(v, &timeout)
	}
	ups, queued := tg.pending(offset)
	if len(ups) == 0 && timeout > 0 {
		t := time.NewTimer(time.Duration(timeout) * time.Second)
		select {
		case <-queued:
			ups, _ = tg.pending(offset)
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		t.Stop()
	}
	if ups == nil {
		ups = []Update{}
	}
	b, _ := json.Marshal(map[string]any{"ok": true, "result": ups})
	_, _ = w.Write(b)
}

// Script queues replies for the next sendMessage requests (getUpdates
// is never scripted).
func (tg *Telegram) Script(r ...Reply) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.script = append(tg.script, r...)
}

// All returns every message delivered so far.
func (tg *Telegram) All() []Message {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]Message(nil), tg.all...)
}

func (tg *Telegram) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/bot"+tg.token+"/getUpdates" {
		tg.serveUpdates(w, r)
		return
	}
	tg.mu.Lock()
	var reply *Reply
	if len(tg.script) > 0 {
		reply = &tg.script[0]
		tg.script = tg.script[1:]
	}
	tg.mu.Unlock()
	if reply != nil {
		serveReply(w, r, *reply, nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+tg.token+"/")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	}
	var m Message
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if method != "sendMessage" || r.Method != http.MethodPost || dec.Decode(&m) != nil || m.Text == "" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`)
		return
	}
	tg.mu.Lock()
	tg.all = append(tg.all, m)
	n := len(tg.all)
	tg.mu.Unlock()
	select {
	case tg.Messages <- m:
	default:
	}
	b, _ := json.Marshal(map[string]any{"ok": true, "result": map[string]any{
		"message_id": n, "date": 1700000000, "text": m.Text,
		"chat": map[string]any{"id": m.ChatID, "type": "private"},
		"from": map[string]any{"id": 1, "is_bot": true, "first_name": "Jawn Vault", "username": "jawn_vault_bot"},
	}})
	_, _ = w.Write(b)
}
