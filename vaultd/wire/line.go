package wire

import (
	"bytes"
	"errors"
	"io"
)

// DefaultMaxLine is the default limit on one line, excluding its newline.
const DefaultMaxLine = 64 << 10

// ErrLineTooLong is returned by LineReader.ReadLine when a line passes the
// limit. The rest of the line has not been read; the connection should be
// closed.
var ErrLineTooLong = errors.New("line too long")

// LineReader reads newline-terminated lines of bounded length. Its buffer
// starts small and grows only as far as the limit, so an idle connection
// costs little and a hostile one cannot make it buffer more than the limit.
type LineReader struct {
	r     io.Reader
	max   int
	buf   []byte
	start int // first unread byte
	end   int // end of valid data
}

// NewLineReader returns a LineReader that refuses lines longer than max
// bytes (not counting the newline).
func NewLineReader(r io.Reader, max int) *LineReader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	size := 4096
	if size > max+1 {
		size = max + 1
	}
	return &LineReader{r: r, max: max, buf: make([]byte, size)}
}

// ReadLine returns the next line without its newline. The slice is valid
// until the next call. At end of input it returns io.EOF, or
// io.ErrUnexpectedEOF if a partial line was pending.
func (lr *LineReader) ReadLine() ([]byte, error) {
	scanned := 0
	for {
		if i := bytes.IndexByte(lr.buf[lr.start+scanned:lr.end], '\n'); i >= 0 {
			n := scanned + i
			if n > lr.max {
				return nil, ErrLineTooLong
			}
			line := lr.buf[lr.start : lr.start+n]
			lr.start += n + 1
			return line, nil
		}
		scanned = lr.end - lr.start
		if scanned > lr.max {
			return nil, ErrLineTooLong
		}
		if lr.end == len(lr.buf) {
			lr.makeRoom()
		}
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		if err != nil && n == 0 {
			if err == io.EOF && lr.end > lr.start {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// Buffered reports how many bytes have been read but not yet returned: a
// non-zero value means the peer has pipelined more requests.
func (lr *LineReader) Buffered() int { return lr.end - lr.start }

// makeRoom moves pending bytes to the front, or grows the buffer (doubling,
// at most to max+1 bytes) when they already fill it.
func (lr *LineReader) makeRoom() {
	pending := lr.end - lr.start
	if lr.start > 0 {
		copy(lr.buf, lr.buf[lr.start:lr.end])
		clear(lr.buf[pending:lr.end])
		lr.start, lr.end = 0, pending
		if pending < len(lr.buf) {
			return
		}
	}
	size := min(2*len(lr.buf), lr.max+1)
	if size <= len(lr.buf) {
		return
	}
	grown := make([]byte, size)
	copy(grown, lr.buf[:lr.end])
	clear(lr.buf) // the old buffer may have held a value being set
	lr.buf = grown
}

// Wipe zeroes the buffer. Call it when the connection closes: lines may
// have carried values.
func (lr *LineReader) Wipe() { clear(lr.buf) }
