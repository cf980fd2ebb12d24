package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestGroupCommit(t *testing.T) {
	db := MustOpenDB(t)
	const workers, each = 64, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Go(func() {
			w := NewWaiter()
			for i := range each {
				r := rec("get", fmt.Sprintf("w%d/r%d", g, i))
				db.Audit(r, w)
				// Like a connection: most requests wait for their record;
				// some audit twice before waiting.
				if i%4 == 3 {
					continue
				}
				if err := w.Wait(); err != nil {
					errs <- err
					return
				}
			}
			if err := w.Wait(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = workers * each
	if n := count(t, db); n != total {
		t.Fatalf("count = %d, want %d", n, total)
	}
	s := db.AuditStats()
	if s.Committed != total || s.Failed != 0 {
		t.Fatalf("stats %+v, want %d committed, 0 failed", s, total)
	}
	if s.Batches >= total {
		t.Fatalf("%d batches for %d records: no batching happened", s.Batches, total)
	}
	if !db.AuditHealthy() {
		t.Fatal("unhealthy after a clean run")
	}
	t.Logf("%d records in %d batches (%.1f per batch)", total, s.Batches, float64(total)/float64(s.Batches))
}

func TestWaiterWithoutRecords(t *testing.T) {
	if err := NewWaiter().Wait(); err != nil {
		t.Fatalf("Wait with nothing pending: %v", err)
	}
}

// TestAuditFailsThenRecovers fills the database up to a page limit set on
// the writer's own connection, which makes its commits fail with
// SQLITE_FULL as a full disk would, then lifts the limit.
func TestAuditFailsThenRecovers(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	w := NewWaiter()
	db.Audit(rec("get", "before"), w)
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}

	var pages int64
	if err := db.wconn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 3000) // more than a page's free space
	for i := range 200 {
		db.Audit(rec("get", fmt.Sprintf("%s/%d", big, i)), w)
	}
	err := w.Wait()
	if !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("Wait on a full database: %v, want ErrAuditUnavailable", err)
	}
	if db.AuditHealthy() {
		t.Fatal("AuditHealthy after a failed commit")
	}
	s := db.AuditStats()
	if s.Failed == 0 || s.Committed+s.Failed != 201 {
		t.Fatalf("stats %+v, want failures and 201 records accounted for", s)
	}
	// The failure was reported once; the waiter is clean for the next request.
	if err := w.Wait(); err != nil {
		t.Fatalf("second Wait: %v, want nil", err)
	}

	if _, err := db.wconn.ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	db.Audit(rec("get", "after"), w)
	if err := w.Wait(); err != nil {
		t.Fatalf("after space came back: %v", err)
	}
	if !db.AuditHealthy() {
		t.Fatal("still unhealthy after a good commit")
	}
	s = db.AuditStats()
	if n := count(t, db); uint64(n) != s.Committed {
		t.Fatalf("count %d, but %d committed: failed batches left rows behind", n, s.Committed)
	}
	if s.Failed == 0 || s.Committed < 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCloseFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000 // more than one batch, fewer than the queue holds
	for i := range n {
		db.Audit(rec("get", fmt.Sprint(i)), nil) // nobody waits
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpenAt(t, path)
	if got := count(t, db); got != n {
		t.Fatalf("after Close and reopen: %d rows, want %d", got, n)
	}
}

func TestAuditAfterClose(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	w := NewWaiter()
	db.Audit(rec("get", "late"), w)
	err = w.Wait()
	if !errors.Is(err, ErrAuditUnavailable) || !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v, want ErrAuditUnavailable and ErrClosed", err)
	}
	if _, err := db.QueryAudit(context.Background(), AuditQuery{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("QueryAudit after Close: %v, want ErrClosed", err)
	}
}

// TestAuditDuringClose races Close against writers: every record is either
// committed or reported as failed to its waiter, and nothing hangs.
func TestAuditDuringClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			w := NewWaiter()
			for range 500 {
				db.Audit(rec("get", "x"), w)
				if w.Wait() == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	db = mustOpenAt(t, path)
	if got := count(t, db); got != int64(ok) {
		t.Fatalf("%d rows, but %d waits succeeded", got, ok)
	}
}

// TestWaiterCycleAllocs checks that a reused Waiter costs no allocations.
func TestWaiterCycleAllocs(t *testing.T) {
	w := NewWaiter()
	allocs := testing.AllocsPerRun(1000, func() {
		w.pending.Add(1)
		w.finish(nil)
		if err := w.Wait(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per cycle, want 0", allocs)
	}
}
