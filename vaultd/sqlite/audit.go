package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/metrics"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// ErrAuditUnavailable is returned, wrapped, by Waiter.Wait when a record
// could not be committed, so the caller can refuse to serve what it could
// not log.
var ErrAuditUnavailable = errors.New("audit log unavailable")

const (
	maxBatch        = 2048            // records per SQLite transaction
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
	Detail    string // why a request was refused, e.g. "expired token", in the daemon's words; or a validated rotation trigger ("trigger=cli")
	Duration  time.Duration
}

// Waiter collects the fate of the records audited with it. Keep one per
// connection and reuse it. A Waiter belongs to one goroutine at a time.
// Make it with NewWaiter.
type Waiter struct {
	db   *DB    // set by Audit
	last *batch // the newest batch holding one of our records
	err  error  // the first failure since the last Wait; written under wmu
}

// NewWaiter returns a Waiter with nothing pending.
func NewWaiter() *Waiter { return &Waiter{} }

// batch is a group of records written to the journal with one write(2).
type batch struct {
	data    []byte
	recs    []Record
	waiters []*Waiter
	done    bool // written (or failed); guarded by wmu
}

// auditLog is the DB's audit state: group commit to the journal in front,
// a loader into SQLite behind.
type auditLog struct {
	jf     *os.File
	jwrite func([]byte) (int, error) // jf.Write; tests inject failures
	jbytes int64                     // journal size; guarded by wmu
	qmu    sync.Mutex                // guards cur, nextSeq, qclosed and the spares
	cur    *batch
	// spareRecs and spareWaiters are a done batch's emptied slices, for
	// the next batch.
	spareRecs    []Record
	spareWaiters []*Waiter
	nextSeq      int64
	qclosed      bool
	wmu          sync.Mutex // held by the group commit leader
	durable      atomic.Int64

	lmu       sync.Mutex
	lqueue    []Record // journaled, not yet in SQLite (unless spilled)
	lspare    []Record // an emptied queue kept for reuse, so appends need not regrow one
	linflight int      // records the loader took from lqueue and is inserting
	spilled   bool     // lqueue overflowed: load from the journal file instead
	lkick     chan struct{}
	fkick     chan struct{}
	loaded    atomic.Int64
	loadFail  atomic.Bool

	wconn      *sql.Conn           // the loader's own connection
	args       []driver.NamedValue // the loader's insert arguments, reused
	kick       chan struct{}       // cap 1; SetRetention asks for a retention check
	stop       chan struct{}
	writerDone chan struct{}
	flusherEnd chan struct{}

	retention atomic.Int64 // time.Duration; 0 keeps rows forever

	committed, failed, batches atomic.Uint64
	lastCommit                 atomic.Int64 // time.Duration
	commitLatency              metrics.Histogram
	unhealthy                  atomic.Bool
	lastFailure                atomic.Int64  // unix ns of the last failed journal write
	pruneSteps                 atomic.Uint64 // retention chunks run; for tests

	lastFailLog time.Time // guarded by wmu
}

// AuditStats describes the audit log.
type AuditStats struct {
	Committed  uint64        // records written to the journal
	Failed     uint64        // records that could not be written
	QueueDepth int           // journaled records not yet loaded into SQLite
	LastCommit time.Duration // how long the last journal write took
	Batches    uint64        // journal writes
}

var errClosedAudit = fmt.Errorf("%w: %w", ErrAuditUnavailable, ErrClosed)

// loadThreshold and loadEvery pace the loader: it copies the journal into
// SQLite when this many records are waiting, or this often.
const (
	loadThreshold = 1024
	loadEvery     = 200 * time.Millisecond
	// maxBacklog bounds the unloaded records held in memory; past it the
	// loader reads the journal file instead.
	maxBacklog = 16384
	// spareCap bounds the emptied queue kept for reuse (about 230 bytes
	// a record).
	spareCap = 4096
)

// journalTruncateAt is the journal size past which it is truncated once
// SQLite has caught up.
const journalTruncateAt = 256 << 10

func (db *DB) startAudit(ctx context.Context) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	db.wconn = conn
	db.args = make([]driver.NamedValue, auditColumns*rowsPerInsert)
	for i := range db.args {
		db.args[i].Ordinal = i + 1
	}
	if err := db.openJournal(ctx); err != nil {
		conn.Close()
		return err
	}
	db.kick = make(chan struct{}, 1)
	db.lkick = make(chan struct{}, 1)
	db.fkick = make(chan struct{}, 1)
	db.stop = make(chan struct{})
	db.writerDone = make(chan struct{})
	db.flusherEnd = make(chan struct{})
	go db.runLoader()
	go db.runFlusher()
	return nil
}

// openJournal opens the journal, loads what it holds beyond SQLite's last
// row (the records of a daemon that died before its loader caught up), and
// empties it.
func (db *DB) openJournal(ctx context.Context) error {
	f, err := os.OpenFile(db.path+".journal", os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	recs, _, err := readJournal(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("audit journal: %w", err)
	}
	var maxSeq int64
	if err := db.wconn.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM audit`).Scan(&maxSeq); err != nil {
		f.Close()
		return err
	}
	var missing []Record
	for _, r := range recs {
		if r.Seq > maxSeq {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		if err := db.insertRecords(missing); err != nil {
			f.Close()
			return fmt.Errorf("audit journal: replaying %d records: %w", len(missing), err)
		}
		slog.Info("audit: replayed records from the journal", "records", len(missing))
		maxSeq = missing[len(missing)-1].Seq
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return fmt.Errorf("audit journal: %w", err)
	}
	db.jf, db.jwrite, db.jbytes = f, f.Write, 0
	db.nextSeq = maxSeq + 1
	db.durable.Store(maxSeq)
	db.loaded.Store(maxSeq)
	return nil
}

func (db *DB) stopAudit() error {
	db.qmu.Lock()
	db.qclosed = true
	db.qmu.Unlock()
	db.wmu.Lock()
	db.commitLocked()
	db.wmu.Unlock()
	close(db.stop)
	<-db.flusherEnd
	<-db.writerDone
	return errors.Join(db.wconn.Close(), db.jf.Close())
}

// Audit records rec. It does not block on I/O: the record joins the
// current batch, and w.Wait (or, with a nil w, the flusher) writes it.
func (db *DB) Audit(rec Record, w *Waiter) {
	if rec.Time.IsZero() {
		rec.Time = db.Now()
	}
	db.qmu.Lock()
	if db.qclosed {
		db.qmu.Unlock()
		db.failed.Add(1)
		if w != nil && w.err == nil {
			w.err = errClosedAudit
		}
		return
	}
	rec.Seq = db.nextSeq
	db.nextSeq++
	b := db.cur
	if b == nil {
		b = &batch{data: getBuf(), recs: db.spareRecs, waiters: db.spareWaiters}
		db.spareRecs, db.spareWaiters = nil, nil
		db.cur = b
	}
	b.data = appendEntry(b.data, &rec)
	b.recs = append(b.recs, rec)
	if w != nil && w.last != b {
		w.db, w.last = db, b
		b.waiters = append(b.waiters, w)
	}
	db.qmu.Unlock()
	if w == nil {
		select {
		case db.fkick <- struct{}{}:
		default:
		}
	}
}

// Wait blocks until every record audited with w since the last Wait is in
// the journal or has failed. If any failed it returns an error wrapping
// ErrAuditUnavailable. Either way w is then ready for the next request.
//
// Group commit: the first waiter to take wmu writes every record queued
// by anyone so far with one write(2); waiters that arrive meanwhile queue
// up behind it and usually find their records already written.
func (w *Waiter) Wait() error {
	db, b := w.db, w.last
	if b == nil || db == nil {
		err := w.err
		w.err = nil
		return err
	}
	db.wmu.Lock()
	if !b.done {
		db.commitLocked()
	}
	err := w.err
	w.err, w.last = nil, nil
	db.wmu.Unlock()
	return err
}

// commitLocked writes the current batch to the journal. wmu is held.
func (db *DB) commitLocked() {
	db.qmu.Lock()
	b := db.cur
	db.cur = nil
	db.qmu.Unlock()
	if b == nil {
		return
	}
	start := time.Now()
	n, err := db.jwrite(b.data)
	took := time.Since(start)
	db.lastCommit.Store(int64(took))
	db.commitLatency.Observe(took)
	if err != nil {
		if n > 0 {
			// Cut a torn entry off, so the journal stays readable.
			_ = db.jf.Truncate(db.jbytes)
		}
		db.failed.Add(uint64(len(b.recs)))
		db.noteFailure(err, len(b.recs))
		werr := fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
		for _, w := range b.waiters {
			if w.err == nil {
				w.err = werr
			}
		}
	} else {
		db.jbytes += int64(n)
		db.committed.Add(uint64(len(b.recs)))
		db.batches.Add(1)
		db.durable.Store(b.recs[len(b.recs)-1].Seq)
		if db.unhealthy.Swap(false) {
			slog.Info("audit: writes resumed", "failed_total", db.failed.Load())
		}
		db.lmu.Lock()
		switch {
		case db.spilled:
			// The loader reads these from the journal file.
		case len(db.lqueue)+db.linflight+len(b.recs) > maxBacklog:
			// SQLite has been failing for a while: stop holding copies in
			// memory. Every record is in the journal, which is not
			// truncated until SQLite has caught up.
			db.spilled = true
			db.lqueue = nil
		default:
			db.lqueue = append(db.lqueue, b.recs...)
		}
		full := len(db.lqueue) >= loadThreshold || db.spilled
		db.lmu.Unlock()
		// The loader runs on its own clock, so that SQLite's cost is paid
		// per thousand records rather than per request; a full queue or a
		// query (flush) wakes it early.
		if full {
			select {
			case db.lkick <- struct{}{}:
			default:
			}
		}
	}
	putBuf(b.data)
	// Once done, nobody reads the batch's slices (its waiters look only at
	// done and their own error): keep them for the next batch, emptied,
	// so that a busy daemon does not regrow two slices per write.
	clear(b.recs)
	clear(b.waiters)
	db.qmu.Lock()
	if db.spareRecs == nil && cap(b.recs) <= maxSpareBatch {
		db.spareRecs = b.recs[:0]
	}
	if db.spareWaiters == nil && cap(b.waiters) <= maxSpareBatch {
		db.spareWaiters = b.waiters[:0]
	}
	db.qmu.Unlock()
	b.data, b.recs, b.waiters, b.done = nil, nil, nil, true
}

// maxSpareBatch bounds the record and waiter slices kept for reuse.
const maxSpareBatch = 1024

// runFlusher writes records audited without a waiter, promptly.
func (db *DB) runFlusher() {
	defer close(db.flusherEnd)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-db.fkick:
		case <-tick.C:
		}
		db.wmu.Lock()
		db.commitLocked()
		db.wmu.Unlock()
	}
}

var bufPool = sync.Pool{New: func() any { return make([]byte, 0, 4096) }}

func getBuf() []byte { return bufPool.Get().([]byte)[:0] }

func putBuf(b []byte) {
	if cap(b) <= 1<<20 {
		bufPool.Put(b[:0]) //nolint:staticcheck // a slice header is fine here
	}
}

// flush makes every record audited before the call visible in SQLite, so
// that a query sees the caller's own writes.
func (db *DB) flush(ctx context.Context) error {
	db.qmu.Lock()
	closed := db.qclosed
	db.qmu.Unlock()
	if closed {
		return ErrClosed
	}
	db.wmu.Lock()
	db.commitLocked()
	target := db.durable.Load()
	db.wmu.Unlock()
	select {
	case db.lkick <- struct{}{}:
	default:
	}
	for db.loaded.Load() < target {
		if db.loadFail.Load() {
			return fmt.Errorf("%w: the audit database cannot be written", ErrAuditUnavailable)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// queueDepth is the number of journaled records not yet in SQLite.
func (db *DB) queueDepth() int {
	return int(max(db.durable.Load()-db.loaded.Load(), 0))
}

// AuditLoading reports whether journaled records are reaching SQLite; false
// while the database cannot be written (the records wait in the journal).
func (db *DB) AuditLoading() bool { return !db.loadFail.Load() }

// AuditCommitLatency is the histogram of audit journal writes (one per
// group of records) since the database was opened.
func (db *DB) AuditCommitLatency() wire.Histogram { return db.commitLatency.Snapshot() }

// AuditHealthy reports whether the last audit commit succeeded.
func (db *DB) AuditHealthy() bool { return !db.unhealthy.Load() }

// AuditFailedWithin reports whether a journal write failed in the last d.
// On a nearly full disk a small write can succeed between failing ones,
// so AuditHealthy alone flips back and forth; status uses this too.
func (db *DB) AuditFailedWithin(d time.Duration) bool {
	last := db.lastFailure.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < d
}

// AuditStats returns the writer's counters.
func (db *DB) AuditStats() AuditStats {
	return AuditStats{
		Committed:  db.committed.Load(),
		Failed:     db.failed.Load(),
		QueueDepth: db.queueDepth(),
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

// runLoader copies journaled records into SQLite, in big transactions,
// and truncates the journal when SQLite has caught up. Retention runs here
// too, a chunk at a time, when there is nothing to load.
func (db *DB) runLoader() {
	defer close(db.writerDone)
	tick := time.NewTicker(retentionCheck)
	defer tick.Stop()
	load := time.NewTicker(loadEvery)
	defer load.Stop()
	backlog := false // the last retention chunk was full: more old rows remain
	backoff := time.Duration(0)
	for {
		stopping := false
		select {
		case <-db.stop:
			stopping = true
		case <-db.lkick:
		case <-load.C:
		case <-db.kick:
			backlog = db.pruneStep()
		case <-tick.C:
			backlog = db.pruneStep()
		case <-time.After(loaderIdle(backlog, backoff)):
			if backlog {
				backlog = db.pruneStep()
			}
		}
		if err := db.loadQueued(); err != nil {
			backoff = min(max(2*backoff, 10*time.Millisecond), 5*time.Second)
			if stopping {
				return // the records stay in the journal for the next start
			}
			continue
		}
		backoff = 0
		if stopping {
			return
		}
	}
}

func loaderIdle(backlog bool, backoff time.Duration) time.Duration {
	switch {
	case backoff > 0:
		return backoff
	case backlog:
		return 0
	}
	return time.Hour
}

// loadQueued inserts every queued record, then truncates the journal if
// nothing in it is missing from SQLite.
func (db *DB) loadQueued() error {
	db.lmu.Lock()
	spilled := db.spilled
	db.lmu.Unlock()
	if spilled {
		return db.loadSpilled()
	}
	for {
		// Take the whole queue and give the committers the spare one, so
		// that neither side waits on SQLite and no queue is regrown from
		// nothing after every load.
		db.lmu.Lock()
		q := db.lqueue
		if len(q) == 0 {
			db.lmu.Unlock()
			break
		}
		db.lqueue, db.lspare, db.linflight = db.lspare, nil, len(q)
		db.lmu.Unlock()

		done := 0
		var err error
		for done < len(q) {
			n := min(len(q)-done, maxBatch)
			if err = db.insertRecords(q[done : done+n]); err != nil {
				break
			}
			done += n
			db.loaded.Store(q[done-1].Seq)
		}

		db.lmu.Lock()
		db.linflight = 0
		switch {
		case err != nil && !db.spilled:
			// What was not loaded goes back in front of what was
			// committed meanwhile, in order. (q's array is the loader's
			// alone now, so appending to its tail is safe.)
			db.lqueue = append(q[done:], db.lqueue...)
		case err != nil:
			// Spilled meanwhile: the rest is read from the journal file.
		default:
			clear(q) // drop the records' strings
			if db.lspare == nil && cap(q) <= spareCap {
				db.lspare = q[:0]
			}
		}
		db.lmu.Unlock()
		if err != nil {
			if !db.loadFail.Swap(true) {
				slog.Error("audit: loading the journal into the database failed; records are safe in the journal and will be retried", "records", len(q)-done, "err", err)
			}
			return err
		}
		if db.loadFail.Swap(false) {
			slog.Info("audit: loading resumed")
		}
	}
	db.wmu.Lock()
	if db.jbytes > journalTruncateAt && db.loaded.Load() == db.durable.Load() {
		if err := db.jf.Truncate(0); err == nil {
			db.jbytes = 0
		}
	}
	db.wmu.Unlock()
	return nil
}

// loadSpilled loads from the journal file what SQLite lacks, a chunk at a
// time, after the in-memory queue overflowed. Once caught up (checked while
// holding the journal lock, so no write slips between), records go through
// memory again.
func (db *DB) loadSpilled() error {
	f, err := os.Open(db.jf.Name())
	if err != nil {
		return err
	}
	defer f.Close()
	var batch []Record
	flushBatch := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := db.insertRecords(batch); err != nil {
			if !db.loadFail.Swap(true) {
				slog.Error("audit: loading the journal into the database failed; records are safe in the journal and will be retried", "err", err)
			}
			return err
		}
		db.loaded.Store(batch[len(batch)-1].Seq)
		batch = batch[:0]
		return nil
	}
	err = scanJournal(f, func(r Record) error {
		if r.Seq <= db.loaded.Load() {
			return nil
		}
		batch = append(batch, r)
		if len(batch) == maxBatch {
			return flushBatch()
		}
		return nil
	})
	if err == nil {
		err = flushBatch()
	}
	if err != nil {
		return err
	}
	if db.loadFail.Swap(false) {
		slog.Info("audit: loading resumed")
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.loaded.Load() == db.durable.Load() {
		db.lmu.Lock()
		db.spilled = false
		db.lmu.Unlock()
		if err := db.jf.Truncate(0); err == nil {
			db.jbytes = 0
		}
	}
	return nil
}

// insertRecords writes records, with their sequence numbers, in one
// transaction on the loader's connection, and notes each token's last use.
//
// It talks to the driver directly (sql.Conn.Raw): database/sql would copy
// every statement's 1,024 arguments into a new []driver.NamedValue, about
// 770 bytes of garbage a record, where the loader reuses one. The two
// INSERT statements are prepared once a call, i.e. once per thousand-odd
// records.
func (db *DB) insertRecords(recs []Record) error {
	return db.wconn.Raw(func(dc any) error {
		conn, ok := dc.(driverConn)
		if !ok {
			return errors.New("the sqlite driver's connection cannot prepare or exec")
		}
		return db.insertWith(conn, recs)
	})
}

// driverConn is what the loader needs of the driver's connection.
type driverConn interface {
	driver.ConnPrepareContext
	driver.ExecerContext
}

func (db *DB) insertWith(conn driverConn, recs []Record) (err error) {
	ctx := context.Background()
	all := recs
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE", nil); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// SQLite may already have rolled back (SQLITE_FULL does); then
			// this fails harmlessly.
			_, _ = conn.ExecContext(ctx, "ROLLBACK", nil)
		}
	}()
	// Many rows per statement: the per-statement cost of the driver is
	// most of an insert's cost.
	if len(recs) >= rowsPerInsert {
		if err = db.execRows(ctx, conn, rowsPerInsert, recs[:len(recs)/rowsPerInsert*rowsPerInsert]); err != nil {
			return err
		}
		recs = recs[len(recs)/rowsPerInsert*rowsPerInsert:]
	}
	if len(recs) > 0 {
		if err = db.execRows(ctx, conn, 1, recs); err != nil {
			return err
		}
	}
	if err = noteLastUse(ctx, conn, all); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT", nil)
	return err
}

// execRows inserts recs with a statement of rows rows, prepared here;
// len(recs) is a multiple of rows.
func (db *DB) execRows(ctx context.Context, conn driverConn, rows int, recs []Record) error {
	query := insertOneSQL
	if rows == rowsPerInsert {
		query = insertManySQL
	}
	st, err := conn.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer st.Close()
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		return errors.New("the sqlite driver's statement cannot exec")
	}
	args := db.args[:auditColumns*rows]
	defer func() {
		for i := range args {
			args[i].Value = nil // let the records' strings go; keep the ordinals
		}
	}()
	for len(recs) > 0 {
		for i := range rows {
			setRecordArgs(args[i*auditColumns:(i+1)*auditColumns], &recs[i])
		}
		if _, err := ex.ExecContext(ctx, args); err != nil {
			return err
		}
		recs = recs[rows:]
	}
	return nil
}

// noteLastUse records on each token the newest of recs made with it: one
// UPDATE per token in the batch, not one per record. A record older than
// what the token holds (loaded late from the journal) changes nothing.
func noteLastUse(ctx context.Context, conn driverConn, recs []Record) error {
	var newest map[string]*Record
	for i := range recs {
		r := &recs[i]
		if r.TokenID == "" {
			continue
		}
		if newest == nil {
			newest = make(map[string]*Record, 4)
		}
		if n, ok := newest[r.TokenID]; !ok || r.Time.After(n.Time) {
			newest[r.TokenID] = r
		}
	}
	for id, r := range newest {
		ns := r.Time.UnixNano()
		args := []driver.NamedValue{{Ordinal: 1, Value: ns}, {Ordinal: 2, Value: r.UID}, {Ordinal: 3, Value: nullStr(r.Unit)}, {Ordinal: 4, Value: id}, {Ordinal: 5, Value: ns}}
		if _, err := conn.ExecContext(ctx, `UPDATE tokens SET last_used_at = ?, last_uid = ?, last_unit = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`, args); err != nil {
			return err
		}
	}
	return nil
}

const (
	auditColumns  = 16
	rowsPerInsert = 64
)

// The INSERT statements, for one row and for rowsPerInsert rows.
var (
	insertOneSQL  = insertSQL(1)
	insertManySQL = insertSQL(rowsPerInsert)
)

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO audit (seq, time, request_id, token_id, client, pid, uid, gid, exe, unit, method, path, outcome, code, detail, duration_us) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return b.String()
}

// setRecordArgs sets the values of one row's auditColumns arguments, in
// insertSQL's column order, as driver values (int64, string or nil).
func setRecordArgs(a []driver.NamedValue, r *Record) {
	a[0].Value = r.Seq
	a[1].Value = r.Time.UnixNano()
	a[2].Value = nullStr(r.RequestID)
	a[3].Value = nullStr(r.TokenID)
	a[4].Value = nullStr(r.Client)
	a[5].Value = int64(r.PID)
	a[6].Value = r.UID
	a[7].Value = r.GID
	a[8].Value = nullStr(r.Exe)
	a[9].Value = nullStr(r.Unit)
	a[10].Value = r.Method
	a[11].Value = nullStr(r.Path)
	a[12].Value = r.Outcome
	a[13].Value = nullStr(r.Code)
	a[14].Value = nullStr(r.Detail)
	a[15].Value = r.Duration.Microseconds()
}

// noteFailure logs a failed batch: always when the log turns unhealthy,
// then at most every failureLogEvery, so a full disk does not also flood
// the journal. Only counts are logged, never record contents.
func (db *DB) noteFailure(err error, n int) {
	db.lastFailure.Store(time.Now().UnixNano())
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
	if err := db.flush(ctx); err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
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
