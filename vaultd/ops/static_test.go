package ops_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/ops"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// staticSource serves one Snapshot, for views of states a dev daemon does
// not reach (rotations, failing stores, hostile text).
type staticSource struct{ s *ops.Snapshot }

func (s staticSource) Fetch(context.Context) *ops.Snapshot { return s.s }

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := now.Add(d); return &t }

func sampleSnapshot() *ops.Snapshot {
	st := &wire.StatusResult{Version: "0.1.0", Protocol: 1, Requests: 42,
		Cache: wire.CacheStatus{Entries: 3, Hits: 3, Misses: 1}, Store: wire.StoreStatus{Kind: "pass", OK: true},
		Audit: wire.AuditStatus{Healthy: true, Committed: 40}}
	st.Tokens.Active = 2
	return &ops.Snapshot{Up: true, FetchedAt: now, Status: st,
		Tokens: []wire.TokenInfo{{Name: "slack-bot", LastUsedAt: at(-5 * time.Minute), LastUnit: "slack-bot.service", ExpiresAt: at(72 * time.Hour)}},
		Recent: []wire.AuditEntry{
			{Time: now.Add(-time.Minute), Client: "slack-bot", Method: "get", Path: "claude/slack", Outcome: "ok"},
			{Time: now.Add(-2 * time.Minute), Client: "rogue", Method: "get", Path: "claude/gmail", Outcome: "denied", Code: "permission_denied", Exe: "/tmp/<script>alert(1)</script>", Detail: `<img src="https://evil.example/x">`},
		},
		Denied: []wire.AuditEntry{{Time: now.Add(-2 * time.Minute), Client: "rogue", Method: "get", Path: "claude/gmail", Outcome: "denied", Code: "permission_denied", Detail: `<img src="https://evil.example/x">`}},
		Rotations: []wire.RotationState{
			{Name: "google", Path: "claude/google", State: "idle", LastSuccess: at(-time.Hour), NextDue: at(30 * time.Minute), ExpiresAt: at(2 * time.Hour)},
			{Name: `slack"x`, Path: "claude/slack", State: "failed", Failures: 3, LastError: "invalid_grant: refresh token revoked for user bob@example.com", Permanent: true, ExpiresAt: at(-10 * time.Minute)},
		},
	}
}

func getStatic(t *testing.T, s *ops.Snapshot, route string) (int, string) {
	t.Helper()
	srv := httptest.NewServer(ops.Handler(staticSource{s}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + route)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRotationMetrics(t *testing.T) {
	_, body := getStatic(t, sampleSnapshot(), "/metrics")
	got := parseMetrics(t, body)
	for name, want := range map[string]float64{
		`jawnvault_rotation_failures{name="google"}`:         0,
		`jawnvault_rotation_failures{name="slack\"x"}`:       3,
		`jawnvault_rotation_expiry_seconds{name="google"}`:   7200,
		`jawnvault_rotation_expiry_seconds{name="slack\"x"}`: -600,
		"jawnvault_cache_hits_total":                         3,
		"jawnvault_tokens_active":                            2,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}

func TestPageRotationAndEscaping(t *testing.T) {
	code, page := getStatic(t, sampleSnapshot(), "/")
	if code != http.StatusOK {
		t.Fatalf("code %d", code)
	}
	for _, want := range []string{"google", "in 30m", "in 2h", "1h ago", "invalid_grant", "needs a person", "75.0%", "slack-bot.service"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Only the error's code reaches the page, not the provider's words.
	if strings.Contains(page, "bob@example.com") {
		t.Error("the page shows a rotation error's message, not only its code")
	}
	for _, bad := range []string{"<script>", "<img", "evil.example/x\">"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds unescaped %q", bad)
		}
	}
	_, widget := getStatic(t, sampleSnapshot(), "/widget")
	if !strings.Contains(widget, "rotation slack&#34;x failing") || !strings.Contains(widget, "1 denied") {
		t.Errorf("the widget does not flag the failing rotation and the denial:\n%s", widget)
	}
}

func TestDegradedStore(t *testing.T) {
	s := sampleSnapshot()
	s.Status.Store.OK = false
	s.Status.Audit.Healthy = false
	_, page := getStatic(t, s, "/")
	if !strings.Contains(page, "FAILING") || !strings.Contains(page, "UNHEALTHY") {
		t.Error("the page does not flag a failing store and unhealthy audit")
	}
	_, widget := getStatic(t, s, "/widget")
	if !strings.Contains(widget, "degraded") {
		t.Error("the widget does not say degraded")
	}
}

// Histograms in the Prometheus text format: buckets cumulative and ending
// in +Inf at the count, sums in seconds, rotation results per name.
func TestHistogramMetrics(t *testing.T) {
	s := sampleSnapshot()
	s.Status.Metrics = &wire.MetricsStatus{
		BoundsUS: []int64{25, 100, 1000},
		Requests: []wire.RequestMetric{
			{Method: "get", Outcome: "ok", Histogram: wire.Histogram{Count: 6, SumUS: 300, Counts: []uint64{4, 2, 0, 0}}},
			{Method: "get", Outcome: "denied", Histogram: wire.Histogram{Count: 2, SumUS: 2_000_000, Counts: []uint64{0, 0, 1, 1}}},
			{Method: "status", Outcome: "ok", Histogram: wire.Histogram{Count: 1, SumUS: 50, Counts: []uint64{0, 1, 0, 0}}},
		},
		AuditCommit: wire.Histogram{Count: 3, SumUS: 90, Counts: []uint64{2, 1, 0, 0}},
		Rotations:   []wire.RotationMetric{{Name: "google", Succeeded: 5, Failed: 1}},
	}
	_, body := getStatic(t, s, "/metrics")
	got := parseMetrics(t, body)
	for name, want := range map[string]float64{
		`jawnvault_requests_total{method="get",outcome="ok"}`:                  6,
		`jawnvault_requests_total{method="get",outcome="denied"}`:              2,
		`jawnvault_requests_total{method="status",outcome="ok"}`:               1,
		`jawnvault_request_duration_seconds_bucket{method="get",le="2.5e-05"}`: 4,
		`jawnvault_request_duration_seconds_bucket{method="get",le="0.0001"}`:  6,
		`jawnvault_request_duration_seconds_bucket{method="get",le="0.001"}`:   7,
		`jawnvault_request_duration_seconds_bucket{method="get",le="+Inf"}`:    8,
		`jawnvault_request_duration_seconds_sum{method="get"}`:                 2.0003,
		`jawnvault_request_duration_seconds_count{method="get"}`:               8,
		`jawnvault_request_duration_seconds_count{method="status"}`:            1,
		`jawnvault_audit_commit_duration_seconds_bucket{le="0.0001"}`:          3,
		`jawnvault_audit_commit_duration_seconds_count`:                        3,
		`jawnvault_rotations_total{name="google",result="ok"}`:                 5,
		`jawnvault_rotations_total{name="google",result="failed"}`:             1,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := got["jawnvault_requests_total"]; ok {
		t.Error("an unlabelled jawnvault_requests_total beside the labelled ones")
	}
}
