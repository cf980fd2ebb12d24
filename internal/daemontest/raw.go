package daemontest

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Raw is a plain socket connection to the daemon, for the bytes no client
// would send: malformed lines, pipelines, half-written requests. Conn and
// R are there for tests that need the socket itself.
type Raw struct {
	d    *Daemon
	Conn net.Conn
	R    *bufio.Reader
}

// Raw connects to the daemon's socket; the connection is closed when the
// test ends.
func (d *Daemon) Raw() *Raw {
	d.t.Helper()
	c, err := net.Dial("unix", d.Socket)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { c.Close() })
	return &Raw{d: d, Conn: c, R: bufio.NewReaderSize(c, 1<<20)}
}

// Send writes s as it is, within 20 s.
func (r *Raw) Send(s string) {
	r.d.t.Helper()
	_ = r.Conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := r.Conn.Write([]byte(s)); err != nil {
		r.d.t.Fatalf("send: %v", err)
	}
}

// AnswerLine reads one answer line as sent, without its newline, within
// 20 s.
func (r *Raw) AnswerLine() []byte {
	r.d.t.Helper()
	_ = r.Conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := r.R.ReadBytes('\n')
	if err != nil {
		r.d.t.Fatalf("reading an answer: %v (got %q)", err, clipTail(line, 200))
	}
	return bytes.TrimSuffix(line, []byte("\n"))
}

// Answer reads and strictly decodes one answer.
func (r *Raw) Answer() wire.Response {
	r.d.t.Helper()
	line := r.AnswerLine()
	resp, err := wire.ParseResponse(line)
	if err != nil {
		r.d.t.Fatalf("bad answer %q: %v", clipTail(line, 200), err)
	}
	return resp
}

// Closed reports whether the daemon closed the connection within 10 s. A
// connection that merely stays silent is not closed.
func (r *Raw) Closed() bool {
	_ = r.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := r.R.ReadByte()
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// clipTail keeps the last n bytes of b, for failure messages about lines
// that may be megabytes long.
func clipTail(b []byte, n int) string {
	if len(b) > n {
		return "..." + string(b[len(b)-n:])
	}
	return string(b)
}
