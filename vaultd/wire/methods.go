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
	Committed  uint64 `json:"committed"`
	Failed     uint64 `json:"failed"`
	QueueDepth int    `json:"queue_depth"`
}
