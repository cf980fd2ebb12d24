package rotation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Vault is the part of the daemon's Go client the engine uses;
// *vault.Client implements it.
type Vault interface {
	Get(ctx context.Context, path string) ([]byte, error)
	Set(ctx context.Context, path string, value []byte) error
	RotationBegin(ctx context.Context, p wire.RotationBeginParams) (wire.RotationState, error)
	RotationMarkAnswered(ctx context.Context, name, attempt string) error
	RotationEnd(ctx context.Context, p wire.RotationEndParams) (wire.RotationState, error)
	RotationStatus(ctx context.Context) ([]wire.RotationState, error)
	Close() error
}

// Connect opens a connection to the daemon. The engine dials per attempt
// and again whenever a connection breaks (the daemon closes idle ones).
type Connect func(ctx context.Context) (Vault, error)

// Rotation is one configured rotation: a provider and its schedule.
type Rotation struct {
	Provider Provider
	// RefreshBefore: rotate this long before the token expires. 0 means
	// a third of the token's life.
	RefreshBefore time.Duration
	// Interval: rotate this long after the last success instead (for
	// tokens whose provider states no expiry). Exclusive with
	// RefreshBefore.
	Interval time.Duration
	// Lease is how long an attempt may take before another process may
	// assume it died (rotation.begin's lease).
	Lease time.Duration
	// Timeout bounds the provider's answer.
	Timeout time.Duration
}

// Defaults of a Rotation.
const (
	DefaultLease   = 2 * time.Minute
	DefaultTimeout = 30 * time.Second
)

// defaultStoreBudget bounds how long an attempt keeps trying to store
// tokens the provider issued. It is below DefaultLease minus
// DefaultTimeout, so a stuck store ends before the lease does.
const defaultStoreBudget = 75 * time.Second

// Options configure an Engine.
type Options struct {
	Connect   Connect
	Rotations []*Rotation
	Alerts    *Alerts // nil: no alerts
	Clock     Clock   // nil: SystemClock
	Logger    *slog.Logger
	Backoff   Backoff        // zero: DefaultBackoff
	Rand      func() float64 // jitter source; nil: math/rand/v2
	// AfterAnswer, when set, runs after the provider answered and before
	// anything is stored; an error abandons the attempt exactly as a
	// crash there would (no store, no rotation.end). Tests use it.
	AfterAnswer func(name string) error
	// Joined, when set, is called when a caller joins an attempt already
	// in flight in this process. Tests use it.
	Joined func(name string)
	// StoreBudget bounds how long an attempt keeps trying to store what
	// the provider issued; zero means 75s, which with the default lease
	// and timeout ends the attempt before its lease does.
	StoreBudget time.Duration
}

// Engine runs rotation attempts. It is safe for concurrent use.
type Engine struct {
	o      Options
	log    *slog.Logger
	clock  Clock
	byName map[string]*Rotation
	names  []string

	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done chan struct{}
	out  Outcome
}

// Outcome is what one attempt did.
type Outcome struct {
	Name     string
	Before   wire.RotationState // the state rotation.begin returned
	After    wire.RotationState // the state rotation.end returned, if it was reached
	Expires  *time.Time         // the new token's expiry, on success
	NextDue  *time.Time         // the next planned attempt, as recorded
	Failure  *Failure           // why it failed, when the provider or the store did
	RetryAt  time.Time          // for a transient Failure: when to try again
	Answered bool               // the provider answered
	// Trigger is what the attempt was begun with (see WithTrigger): ""
	// for the schedule. A caller that joined an attempt already in
	// flight gets that attempt's trigger, not its own.
	Trigger string
	Err     error // nil on success
}

// RotateOption adjusts one call of Engine.Rotate.
type RotateOption func(*rotateCall)

type rotateCall struct {
	trigger string
}

// WithTrigger says who asked for the attempt when it was not the schedule:
// "cli" for `vault-cli rotate`, "telegram:CHAT-ID" for a Telegram command.
// The daemon records it in the audit row of rotation.begin as
// "trigger=...". It must be at most 64 printable ASCII characters without
// spaces; Rotate refuses any other before it begins an attempt.
func WithTrigger(t string) RotateOption {
	return func(c *rotateCall) { c.trigger = t }
}

// NewEngine checks o and returns an Engine.
func NewEngine(o Options) (*Engine, error) {
	if o.Connect == nil {
		return nil, errors.New("rotation: Options.Connect is required")
	}
	e := &Engine{o: o, log: o.Logger, clock: o.Clock, byName: map[string]*Rotation{}, flights: map[string]*flight{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.clock == nil {
		e.clock = SystemClock{}
	}
	if e.o.Backoff == (Backoff{}) {
		e.o.Backoff = DefaultBackoff
	}
	if e.o.Rand == nil {
		e.o.Rand = rand.Float64
	}
	if e.o.StoreBudget <= 0 {
		e.o.StoreBudget = defaultStoreBudget
	}
	for _, r := range o.Rotations {
		name := r.Provider.Name()
		if e.byName[name] != nil {
			return nil, fmt.Errorf("rotation: two rotations are named %q", name)
		}
		if r.Lease <= 0 {
			r.Lease = DefaultLease
		}
		if r.Timeout <= 0 {
			r.Timeout = DefaultTimeout
		}
		e.byName[name] = r
		e.names = append(e.names, name)
	}
	sort.Strings(e.names)
	return e, nil
}

// Names lists the configured rotations, sorted.
func (e *Engine) Names() []string { return e.names }

// Rotation returns the named rotation, or nil.
func (e *Engine) Rotation(name string) *Rotation { return e.byName[name] }

// Alerts returns the engine's alerts (possibly nil).
func (e *Engine) Alerts() *Alerts { return e.o.Alerts }

// Status returns the daemon's state of every rotation the token may see.
func (e *Engine) Status(ctx context.Context) ([]wire.RotationState, error) {
	v, err := e.o.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	return v.RotationStatus(ctx)
}

// Rotate runs one attempt at the named rotation now. Callers that ask for
// the same rotation while an attempt is in flight in this process wait for
// it and share its Outcome: one attempt, one call to the provider, and the
// first caller's trigger.
func (e *Engine) Rotate(ctx context.Context, name string, opts ...RotateOption) Outcome {
	var rc rotateCall
	for _, o := range opts {
		o(&rc)
	}
	r := e.byName[name]
	if r == nil {
		return Outcome{Name: name, Err: fmt.Errorf("%w: %q", ErrUnknown, name)}
	}
	if !wire.ValidTrigger(rc.trigger) {
		// Refused here, not by the daemon: its bad_request would read as
		// a rotation that cannot start, and alert.
		return Outcome{Name: name, Err: fmt.Errorf("rotation %s: %w", name, ErrBadTrigger)}
	}
	e.mu.Lock()
	if f := e.flights[name]; f != nil {
		e.mu.Unlock()
		if e.o.Joined != nil {
			e.o.Joined(name)
		}
		select {
		case <-f.done:
			return f.out
		case <-ctx.Done():
			return Outcome{Name: name, Err: ctx.Err()}
		}
	}
	f := &flight{done: make(chan struct{})}
	e.flights[name] = f
	e.mu.Unlock()

	f.out = e.attempt(ctx, r, rc.trigger)

	e.mu.Lock()
	delete(e.flights, name)
	e.mu.Unlock()
	close(f.done)
	return f.out
}

// attempt is one rotation: begin, read the inputs, ask the provider, mark,
// store the refresh token then the access token, end.
func (e *Engine) attempt(ctx context.Context, r *Rotation, trigger string) Outcome {
	p := r.Provider
	name, paths := p.Name(), p.Paths()
	out := Outcome{Name: name, Trigger: trigger}
	s := &session{connect: e.o.Connect}
	defer s.close()

	err := s.call(ctx, func(v Vault) (err error) {
		out.Before, err = v.RotationBegin(ctx, wire.RotationBeginParams{Name: name, Path: paths.Access, Lease: fmtDuration(r.Lease), Trigger: trigger})
		return err
	})
	if err != nil {
		switch wire.CodeOf(err) {
		case wire.CodeBusy:
			out.Err = fmt.Errorf("rotation %s: %w", name, ErrBusy)
		case wire.CodeInDoubt:
			out.Err = fmt.Errorf("rotation %s: %w: check the token, then run `vault-cli rotation clear %s`", name, ErrInDoubt, name)
			e.log.Error("rotation in doubt", "rotation", name)
			e.o.Alerts.InDoubt(name)
		default:
			out.Err = fmt.Errorf("rotation %s: starting the attempt: %w", name, err)
			switch code := wire.CodeOf(err); code {
			case wire.CodePermissionDenied, wire.CodeUnauthenticated, wire.CodeBadRequest, wire.CodeInvalidPath:
				// A config or grant problem: it will not go away by itself.
				e.log.Error("rotation cannot start", "rotation", name, "err", err)
				e.o.Alerts.CannotStart(name, paths.Access, string(code))
			}
		}
		return out
	}
	e.o.Alerts.reset("doubt:" + name) // begin succeeded: no longer in doubt

	// Interrupted (shutdown) before the provider answered: nothing was
	// spent, so the attempt is left to its lease, as a crash would
	// leave it, rather than counted as a failure.
	interrupted := func() bool {
		if ctx.Err() == nil || out.Answered {
			return false
		}
		out.Err = fmt.Errorf("rotation %s: interrupted before the provider answered: %w", name, ctx.Err())
		e.log.Info("rotation interrupted; its lease will run out", "rotation", name)
		return true
	}

	in, f := e.read(ctx, s, paths)
	defer in.wipe()
	if f != nil {
		if interrupted() {
			return out
		}
		return e.fail(ctx, s, r, out, f)
	}
	var answeredAt time.Time
	var once sync.Once
	in.Answered = func() {
		once.Do(func() {
			answeredAt, out.Answered = e.clock.Now(), true
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := s.call(mctx, func(v Vault) error { return v.RotationMarkAnswered(mctx, name, out.Before.Attempt) }); err != nil {
				e.log.Warn("could not record that the provider answered", "rotation", name, "err", err)
			}
		})
	}

	pctx, cancel := context.WithTimeout(ctx, r.Timeout)
	res, err := p.Rotate(pctx, in.Input)
	cancel()
	defer res.Wipe()
	if err != nil {
		if interrupted() {
			return out
		}
		return e.fail(ctx, s, r, out, AsFailure(err))
	}
	in.Answered() // a no-op unless the provider forgot
	if len(res.AccessToken) == 0 {
		return e.fail(ctx, s, r, out, failuref("bad_response", true, "the answer has no access token"))
	}
	if e.o.AfterAnswer != nil {
		if err := e.o.AfterAnswer(name); err != nil {
			out.Err = fmt.Errorf("rotation %s: abandoned after the provider answered: %w", name, err)
			return out
		}
	}

	// The provider answered: from here on the old refresh token may be
	// spent, so storing goes on even if ctx is cancelled (shutdown).
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.o.StoreBudget)
	defer cancel()
	if res.RefreshToken != nil && !bytes.Equal(res.RefreshToken, in.RefreshToken) {
		if paths.Refresh == "" {
			e.log.Warn("the provider issued a refresh token but the rotation has no refresh_token_path; it was not kept", "rotation", name)
		} else if err := e.store(sctx, s, paths.Refresh, res.RefreshToken); err != nil {
			return e.fail(sctx, s, r, out, failuref("store_refresh_failed", true, "the new refresh token could not be stored at %s: %v", paths.Refresh, describe(err)))
		}
	}
	if err := e.store(sctx, s, paths.Access, res.AccessToken); err != nil {
		return e.fail(sctx, s, r, out, failuref("store_access_failed", false, "the new access token could not be stored at %s: %v", paths.Access, describe(err)))
	}

	if res.ExpiresIn > 0 {
		t := answeredAt.Add(res.ExpiresIn).UTC()
		out.Expires = &t
	}
	if due := r.Due(&answeredAt, out.Expires); !due.IsZero() {
		due = due.UTC()
		out.NextDue = &due
	}
	err = s.retry(sctx, func(v Vault) (err error) {
		out.After, err = v.RotationEnd(sctx, wire.RotationEndParams{Name: name, Attempt: out.Before.Attempt, OK: true, ExpiresAt: out.Expires, NextDue: out.NextDue})
		return err
	})
	if err != nil {
		out.Err = fmt.Errorf("rotation %s: the new tokens are stored, but the daemon did not record the end of the attempt: %w", name, err)
		e.log.Error("rotation end not recorded", "rotation", name, "err", err)
		return out
	}
	e.log.Info("rotated", "rotation", name, "expires", timeAttr(out.Expires), "next_due", timeAttr(out.NextDue))
	if out.Before.Failures > 0 {
		e.o.Alerts.Recovered(name, out.Before.Failures, out.Expires)
	}
	return out
}

// fail records a failed attempt with the daemon and alerts: the first
// failure of a streak, and a permanent failure the first time it happens.
func (e *Engine) fail(ctx context.Context, s *session, r *Rotation, out Outcome, f *Failure) Outcome {
	name := out.Name
	f.Code = CleanCode(f.Code)
	out.Failure = f
	out.Err = fmt.Errorf("rotation %s: %w", name, f)
	p := wire.RotationEndParams{Name: name, Attempt: out.Before.Attempt, ErrorCode: f.Code, Permanent: f.Permanent}
	if !f.Permanent {
		out.RetryAt = e.clock.Now().Add(e.o.Backoff.Delay(out.Before.Failures+1, f.RetryAfter, e.o.Rand())).UTC()
		p.NextDue = &out.RetryAt
		out.NextDue = p.NextDue
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := s.retry(ectx, func(v Vault) (err error) {
		out.After, err = v.RotationEnd(ectx, p)
		return err
	})
	if err != nil {
		e.log.Error("could not record the failed attempt", "rotation", name, "err", err)
		out.After = out.Before
		out.After.Failures++
	}
	e.log.Warn("rotation failed", "rotation", name, "code", f.Code, "permanent", f.Permanent, "detail", f.Detail, "failures", out.After.Failures)
	switch {
	case f.Permanent:
		if !out.Before.Permanent || out.Before.Failures == 0 {
			e.o.Alerts.Reauth(name, r.Provider.Paths(), f)
		}
	case out.After.Failures == 1:
		e.o.Alerts.Failing(name, f, out.RetryAt, out.Before.ExpiresAt)
	}
	return out
}

// inputs holds an attempt's secrets; wipe clears them.
type inputs struct {
	Input
	raw [][]byte
}

func (in *inputs) wipe() {
	for _, b := range in.raw {
		clear(b)
	}
}

// read fetches the refresh token and client credentials.
func (e *Engine) read(ctx context.Context, s *session, paths Paths) (*inputs, *Failure) {
	in := &inputs{}
	for _, t := range []struct {
		path string
		dst  *[]byte
	}{{paths.Refresh, &in.RefreshToken}, {paths.ClientID, &in.ClientID}, {paths.ClientSecret, &in.ClientSecret}} {
		if t.path == "" {
			continue
		}
		var v []byte
		err := s.call(ctx, func(vt Vault) (err error) {
			v, err = vt.Get(ctx, t.path)
			return err
		})
		switch wire.CodeOf(err) {
		case "":
			in.raw = append(in.raw, v)
			*t.dst = bytes.TrimSpace(v)
		case wire.CodeNotFound:
			return in, failuref("missing_secret", true, "%s is not in the vault", t.path)
		case wire.CodePermissionDenied, wire.CodeUnauthenticated:
			return in, failuref("vault_denied", true, "the rotator's token may not read %s", t.path)
		default:
			return in, failuref("vault_unavailable", false, "reading %s: %s", t.path, describe(err))
		}
	}
	return in, nil
}

// errReadBack: a value read back differs from the one just written.
var errReadBack = errors.New("the value read back differs from the one written")

// store writes value at path, reads it back and compares, retrying
// transient failures until ctx is done.
func (e *Engine) store(ctx context.Context, s *session, path string, value []byte) error {
	return s.retry(ctx, func(v Vault) error {
		if err := v.Set(ctx, path, value); err != nil {
			return err
		}
		got, err := v.Get(ctx, path)
		defer clear(got)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, value) {
			return errReadBack
		}
		return nil
	})
}

func fmtDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return d.String()
}

func timeAttr(t *time.Time) any {
	if t == nil {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}
