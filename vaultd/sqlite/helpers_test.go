package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// MustOpenDB opens a new database in a temporary directory and closes it
// when the test ends.
func MustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	return mustOpenAt(tb, filepath.Join(tb.TempDir(), "vault.db"))
}

// mustOpenAt opens the database at path and closes it when the test ends.
func mustOpenAt(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return db
}

// count returns the audit row count or fails the test.
func count(tb testing.TB, db *DB) int64 {
	tb.Helper()
	n, err := db.CountAudit(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds, failing the test after a generous
// deadline. It waits for a background goroutine's work; it asserts nothing
// about how long that work takes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rec returns a plausible record.
func rec(method, path string) Record {
	return Record{
		RequestID: "r1", TokenID: "tok_000000000001", Client: "app",
		PID: 1234, UID: 1000, GID: 1000, Exe: "/usr/bin/app", Unit: "app.service",
		Method: method, Path: path, Outcome: "ok", Duration: 1500 * time.Microsecond,
	}
}
