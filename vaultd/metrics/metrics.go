// Package metrics counts what the daemon does, cheaply enough to sit on
// every request: fixed latency buckets, atomic counters, no locks and no
// allocation on the hot path. The status method reports the counts;
// `jawn-vault status-page` renders them for Prometheus.
package metrics

import (
	"sync/atomic"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Bounds are the latency buckets' upper bounds, from 25 µs (a cache hit)
// to 10 s (a gpg decryption at its timeout). A sample above the last bound
// counts in the +Inf bucket.
var Bounds = [...]time.Duration{
	25 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond,
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second,
}

// BoundsUS is Bounds in microseconds, as the status method reports them.
func BoundsUS() []int64 {
	us := make([]int64, len(Bounds))
	for i, b := range Bounds {
		us[i] = b.Microseconds()
	}
	return us
}

// Histogram counts durations into Bounds. The zero value is ready; it is
// safe for concurrent use.
type Histogram struct {
	counts [len(Bounds) + 1]atomic.Uint64
	sumNS  atomic.Int64
}

// Observe adds one sample. A negative duration counts as zero.
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(Bounds) && d > Bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNS.Add(int64(d))
}

// Snapshot returns the histogram's counts. Taken while others observe, its
// sum and counts may be one sample apart; each is exact on its own.
func (h *Histogram) Snapshot() wire.Histogram {
	s := wire.Histogram{Counts: make([]uint64, len(h.counts)), SumUS: h.sumNS.Load() / 1000}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	return s
}

// methods are the methods counted apart; anything else (a malformed line,
// an unknown method) counts as "".
var methods = [...]string{
	"", wire.MethodHealth, wire.MethodGet, wire.MethodSet, wire.MethodDelete, wire.MethodList,
	wire.MethodTokenCreate, wire.MethodTokenList, wire.MethodTokenRevoke, wire.MethodAuditQuery,
	wire.MethodStatus, wire.MethodWatch, wire.MethodRotationBegin, wire.MethodRotationMark,
	wire.MethodRotationEnd, wire.MethodRotationStatus, wire.MethodRotationClear,
}

var outcomes = [...]string{wire.OutcomeOK, wire.OutcomeDenied, wire.OutcomeError}

// Requests counts requests by method and outcome, each with a histogram of
// how long the daemon took to handle it. The zero value is ready.
type Requests struct {
	by [len(methods)][len(outcomes)]Histogram
}

// Observe counts one request. method is a wire method name or "" (unknown
// methods count as ""); outcome is wire.OutcomeOK, OutcomeDenied or
// OutcomeError (anything else counts as an error).
func (r *Requests) Observe(method, outcome string, d time.Duration) {
	mi := 0
	for i, m := range methods {
		if m == method {
			mi = i
			break
		}
	}
	oi := len(outcomes) - 1
	for i, o := range outcomes {
		if o == outcome {
			oi = i
			break
		}
	}
	r.by[mi][oi].Observe(d)
}

// Snapshot returns the method and outcome pairs seen so far, in a fixed
// order.
func (r *Requests) Snapshot() []wire.RequestMetric {
	var out []wire.RequestMetric
	for mi := range r.by {
		for oi := range r.by[mi] {
			h := r.by[mi][oi].Snapshot()
			if h.Count == 0 {
				continue
			}
			m := methods[mi]
			if m == "" {
				m = "other"
			}
			out = append(out, wire.RequestMetric{Method: m, Outcome: outcomes[oi], Histogram: h})
		}
	}
	return out
}
