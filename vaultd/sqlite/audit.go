package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrAuditUnavailable is returned, wrapped, by Waiter.Wait when a record
// could not be committed, so the caller can refuse to serve what it could
// not log.
var ErrAuditUnavailable = errors.New("audit log unavailable")

const (
	queueSize       = 8192            // records waiting for the writer; Audit blocks beyond this
	maxBatch        = 512             // records per transaction
	pruneChunk      = 1000            // audit rows deleted per retention step
	retentionCheck  = 5 * time.Second // how often an idle writer looks for old rows
	failureLogEvery = 10 * time.Second
)

// Record is one audit log entry. Empty strings are stored as NULL.
type Record struct {
	Seq       int64 // assigned by the database; ignored by Audit
	Time      time.Time
	RequestID string
	TokenID   string
	Client    string
	PID       int32
	UID, GID  int64
	Exe       string
	Unit      string
	Method    string
	Path      string
	Outcome   string
	Code      string
	Detail    string // why a request was refused, e.g. "expired token"; never input
	Duration  time.Duration
}

// Waiter collects the fate of the records audited with it. Keep one per
// connection and reuse it: in steady state neither Audit nor Wait
// allocates. A Waiter belongs to one goroutine at a time. Make it with
// NewWaiter.
type Waiter struct {
	pending atomic.Int64
	signal  chan struct{} // cap 1; a token means pending may have reached zero
	mu      sync.Mutex
	err     error // the first failure since the last Wait
}

// NewWaiter returns a Waiter with nothing pending.
func NewWaiter() *Waiter {
	return &Waiter{signal: make(chan struct{}, 1)}
}

// Wait blocks until every record audited with w since the last Wait has
// been committed or has failed. If any failed it returns an error wrapping
// ErrAuditUnavailable. Either way w is then ready for the next request.
func (w *Waiter) Wait() error {
	return w.wait(nil)
}

// wait is Wait with a way out; done may be nil. A stale token in signal
// only costs one more turn of the loop, which is what makes a cap-1 channel
// enough.
func (w *Waiter) wait(done <-chan struct{}) error {
	for w.pending.Load() > 0 {
		select {
		case <-w.signal:
		case <-done:
			return context.Canceled
		}
	}
	w.mu.Lock()
	err := w.err
	w.err = nil
	w.mu.Unlock()
	return err
}

// finish marks one record done, failed if err is not nil.
func (w *Waiter) finish(err error) {
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
	if w.pending.Add(-1) == 0 {
		select {
		case w.signal <- struct{}{}:
		default: // a token is already there
		}
	}
}

// item is what travels to the writer. A barrier is not a record: its
// waiter is released once everything queued before it has been handled.
type item struct {
	rec     Record
	w       *Waiter
	barrier bool
}

// auditLog is the DB's audit writer state.
type auditLog struct {
	queue chan item
	// qmu guards qclosed against sends on queue: senders hold it shared,
	// Close takes it exclusively before closing the channel.
	qmu     sync.RWMutex
	qclosed bool

	wconn      *sql.Conn // the writer's own connection
	insert     *sql.Stmt
	kick       chan struct{} // cap 1; SetRetention asks for a retention check
	writerDone chan struct{}

	retention atomic.Int64 // time.Duration; 0 keeps rows forever

	committed, failed, batches atomic.Uint64
	lastCommit                 atomic.Int64 // time.Duration
	unhealthy                  atomic.Bool
	pruneSteps                 atomic.Uint64 // retention chunks run; for tests

	lastFailLog time.Time // writer goroutine only
}

// AuditStats describes the audit writer.
type AuditStats struct {
	Committed  uint64        // records committed
	Failed     uint64        // records that could not be committed
	QueueDepth int           // records waiting for the writer now
	LastCommit time.Duration // how long the last batch's transaction took
	Batches    uint64        // transactions committed
}

var errClosedAudit = fmt.Errorf("%w: %w", ErrAuditUnavailable, ErrClosed)

func (db *DB) startAudit(ctx context.Context) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	ins, err := conn.PrepareContext(ctx,
		`INSERT INTO audit (time, request_id, token_id, client, pid, uid, gid, exe, unit, method, path, outcome, code, detail, duration_us)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		conn.Close()
		return err
	}
	db.queue = make(chan item, queueSize)
	db.wconn, db.insert = conn, ins
	db.kick = make(chan struct{}, 1)
	db.writerDone = make(chan struct{})
	go db.runWriter()
	return nil
}

// stopAudit refuses new records, waits for the writer to commit the queued
// ones and releases its connection.
func (db *DB) stopAudit() error {
	db.qmu.Lock()
	db.qclosed = true
	db.qmu.Unlock()
	// No sender is inside the critical section any more, so closing is safe;
	// the writer drains what is queued and returns.
	close(db.queue)
	<-db.writerDone
	return errors.Join(db.insert.Close(), db.wconn.Close())
}

// Audit queues rec for the log. A zero rec.Time is set to db.Now(). If w is
// not nil, w.Wait reports whether rec was committed. Audit blocks while the
// queue is full; it never drops a record.
func (db *DB) Audit(rec Record, w *Waiter) {
	if rec.Time.IsZero() {
		rec.Time = db.Now()
	}
	db.enqueue(item{rec: rec, w: w})
}

func (db *DB) enqueue(it item) {
	if it.w != nil {
		it.w.pending.Add(1)
	}
	db.qmu.RLock()
	if db.qclosed {
		db.qmu.RUnlock()
		if !it.barrier {
			db.failed.Add(1)
		}
		if it.w != nil {
			it.w.finish(errClosedAudit)
		}
		return
	}
	db.queue <- it
	db.qmu.RUnlock()
}

// flush waits until every record queued before the call has been handled,
// so that a query sees the caller's own writes.
func (db *DB) flush(ctx context.Context) error {
	w := NewWaiter()
	db.enqueue(item{w: w, barrier: true})
	if err := w.wait(ctx.Done()); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// AuditHealthy reports whether the last audit commit succeeded.
func (db *DB) AuditHealthy() bool { return !db.unhealthy.Load() }

// AuditStats returns the writer's counters.
func (db *DB) AuditStats() AuditStats {
	return AuditStats{
		Committed:  db.committed.Load(),
		Failed:     db.failed.Load(),
		QueueDepth: len(db.queue),
		LastCommit: time.Duration(db.lastCommit.Load()),
		Batches:    db.batches.Load(),
	}
}

// SetRetention makes the writer delete audit rows older than maxAge, a
// chunk at a time while it is idle. Zero keeps rows forever.
func (db *DB) SetRetention(maxAge time.Duration) {
	db.retention.Store(int64(max(maxAge, 0)))
	select {
	case db.kick <- struct{}{}:
	default:
	}
}

// runWriter is the single audit writer. It blocks for a record, takes what
// else is already queued, and commits them together: batches grow with
// load, and an idle daemon commits each record at once. Retention runs
// between batches, one chunk at a time: when a check is due, and then
// again whenever the queue is empty until no old rows remain.
func (db *DB) runWriter() {
	defer close(db.writerDone)
	batch := make([]item, 0, maxBatch)
	tick := time.NewTicker(retentionCheck)
	defer tick.Stop()
	backlog := false // the last chunk was full: more old rows remain
	for {
		var it item
		var ok bool
		select {
		case it, ok = <-db.queue:
		case <-tick.C:
			backlog = db.pruneStep()
			continue
		case <-db.kick:
			backlog = db.pruneStep()
			continue
		default:
			if backlog {
				backlog = db.pruneStep()
				continue
			}
			select {
			case it, ok = <-db.queue:
			case <-tick.C:
				backlog = db.pruneStep()
				continue
			case <-db.kick:
				backlog = db.pruneStep()
				continue
			}
		}
		if !ok {
			return
		}
		batch = append(batch[:0], it)
		open := true
	drain:
		for len(batch) < maxBatch {
			select {
			case it, ok := <-db.queue:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, it)
			default:
				break drain
			}
		}
		db.commitBatch(batch)
		clear(batch) // let the records' strings go
		if !open {
			return
		}
	}
}

// commitBatch writes the batch's records in one transaction and releases
// their waiters.
func (db *DB) commitBatch(batch []item) {
	n := 0
	for i := range batch {
		if !batch[i].barrier {
			n++
		}
	}
	var werr error
	if n > 0 {
		start := time.Now()
		err := db.insertBatch(batch)
		db.lastCommit.Store(int64(time.Since(start)))
		if err != nil {
			db.failed.Add(uint64(n))
			db.noteFailure(err, n)
			werr = fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
		} else {
			db.committed.Add(uint64(n))
			db.batches.Add(1)
			if db.unhealthy.Swap(false) {
				slog.Info("audit: commits resumed", "failed_total", db.failed.Load())
			}
		}
	}
	for i := range batch {
		it := &batch[i]
		switch {
		case it.w == nil:
		case it.barrier:
			it.w.finish(nil)
		default:
			it.w.finish(werr)
		}
	}
}

func (db *DB) insertBatch(batch []item) (err error) {
	ctx := context.Background()
	if _, err := db.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// SQLite may already have rolled back (SQLITE_FULL does); then
			// this fails harmlessly.
			_, _ = db.wconn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	for i := range batch {
		if batch[i].barrier {
			continue
		}
		r := &batch[i].rec
		_, err = db.insert.ExecContext(ctx,
			r.Time.UnixNano(), nullStr(r.RequestID), nullStr(r.TokenID), nullStr(r.Client),
			r.PID, r.UID, r.GID, nullStr(r.Exe), nullStr(r.Unit),
			r.Method, nullStr(r.Path), r.Outcome, nullStr(r.Code), nullStr(r.Detail), r.Duration.Microseconds())
		if err != nil {
			return err
		}
	}
	_, err = db.wconn.ExecContext(ctx, "COMMIT")
	return err
}

// noteFailure logs a failed batch: always when the log turns unhealthy,
// then at most every failureLogEvery, so a full disk does not also flood
// the journal. Only counts are logged, never record contents.
func (db *DB) noteFailure(err error, n int) {
	wasHealthy := !db.unhealthy.Swap(true)
	now := time.Now()
	if wasHealthy || now.Sub(db.lastFailLog) >= failureLogEvery {
		db.lastFailLog = now
		slog.Error("audit: commit failed; requests that need the audit log are refused",
			"records", n, "failed_total", db.failed.Load(), "err", err)
	}
}

// pruneStep deletes one chunk of rows older than the retention period, on
// the writer's connection so it never competes with a batch. It reports
// whether the chunk was full, that is whether old rows probably remain.
func (db *DB) pruneStep() bool {
	maxAge := time.Duration(db.retention.Load())
	if maxAge <= 0 {
		return false
	}
	n, err := pruneChunkOn(context.Background(), db.wconn, db.Now().Add(-maxAge))
	db.pruneSteps.Add(1)
	if err != nil {
		slog.Warn("audit: retention failed; will retry", "err", err)
		return false
	}
	return n == pruneChunk
}

// PruneNow deletes every audit row older than the retention period, in
// chunks, and returns how many it deleted. It does nothing when retention
// is zero.
func (db *DB) PruneNow(ctx context.Context) (deleted int64, err error) {
	maxAge := time.Duration(db.retention.Load())
	if maxAge <= 0 {
		return 0, nil
	}
	cutoff := db.Now().Add(-maxAge)
	for {
		n, err := pruneChunkOn(ctx, db.sql, cutoff)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("prune audit: %w", err)
		}
		if n < pruneChunk {
			return deleted, nil
		}
	}
}

// execer is what pruneChunkOn needs of *sql.DB and *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// pruneChunkOn deletes up to pruneChunk of the oldest rows before cutoff, in
// one short autocommit statement. The subquery orders by time, not seq, so
// that SQLite walks the time index from its start and stops at the cutoff;
// ordered by seq it scans the table in rowid order, and once no old rows
// are left every check would read the whole table.
func pruneChunkOn(ctx context.Context, e execer, cutoff time.Time) (int64, error) {
	res, err := e.ExecContext(ctx,
		`DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE time < ? ORDER BY time LIMIT ?)`,
		cutoff.UnixNano(), pruneChunk)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}
