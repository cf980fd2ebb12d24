// Package sqlite keeps the daemon's own state in one SQLite file: API tokens
// and the audit log. It is the only package in Jawn Vault that knows SQL;
// everything else sees Go types.
//
// # Tokens
//
// A token is stored as the SHA-256 of its text (see vaultd/auth), never the
// text itself, with its name, grants, expiry, uid binding and revocation
// time. Names are unique among active tokens.
//
// # Audit log
//
// Every request becomes one Record. A record is durable once it is in the
// audit journal (<db>.journal), an append-only file: callers add records
// with Audit and, when the outcome must be durable before they answer,
// block on a Waiter. Group commit needs no goroutine hand-off: the first
// waiter to arrive writes every queued record with one write(2) while the
// others queue behind it, so under load one write serves many requests and
// nothing waits on a timer. A write that fails is reported to every waiter
// of that batch, wrapped in ErrAuditUnavailable; the next batch tries again.
// A loader goroutine copies journaled records into SQLite in large
// transactions and truncates the journal once SQLite has caught up; at open,
// records the journal holds beyond SQLite's last row are loaded first, so a
// crash loses nothing that was answered. Old rows are pruned in small
// chunks by the loader when it is idle.
//
// # What it does not do
//
// It stores no secrets (they live in the pass store) and no raw tokens. It
// does not interpret grants, check expiry or uid binding — callers do, with
// vaultd/policy. It never drops or retries an audit record behind the
// caller's back: a record is committed, or its waiter hears that it was not.
//
// # The file
//
// Open creates the database with mode 0600; the caller creates its
// directory with mode 0700. Every connection runs in WAL mode with
// synchronous=NORMAL, a 5 s busy timeout and foreign keys on. The schema
// lives in migrations/NNNN_name.sql, embedded and applied in order, each in
// its own transaction; PRAGMA user_version records how many have run. A
// later change to the schema is a new file, never an edit to an old one.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	msqlite "modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrClosed is returned, wrapped, by operations on a closed DB.
var ErrClosed = errors.New("database is closed")

// DB is the daemon's database. Its methods are safe for concurrent use.
type DB struct {
	// Now returns the current time. It defaults to time.Now; tests replace
	// it before using the DB.
	Now func() time.Time

	path string
	sql  *sql.DB

	auditLog // the writer goroutine and its queue; see audit.go

	closeOnce sync.Once
	closeErr  error
}

// Open opens the database at path, creating it with mode 0600 if it does not
// exist, applies any pending migrations and starts the audit writer. The
// directory must already exist.
func Open(path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := createPrivate(abs); err != nil {
		return nil, err
	}
	sdb, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, err
	}
	sdb.SetMaxIdleConns(4)
	db := &DB{Now: time.Now, path: abs, sql: sdb}
	if err := db.migrate(context.Background()); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.startAudit(context.Background()); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// Path returns the database file's absolute path.
func (db *DB) Path() string { return db.path }

// Close flushes the audit records already queued, stops the writer and
// closes the database. Records audited after Close fail their waiters with
// ErrAuditUnavailable. Calling Close again returns the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closeErr = errors.Join(db.stopAudit(), db.sql.Close())
	})
	return db.closeErr
}

// dsn builds modernc's URI filename for path. The pragmas are in the DSN,
// not run once after Open, because database/sql opens connections on its
// own and each must be configured. _txlock=immediate makes every
// transaction take the write lock when it begins, so a transaction that
// reads and then writes waits under busy_timeout instead of failing with
// SQLITE_BUSY when it tries to upgrade.
func dsn(path string) string {
	// In a URI filename "?" and "#" end the path and "%" starts an escape.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc +
		"?_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)" +
		"&_pragma=busy_timeout(5000)" +
		"&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
}

// createPrivate creates the database file with mode 0600 before SQLite
// opens it, because SQLite would create it 0644 less the umask; SQLite gives
// the -wal and -shm files the main file's mode. An existing file that others
// can read is narrowed to 0600: it holds token hashes and the audit log.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		slog.Warn("sqlite: database file was accessible to others; setting mode 0600",
			"path", path, "mode", fi.Mode().Perm().String())
		if err := f.Chmod(0o600); err != nil {
			return err
		}
	}
	return nil
}

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. File names are
// NNNN_description.sql, numbered from 1 without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names { // fs.Glob sorts
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and an underscore", base)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", base, len(ms)+1)
		}
		b, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	return ms, nil
}

// migrate applies the migrations the database has not seen yet, each in its
// own transaction together with the user_version that records it. The
// version is read again inside each transaction, which holds the write
// lock, so two processes opening the same file cannot both apply one.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := db.applyMigration(ctx, m, len(ms)); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, m migration, latest int) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var have int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return err
	}
	if have > latest {
		return fmt.Errorf("schema version %d is newer than this program knows (%d); use a newer jawn-vault", have, latest)
	}
	if have >= m.version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	// PRAGMA takes no bound parameters; the version is an int we produced.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	return tx.Commit()
}

// IsLocked reports whether err is SQLite's "database is locked"
// (SQLITE_BUSY, or one of its extended codes): another process holds the
// database's lock.
func IsLocked(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
