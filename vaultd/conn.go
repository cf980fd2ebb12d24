package vaultd

import (
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/peercred"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// maxBatch bounds how many pipelined answers wait for one audit commit,
// and maxHold how long the first of them may wait.
const (
	maxBatch = 64
	maxHold  = 2 * time.Millisecond
)

// conn is one client connection.
type conn struct {
	s      *Server
	nc     net.Conn
	cred   peercred.Cred
	exe    string
	unit   string
	lr     *wire.LineReader
	waiter *sqlite.Waiter

	out     []byte    // encoded answers waiting for their audit rows
	pending []pending // one per answer in out
	scratch []byte

	lineStart    time.Time
	pendingSince time.Time // when the oldest pending answer was made

	wmu sync.Mutex    // serialises writes: answers here, events from sub
	sub *subscription // set by watch
}

// pending is an answer in conn.out. An answer that carries a secret is
// replaced by audit_unavailable if its audit row fails to commit.
type pending struct {
	start, end int
	secret     bool
	id         json.RawMessage
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	defer nc.Close()

	cred, err := peercred.Get(nc)
	if err != nil {
		// Fail closed: no credentials, no service.
		s.log.Warn("refusing a connection without peer credentials", "err", err)
		return
	}
	n := s.conns.Add(1)
	defer s.conns.Add(-1)

	c := &conn{s: s, nc: nc, cred: cred, waiter: sqlite.NewWaiter()}
	c.exe, c.unit = peercred.Exe(cred.PID), peercred.Unit(cred.PID)

	if !s.allowedUID(cred.UID) {
		c.refuse(wire.Errorf(wire.CodePermissionDenied, "uid %d may not use this vault", cred.UID), "uid not in allowed_uids")
		return
	}
	if n > s.maxConns.Load() {
		c.refuse(wire.Errorf(wire.CodeBusy, "too many connections; try again shortly"), "connection limit")
		return
	}

	s.track(c, true)
	defer s.track(c, false)
	defer c.unsubscribe()
	c.lr = wire.NewLineReader(deadlineReader{c}, int(s.maxLine.Load()))
	defer c.lr.Wipe()
	defer func() { clear(c.out[:cap(c.out)]) }()

	for {
		line, err := c.lr.ReadLine()
		if err != nil {
			if errors.Is(err, wire.ErrLineTooLong) {
				c.answerLineTooLong()
			}
			c.flush()
			return
		}
		// The next line's read timeout starts with its own first bytes,
		// even when they are already buffered (a long pipeline).
		c.lineStart = time.Time{}
		if len(trimSpace(line)) == 0 {
			continue
		}
		if len(c.pending) == 0 {
			c.pendingSince = time.Now()
		}
		c.handle(line)
		// Answers wait for one audit write together while the client keeps
		// sending, but never behind a slow request (a cache miss) for long.
		if c.lr.Buffered() == 0 || len(c.pending) >= maxBatch || time.Since(c.pendingSince) > maxHold {
			if !c.flush() {
				return
			}
		}
	}
}

// deadlineReader gives a connection two clocks: idle_timeout to start a
// request, and read_timeout to finish a line once started, so a client that
// trickles bytes (slowloris) is cut off quickly while an idle keep-alive
// connection is not.
type deadlineReader struct{ c *conn }

func (d deadlineReader) Read(p []byte) (int, error) {
	c := d.c
	now := time.Now()
	if c.s.draining.Load() && c.lr.Buffered() == 0 {
		return 0, net.ErrClosed
	}
	if c.lr.Buffered() > 0 {
		if c.lineStart.IsZero() {
			c.lineStart = now
		}
		_ = c.nc.SetReadDeadline(c.lineStart.Add(time.Duration(c.s.readTimeout.Load())))
	} else {
		c.lineStart = time.Time{}
		idle := now.Add(time.Duration(c.s.idleTimeout.Load()))
		if c.sub != nil {
			idle = time.Time{} // a watcher waits for events, not requests
		}
		_ = c.nc.SetReadDeadline(idle)
		if c.s.draining.Load() { // lost a race with Serve's shutdown
			return 0, net.ErrClosed
		}
	}
	n, err := c.nc.Read(p)
	if n > 0 && c.lineStart.IsZero() {
		// The line starts when its first bytes arrive, not when the wait
		// for them began: a client may idle for minutes first.
		c.lineStart = time.Now()
	}
	return n, err
}

// flush waits for the audit rows of the pending answers, then writes them.
// It reports whether the connection is still usable.
func (c *conn) flush() bool {
	if len(c.pending) == 0 {
		return true
	}
	if c.s.conns.Load() > 1 {
		// Let the other connections' goroutines that are ready to run
		// add their records first, so that one journal write (below)
		// carries many connections' records rather than one.
		runtime.Gosched()
	}
	auditErr := c.waiter.Wait()
	out := c.out
	if auditErr != nil {
		out = c.withoutSecrets()
	}
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Duration(c.s.readTimeout.Load())))
	_, err := c.nc.Write(out)
	c.wmu.Unlock()
	clear(c.out)
	c.out = c.out[:0]
	c.pending = c.pending[:0]
	return err == nil
}

// withoutSecrets rebuilds the pending answers with every secret-carrying
// one replaced by audit_unavailable.
func (c *conn) withoutSecrets() []byte {
	c.scratch = c.scratch[:0]
	for _, p := range c.pending {
		if p.secret {
			c.scratch = wire.AppendError(c.scratch, p.id, errAuditDown)
		} else {
			c.scratch = append(c.scratch, c.out[p.start:p.end]...)
		}
	}
	clear(c.out)
	c.out = append(c.out[:0], c.scratch...)
	clear(c.scratch)
	return c.out
}

var errAuditDown = wire.Errorf(wire.CodeAuditUnavailable, "the audit log cannot be written, so no secret is served; see the daemon log")

// refuse answers one error to a connection that is not served at all, and
// audits it.
func (c *conn) refuse(e *wire.Error, detail string) {
	c.s.audit(c, sqlite.Record{Method: "connect", Outcome: outcomeOf(e.Code), Code: string(e.Code), Detail: detail, Time: c.s.now()})
	_ = c.waiter.Wait()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.nc.Write(wire.AppendError(nil, nil, e))
}

func (c *conn) answerLineTooLong() {
	e := wire.Errorf(wire.CodeLineTooLong, "request line is longer than %d bytes; the connection will be closed", c.s.maxLine.Load())
	start := len(c.out)
	c.out = wire.AppendError(c.out, nil, e)
	c.pending = append(c.pending, pending{start: start, end: len(c.out)})
	c.s.audit(c, sqlite.Record{Outcome: wire.OutcomeError, Code: string(e.Code), Time: c.s.now()})
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func outcomeOf(code wire.Code) string {
	switch code {
	case "":
		return wire.OutcomeOK
	case wire.CodeUnauthenticated, wire.CodePermissionDenied:
		return wire.OutcomeDenied
	}
	return wire.OutcomeError
}

// audit fills in the peer and queues the record; the connection's waiter
// collects its commit.
func (s *Server) audit(c *conn, rec sqlite.Record) {
	rec.PID, rec.UID, rec.GID = c.cred.PID, int64(c.cred.UID), int64(c.cred.GID)
	rec.Exe, rec.Unit = c.exe, c.unit
	s.db.Audit(rec, c.waiter)
}
