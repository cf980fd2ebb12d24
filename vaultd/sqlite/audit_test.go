package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// TestAuditFailsThenRecovers makes journal writes fail, as a full disk
// would, then lets them succeed again. (tests/integration proves the same
// with a real full file system.)
func TestAuditFailsThenRecovers(t *testing.T) {
	db := MustOpenDB(t)
	w := NewWaiter()
	db.Audit(rec("get", "before"), w)
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	real := db.jwrite
	db.wmu.Lock()
	db.jwrite = func([]byte) (int, error) { return 0, syscall.ENOSPC }
	db.wmu.Unlock()
	for i := range 200 {
		db.Audit(rec("get", fmt.Sprint(i)), w)
	}
	err := w.Wait()
	if !errors.Is(err, ErrAuditUnavailable) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Wait on a full disk: %v, want ErrAuditUnavailable wrapping ENOSPC", err)
	}
	if db.AuditHealthy() {
		t.Fatal("AuditHealthy after a failed write")
	}
	s := db.AuditStats()
	if s.Failed != 200 || s.Committed != 1 {
		t.Fatalf("stats %+v, want 200 failed and 1 committed", s)
	}
	// The failure was reported once; the waiter is clean for the next request.
	if err := w.Wait(); err != nil {
		t.Fatalf("second Wait: %v, want nil", err)
	}
	db.wmu.Lock()
	db.jwrite = real
	db.wmu.Unlock()
	db.Audit(rec("get", "after"), w)
	if err := w.Wait(); err != nil {
		t.Fatalf("after space came back: %v", err)
	}
	if !db.AuditHealthy() {
		t.Fatal("still unhealthy after a good write")
	}
	// A good write between failing ones does not hide that they fail.
	if !db.AuditFailedWithin(time.Minute) {
		t.Fatal("AuditFailedWithin(1m) is false right after failed writes")
	}
	if db.AuditFailedWithin(0) {
		t.Fatal("AuditFailedWithin(0) is true")
	}
	if n := count(t, db); n != 2 {
		t.Fatalf("count %d, want 2: failed batches left rows behind", n)
	}
}

// TestJournalReplay: records that reached the journal but not SQLite (the
// daemon died before its loader caught up) are loaded at the next open,
// and a torn last entry is ignored.
func TestJournalReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	db := mustOpenAt(t, path)
	w := NewWaiter()
	db.Audit(rec("get", "in-sqlite"), w)
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db); n != 1 {
		t.Fatalf("count %d", n)
	}
	db.Close()
	// Write what a dying daemon would leave: two whole entries beyond
	// SQLite's last seq and half of a third.
	var buf []byte
	for i, p := range []string{"journal-only-1", "journal-only-2", "torn"} {
		r := rec("get", p)
		r.Seq, r.Time, r.RequestID = int64(2+i), time.Unix(1700000000, 0), "req-"+p
		buf = appendEntry(buf, &r)
	}
	if err := os.WriteFile(path+".journal", buf[:len(buf)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	db = mustOpenAt(t, path)
	recs, err := db.QueryAudit(context.Background(), AuditQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range recs {
		paths = append(paths, r.Path)
	}
	if got := strings.Join(paths, ","); got != "in-sqlite,journal-only-2,journal-only-1" && got != "journal-only-2,journal-only-1,in-sqlite" {
		t.Fatalf("after replay: %s", got)
	}
	// New records continue the sequence.
	db.Audit(rec("get", "next"), w)
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	recs, _ = db.QueryAudit(context.Background(), AuditQuery{Limit: 1})
	if len(recs) != 1 || recs[0].Seq != 4 {
		t.Fatalf("next record: %+v", recs)
	}
	if fi, err := os.Stat(path + ".journal"); err != nil || fi.Size() > journalTruncateAt {
		t.Fatalf("journal not emptied after replay: %v %v", fi, err)
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

// TestJournalEntryRoundTrip checks the journal's encoding on odd values.
func TestJournalEntryRoundTrip(t *testing.T) {
	in := Record{Seq: 1 << 40, Time: time.Unix(0, -5), RequestID: "é\x00\n", TokenID: "tok_1", Client: "c", PID: -1,
		UID: 1<<32 - 1, GID: -1, Exe: "/usr/bin/python3", Unit: "bot.service", Method: "get", Path: strings.Repeat("p", 1000),
		Outcome: "denied", Code: "permission_denied", Detail: "unknown token", Duration: 1234 * time.Microsecond}
	data := appendEntry(nil, &in)
	out, err := decodeEntry(data[8:])
	if err != nil {
		t.Fatal(err)
	}
	out.Time, in.Time = out.Time.UTC(), in.Time.UTC()
	if out != in {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	if _, err := decodeEntry(data[8 : len(data)-1]); err == nil {
		t.Fatal("a truncated entry decoded")
	}
}

// TestFailedLoadKeepsOrder: a load that fails keeps its records, in front
// of those committed while it ran, and once SQLite takes writes again
// every record is there once, in sequence order.
func TestFailedLoadKeepsOrder(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	if _, err := db.wconn.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	w := NewWaiter()
	const total = 3000 // under maxBacklog: held in memory, not spilled
	for i := range total {
		db.Audit(rec("get", fmt.Sprint(i)), w)
		if i == total/2 {
			if err := w.Wait(); err != nil {
				t.Fatal(err)
			}
			// The first half fails to load before the second is committed.
			eventually(t, "the loader to notice SQLite is read-only", func() bool { return !db.AuditLoading() })
		}
	}
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	db.lmu.Lock()
	held, spilled := len(db.lqueue)+db.linflight, db.spilled
	db.lmu.Unlock()
	if spilled || held == 0 {
		t.Fatalf("held %d records in memory (spilled %v); want them all held", held, spilled)
	}
	if _, err := db.wconn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the backlog to load", func() bool { return db.AuditStats().QueueDepth == 0 })
	rows, err := db.sql.QueryContext(ctx, "SELECT seq, path FROM audit ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	var prev int64
	for rows.Next() {
		var seq int64
		var path string
		if err := rows.Scan(&seq, &path); err != nil {
			t.Fatal(err)
		}
		if path != fmt.Sprint(i) || (i > 0 && seq <= prev) {
			t.Fatalf("row %d: seq %d path %q after seq %d; want path %d in rising seq", i, seq, path, prev, i)
		}
		prev = seq
		i++
	}
	if i != total {
		t.Fatalf("%d rows, want %d", i, total)
	}
}

// TestBacklogSpillsToJournal: while SQLite cannot be written, records keep
// reaching the journal (so answers go out), the copies held in memory stop
// at maxBacklog, and everything is loaded once SQLite is writable again.
func TestBacklogSpillsToJournal(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	if _, err := db.wconn.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	w := NewWaiter()
	total := maxBacklog + 3000
	for i := range total {
		db.Audit(rec("get", fmt.Sprint(i)), w)
		if i%500 == 0 {
			if err := w.Wait(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Wait(); err != nil {
		t.Fatalf("a journal write failed while only SQLite was read-only: %v", err)
	}
	db.lmu.Lock()
	held, spilled := len(db.lqueue), db.spilled
	db.lmu.Unlock()
	if held > maxBacklog || !spilled {
		t.Fatalf("%d records held in memory (spilled %v); want at most %d", held, spilled, maxBacklog)
	}
	eventually(t, "the loader to notice SQLite is read-only", func() bool { return !db.AuditLoading() })
	if _, err := db.wconn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the backlog to load", func() bool { return db.AuditStats().QueueDepth == 0 })
	if n := count(t, db); n != int64(total) {
		t.Fatalf("%d rows after recovery, want %d", n, total)
	}
	db.lmu.Lock()
	spilled = db.spilled
	db.lmu.Unlock()
	if spilled {
		t.Fatal("still loading from the journal after catching up")
	}
}
