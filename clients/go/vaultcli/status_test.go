package vaultcli

import (
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

func TestLatencyLines(t *testing.T) {
	m := &wire.MetricsStatus{
		BoundsUS: []int64{25, 100, 1000},
		Requests: []wire.RequestMetric{
			{Method: "get", Outcome: "ok", Histogram: wire.Histogram{Count: 98, Counts: []uint64{90, 8, 0, 0}}},
			{Method: "get", Outcome: "denied", Histogram: wire.Histogram{Count: 2, Counts: []uint64{0, 0, 1, 1}}},
			{Method: "status", Outcome: "ok", Histogram: wire.Histogram{Count: 1, Counts: []uint64{0, 0, 0, 1}}},
		},
	}
	got := latencyLines(m)
	want := []string{
		// 100 gets: the 50th is in the first bucket, the 99th in the third.
		"latency get\t100 requests, p50 ≤ 25µs, p99 ≤ 1ms",
		"latency status\t1 requests, p50 > 1ms, p99 > 1ms",
	}
	if len(got) != len(want) {
		t.Fatalf("latencyLines = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
	if latencyLines(nil) != nil {
		t.Error("lines for a daemon without metrics")
	}
}
