package wire

import "time"

// Method names of protocol v1.
const (
	MethodHealth      = "health"
	MethodGet         = "get"
	MethodSet         = "set"
	MethodDelete      = "delete"
	MethodList        = "list"
	MethodTokenCreate = "token.create"
	MethodTokenList   = "token.list"
	MethodTokenRevoke = "token.revoke"
	MethodAuditQuery  = "audit.query"
	MethodStatus      = "status"
)

// PathParams are the params of get and delete.
type PathParams struct {
	Path string `json:"path"`
}

// SetParams are the params of set: exactly one of Value and ValueB64.
type SetParams struct {
	Path     string    `json:"path"`
	Value    Secret    `json:"value"`
	ValueB64 SecretB64 `json:"value_b64"`
}

// ListParams are the params of list.
type ListParams struct {
	Prefix string `json:"prefix"`
}

// ListResult is the result of list.
type ListResult struct {
	Paths []string `json:"paths"`
}

// HealthResult is the result of health.
type HealthResult struct {
	Status   string `json:"status"`
	Protocol int    `json:"protocol"`
	Version  string `json:"version"`
}

// GrantJSON is a grant as it travels.
type GrantJSON struct {
	Pattern string `json:"pattern"`
	Level   string `json:"level"`
}

// UnmarshalJSON decodes a grant strictly: unknown keys are refused here
// too, not only at the top level of params.
func (g *GrantJSON) UnmarshalJSON(b []byte) error {
	type plain GrantJSON
	var p plain
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	*g = GrantJSON(p)
	return nil
}

// TokenCreateParams are the params of token.create. TTL is a duration such
// as "720h" or "30d"; BindUID binds the token to one peer uid.
type TokenCreateParams struct {
	Name    string      `json:"name"`
	Grants  []GrantJSON `json:"grants"`
	TTL     string      `json:"ttl,omitempty"`
	BindUID *int64      `json:"bind_uid,omitempty"`
}

// TokenInfo describes a token without its secret.
type TokenInfo struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Grants     []GrantJSON `json:"grants"`
	CreatedAt  time.Time   `json:"created_at"`
	ExpiresAt  *time.Time  `json:"expires_at,omitempty"`
	BindUID    *int64      `json:"bind_uid,omitempty"`
	LastUsedAt *time.Time  `json:"last_used_at,omitempty"`
	LastUID    *int64      `json:"last_uid,omitempty"`
	LastUnit   string      `json:"last_unit,omitempty"`
}

// TokenCreateResult is the result of token.create: the only time the raw
// token is ever shown.
type TokenCreateResult struct {
	TokenInfo
	Token string `json:"token"`
}

// TokenListResult is the result of token.list.
type TokenListResult struct {
	Tokens []TokenInfo `json:"tokens"`
}

// TokenRevokeParams are the params of token.revoke: a name or an id.
type TokenRevokeParams struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
}

// TokenRevokeResult is the result of token.revoke.
type TokenRevokeResult struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// AuditQueryParams are the params of audit.query. Since and Until are
// RFC 3339 times or durations back from now ("1h"); Path is a grant pattern;
// Outcome is "ok", "denied" or "error"; Limit defaults to 100.
type AuditQueryParams struct {
	Since   string `json:"since,omitempty"`
	Until   string `json:"until,omitempty"`
	Client  string `json:"client,omitempty"`
	Path    string `json:"path,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// AuditEntry is one audit row.
type AuditEntry struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id"`
	TokenID    string    `json:"token_id,omitempty"`
	Client     string    `json:"client,omitempty"`
	PID        int32     `json:"pid"`
	UID        int64     `json:"uid"`
	GID        int64     `json:"gid"`
	Exe        string    `json:"exe,omitempty"`
	Unit       string    `json:"unit,omitempty"`
	Method     string    `json:"method"`
	Path       string    `json:"path,omitempty"`
	Outcome    string    `json:"outcome"`
	Code       string    `json:"code,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	DurationUS int64     `json:"duration_us"`
}

// AuditQueryResult is the result of audit.query, newest first.
type AuditQueryResult struct {
	Entries []AuditEntry `json:"entries"`
}

// Audit outcomes.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	OutcomeError  = "error"
)

// StatusResult is the result of status. Fields may be added in later
// versions; clients ignore the ones they do not know.
type StatusResult struct {
	Version     string      `json:"version"`
	Protocol    int         `json:"protocol"`
	StartedAt   time.Time   `json:"started_at"`
	UptimeS     int64       `json:"uptime_s"`
	Connections int64       `json:"connections"`
	Requests    uint64      `json:"requests"`
	Cache       CacheStatus `json:"cache"`
	Store       StoreStatus `json:"store"`
	Audit       AuditStatus `json:"audit"`
	Tokens      struct {
		Active int `json:"active"`
	} `json:"tokens"`
	Rotations []RotationState `json:"rotations"`
	Metrics   *MetricsStatus  `json:"metrics,omitempty"`
}

// MetricsStatus is what the daemon has counted since it started.
type MetricsStatus struct {
	// BoundsUS are the latency buckets' upper bounds in microseconds;
	// every Histogram has one count more, for samples above the last.
	BoundsUS []int64 `json:"bounds_us"`
	// Requests are counted by method ("other" for a malformed line or an
	// unknown method) and outcome, with the time the daemon took to handle
	// each: from its line being read to its answer being ready, before the
	// wait for its audit row and the write to the socket.
	Requests []RequestMetric `json:"requests"`
	// AuditCommit is the time of each audit journal write (one write(2)
	// per group of records), which every answer waits for.
	AuditCommit Histogram `json:"audit_commit"`
	// Rotations counts rotation.end calls by outcome, per rotation.
	Rotations []RotationMetric `json:"rotations,omitempty"`
}

// Histogram counts samples into buckets: Counts[i] is the number at or
// below BoundsUS[i] and above the bound before it (not cumulative).
type Histogram struct {
	Count  uint64   `json:"count"`
	SumUS  int64    `json:"sum_us"`
	Counts []uint64 `json:"counts"`
}

// RequestMetric counts the requests of one method with one outcome.
type RequestMetric struct {
	Method  string `json:"method"`
	Outcome string `json:"outcome"`
	Histogram
}

// ByMethod merges m's requests by method, outcomes together (Outcome is
// left empty), in the order the methods first appear.
func (m *MetricsStatus) ByMethod() []RequestMetric {
	var out []RequestMetric
	at := map[string]int{}
	for _, r := range m.Requests {
		i, seen := at[r.Method]
		if !seen {
			i = len(out)
			at[r.Method] = i
			out = append(out, RequestMetric{Method: r.Method, Histogram: Histogram{Counts: make([]uint64, len(r.Counts))}})
		}
		h := &out[i].Histogram
		h.Count += r.Count
		h.SumUS += r.SumUS
		for j := range min(len(h.Counts), len(r.Counts)) {
			h.Counts[j] += r.Counts[j]
		}
	}
	return out
}

// RotationMetric counts one rotation's attempts that ended, since start.
type RotationMetric struct {
	Name      string `json:"name"`
	Succeeded uint64 `json:"succeeded"`
	Failed    uint64 `json:"failed"`
}

// CacheStatus describes the cache.
type CacheStatus struct {
	Entries int    `json:"entries"`
	Bytes   int    `json:"bytes"`
	Hits    uint64 `json:"hits"`
	Misses  uint64 `json:"misses"`
	TTLS    int64  `json:"ttl_s"`
}

// StoreStatus describes the backend.
type StoreStatus struct {
	Kind  string `json:"kind"`
	Dir   string `json:"dir,omitempty"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// AuditStatus describes the audit log.
type AuditStatus struct {
	Healthy    bool   `json:"healthy"`
	Loading    bool   `json:"loading"` // journaled records are reaching the database
	Committed  uint64 `json:"committed"`
	Failed     uint64 `json:"failed"`
	QueueDepth int    `json:"queue_depth"`
}

// Rotation and watch methods (protocol v1, added with token rotation).
const (
	MethodRotationBegin  = "rotation.begin"
	MethodRotationMark   = "rotation.mark"
	MethodRotationEnd    = "rotation.end"
	MethodRotationStatus = "rotation.status"
	MethodRotationClear  = "rotation.clear"
	MethodWatch          = "watch"
)

// Rotation states.
const (
	RotationIdle     = "idle"     // no attempt in progress
	RotationRunning  = "running"  // begun; the provider has not answered yet
	RotationAnswered = "answered" // the provider answered; the new tokens are being stored
	RotationInDoubt  = "in_doubt" // an attempt died after the provider answered: a person must check
)

// RotationBeginParams start an attempt. Path is the access token's path:
// the caller needs write on it, and it must match the path recorded by
// earlier attempts of the same name. Lease is how long the attempt may
// take before another may assume it died ("60s" by default). Trigger says
// who asked for the attempt when it was not the schedule ("cli",
// "telegram:CHAT-ID"): up to 64 printable ASCII characters, recorded in the
// audit row's detail.
type RotationBeginParams struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Lease   string `json:"lease,omitempty"`
	Trigger string `json:"trigger,omitempty"`
}

// ValidName reports whether n may name a token or a rotation: 1 to 64
// characters from [A-Za-z0-9._@-]. (Token names have further rules; see
// token.create.)
func ValidName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-') {
			return false
		}
	}
	return true
}

// ValidTrigger reports whether t may be a RotationBeginParams.Trigger: at
// most 64 printable ASCII characters, no spaces, so that it goes into an
// audit row as it is and cannot split or forge one.
func ValidTrigger(t string) bool {
	if len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return false
		}
	}
	return true
}

// RotationMarkParams record that the provider answered (Phase
// "answered"): from here on, a crash leaves the rotation in doubt.
type RotationMarkParams struct {
	Name    string `json:"name"`
	Phase   string `json:"phase"`
	Attempt string `json:"attempt,omitempty"` // from begin; a superseded attempt is refused
}

// RotationEndParams finish an attempt.
type RotationEndParams struct {
	Name      string     `json:"name"`
	Attempt   string     `json:"attempt,omitempty"` // from begin; a superseded attempt is refused
	OK        bool       `json:"ok"`
	ErrorCode string     `json:"error_code,omitempty"` // a provider's error code, never a message
	Permanent bool       `json:"permanent,omitempty"`  // a person must re-authorise
	ExpiresAt *time.Time `json:"expires_at,omitempty"` // of the new access token
	NextDue   *time.Time `json:"next_due,omitempty"`   // when the rotator plans the next attempt
}

// RotationNameParams name a rotation (rotation.clear).
type RotationNameParams struct {
	Name string `json:"name"`
}

// RotationState is what the daemon records about one rotation.
type RotationState struct {
	Name        string     `json:"name"`
	Path        string     `json:"path"`
	State       string     `json:"state"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	NextDue     *time.Time `json:"next_due,omitempty"`
	Failures    int        `json:"failures"` // current failure streak
	LastError   string     `json:"last_error,omitempty"`
	Permanent   bool       `json:"permanent,omitempty"` // last failure needs a person
	LeaseUntil  *time.Time `json:"lease_until,omitempty"`
	Attempt     string     `json:"attempt,omitempty"` // the current attempt's id, set by begin
}

// RotationStatusResult is the result of rotation.status.
type RotationStatusResult struct {
	Rotations []RotationState `json:"rotations"`
}

// WatchParams subscribe the connection to changes: to Paths, or to every
// path under Prefix ("" with no Paths: everything the token may read).
type WatchParams struct {
	Paths  []string `json:"paths,omitempty"`
	Prefix string   `json:"prefix,omitempty"`
}

// WatchResult acknowledges a subscription; Version is the current change
// counter.
type WatchResult struct {
	Version uint64 `json:"version"`
}

// Event is a line the daemon pushes to a watching connection. It has no
// "id": Event "changed" names a Path; "stale" means any entry may have
// changed (the store changed in a way that names no entry) and watchers
// should re-read everything they hold.
type Event struct {
	Event   string `json:"event"`
	Path    string `json:"path,omitempty"`
	Version uint64 `json:"version"`
}

// Event kinds.
const (
	EventChanged = "changed"
	EventStale   = "stale"
)
