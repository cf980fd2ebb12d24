package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Rotation is the stored state of one token rotation. The daemon owns the
// state machine; this file only stores it.
type Rotation struct {
	Name, Path, State string
	LastAttempt       time.Time
	LastSuccess       time.Time
	ExpiresAt         time.Time
	NextDue           time.Time
	LeaseUntil        time.Time
	Failures          int
	LastError         string
	Permanent         bool
	Attempt           string // id of the current or last attempt
}

const rotationCols = `name, path, state, last_attempt, last_success, expires_at, next_due, lease_until, failures, coalesce(last_error, ''), permanent, coalesce(attempt, '')`

// GetRotation returns the named rotation, or ErrNotFound.
func (db *DB) GetRotation(ctx context.Context, name string) (Rotation, error) {
	r, err := scanRotation(db.sql.QueryRowContext(ctx, `SELECT `+rotationCols+` FROM rotation WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Rotation{}, fmt.Errorf("rotation %q: %w", name, ErrNotFound)
	}
	return r, err
}

// PutRotation stores r, replacing any earlier state of the same name.
func (db *DB) PutRotation(ctx context.Context, r Rotation) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO rotation (`+rotationColsPlain+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET path = excluded.path, state = excluded.state, attempt = excluded.attempt,
			last_attempt = excluded.last_attempt, last_success = excluded.last_success,
			expires_at = excluded.expires_at, next_due = excluded.next_due, lease_until = excluded.lease_until,
			failures = excluded.failures, last_error = excluded.last_error, permanent = excluded.permanent`,
		r.Name, r.Path, r.State, nullTime(r.LastAttempt), nullTime(r.LastSuccess), nullTime(r.ExpiresAt),
		nullTime(r.NextDue), nullTime(r.LeaseUntil), r.Failures, nullStr(r.LastError), boolInt(r.Permanent), nullStr(r.Attempt))
	if err != nil {
		return fmt.Errorf("store rotation %q: %w", r.Name, err)
	}
	return nil
}

const rotationColsPlain = `name, path, state, last_attempt, last_success, expires_at, next_due, lease_until, failures, last_error, permanent, attempt`

// Rotations returns every rotation, by name.
func (db *DB) Rotations(ctx context.Context) ([]Rotation, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+rotationCols+` FROM rotation ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Rotation
	for rows.Next() {
		r, err := scanRotation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanRotation(s interface{ Scan(...any) error }) (Rotation, error) {
	var r Rotation
	var la, ls, ex, nd, lu sql.NullInt64
	var perm int64
	if err := s.Scan(&r.Name, &r.Path, &r.State, &la, &ls, &ex, &nd, &lu, &r.Failures, &r.LastError, &perm, &r.Attempt); err != nil {
		return Rotation{}, err
	}
	r.LastAttempt, r.LastSuccess, r.ExpiresAt, r.NextDue, r.LeaseUntil = fromNull(la), fromNull(ls), fromNull(ex), fromNull(nd), fromNull(lu)
	r.Permanent = perm != 0
	return r, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
