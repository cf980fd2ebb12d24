package rotation

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Scheduler runs each rotation of an Engine when it comes due, one
// goroutine per rotation, reading the state from the daemon before every
// decision (so a `vault-cli rotate` in between is seen).
//
// When a rotation runs:
//   - unknown to the daemon, or with no known expiry and no interval: once,
//     at start;
//   - with an interval: that long after its last success;
//   - else refresh_before ahead of the expiry the daemon recorded;
//   - after a transient failure: at the retry time the attempt recorded
//     (backoff, jitter, Retry-After).
//
// It does not run, and instead waits for a person, when the rotation is in
// doubt (until `vault-cli rotation clear`) or failed permanently (until an
// input changes — see KickPath — or a success from elsewhere). It alerts
// when a token enters the last quarter of its life after its rotation
// came due without succeeding.
type Scheduler struct {
	e     *Engine
	clock Clock
	log   *slog.Logger
	// Recheck is how often a paused rotation, or an unreachable daemon,
	// is looked at again. Default 1m.
	Recheck time.Duration

	kicks map[string]chan struct{}
}

// NewScheduler returns a scheduler for every rotation of e.
func NewScheduler(e *Engine) *Scheduler {
	s := &Scheduler{e: e, clock: e.clock, log: e.log, Recheck: time.Minute, kicks: map[string]chan struct{}{}}
	for _, n := range e.names {
		s.kicks[n] = make(chan struct{}, 1)
	}
	return s
}

// Kick makes the named rotation look at its state again now, and resume
// if it was paused after a permanent failure.
func (s *Scheduler) Kick(name string) {
	if c := s.kicks[name]; c != nil {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// KickPath kicks every rotation that reads path (its refresh token or
// client credentials): a person storing a new one is what a paused
// rotation waits for.
func (s *Scheduler) KickPath(path string) {
	for _, n := range s.e.names {
		if slices.Contains(s.e.byName[n].Provider.Paths().Inputs(), path) {
			s.Kick(n)
		}
	}
}

// Run schedules until ctx is done, then waits for attempts in flight (an
// attempt whose provider answered finishes storing first).
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, n := range s.e.names {
		wg.Go(func() { s.loop(ctx, s.e.byName[n]) })
	}
	wg.Wait()
	return nil
}

// Parking reasons.
const (
	parkDoubt     = "in_doubt"
	parkPermanent = "permanent"
)

// memo is what one rotation's loop remembers between decisions.
type memo struct {
	first       bool
	ranOnce     bool      // succeeded in this process
	retryAt     time.Time // local retry time, when the daemon could not record one
	localFails  int       // attempts that failed before reaching the provider
	parked      string
	kicked      bool
	statusFails int
}

func (s *Scheduler) loop(ctx context.Context, r *Rotation) {
	name := r.Provider.Name()
	m := &memo{first: true}
	for ctx.Err() == nil {
		st, err := s.state(ctx, name)
		now := s.clock.Now()
		var wake time.Time
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if m.statusFails == 0 {
				s.log.Warn("cannot read the rotation state; will retry", "rotation", name, "err", err)
			}
			m.statusFails++
			wake = now.Add(s.Recheck)
		} else {
			if m.statusFails > 0 {
				s.log.Info("reading the rotation state again", "rotation", name)
				m.statusFails = 0
			}
			run, w := s.decide(r, st, m, now)
			m.first, m.kicked = false, false
			if run {
				out := s.e.Rotate(ctx, name)
				if out.Err != nil && out.Failure == nil && !errors.Is(out.Err, ErrBusy) && !errors.Is(out.Err, ErrInDoubt) && ctx.Err() == nil {
					s.log.Warn("rotation attempt did not start; will retry", "rotation", name, "err", out.Err)
				}
				s.learn(m, out, s.clock.Now())
				continue
			}
			wake = w
		}
		kicked, ok := s.wait(ctx, name, wake, now)
		if !ok {
			return
		}
		m.kicked = kicked
	}
}

// state is the daemon's state of name, or nil if it has none yet.
func (s *Scheduler) state(ctx context.Context, name string) (*wire.RotationState, error) {
	all, err := s.e.Status(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Name == name {
			return &all[i], nil
		}
	}
	return nil, nil
}

// decide says whether to run now and, if not, when to look again (zero:
// only when kicked).
func (s *Scheduler) decide(r *Rotation, st *wire.RotationState, m *memo, now time.Time) (bool, time.Time) {
	name := r.Provider.Name()
	a := s.e.o.Alerts
	if st == nil {
		st = &wire.RotationState{Name: name, State: wire.RotationIdle}
	}
	// In doubt: pause until a person clears it.
	switch {
	case st.State == wire.RotationInDoubt:
		if m.parked != parkDoubt {
			s.log.Error("rotation in doubt; paused until `vault-cli rotation clear`", "rotation", name)
		}
		m.parked = parkDoubt
		a.InDoubt(name)
	case m.parked == parkDoubt:
		s.log.Info("rotation no longer in doubt; resuming", "rotation", name)
		m.parked = ""
		a.reset("doubt:" + name)
	}
	// Another process's attempt holds the lease.
	if (st.State == wire.RotationRunning || st.State == wire.RotationAnswered) && st.LeaseUntil != nil && st.LeaseUntil.After(now) {
		return false, *st.LeaseUntil
	}
	failedForGood := st.Permanent && st.Failures > 0
	if m.first && failedForGood && m.parked == "" {
		s.log.Error("rotation failed permanently before; paused until its inputs change", "rotation", name, "code", st.LastError)
		m.parked = parkPermanent
		a.Reauth(name, r.Provider.Paths(), &Failure{Code: st.LastError, Permanent: true})
	}
	if m.parked == parkPermanent {
		switch {
		case !failedForGood:
			s.log.Info("rotation succeeded elsewhere; resuming", "rotation", name)
			m.parked = ""
		case m.kicked:
			// An input changed: a person stored a new refresh token or
			// client secret. Try it now.
			s.log.Info("an input changed; retrying a paused rotation", "rotation", name)
			m.parked = ""
			return true, time.Time{}
		}
	}

	due := r.Due(st.LastSuccess, st.ExpiresAt)
	var wake time.Time
	if m.parked == "" {
		runAt := due
		if runAt.IsZero() && !m.ranOnce {
			runAt = now // no known expiry: run once
		}
		if st.Failures > 0 && !st.Permanent && st.NextDue != nil {
			runAt = *st.NextDue // the retry time the failed attempt recorded
		}
		if m.retryAt.After(runAt) {
			runAt = m.retryAt
		}
		if !runAt.IsZero() && !runAt.After(now) {
			return true, time.Time{}
		}
		wake = runAt
	} else {
		wake = now.Add(s.Recheck)
	}

	// The token's last quarter, once its rotation was due.
	if st.ExpiresAt != nil && !due.IsZero() {
		exp := *st.ExpiresAt
		alertAt := due
		if st.LastSuccess != nil && exp.After(*st.LastSuccess) {
			if q := exp.Add(-exp.Sub(*st.LastSuccess) / 4); q.After(alertAt) {
				alertAt = q
			}
		}
		if !now.Before(alertAt) {
			a.Expiring(name, st.Path, exp, now, st.LastError)
		} else {
			wake = earliest(wake, alertAt)
		}
	}
	return false, wake
}

// learn updates the loop's memory from an attempt.
func (s *Scheduler) learn(m *memo, out Outcome, now time.Time) {
	switch {
	case out.Err == nil:
		m.ranOnce, m.retryAt, m.localFails = true, time.Time{}, 0
	case errors.Is(out.Err, ErrInDoubt):
		m.parked = parkDoubt
	case errors.Is(out.Err, ErrBusy):
		m.retryAt = now.Add(5 * time.Second) // the status shows the holder's lease next time
	case out.Failure != nil && out.Failure.Permanent:
		m.parked = parkPermanent
	case out.Failure != nil:
		m.retryAt, m.localFails = out.RetryAt, 0
	default: // the daemon could not be reached, or the attempt was abandoned
		m.localFails++
		m.retryAt = now.Add(s.e.o.Backoff.Delay(m.localFails, 0, s.e.o.Rand()))
	}
}

// wait blocks until wake (zero: no deadline), a kick or ctx; it reports
// whether it was kicked and whether to go on.
func (s *Scheduler) wait(ctx context.Context, name string, wake, now time.Time) (kicked, ok bool) {
	var c <-chan time.Time
	if !wake.IsZero() {
		t := s.clock.NewTimer(max(wake.Sub(now), 0))
		defer t.Stop()
		c = t.C()
	}
	select {
	case <-ctx.Done():
		return false, false
	case <-c:
		return false, true
	case <-s.kicks[name]:
		return true, true
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
