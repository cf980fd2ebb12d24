package ops

import (
	"context"
	"errors"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// RecentLimit is how many audit rows a Snapshot holds.
const RecentLimit = 20

// DeniedLimit is how many of the latest denials a Snapshot holds, apart
// from Recent: the views' own reads would otherwise push them out.
const DeniedLimit = 10

// Snapshot is everything the operations views show, read in one round
// trip. It holds no secret values and no tokens: token.list and
// audit.query never return them.
type Snapshot struct {
	Up        bool      `json:"up"`              // the daemon answered
	Error     string    `json:"error,omitempty"` // why the daemon, or its status, could not be read
	FetchedAt time.Time `json:"fetched_at"`

	Status    *wire.StatusResult   `json:"status,omitempty"`
	Tokens    []wire.TokenInfo     `json:"tokens"`
	Recent    []wire.AuditEntry    `json:"recent"`
	Denied    []wire.AuditEntry    `json:"denied"` // the last DeniedLimit denials, however old
	Rotations []wire.RotationState `json:"rotations"`

	// Partial failures: the daemon answered, but refused one method (a
	// token without the needed grant).
	TokensError string `json:"tokens_error,omitempty"`
	RecentError string `json:"recent_error,omitempty"`
}

// HitRatio is cache hits over lookups, or -1 when there were none.
func (s *Snapshot) HitRatio() float64 {
	if s.Status == nil {
		return -1
	}
	n := s.Status.Cache.Hits + s.Status.Cache.Misses
	if n == 0 {
		return -1
	}
	return float64(s.Status.Cache.Hits) / float64(n)
}

// Healthy reports whether the daemon is up with a working store and audit.
func (s *Snapshot) Healthy() bool {
	return s.Up && s.Status != nil && s.Status.Store.OK && s.Status.Audit.Healthy
}

// Denials counts the denied rows among Recent.
func (s *Snapshot) Denials() int {
	n := 0
	for _, e := range s.Recent {
		if e.Outcome == wire.OutcomeDenied {
			n++
		}
	}
	return n
}

// Fetcher reads Snapshots from one daemon.
type Fetcher struct {
	Socket  string
	Token   func() (string, error) // read afresh for each fetch
	Timeout time.Duration          // per fetch; default 3s
	Now     func() time.Time
}

// Fetch dials the daemon and reads status, tokens and recent audit rows
// in one batch. It never fails: a daemon that cannot be read gives a
// Snapshot with Up false and Error saying why.
func (f *Fetcher) Fetch(ctx context.Context) *Snapshot {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	s := &Snapshot{FetchedAt: now().UTC(), Tokens: []wire.TokenInfo{}, Recent: []wire.AuditEntry{}, Denied: []wire.AuditEntry{}, Rotations: []wire.RotationState{}}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var tok string
	if f.Token != nil {
		var err error
		if tok, err = f.Token(); err != nil {
			s.Error = "reading the token: " + err.Error()
			return s
		}
	}
	c, err := vault.Dial(ctx, vault.Options{Socket: f.Socket, Token: tok})
	if err != nil {
		s.Error = describe(err)
		return s
	}
	defer c.Close()

	var st wire.StatusResult
	var tl wire.TokenListResult
	var aq, dq wire.AuditQueryResult
	b := c.Batch()
	b.Add(wire.MethodStatus, nil, &st)
	b.Add(wire.MethodTokenList, nil, &tl)
	b.Add(wire.MethodAuditQuery, wire.AuditQueryParams{Limit: RecentLimit}, &aq)
	b.Add(wire.MethodAuditQuery, wire.AuditQueryParams{Outcome: wire.OutcomeDenied, Limit: DeniedLimit}, &dq)
	errs, err := b.Run(ctx)
	if err != nil {
		s.Error = describe(err)
		return s
	}
	// The daemon answered: it is up, whatever it refused below.
	s.Up = true
	if errs[0] != nil {
		// Up, but this view's token may not read the status (or the
		// daemon failed to give it): say so, not "down".
		s.Error = "status: " + describe(errs[0])
	} else {
		s.Status = &st
		if st.Rotations != nil {
			s.Rotations = st.Rotations
		}
	}
	if errs[1] != nil {
		s.TokensError = describe(errs[1])
	} else if tl.Tokens != nil {
		s.Tokens = tl.Tokens
	}
	if errs[2] != nil {
		s.RecentError = describe(errs[2])
	} else if aq.Entries != nil {
		s.Recent = aq.Entries
	}
	if errs[3] == nil && dq.Entries != nil {
		s.Denied = dq.Entries
	}
	return s
}

// describe turns an error into text for the page: the wire code for
// daemon errors, else the error. Neither carries a token (the client
// never quotes it) nor a value (these methods return none).
func describe(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		return string(we.Code) + ": " + we.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the daemon did not answer in time"
	}
	return err.Error()
}
