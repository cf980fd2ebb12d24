package vaultd

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/auth"
	"github.com/jamditis/jawn-vault/vaultd/policy"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// principal is who a request acts as.
type principal struct {
	hash    [32]byte
	tokenID string
	name    string // token name, or "owner"
	grants  []policy.Grant
}

// ownerName is the audit log's name for the local owner without a token.
const ownerName = "owner"

var ownerGrants = []policy.Grant{{Pattern: "**", Level: policy.Admin}}

// maxTokenLen bounds what is hashed; real tokens are 46 bytes.
const maxTokenLen = 128

// tokenSet is an immutable snapshot of the live tokens, keyed by hash, so
// authentication on the hot path takes no lock. Changes (create, revoke)
// build a new snapshot under tokenRegistry.mu.
type tokenSet map[[32]byte]*sqlite.Token

type tokenRegistry struct {
	mu  sync.Mutex // serialises writers
	cur atomic.Pointer[tokenSet]
	// revoked remembers hashes revoked since start, so the audit can say
	// "revoked" rather than "unknown".
	revoked atomic.Pointer[map[[32]byte]bool]
}

func (r *tokenRegistry) load(ctx context.Context, db *sqlite.DB) error {
	toks, err := db.ActiveTokens(ctx)
	if err != nil {
		return err
	}
	set := make(tokenSet, len(toks))
	for i := range toks {
		set[toks[i].Hash] = &toks[i]
	}
	r.cur.Store(&set)
	empty := map[[32]byte]bool{}
	r.revoked.Store(&empty)
	return nil
}

func (r *tokenRegistry) add(t *sqlite.Token) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.cur.Load()
	set := make(tokenSet, len(old)+1)
	for k, v := range old {
		set[k] = v
	}
	set[t.Hash] = t
	r.cur.Store(&set)
}

func (r *tokenRegistry) remove(hash [32]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.cur.Load()
	set := make(tokenSet, len(old))
	for k, v := range old {
		if k != hash {
			set[k] = v
		}
	}
	r.cur.Store(&set)
	rev := make(map[[32]byte]bool, len(*r.revoked.Load())+1)
	for k := range *r.revoked.Load() {
		rev[k] = true
	}
	rev[hash] = true
	r.revoked.Store(&rev)
}

func (r *tokenRegistry) count() int { return len(*r.cur.Load()) }

// authenticate resolves a request's token. detail says why a refusal
// happened, for the audit row only (the client gets a generic message).
func (s *Server) authenticate(c *conn, raw string) (principal, *wire.Error, string) {
	if raw == "" {
		if s.trustOwner.Load() && (c.cred.UID == 0 || c.cred.UID == s.ownUID) {
			return principal{name: ownerName, grants: ownerGrants}, nil, ""
		}
		return principal{}, errNoToken, "no token"
	}
	if len(raw) > maxTokenLen {
		return principal{}, errBadToken, "oversized token"
	}
	hash := auth.Hash(raw)
	t := (*s.tokens.cur.Load())[hash]
	if t == nil || !auth.Equal(t.Hash, hash) {
		if (*s.tokens.revoked.Load())[hash] {
			return principal{}, errBadToken, "revoked token"
		}
		return principal{}, errBadToken, "unknown token"
	}
	if expired(t, s.now()) {
		return principal{tokenID: t.ID, name: t.Name}, errBadToken, "expired token"
	}
	if t.BindUID >= 0 && int64(c.cred.UID) != t.BindUID {
		return principal{tokenID: t.ID, name: t.Name}, errBadToken, "token bound to another uid"
	}
	return principal{hash: hash, tokenID: t.ID, name: t.Name, grants: t.Grants}, nil, ""
}

var (
	errNoToken  = wire.Errorf(wire.CodeUnauthenticated, "no token: set VAULT_TOKEN or pass a token")
	errBadToken = wire.Errorf(wire.CodeUnauthenticated, "token is unknown, expired, revoked or not valid for this uid")
)

// expired reports whether t has expired at now.
func expired(t *sqlite.Token, now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}
