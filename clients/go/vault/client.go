// Package vault is the Go client of the Jawn Vault daemon. vault-cli,
// vault-exec, vault-migrate and vault-bench all use it, so the protocol has
// one Go implementation on the client side (and vaultd/wire on both).
//
// A Client holds one connection. It is safe for concurrent use: calls are
// serialised on the connection. Many requests can share one round trip with
// Batch. A Client does not reconnect by itself; callers that want to retry
// Dial again. Errors from the daemon are *wire.Error values (test them with
// errors.Is(err, &wire.Error{Code: wire.CodeNotFound}) or wire.CodeOf);
// failing to reach the daemon wraps ErrUnavailable.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// ErrUnavailable is wrapped by errors that mean the daemon could not be
// reached or the connection broke.
var ErrUnavailable = errors.New("jawn-vault daemon unavailable")

// SystemSocket is the system daemon's socket (deploy/jawn-vault.socket).
const SystemSocket = "/run/jawn-vault/jawn-vault.sock"

// DefaultSocket returns $VAULT_SOCKET, else $XDG_RUNTIME_DIR/jawn-vault.sock,
// else SystemSocket if it exists (a system service has no
// $XDG_RUNTIME_DIR), else /run/user/<uid>/jawn-vault.sock.
func DefaultSocket() string { return SocketFrom(os.Getenv) }

// SocketFrom is DefaultSocket reading the environment through getenv.
func SocketFrom(getenv func(string) string) string {
	if s := getenv("VAULT_SOCKET"); s != "" {
		return s
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "jawn-vault.sock")
	}
	if _, err := os.Stat(SystemSocket); err == nil {
		return SystemSocket
	}
	return fmt.Sprintf("/run/user/%d/jawn-vault.sock", os.Getuid())
}

// Options configure Dial.
type Options struct {
	// Socket is the daemon's socket; "" means DefaultSocket().
	Socket string
	// Token authenticates every request; "" sends none (the local owner).
	Token string
	// MaxLine bounds an answer line; 0 means 4 MiB.
	MaxLine int
}

// Client is a connection to the daemon.
type Client struct {
	mu     sync.Mutex
	conn   net.Conn
	lr     *wire.LineReader
	token  string
	nextID uint64
	buf    []byte
	closed bool
	broken error
}

// Dial connects to the daemon.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	sock := opts.Socket
	if sock == "" {
		sock = DefaultSocket()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, sock, errors.Unwrap(err))
	}
	max := opts.MaxLine
	if max == 0 {
		max = 4 << 20
	}
	return &Client{conn: conn, lr: wire.NewLineReader(conn, max), token: opts.Token}, nil
}

// Close closes the connection. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	clear(c.buf)
	c.lr.Wipe()
	return c.conn.Close()
}

// Call sends one request and decodes its result into result (which may be
// nil to discard it).
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	b := c.Batch()
	b.Add(method, params, result)
	errs, err := b.Run(ctx)
	if err != nil {
		return err
	}
	return errs[0]
}

// Batch collects requests to send in one round trip.
type Batch struct {
	c     *Client
	calls []call
}

type call struct {
	method string
	params any
	result any
}

// Batch starts a batch on c.
func (c *Client) Batch() *Batch { return &Batch{c: c} }

// Add queues a request; its result is decoded into result when Run returns.
func (b *Batch) Add(method string, params, result any) {
	b.calls = append(b.calls, call{method, params, result})
}

// Run sends every queued request, then reads every answer. It returns one
// error per request (nil for success) and a connection error if the batch
// could not complete; after a connection error the Client is unusable.
func (b *Batch) Run(ctx context.Context) ([]error, error) {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("%w: client is closed", ErrUnavailable)
	}
	if c.broken != nil {
		return nil, c.broken
	}
	deadline, _ := ctx.Deadline()
	_ = c.conn.SetDeadline(deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(aLongTimeAgo) })
		defer stop()
	}

	ids := make([]uint64, len(b.calls))
	c.buf = c.buf[:0]
	for i, cl := range b.calls {
		c.nextID++
		ids[i] = c.nextID
		var err error
		c.buf, err = appendRequest(c.buf, c.nextID, c.token, cl.method, cl.params)
		if err != nil {
			return nil, err
		}
	}
	_, err := c.conn.Write(c.buf)
	clear(c.buf) // requests may carry values
	if err != nil {
		// The daemon may have refused the connection (busy, uid not
		// allowed) and closed it before reading: its answer is the
		// better error.
		if refusal := c.readRefusal(); refusal != nil {
			c.broken = refusal
			return nil, refusal
		}
		return nil, c.fail(ctx, err)
	}

	errs := make([]error, len(b.calls))
	for i, cl := range b.calls {
		line, err := c.lr.ReadLine()
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		resp, err := wire.ParseResponse(line)
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		if string(resp.ID) != strconv.FormatUint(ids[i], 10) {
			// An answer we did not ask for: a busy refusal (id null) or a
			// desynchronised stream. Either way the connection is done.
			if resp.Error != nil {
				c.broken = resp.Error
				return nil, resp.Error
			}
			return nil, c.fail(ctx, wire.ErrBadResponse)
		}
		if resp.Error != nil {
			errs[i] = resp.Error
			continue
		}
		if cl.result != nil {
			if err := json.Unmarshal(resp.Result, cl.result); err != nil {
				errs[i] = fmt.Errorf("%w: %s result: %v", wire.ErrBadResponse, cl.method, err)
			}
		}
	}
	return errs, nil
}

// readRefusal reads an error the daemon sent before closing, if any.
func (c *Client) readRefusal() *wire.Error {
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
	line, err := c.lr.ReadLine()
	if err != nil {
		return nil
	}
	resp, err := wire.ParseResponse(line)
	if err != nil || resp.Error == nil {
		return nil
	}
	return resp.Error
}

// Describe says what went wrong, for a person: a daemon error as its
// message and code, anything else as its text. Daemon messages never carry
// a value or a token.
func Describe(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Message + " (" + string(we.Code) + ")"
	}
	return err.Error()
}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// fail marks the connection broken and describes why.
func (c *Client) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	c.broken = fmt.Errorf("%w: %v", ErrUnavailable, err)
	return c.broken
}

func appendRequest(dst []byte, id uint64, token, method string, params any) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	if token != "" {
		dst = append(dst, `,"auth":`...)
		dst = wire.AppendString(dst, []byte(token))
	}
	dst = append(dst, `,"method":`...)
	dst = wire.AppendString(dst, []byte(method))
	if params != nil {
		p, err := json.Marshal(params)
		if err != nil {
			return dst, fmt.Errorf("encoding %s params: %w", method, err)
		}
		dst = append(dst, `,"params":`...)
		dst = append(dst, p...)
		clear(p)
	}
	return append(dst, "}\n"...), nil
}
