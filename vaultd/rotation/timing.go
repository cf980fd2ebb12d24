package rotation

import "time"

// Backoff spaces retries of transient failures: Base doubled per failure
// in the streak, at most Max, with "equal jitter" (a random point in the
// upper half), and never sooner than the provider's Retry-After.
type Backoff struct {
	Base, Max time.Duration
}

// DefaultBackoff is 30s, 1m, 2m, ... up to 15m.
var DefaultBackoff = Backoff{Base: 30 * time.Second, Max: 15 * time.Minute}

// Delay is the wait before retry number n (n ≥ 1) given a random r in
// [0, 1) and the provider's Retry-After.
func (b Backoff) Delay(n int, retryAfter time.Duration, r float64) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	d = d/2 + time.Duration(r*float64(d/2))
	return max(d, retryAfter)
}

// Due is when r should next run, given its last success and the current
// token's expiry; zero when neither an expiry nor an interval says (the
// scheduler then runs it once). A rotation never comes due before half
// of its token's life has passed, so a refresh_before longer than the
// token's life cannot make it loop.
func (r *Rotation) Due(lastSuccess, expires *time.Time) time.Time {
	if r.Interval > 0 {
		if lastSuccess == nil {
			return time.Time{}
		}
		return lastSuccess.Add(r.Interval)
	}
	if expires == nil {
		return time.Time{}
	}
	var life time.Duration
	if lastSuccess != nil && expires.After(*lastSuccess) {
		life = expires.Sub(*lastSuccess)
	}
	before := r.RefreshBefore
	if before == 0 {
		before = life / 3
	}
	due := expires.Add(-before)
	if life > 0 {
		if floor := lastSuccess.Add(life / 2); due.Before(floor) {
			due = floor
		}
	}
	return due
}
