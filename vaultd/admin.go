package vaultd

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/auth"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/metrics"
	"github.com/jamditis/jawn-vault/vaultd/policy"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

const maxGrants = 64

// requireGlobalAdmin refuses callers without admin on "**".
func (cl *call) requireGlobalAdmin() *wire.Error {
	if policy.IsGlobalAdmin(cl.who.grants) {
		return nil
	}
	return wire.Errorf(wire.CodePermissionDenied, "%s is not an admin (needs a grant of admin on **)", cl.who.describe())
}

// requireObserver refuses callers that may not read the daemon's state.
func (cl *call) requireObserver() *wire.Error {
	if policy.CanObserve(cl.who.grants) {
		return nil
	}
	return wire.Errorf(wire.CodePermissionDenied, "%s may not read the daemon's state (needs admin or status on **)", cl.who.describe())
}

// validTokenName: a wire.ValidName that cannot be read as a token id or
// as the owner.
func validTokenName(n string) bool {
	return wire.ValidName(n) && !strings.HasPrefix(n, "tok_") && n != ownerName
}

func (cl *call) tokenCreate(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.TokenCreateParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if !validTokenName(p.Name) {
		return nil, wire.Errorf(wire.CodeBadRequest, `token name must be 1-64 characters of A-Z a-z 0-9 . _ @ -, not starting with "tok_" and not "owner"`)
	}
	if len(p.Grants) == 0 || len(p.Grants) > maxGrants {
		return nil, wire.Errorf(wire.CodeBadRequest, "a token needs between 1 and %d grants", maxGrants)
	}
	grants := make([]policy.Grant, 0, len(p.Grants))
	for _, g := range p.Grants {
		if err := policy.ValidatePattern(g.Pattern); err != nil {
			return nil, wire.Errorf(wire.CodeBadRequest, "grant: %s", err.Error())
		}
		lvl, err := policy.ParseLevel(g.Level)
		if err != nil {
			return nil, wire.Errorf(wire.CodeBadRequest, "grant: %s", err.Error())
		}
		if lvl == policy.Status && g.Pattern != "**" {
			return nil, wire.Errorf(wire.CodeBadRequest, `the status level is granted on "**" only`)
		}
		if !cl.covers(g.Pattern) || (lvl == policy.Status && !policy.IsGlobalAdmin(cl.who.grants)) {
			return nil, wire.Errorf(wire.CodePermissionDenied, "%s may not grant access it does not administer", cl.who.describe())
		}
		grants = append(grants, policy.Grant{Pattern: g.Pattern, Level: lvl})
	}
	s := cl.c.s
	now := s.now()
	t := &sqlite.Token{ID: auth.NewID(), Name: p.Name, Grants: grants, CreatedAt: now, BindUID: -1}
	if p.TTL != "" {
		d, err := config.ParseDuration(p.TTL)
		if err != nil || d <= 0 {
			return nil, wire.Errorf(wire.CodeBadRequest, `ttl must be a positive duration such as "12h" or "30d"`)
		}
		t.ExpiresAt = now.Add(d)
	}
	if p.BindUID != nil {
		if *p.BindUID < 0 || *p.BindUID > 1<<32-1 {
			return nil, wire.Errorf(wire.CodeBadRequest, "bind_uid must be a uid")
		}
		t.BindUID = *p.BindUID
	}
	raw, hash, err := auth.Generate()
	if err != nil {
		return nil, wire.Errorf(wire.CodeInternal, "could not generate a token")
	}
	t.Hash = hash
	cl.rec.Path = "token/" + p.Name
	if err := s.db.CreateToken(context.Background(), t); err != nil {
		if errors.Is(err, sqlite.ErrNameTaken) {
			return nil, wire.Errorf(wire.CodeNameTaken, "a live token is already named %s; revoke it first or pick another name", p.Name)
		}
		s.log.Error("token.create failed", "err", err)
		return nil, wire.Errorf(wire.CodeAuditUnavailable, "the state database could not be written")
	}
	s.tokens.add(t)
	// The answer carries a raw token: like a value, it is withheld if the
	// audit row cannot be written.
	cl.secret = true
	return mustJSON(wire.TokenCreateResult{TokenInfo: tokenInfo(t, sqlite.Use{}), Token: raw}), nil
}

// covers reports whether the caller administers pattern.
func (cl *call) covers(pattern string) bool {
	for _, g := range cl.who.grants {
		if g.Level == policy.Admin && policy.Covers(g.Pattern, pattern) {
			return true
		}
	}
	return false
}

func tokenInfo(t *sqlite.Token, use sqlite.Use) wire.TokenInfo {
	ti := wire.TokenInfo{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC()}
	for _, g := range t.Grants {
		ti.Grants = append(ti.Grants, wire.GrantJSON{Pattern: g.Pattern, Level: g.Level.String()})
	}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt.UTC()
		ti.ExpiresAt = &e
	}
	if t.BindUID >= 0 {
		u := t.BindUID
		ti.BindUID = &u
	}
	if !use.Time.IsZero() {
		lt, lu := use.Time.UTC(), use.UID
		ti.LastUsedAt, ti.LastUID, ti.LastUnit = &lt, &lu, use.Unit
	}
	return ti
}

func (cl *call) tokenList(params json.RawMessage) ([]byte, *wire.Error) {
	if err := wire.DecodeParams(params, &struct{}{}); err != nil {
		return nil, err
	}
	if err := cl.requireObserver(); err != nil {
		return nil, err
	}
	s := cl.c.s
	ctx := context.Background()
	toks, err := s.db.ActiveTokens(ctx)
	if err != nil {
		return nil, wire.Errorf(wire.CodeInternal, "could not read tokens")
	}
	uses, err := s.db.LastUse(ctx)
	if err != nil {
		uses = nil
	}
	res := wire.TokenListResult{Tokens: []wire.TokenInfo{}}
	for i := range toks {
		res.Tokens = append(res.Tokens, tokenInfo(&toks[i], uses[toks[i].ID]))
	}
	return mustJSON(res), nil
}

func (cl *call) tokenRevoke(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.TokenRevokeParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if (p.Name == "") == (p.ID == "") {
		return nil, wire.Errorf(wire.CodeBadRequest, `token.revoke needs exactly one of "name" and "id"`)
	}
	if err := cl.requireGlobalAdmin(); err != nil {
		return nil, err
	}
	s := cl.c.s
	key := p.ID
	if key == "" {
		key = p.Name
		if !validTokenName(key) {
			return nil, wire.Errorf(wire.CodeNotFound, "no live token by that name")
		}
	} else if !strings.HasPrefix(key, "tok_") {
		return nil, wire.Errorf(wire.CodeNotFound, "no token with that id")
	}
	t, err := s.db.RevokeToken(context.Background(), key)
	if errors.Is(err, sqlite.ErrNotFound) {
		return nil, wire.Errorf(wire.CodeNotFound, "no live token by that name or id")
	}
	if err != nil {
		return nil, wire.Errorf(wire.CodeInternal, "could not revoke the token")
	}
	s.tokens.remove(t.Hash)
	cl.rec.Path = "token/" + t.Name
	return mustJSON(wire.TokenRevokeResult{ID: t.ID, Name: t.Name}), nil
}

func (cl *call) auditQuery(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.AuditQueryParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if err := cl.requireObserver(); err != nil {
		return nil, err
	}
	s := cl.c.s
	now := s.now()
	q := sqlite.AuditQuery{Client: p.Client, Outcome: p.Outcome, Limit: p.Limit}
	var err error
	if q.Since, err = parseWhen(p.Since, now); err != nil {
		return nil, wire.Errorf(wire.CodeBadRequest, "since: %s", err.Error())
	}
	if q.Until, err = parseWhen(p.Until, now); err != nil {
		return nil, wire.Errorf(wire.CodeBadRequest, "until: %s", err.Error())
	}
	switch p.Outcome {
	case "", wire.OutcomeOK, wire.OutcomeDenied, wire.OutcomeError:
	default:
		return nil, wire.Errorf(wire.CodeBadRequest, `outcome must be "ok", "denied" or "error"`)
	}
	if p.Limit < 0 || p.Limit > 10000 {
		return nil, wire.Errorf(wire.CodeBadRequest, "limit must be between 1 and 10000")
	}
	if p.Path != "" {
		if err := policy.ValidatePattern(p.Path); err != nil {
			return nil, wire.Errorf(wire.CodeBadRequest, "path: %s", err.Error())
		}
		pattern := p.Path
		q.PathMatch = func(path string) bool {
			return policy.MatchString(pattern, path)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, qerr := s.db.QueryAudit(ctx, q)
	if qerr != nil {
		return nil, wire.Errorf(wire.CodeAuditUnavailable, "the audit log could not be read")
	}
	res := wire.AuditQueryResult{Entries: make([]wire.AuditEntry, 0, len(recs))}
	for _, r := range recs {
		res.Entries = append(res.Entries, wire.AuditEntry{
			Seq: r.Seq, Time: r.Time.UTC(), RequestID: r.RequestID, TokenID: r.TokenID, Client: r.Client,
			PID: r.PID, UID: r.UID, GID: r.GID, Exe: r.Exe, Unit: r.Unit, Method: r.Method, Path: r.Path,
			Outcome: r.Outcome, Code: r.Code, Detail: r.Detail, DurationUS: r.Duration.Microseconds(),
		})
	}
	return mustJSON(res), nil
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return time.Time{}, errors.New(`want an RFC 3339 time or a duration such as "1h"`)
	}
	return now.Add(-d), nil
}

func (cl *call) status(params json.RawMessage) ([]byte, *wire.Error) {
	if err := wire.DecodeParams(params, &struct{}{}); err != nil {
		return nil, err
	}
	if err := cl.requireObserver(); err != nil {
		return nil, err
	}
	return mustJSON(cl.c.s.Status(context.Background())), nil
}

// auditSettle is how long after a failed audit write status still reports
// the audit log unhealthy, so that a disk that lets small writes through
// between failing ones does not read as healthy.
const auditSettle = 10 * time.Second

// Status returns the daemon's status, as the status method reports it.
func (s *Server) Status(ctx context.Context) wire.StatusResult {
	now := s.now()
	cs := s.cache.Stats()
	as := s.db.AuditStats()
	r := wire.StatusResult{
		Version: Version, Protocol: wire.ProtocolVersion, StartedAt: s.started.UTC(),
		UptimeS: int64(now.Sub(s.started).Seconds()), Connections: s.conns.Load(), Requests: s.requests.Load(),
		Cache: wire.CacheStatus{Entries: cs.Entries, Bytes: cs.Bytes, Hits: cs.Hits, Misses: cs.Misses, TTLS: int64(cs.TTL.Seconds())},
		Store: wire.StoreStatus{Kind: s.storeKind, Dir: s.storeDir, OK: true},
		Audit: wire.AuditStatus{Healthy: s.db.AuditHealthy() && !s.db.AuditFailedWithin(auditSettle), Loading: s.db.AuditLoading(), Committed: as.Committed, Failed: as.Failed, QueueDepth: as.QueueDepth},
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := s.backend.Check(ctx)
	if err == nil {
		s.recheckKey(ctx)
	}
	if err != nil {
		r.Store.OK, r.Store.Error = false, err.Error()
	} else if ke := s.keyErr.Load(); ke != nil {
		r.Store.OK, r.Store.Error = false, *ke
	}
	r.Tokens.Active = s.tokens.count()
	r.Rotations = s.rotationStates(ctx, ownerGrants)
	r.Metrics = &wire.MetricsStatus{
		BoundsUS:    metrics.BoundsUS(),
		Requests:    s.reqMetrics.Snapshot(),
		AuditCommit: s.db.AuditCommitLatency(),
		Rotations:   s.rotationMetrics(),
	}
	return r
}
