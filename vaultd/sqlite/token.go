package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/policy"
)

// ErrNameTaken is returned by CreateToken when an active token already has
// the name.
var ErrNameTaken = errors.New("an active token already has this name")

// ErrNotFound is returned when no token matches.
var ErrNotFound = errors.New("token not found")

// Token is a stored API token. The token's text is not part of it; Hash is
// its SHA-256 (see vaultd/auth).
type Token struct {
	ID        string
	Name      string
	Hash      [32]byte
	Grants    []policy.Grant
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never expires
	BindUID   int64     // -1: usable from any uid
	RevokedAt time.Time // zero: active
}

// grantJSON is a grant as stored: policy.Grant leaves its level out of JSON
// because the wire spells it differently from the Go type.
type grantJSON struct {
	Pattern string `json:"pattern"`
	Level   string `json:"level"`
}

func encodeGrants(gs []policy.Grant) (string, error) {
	out := make([]grantJSON, 0, len(gs))
	for _, g := range gs {
		if _, err := policy.ParseLevel(g.Level.String()); err != nil {
			return "", fmt.Errorf("grant on %q: %w", g.Pattern, err)
		}
		out = append(out, grantJSON{Pattern: g.Pattern, Level: g.Level.String()})
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func decodeGrants(s string) ([]policy.Grant, error) {
	var in []grantJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, err
	}
	gs := make([]policy.Grant, 0, len(in))
	for _, g := range in {
		l, err := policy.ParseLevel(g.Level)
		if err != nil {
			return nil, fmt.Errorf("grant on %q: %w", g.Pattern, err)
		}
		gs = append(gs, policy.Grant{Pattern: g.Pattern, Level: l})
	}
	return gs, nil
}

// CreateToken stores t. A zero CreatedAt is set to db.Now(). It returns
// ErrNameTaken if an active token has t.Name.
func (db *DB) CreateToken(ctx context.Context, t *Token) error {
	if t.ID == "" || t.Name == "" {
		return errors.New("create token: id and name are required")
	}
	if t.Hash == ([32]byte{}) {
		return errors.New("create token: hash is missing")
	}
	if !t.RevokedAt.IsZero() {
		return errors.New("create token: a new token cannot be revoked")
	}
	grants, err := encodeGrants(t.Grants)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = db.Now()
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	defer tx.Rollback()
	// Checking first, under the write lock that _txlock=immediate takes,
	// tells a taken name from other constraint failures without reading
	// SQLite's error text.
	var taken bool
	err = tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL)`, t.Name).Scan(&taken)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	if taken {
		return fmt.Errorf("create token %q: %w", t.Name, ErrNameTaken)
	}
	var bind any
	if t.BindUID >= 0 {
		bind = t.BindUID
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO tokens (id, name, hash, grants, created_at, expires_at, bind_uid)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Hash[:], grants, t.CreatedAt.UnixNano(), nullTime(t.ExpiresAt), bind)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// ActiveTokens returns the tokens that have not been revoked, oldest first.
// Expired tokens are included: the caller compares ExpiresAt with its clock.
func (db *DB) ActiveTokens(ctx context.Context) ([]Token, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT `+tokenCols+` FROM tokens WHERE revoked_at IS NULL ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var ts []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken revokes the active token whose id is nameOrID or, failing
// that, the active token named nameOrID, and returns it as revoked. It
// returns ErrNotFound if neither exists.
func (db *DB) RevokeToken(ctx context.Context, nameOrID string) (Token, error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return Token{}, fmt.Errorf("revoke token: %w", err)
	}
	defer tx.Rollback()
	t, err := scanToken(tx.QueryRowContext(ctx,
		`SELECT `+tokenCols+` FROM tokens WHERE id = ? AND revoked_at IS NULL`, nameOrID))
	if errors.Is(err, sql.ErrNoRows) {
		t, err = scanToken(tx.QueryRowContext(ctx,
			`SELECT `+tokenCols+` FROM tokens WHERE name = ? AND revoked_at IS NULL`, nameOrID))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("revoke token %q: %w", nameOrID, ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("revoke token: %w", err)
	}
	t.RevokedAt = db.Now()
	if _, err := tx.ExecContext(ctx,
		`UPDATE tokens SET revoked_at = ? WHERE id = ?`, t.RevokedAt.UnixNano(), t.ID); err != nil {
		return Token{}, fmt.Errorf("revoke token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Token{}, fmt.Errorf("revoke token: %w", err)
	}
	return t, nil
}

// Use is the most recent use of a token, from the audit log.
type Use struct {
	Time time.Time
	UID  int64
	Unit string
}

// LastUse returns, for every token that has been used, its newest audit
// record's time and peer. The loader keeps these on the token (migration
// 0004), so they survive audit retention.
func (db *DB) LastUse(ctx context.Context) (map[string]Use, error) {
	if err := db.flush(ctx); err != nil {
		return nil, fmt.Errorf("last use: %w", err)
	}
	rows, err := db.sql.QueryContext(ctx,
		`SELECT id, last_used_at, coalesce(last_uid, -1), coalesce(last_unit, '')
		 FROM tokens WHERE last_used_at IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("last use: %w", err)
	}
	defer rows.Close()
	uses := make(map[string]Use)
	for rows.Next() {
		var id string
		var ns int64
		var u Use
		if err := rows.Scan(&id, &ns, &u.UID, &u.Unit); err != nil {
			return nil, fmt.Errorf("last use: %w", err)
		}
		u.Time = time.Unix(0, ns)
		uses[id] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("last use: %w", err)
	}
	return uses, nil
}

const tokenCols = `id, name, hash, grants, created_at, expires_at, bind_uid, revoked_at`

func scanToken(s interface{ Scan(...any) error }) (Token, error) {
	var (
		t                         Token
		hash                      []byte
		grants                    string
		created                   int64
		expires, bindUID, revoked sql.NullInt64
	)
	if err := s.Scan(&t.ID, &t.Name, &hash, &grants, &created, &expires, &bindUID, &revoked); err != nil {
		return Token{}, err
	}
	if len(hash) != len(t.Hash) {
		return Token{}, fmt.Errorf("token %s: stored hash has %d bytes", t.ID, len(hash))
	}
	copy(t.Hash[:], hash)
	gs, err := decodeGrants(grants)
	if err != nil {
		return Token{}, fmt.Errorf("token %s: %w", t.ID, err)
	}
	t.Grants = gs
	t.CreatedAt = time.Unix(0, created)
	t.ExpiresAt = fromNull(expires)
	t.RevokedAt = fromNull(revoked)
	t.BindUID = -1
	if bindUID.Valid {
		t.BindUID = bindUID.Int64
	}
	return t, nil
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64)
}
