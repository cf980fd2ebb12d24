package metrics

import (
	"sync"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

func TestHistogramBuckets(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{
		-time.Second,          // counts as 0: first bucket
		25 * time.Microsecond, // on a bound: that bucket (le)
		26 * time.Microsecond, // just above: the next
		3 * time.Millisecond,  // 5 ms bucket
		time.Minute,           // +Inf
	} {
		h.Observe(d)
	}
	s := h.Snapshot()
	if len(s.Counts) != len(Bounds)+1 {
		t.Fatalf("%d counts, want %d", len(s.Counts), len(Bounds)+1)
	}
	want := map[int]uint64{0: 2, 1: 1, 7: 1, len(Bounds): 1}
	for i, c := range s.Counts {
		if c != want[i] {
			t.Errorf("bucket %d (le %v) = %d, want %d", i, boundName(i), c, want[i])
		}
	}
	if s.Count != 5 {
		t.Errorf("count = %d, want 5", s.Count)
	}
	if wantUS := int64(25 + 26 + 3000 + 60_000_000); s.SumUS != wantUS {
		t.Errorf("sum = %d µs, want %d", s.SumUS, wantUS)
	}
}

func boundName(i int) string {
	if i == len(Bounds) {
		return "+Inf"
	}
	return Bounds[i].String()
}

func TestBoundsAscend(t *testing.T) {
	us := BoundsUS()
	for i := 1; i < len(us); i++ {
		if us[i] <= us[i-1] {
			t.Fatalf("bound %d (%d µs) not above bound %d (%d µs)", i, us[i], i-1, us[i-1])
		}
	}
}

func TestRequestsByMethodAndOutcome(t *testing.T) {
	var r Requests
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				r.Observe(wire.MethodGet, wire.OutcomeOK, 40*time.Microsecond)
			}
		}()
	}
	wg.Wait()
	r.Observe(wire.MethodGet, wire.OutcomeDenied, time.Microsecond)
	r.Observe("no.such.method", wire.OutcomeError, time.Millisecond)
	r.Observe("", "strange", time.Millisecond) // an unknown outcome is an error
	got := map[[2]string]uint64{}
	for _, m := range r.Snapshot() {
		got[[2]string{m.Method, m.Outcome}] = m.Count
	}
	want := map[[2]string]uint64{
		{"get", "ok"}:      4000,
		{"get", "denied"}:  1,
		{"other", "error"}: 2,
	}
	if len(got) != len(want) {
		t.Fatalf("snapshot = %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%v = %d, want %d", k, got[k], n)
		}
	}
}

// The hot path must not allocate: it runs on every request.
func TestObserveDoesNotAllocate(t *testing.T) {
	var r Requests
	if n := testing.AllocsPerRun(1000, func() { r.Observe(wire.MethodGet, wire.OutcomeOK, 30*time.Microsecond) }); n != 0 {
		t.Fatalf("Observe allocates %.1f times", n)
	}
}

func BenchmarkObserve(b *testing.B) {
	var r Requests
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(wire.MethodGet, wire.OutcomeOK, 30*time.Microsecond)
		}
	})
}
