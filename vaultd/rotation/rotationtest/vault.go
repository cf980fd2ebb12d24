// Package rotationtest has fakes for testing token rotation without a
// network or a daemon: an in-memory Vault that keeps the daemon's
// rotation state machine as docs/PROTOCOL.md describes it, a Clock moved
// by hand, and HTTP servers on 127.0.0.1 that answer as Slack's and
// Google's token endpoints and Telegram's sendMessage and getUpdates are
// documented to.
//
// It is for tests only; the integration tests under
// vaultd/rotation/integration use the fake servers with the real daemon.
package rotationtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Vault is an in-memory daemon: values, and the rotation state machine
//
//	idle --begin--> running --mark--> answered --end--> idle
//	running, lease expired --begin--> running (replaced)
//	answered, lease expired --begin--> in_doubt (until Clear)
type Vault struct {
	Clock rotation.Clock

	mu       sync.Mutex
	values   map[string][]byte
	rots     map[string]*rot
	ops      []string
	triggers []string
	attempts int
	// FailSets makes the next n sets of a path fail (path → n).
	FailSets map[string]int
}

type rot struct {
	st    wire.RotationState
	lease time.Time
}

// NewVault returns an empty fake vault on clock.
func NewVault(clock rotation.Clock) *Vault {
	return &Vault{Clock: clock, values: map[string][]byte{}, rots: map[string]*rot{}, FailSets: map[string]int{}}
}

// Put stores a value without recording an operation.
func (v *Vault) Put(path, value string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.values[path] = []byte(value)
}

// Value returns the stored value.
func (v *Vault) Value(path string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return string(v.values[path])
}

// Ops returns the operations so far: "get P", "set P", "begin N",
// "mark N", "end N ok|CODE", "status".
func (v *Vault) Ops() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.ops)
}

// Triggers returns the trigger of every rotation.begin so far, in order
// ("" for the schedule).
func (v *Vault) Triggers() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.triggers)
}

// State returns the rotation's state as rotation.status would.
func (v *Vault) State(name string) (wire.RotationState, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.rots[name]
	if r == nil {
		return wire.RotationState{}, false
	}
	return v.view(r), true
}

// SetState replaces a rotation's state (to start a test from one).
func (v *Vault) SetState(st wire.RotationState) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := &rot{st: st}
	if st.LeaseUntil != nil {
		r.lease = *st.LeaseUntil
	}
	v.rots[st.Name] = r
}

// Clear is rotation.clear.
func (v *Vault) Clear(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r := v.rots[name]; r != nil {
		r.st.State, r.lease = wire.RotationIdle, time.Time{}
	}
}

// Connect is a rotation.Connect.
func (v *Vault) Connect(context.Context) (rotation.Vault, error) { return conn{v}, nil }

func (v *Vault) view(r *rot) wire.RotationState {
	st := r.st
	if st.State == wire.RotationAnswered && !v.Clock.Now().Before(r.lease) {
		st.State = wire.RotationInDoubt
	}
	if !r.lease.IsZero() {
		l := r.lease
		st.LeaseUntil = &l
	} else {
		st.LeaseUntil = nil
	}
	return st
}

func (v *Vault) op(format string, args ...any) { v.ops = append(v.ops, fmt.Sprintf(format, args...)) }

type conn struct{ v *Vault }

func (c conn) Close() error { return nil }

func (c conn) Get(_ context.Context, path string) ([]byte, error) {
	v := c.v
	v.mu.Lock()
	defer v.mu.Unlock()
	v.op("get %s", path)
	val, ok := v.values[path]
	if !ok {
		return nil, wire.Errorf(wire.CodeNotFound, "no such entry")
	}
	return bytes.Clone(val), nil
}

func (c conn) Set(_ context.Context, path string, value []byte) error {
	v := c.v
	v.mu.Lock()
	defer v.mu.Unlock()
	v.op("set %s", path)
	if v.FailSets[path] > 0 {
		v.FailSets[path]--
		return wire.Errorf(wire.CodeBackendUnavailable, "gpg failed")
	}
	v.values[path] = bytes.Clone(value)
	return nil
}

func (c conn) RotationBegin(_ context.Context, p wire.RotationBeginParams) (wire.RotationState, error) {
	v := c.v
	v.mu.Lock()
	defer v.mu.Unlock()
	v.op("begin %s", p.Name)
	v.triggers = append(v.triggers, p.Trigger)
	now := v.Clock.Now()
	r := v.rots[p.Name]
	if r == nil {
		r = &rot{st: wire.RotationState{Name: p.Name, Path: p.Path, State: wire.RotationIdle}}
		v.rots[p.Name] = r
	}
	if r.st.Path != p.Path {
		return wire.RotationState{}, wire.Errorf(wire.CodeBadRequest, "rotation %s rotates another path", p.Name)
	}
	switch v.view(r).State {
	case wire.RotationRunning, wire.RotationAnswered:
		if now.Before(r.lease) {
			return wire.RotationState{}, wire.Errorf(wire.CodeBusy, "rotation %s is already running", p.Name)
		}
	case wire.RotationInDoubt:
		r.st.State = wire.RotationInDoubt
		return wire.RotationState{}, wire.Errorf(wire.CodeInDoubt, "rotation %s is in doubt", p.Name)
	}
	lease := rotation.DefaultLease
	if p.Lease != "" {
		d, err := time.ParseDuration(p.Lease)
		if err != nil {
			return wire.RotationState{}, wire.Errorf(wire.CodeBadRequest, "bad lease")
		}
		lease = d
	}
	r.st.State, r.lease = wire.RotationRunning, now.Add(lease)
	t := now
	r.st.LastAttempt = &t
	v.attempts++
	r.st.Attempt = fmt.Sprintf("a%d", v.attempts)
	return v.view(r), nil
}

func (c conn) RotationMarkAnswered(_ context.Context, name, attempt string) error {
	v := c.v
	v.mu.Lock()
	defer v.mu.Unlock()
	v.op("mark %s", name)
	r := v.rots[name]
	if r == nil || r.st.State != wire.RotationRunning {
		return wire.Errorf(wire.CodeBadRequest, "no attempt running")
	}
	if attempt != "" && attempt != r.st.Attempt {
		return wire.Errorf(wire.CodeBusy, "attempt superseded")
	}
	r.st.State = wire.RotationAnswered
	return nil
}

func (c conn) RotationEnd(_ context.Context, p wire.RotationEndParams) (wire.RotationState, error) {
	v := c.v
	v.mu.Lock()
	defer v.mu.Unlock()
	outcome := "ok"
	if !p.OK {
		outcome = p.ErrorCode
	}
	v.op("end %s %s", p.Name, outcome)
	r := v.rots[p.Name]
	if r == nil || r.st.State != wire.RotationRunning && r.st.State != wire.RotationAnswered {
		return wire.RotationState{}, wire.Errorf(wire.CodeBadRequest, "no attempt running")
	}
	if p.Attempt != "" && p.Attempt != r.st.Attempt {
		return wire.RotationState{}, wire.Errorf(wire.CodeBusy, "attempt superseded")
	}
	now := v.Clock.Now()
	r.st.State, r.lease = wire.RotationIdle, time.Time{}
	if p.OK {
		r.st.LastSuccess, r.st.Failures, r.st.LastError, r.st.Permanent = &now, 0, "", false
	} else {
		r.st.Failures++
		r.st.LastError, r.st.Permanent = p.ErrorCode, p.Permanent
	}
	if p.ExpiresAt != nil {
		r.st.ExpiresAt = p.ExpiresAt
	}
	if p.NextDue != nil {
		r.st.NextDue = p.NextDue
	}
	return v.view(r), nil
}

func (c conn) RotationStatus(context.Context) ([]wire.RotationState, error) {
	v := c.v
	v.mu.Lock()
	defer v.mu.Unlock()
	v.op("status")
	var out []wire.RotationState
	for _, r := range v.rots {
		out = append(out, v.view(r))
	}
	slices.SortFunc(out, func(a, b wire.RotationState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
