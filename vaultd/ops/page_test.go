package ops_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/ops"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// fixture is a dev daemon with a sentinel secret read once by reader-app
// and refused once to limited-app, and a status page in front of it.
type fixture struct {
	dev      *devVault
	srv      *httptest.Server
	sentinel string
	path     string
	secrets  []string // strings that must appear in no response
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dev := startDev(t)
	f := &fixture{dev: dev, sentinel: "SENTINEL-" + randomHex(t), path: "ops/sentinel-" + randomHex(t)[:8]}
	admin := dev.client(t, dev.Token)
	if err := admin.Set(ctx(t), f.path, []byte(f.sentinel)); err != nil {
		t.Fatal(err)
	}
	reader, err := admin.TokenCreate(ctx(t), wire.TokenCreateParams{Name: "reader-app", Grants: []wire.GrantJSON{{Pattern: "ops/**", Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	limited, err := admin.TokenCreate(ctx(t), wire.TokenCreateParams{Name: "limited-app", Grants: []wire.GrantJSON{{Pattern: "other/**", Level: "read"}}, TTL: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := dev.client(t, reader.Token).Get(ctx(t), f.path)
	if err != nil || string(v) != f.sentinel {
		t.Fatalf("reading the sentinel: %q, %v", v, err)
	}
	_, err = dev.client(t, limited.Token).Get(ctx(t), f.path)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodePermissionDenied {
		t.Fatalf("limited-app read: %v, want permission_denied", err)
	}
	f.secrets = []string{f.sentinel, dev.Token, reader.Token, limited.Token}
	f.srv = httptest.NewServer(ops.Handler(&ops.Fetcher{Socket: dev.Socket, Token: func() (string, error) { return dev.Token, nil }}))
	t.Cleanup(f.srv.Close)
	return f
}

// get fetches a route and checks what every answer must have: the
// security headers, and none of the secrets.
func (f *fixture) get(t *testing.T, route string, wantCode int) (string, http.Header) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + route)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantCode {
		t.Fatalf("GET %s: %d, want %d\n%s", route, resp.StatusCode, wantCode, b)
	}
	checkHeaders(t, route, resp.Header)
	body := string(b)
	for _, s := range f.secrets {
		if strings.Contains(body, s) {
			t.Fatalf("GET %s leaks a secret or token (%.12s…)", route, s)
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				if strings.Contains(v, s) {
					t.Fatalf("GET %s: header %s leaks a secret", route, k)
				}
			}
		}
	}
	return body, resp.Header
}

func checkHeaders(t *testing.T, route string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("GET %s: %s = %q, want %q", route, k, got, want)
		}
	}
}

var deniedRow = regexp.MustCompile(`(?s)<tr class="denied">(.*?)</tr>`)

func TestPageShowsTheFacts(t *testing.T) {
	f := newFixture(t)
	page, h := f.get(t, "/", http.StatusOK)
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("Content-Type %q", h.Get("Content-Type"))
	}
	for _, want := range []string{"dev-admin", "reader-app", "limited-app", f.path, `http-equiv="refresh"`, `id="health"`, `id="cache"`, `id="rotation"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// The denial is marked: a denied row names limited-app, the path and
	// says DENIED; reader-app's successful read is not in a denied row.
	var marked bool
	for _, m := range deniedRow.FindAllStringSubmatch(page, -1) {
		row := m[1]
		if strings.Contains(row, "limited-app") && strings.Contains(row, f.path) && strings.Contains(row, "DENIED") {
			marked = true
		}
		if strings.Contains(row, "reader-app") {
			t.Errorf("reader-app's read is marked denied: %s", row)
		}
	}
	if !marked {
		t.Errorf("no denied row names limited-app and %s:\n%s", f.path, page)
	}
	if strings.Contains(page, "<script") || regexp.MustCompile(`(?i)(src|href)="https?:`).MatchString(page) {
		t.Error("the page uses a script or an external asset")
	}
}

func TestStatusJSON(t *testing.T) {
	f := newFixture(t)
	body, h := f.get(t, "/status.json", http.StatusOK)
	if h.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", h.Get("Content-Type"))
	}
	var s ops.Snapshot
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if !s.Up || s.Status == nil || !s.Status.Store.OK {
		t.Fatalf("snapshot not up: %+v", s)
	}
	names := map[string]bool{}
	for _, tk := range s.Tokens {
		names[tk.Name] = true
	}
	for _, n := range []string{"dev-admin", "reader-app", "limited-app"} {
		if !names[n] {
			t.Errorf("token %s missing from %v", n, names)
		}
	}
	var read, denied bool
	for _, e := range s.Recent {
		if e.Path == f.path && e.Method == "get" {
			read = read || (e.Client == "reader-app" && e.Outcome == wire.OutcomeOK)
			denied = denied || (e.Client == "limited-app" && e.Outcome == wire.OutcomeDenied)
		}
	}
	if !read || !denied {
		t.Errorf("recent rows: read %v, denied %v; want both\n%s", read, denied, body)
	}
	if len(s.Denied) == 0 || s.Denied[0].Client != "limited-app" {
		t.Errorf("latest denials: %+v", s.Denied)
	}
}

func TestWidget(t *testing.T) {
	f := newFixture(t)
	body, _ := f.get(t, "/widget", http.StatusOK)
	for _, want := range []string{`id="widget"`, "healthy", "denied"} {
		if !strings.Contains(body, want) {
			t.Errorf("the widget lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script") {
		t.Error("the widget uses a script")
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	body, h := f.get(t, "/metrics", http.StatusOK)
	if !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", h.Get("Content-Type"))
	}
	got := parseMetrics(t, body)
	for name, check := range map[string]func(float64) bool{
		"jawnvault_up": func(v float64) bool { return v == 1 },
		`jawnvault_requests_total{method="set",outcome="ok"}`:               func(v float64) bool { return v >= 1 },
		`jawnvault_requests_total{method="token.create",outcome="ok"}`:      func(v float64) bool { return v >= 2 },
		`jawnvault_requests_total{method="get",outcome="ok"}`:               func(v float64) bool { return v >= 1 },
		`jawnvault_requests_total{method="get",outcome="denied"}`:           func(v float64) bool { return v >= 1 },
		`jawnvault_request_duration_seconds_count{method="get"}`:            func(v float64) bool { return v >= 2 },
		`jawnvault_request_duration_seconds_bucket{method="get",le="+Inf"}`: func(v float64) bool { return v >= 2 },
		`jawnvault_audit_commit_duration_seconds_count`:                     func(v float64) bool { return v >= 1 },
		`jawnvault_audit_commit_duration_seconds_bucket{le="+Inf"}`:         func(v float64) bool { return v >= 1 },
		"jawnvault_connections":                                             func(v float64) bool { return v >= 1 },
		"jawnvault_cache_entries":                                           func(v float64) bool { return v >= 0 },
		"jawnvault_cache_hits_total":                                        func(v float64) bool { return v >= 0 },
		"jawnvault_cache_misses_total":                                      func(v float64) bool { return v >= 0 },
		"jawnvault_audit_queue_depth":                                       func(v float64) bool { return v >= 0 },
		"jawnvault_audit_committed_total":                                   func(v float64) bool { return v >= 5 },
		"jawnvault_audit_failed_total":                                      func(v float64) bool { return v == 0 },
		"jawnvault_tokens_active":                                           func(v float64) bool { return v == 3 },
	} {
		v, ok := got[name]
		if !ok {
			t.Errorf("metric %s missing", name)
		} else if !check(v) {
			t.Errorf("metric %s = %v", name, v)
		}
	}
}

// parseMetrics reads the text format strictly enough to catch mistakes:
// every sample's metric has a TYPE line before it, every value parses.
func parseMetrics(t *testing.T, body string) map[string]float64 {
	t.Helper()
	typed := map[string]bool{}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || (f[1] != "gauge" && f[1] != "counter" && f[1] != "histogram") {
				t.Fatalf("bad TYPE line %q", line)
			}
			typed[f[0]] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad sample line %q", line)
		}
		base, _, _ := strings.Cut(name, "{")
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(base, suffix); ok && typed[b] {
				base = b
			}
		}
		if !typed[base] {
			t.Fatalf("sample %q has no TYPE line before it", line)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[name] = v
	}
	return out
}

func TestOnlyGetAndHead(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, f.srv.URL+"/", strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /: %d, want 405", m, resp.StatusCode)
		}
		checkHeaders(t, m+" /", resp.Header)
	}
	resp, err := http.Head(f.srv.URL + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD /status.json: %d", resp.StatusCode)
	}
	f.get(t, "/nope", http.StatusNotFound)
}

// TestDaemonDown: a socket nobody serves gives 503 pages that say so,
// and metrics with jawnvault_up 0.
func TestDaemonDown(t *testing.T) {
	srv := httptest.NewServer(ops.Handler(&ops.Fetcher{Socket: t.TempDir() + "/none.sock", Token: func() (string, error) { return "jv_x", nil }}))
	defer srv.Close()
	for _, route := range []string{"/", "/widget", "/status.json"} {
		resp, err := http.Get(srv.URL + route)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the daemon down: %d, want 503", route, resp.StatusCode)
		}
		if !strings.Contains(strings.ToLower(string(b)), "down") && !strings.Contains(string(b), `"up": false`) {
			t.Errorf("GET %s does not say the daemon is down:\n%s", route, b)
		}
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "\njawnvault_up 0\n") {
		t.Errorf("metrics with the daemon down: %d\n%s", resp.StatusCode, b)
	}
}

// A page whose token may not call status says the daemon is up and what
// grant it lacks — not that the daemon is down.
func TestTokenWithoutStatusRights(t *testing.T) {
	f := newFixture(t)
	readerToken := f.secrets[2] // reader-app: read on ops/** only
	srv := httptest.NewServer(ops.Handler(&ops.Fetcher{Socket: f.dev.Socket, Token: func() (string, error) { return readerToken, nil }}))
	t.Cleanup(srv.Close)
	f.srv = srv
	page, _ := f.get(t, "/", http.StatusOK)
	if strings.Contains(page, "DAEMON DOWN") || !strings.Contains(page, `id="no-status"`) || !strings.Contains(page, "permission_denied") {
		t.Errorf("the page does not say the daemon is up but its status unreadable:\n%s", page)
	}
	widget, _ := f.get(t, "/widget", http.StatusOK)
	if strings.Contains(widget, "DOWN") || !strings.Contains(widget, "status not readable") {
		t.Errorf("widget:\n%s", widget)
	}
	body, _ := f.get(t, "/metrics", http.StatusOK)
	if got := parseMetrics(t, body); got["jawnvault_up"] != 1 {
		t.Errorf("jawnvault_up = %v, want 1", got["jawnvault_up"])
	}
	js, _ := f.get(t, "/status.json", http.StatusOK)
	var s ops.Snapshot
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	if !s.Up || s.Status != nil || !strings.Contains(s.Error, "permission_denied") {
		t.Errorf("status.json: up %v, status %v, error %q", s.Up, s.Status != nil, s.Error)
	}
}
