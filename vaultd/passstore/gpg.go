package passstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jamditis/jawn-vault/vaultd/backend"
)

const (
	// waitDelay is how long Wait waits for gpg's pipes to close after gpg
	// is killed or exits; a grandchild holding them cannot keep us stuck.
	waitDelay = 2 * time.Second
	// maxStderr bounds how much of a child's stderr is kept.
	maxStderr = 4 << 10
	// maxSummary bounds the stderr summary put into an error.
	maxSummary = 300
)

var errOutputTooLarge = errors.New("output too large")

// runGPG runs gpg with stdin as input and returns its standard output,
// bounded by MaxEntrySize. sizeHint presizes the output buffer so that
// plaintext is rarely copied. The caller wipes the result. Errors wrap
// backend.ErrUnavailable (or ErrRefused for oversized output) and carry a
// summary of gpg's stderr, which never holds plaintext.
func (s *Store) runGPG(ctx context.Context, stdin []byte, sizeHint int, args ...string) ([]byte, error) {
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// --no-random-seed-file: concurrent gpg runs on one home otherwise queue
	// on the random_seed file's lock, and under load some hit the timeout
	// (found with 100 concurrent writers); the kernel's RNG needs no seed.
	full := append([]string{"--batch", "--quiet", "--no-tty", "--no-random-seed-file"}, args...)
	cmd := exec.CommandContext(tctx, s.gpg, full...)
	cmd.Env = s.env
	cmd.Stdin = bytes.NewReader(stdin)
	out := newSecretBuffer(sizeHint, MaxEntrySize)
	cmd.Stdout = out
	stderr := &cappedBuffer{max: maxStderr}
	cmd.Stderr = stderr
	// CommandContext kills gpg when tctx ends; Run always waits, so the
	// child is reaped on every path.
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if err == nil {
		return out.buf, nil
	}
	out.wipe()
	switch {
	case out.overflow:
		return nil, fmt.Errorf("%w: gpg produced more than %d bytes", backend.ErrTooLarge, MaxEntrySize)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: gpg: %w", backend.ErrUnavailable, ctx.Err())
	case tctx.Err() != nil:
		return nil, fmt.Errorf("%w: gpg timed out after %s and was killed (waiting for a passphrase or a stuck gpg-agent?)", backend.ErrUnavailable, s.timeout)
	}
	if msg := summarize(stderr.Bytes()); msg != "" {
		return nil, fmt.Errorf("%w: %s (%v)", backend.ErrUnavailable, msg, err)
	}
	return nil, fmt.Errorf("%w: gpg: %v", backend.ErrUnavailable, err)
}

// summarize keeps the last few non-empty lines of a child's stderr, joined
// on one line, without control characters, and bounded.
func summarize(stderr []byte) string {
	var lines []string
	for l := range strings.SplitSeq(string(stderr), "\n") {
		l = strings.TrimSpace(strings.Map(func(r rune) rune {
			if isControl(r) || r == utf8.RuneError {
				return -1
			}
			return r
		}, l))
		if l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	msg := strings.Join(lines, "; ")
	if len(msg) > maxSummary {
		msg = strings.ToValidUTF8(msg[:maxSummary], "") + "..."
	}
	return msg
}

// secretBuffer collects a child's output that may be plaintext. It reads
// straight from the pipe into its own storage (io.ReaderFrom, so io.Copy
// uses no intermediate buffer), wipes every array it outgrows, and stops
// at max.
type secretBuffer struct {
	buf      []byte
	max      int
	overflow bool
}

func newSecretBuffer(hint, limit int) *secretBuffer {
	hint = min(max(hint, 512), limit+1)
	return &secretBuffer{buf: make([]byte, 0, hint), max: limit}
}

// reserve makes room for n more bytes, up to max+1 in all so that going
// over max is detectable.
func (b *secretBuffer) reserve(n int) {
	if cap(b.buf)-len(b.buf) >= n {
		return
	}
	c := min(max(2*cap(b.buf), len(b.buf)+n), b.max+1)
	nb := make([]byte, len(b.buf), c)
	copy(nb, b.buf)
	clear(b.buf[:cap(b.buf)])
	b.buf = nb
}

func (b *secretBuffer) Write(p []byte) (int, error) {
	if len(b.buf)+len(p) > b.max {
		b.overflow = true
		return 0, errOutputTooLarge
	}
	b.reserve(len(p))
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *secretBuffer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		b.reserve(1)
		n, err := r.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		total += int64(n)
		if len(b.buf) > b.max {
			b.overflow = true
			return total, errOutputTooLarge
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (b *secretBuffer) wipe() {
	clear(b.buf[:cap(b.buf)])
	b.buf = b.buf[:0]
}

// cappedBuffer keeps the first max bytes written to it and accepts (and
// drops) the rest, so a chatty child never blocks or fails on stderr.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *cappedBuffer) Bytes() []byte { return c.buf.Bytes() }
