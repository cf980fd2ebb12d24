package vaultd

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/auth"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/policy"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// The daemon keeps the state machine of each token rotation, so that the
// rotator and `vault-cli rotate` share one flight, crash detection and
// status without talking to each other:
//
//	idle --begin--> running --mark--> answered --end--> idle
//	running (lease expired) --begin--> running      (died before the provider answered: safe to retry)
//	answered (lease expired) --begin--> in_doubt     (died after: the old refresh token may be spent)
//	in_doubt --clear (admin)--> idle
//
// Every method needs write on the rotation's access token path.

const defaultLease = 60 * time.Second

// validErrorCode accepts provider error codes such as "invalid_grant"
// and refuses anything that could carry text (or a secret).
func validErrorCode(c string) bool {
	if len(c) > 64 {
		return false
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '.' || ch == '-') {
			return false
		}
	}
	return true
}

// rotation loads a rotation and checks the caller may act on it.
func (cl *call) rotation(ctx context.Context, name string) (sqlite.Rotation, *wire.Error) {
	if !wire.ValidName(name) {
		return sqlite.Rotation{}, wire.Errorf(wire.CodeBadRequest, "invalid rotation name")
	}
	r, err := cl.c.s.db.GetRotation(ctx, name)
	if errors.Is(err, sqlite.ErrNotFound) {
		return r, wire.Errorf(wire.CodeNotFound, "no rotation by that name has begun")
	}
	if err != nil {
		return r, wire.Errorf(wire.CodeInternal, "could not read the rotation state")
	}
	if _, werr := cl.path(r.Path, policy.Write); werr != nil {
		return r, werr
	}
	return r, nil
}

// effective reports the state as of now: an answered attempt whose lease
// ran out is in doubt even before anyone calls begin again.
func effective(r sqlite.Rotation, now time.Time) string {
	if r.State == wire.RotationAnswered && !now.Before(r.LeaseUntil) {
		return wire.RotationInDoubt
	}
	return r.State
}

func (cl *call) rotationBegin(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.RotationBeginParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if !wire.ValidName(p.Name) {
		return nil, wire.Errorf(wire.CodeBadRequest, "invalid rotation name")
	}
	if !wire.ValidTrigger(p.Trigger) {
		return nil, wire.Errorf(wire.CodeBadRequest, "trigger must be up to 64 printable ASCII characters")
	}
	if p.Trigger != "" {
		cl.rec.Detail = "trigger=" + p.Trigger
	}
	if _, werr := cl.path(p.Path, policy.Write); werr != nil {
		return nil, werr
	}
	lease := defaultLease
	if p.Lease != "" {
		d, err := config.ParseDuration(p.Lease)
		if err != nil || d <= 0 || d > time.Hour {
			return nil, wire.Errorf(wire.CodeBadRequest, "lease must be a duration up to 1h")
		}
		lease = d
	}
	s := cl.c.s
	ctx := context.Background()
	s.rotMu.Lock()
	defer s.rotMu.Unlock()
	now := s.now()
	r, err := s.db.GetRotation(ctx, p.Name)
	switch {
	case errors.Is(err, sqlite.ErrNotFound):
		r = sqlite.Rotation{Name: p.Name, Path: p.Path, State: wire.RotationIdle}
	case err != nil:
		return nil, wire.Errorf(wire.CodeInternal, "could not read the rotation state")
	case r.Path != p.Path:
		return nil, wire.Errorf(wire.CodeBadRequest, "rotation %s rotates another path; pick another name", p.Name)
	}
	switch effective(r, now) {
	case wire.RotationRunning, wire.RotationAnswered:
		if now.Before(r.LeaseUntil) {
			return nil, wire.Errorf(wire.CodeBusy, "rotation %s is already running; try again after it ends", p.Name)
		}
		// A running attempt whose lease ran out died before its provider
		// answered: nothing was spent, start afresh.
	case wire.RotationInDoubt:
		if r.State != wire.RotationInDoubt {
			r.State = wire.RotationInDoubt
			_ = s.db.PutRotation(ctx, r)
		}
		return nil, wire.Errorf(wire.CodeInDoubt, "rotation %s died after its provider answered; check the token, then run: vault-cli rotation clear %s", p.Name, p.Name)
	}
	r.State, r.LastAttempt, r.LeaseUntil = wire.RotationRunning, now, now.Add(lease)
	r.Attempt = auth.NewID()[len("tok_"):]
	if err := s.db.PutRotation(ctx, r); err != nil {
		return nil, wire.Errorf(wire.CodeAuditUnavailable, "the state database could not be written")
	}
	cl.rec.Path = r.Path
	return mustJSON(rotationState(r, now)), nil
}

func (cl *call) rotationMark(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.RotationMarkParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if p.Phase != wire.RotationAnswered {
		return nil, wire.Errorf(wire.CodeBadRequest, `phase must be "answered"`)
	}
	s := cl.c.s
	s.rotMu.Lock()
	defer s.rotMu.Unlock()
	ctx := context.Background()
	r, werr := cl.rotation(ctx, p.Name)
	if werr != nil {
		return nil, werr
	}
	if r.State != wire.RotationRunning {
		return nil, wire.Errorf(wire.CodeBadRequest, "rotation %s has no attempt running", p.Name)
	}
	if werr := superseded(r, p.Attempt); werr != nil {
		return nil, werr
	}
	r.State = wire.RotationAnswered
	if err := s.db.PutRotation(ctx, r); err != nil {
		return nil, wire.Errorf(wire.CodeAuditUnavailable, "the state database could not be written")
	}
	return []byte("{}"), nil
}

func (cl *call) rotationEnd(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.RotationEndParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if !validErrorCode(p.ErrorCode) {
		return nil, wire.Errorf(wire.CodeBadRequest, "error_code must be a short snake_case code")
	}
	s := cl.c.s
	s.rotMu.Lock()
	defer s.rotMu.Unlock()
	ctx := context.Background()
	r, werr := cl.rotation(ctx, p.Name)
	if werr != nil {
		return nil, werr
	}
	if r.State != wire.RotationRunning && r.State != wire.RotationAnswered {
		return nil, wire.Errorf(wire.CodeBadRequest, "rotation %s has no attempt running", p.Name)
	}
	if werr := superseded(r, p.Attempt); werr != nil {
		return nil, werr
	}
	now := s.now()
	r.State, r.LeaseUntil = wire.RotationIdle, time.Time{}
	if p.OK {
		r.LastSuccess, r.Failures, r.LastError, r.Permanent = now, 0, "", false
	} else {
		r.Failures++
		r.LastError, r.Permanent = p.ErrorCode, p.Permanent
	}
	if p.ExpiresAt != nil {
		r.ExpiresAt = *p.ExpiresAt
	}
	if p.NextDue != nil {
		r.NextDue = *p.NextDue
	}
	if err := s.db.PutRotation(ctx, r); err != nil {
		return nil, wire.Errorf(wire.CodeAuditUnavailable, "the state database could not be written")
	}
	m := s.rotEnds[p.Name]
	if m == nil {
		m = &wire.RotationMetric{Name: p.Name}
		s.rotEnds[p.Name] = m
	}
	if p.OK {
		m.Succeeded++
	} else {
		m.Failed++
	}
	return mustJSON(rotationState(r, now)), nil
}

// rotationMetrics returns the rotation.end counts, by name.
func (s *Server) rotationMetrics() []wire.RotationMetric {
	s.rotMu.Lock()
	defer s.rotMu.Unlock()
	out := make([]wire.RotationMetric, 0, len(s.rotEnds))
	for _, m := range s.rotEnds {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b wire.RotationMetric) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (cl *call) rotationClear(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.RotationNameParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if err := cl.requireGlobalAdmin(); err != nil {
		return nil, err
	}
	s := cl.c.s
	s.rotMu.Lock()
	defer s.rotMu.Unlock()
	ctx := context.Background()
	r, werr := cl.rotation(ctx, p.Name)
	if werr != nil {
		return nil, werr
	}
	if effective(r, s.now()) != wire.RotationInDoubt {
		return nil, wire.Errorf(wire.CodeBadRequest, "rotation %s is not in doubt", p.Name)
	}
	r.State, r.LeaseUntil = wire.RotationIdle, time.Time{}
	if err := s.db.PutRotation(ctx, r); err != nil {
		return nil, wire.Errorf(wire.CodeAuditUnavailable, "the state database could not be written")
	}
	return []byte("{}"), nil
}

func (cl *call) rotationStatus(params json.RawMessage) ([]byte, *wire.Error) {
	if err := wire.DecodeParams(params, &struct{}{}); err != nil {
		return nil, err
	}
	grants := cl.who.grants
	if policy.CanObserve(grants) {
		grants = ownerGrants // an observer sees every rotation
	}
	return mustJSON(wire.RotationStatusResult{Rotations: cl.c.s.rotationStates(context.Background(), grants)}), nil
}

// rotationStates lists the rotations whose paths grants may write.
func (s *Server) rotationStates(ctx context.Context, grants []policy.Grant) []wire.RotationState {
	all, err := s.db.Rotations(ctx)
	out := []wire.RotationState{}
	if err != nil {
		return out
	}
	now := s.now()
	for _, r := range all {
		p, err := vpath.Parse(r.Path)
		if err != nil || !policy.Allows(grants, p, policy.Write) {
			continue
		}
		out = append(out, rotationState(r, now))
	}
	return out
}

// superseded refuses a mark or end from an attempt other than the current
// one: its lease ran out and another attempt began. (An empty attempt is
// accepted, for callers that predate attempt ids.)
func superseded(r sqlite.Rotation, attempt string) *wire.Error {
	if attempt != "" && attempt != r.Attempt {
		return wire.Errorf(wire.CodeBusy, "rotation %s: this attempt's lease ran out and a newer attempt has begun", r.Name)
	}
	return nil
}

func rotationState(r sqlite.Rotation, now time.Time) wire.RotationState {
	ptr := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return wire.RotationState{
		Name: r.Name, Path: r.Path, State: effective(r, now),
		LastAttempt: ptr(r.LastAttempt), LastSuccess: ptr(r.LastSuccess), ExpiresAt: ptr(r.ExpiresAt),
		NextDue: ptr(r.NextDue), LeaseUntil: ptr(r.LeaseUntil),
		Failures: r.Failures, LastError: r.LastError, Permanent: r.Permanent, Attempt: r.Attempt,
	}
}
