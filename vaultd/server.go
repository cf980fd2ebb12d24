// Package vaultd is the Jawn Vault daemon: it accepts connections on a Unix
// socket, reads requests, checks the peer, the token and the grants, serves
// values from the cache or the store, and answers only after the request's
// audit row is committed.
//
// What it deliberately does not do: run gpg (vaultd/passstore does), know
// SQL (vaultd/sqlite does), parse JSON beyond the wire types (vaultd/wire),
// or talk to the network: the daemon that holds the store has no reason to.
package vaultd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/cache"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/metrics"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Version is the daemon's version, reported by health and status.
var Version = "0.1.0"

// Options are what a Server needs. The caller opens and closes the backend,
// the database and the cache.
type Options struct {
	Config  *config.Config
	Backend backend.Backend
	DB      *sqlite.DB
	Cache   *cache.Cache
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves the protocol. Create it with New, run it with Serve.
type Server struct {
	backend backend.Backend
	db      *sqlite.DB
	cache   *cache.Cache
	log     *slog.Logger
	now     func() time.Time
	ownUID  uint32
	started time.Time
	tokens  tokenRegistry

	// Settings that SIGHUP may change.
	trustOwner  atomic.Bool
	maxConns    atomic.Int64
	maxLine     atomic.Int64
	readTimeout atomic.Int64 // ns
	idleTimeout atomic.Int64 // ns
	gpgTimeout  atomic.Int64 // ns
	allowed     atomic.Pointer[map[uint32]bool]

	storeKind string
	storeDir  string

	conns    atomic.Int64
	requests atomic.Uint64
	mu       sync.Mutex
	live     map[*conn]struct{}
	wg       sync.WaitGroup
	draining atomic.Bool

	watchFailed atomic.Bool
	keyErr      atomic.Pointer[string] // why the gpg key cannot decrypt, if it cannot
	keyMu       sync.Mutex             // one key check at a time

	flightMu sync.Mutex
	flights  map[vpath.Path]*flight

	rotMu    sync.Mutex                      // serialises rotation state changes
	rotEnds  map[string]*wire.RotationMetric // rotation.end outcomes since start; rotMu
	watchers broker

	reqMetrics metrics.Requests
}

// New prepares a server: it loads the live tokens from the database.
func New(ctx context.Context, opts Options) (*Server, error) {
	s := &Server{
		backend: opts.Backend,
		db:      opts.DB,
		cache:   opts.Cache,
		log:     opts.Logger,
		now:     opts.Now,
		ownUID:  uint32(os.Getuid()),
		live:    make(map[*conn]struct{}),
	}
	s.watchers.subs = make(map[*subscription]struct{})
	s.flights = make(map[vpath.Path]*flight)
	s.rotEnds = make(map[string]*wire.RotationMetric)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now()
	s.storeKind, s.storeDir = opts.Config.Backend, opts.Config.Store
	if s.storeKind == "memory" {
		s.storeDir = ""
	}
	s.Reload(opts.Config)
	if err := s.tokens.load(ctx, s.db); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload applies the settings that can change while running: timeouts,
// limits, the uid allowlist, owner trust, cache TTL and audit retention.
// The socket, store and state directory need a restart.
func (s *Server) Reload(cfg *config.Config) {
	s.trustOwner.Store(*cfg.TrustOwner)
	s.maxConns.Store(int64(cfg.MaxConns))
	s.maxLine.Store(int64(cfg.MaxLine))
	s.readTimeout.Store(int64(cfg.ReadTimeout.Duration))
	s.idleTimeout.Store(int64(cfg.IdleTimeout.Duration))
	s.gpgTimeout.Store(int64(cfg.GPGTimeout.Duration))
	var allowed map[uint32]bool
	if len(cfg.AllowedUIDs) > 0 {
		allowed = make(map[uint32]bool, len(cfg.AllowedUIDs)+2)
		for _, u := range cfg.AllowedUIDs {
			allowed[u] = true
		}
		// The owner can always reach its own daemon.
		allowed[s.ownUID] = true
		allowed[0] = true
	}
	s.allowed.Store(&allowed)
	if !s.watchFailed.Load() { // without a store watch, caching stays off
		s.cache.SetTTL(cfg.CacheTTL.Duration)
	}
	s.db.SetRetention(cfg.AuditRetention.Duration)
}

// Serve accepts connections on ln until ctx is done, then stops accepting,
// lets every connection finish the requests it has sent, and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go s.watchStore(ctx)
	go s.sweepCache(ctx)

	stop := context.AfterFunc(ctx, func() {
		s.draining.Store(true)
		_ = ln.Close()
		s.mu.Lock()
		for c := range s.live {
			// Wake connections waiting for their next request; one that
			// is mid-request finishes it first.
			_ = c.nc.SetReadDeadline(time.Now())
		}
		s.mu.Unlock()
	})
	defer stop()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of file descriptors or similar: back off instead of
			// spinning, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				s.log.Warn("accept: out of file descriptors; backing off", "wait", backoff)
			} else {
				s.log.Warn("accept failed; backing off", "err", err, "wait", backoff)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go s.serveConn(nc)
	}
	s.wg.Wait()
	return nil
}

// watchStore invalidates the cache when the store changes from outside.
func (s *Server) watchStore(ctx context.Context) {
	err := s.backend.Watch(ctx, func(p vpath.Path) {
		if p == "" {
			s.cache.InvalidateAll()
		} else {
			s.cache.Invalidate(p)
		}
		s.publish(p)
	})
	if err != nil && ctx.Err() == nil {
		// Without a watch, external edits could be served stale for a TTL:
		// stop caching rather than serve stale values.
		s.log.Error("store watch failed; caching disabled until restart", "err", err)
		s.watchFailed.Store(true)
		s.cache.SetTTL(0)
	}
}

func (s *Server) sweepCache(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.cache.Sweep()
		}
	}
}

// CheckKey proves that the store's key decrypts without a prompt: in the
// background after start, and again on every status call (one gpg round
// trip, tens of ms), since the agent may have been unlocked or the key
// removed meanwhile. A failure is shown by status and logged when the
// key stops working (and its recovery when it works again), not on every
// check. The daemon still serves meanwhile: other entries' keys may work,
// and the owner may unlock the agent. A status call that finds a check
// running does not wait for it and reports the last verdict.
func (s *Server) CheckKey(ctx context.Context) { s.checkKey(ctx, true) }

// checkKey is CheckKey. When ctx ends before gpg answers, the check gives
// a verdict (the key failed) only if timeoutFails: at start a gpg that
// does not answer in gpg_timeout is a failure, while status, which allows
// itself 2 s, keeps the previous verdict on a busy machine.
func (s *Server) checkKey(ctx context.Context, timeoutFails bool) {
	kc, ok := s.backend.(interface{ CheckKey(context.Context) error })
	if !ok {
		return
	}
	if timeoutFails {
		s.keyMu.Lock() // the start-up check always gives its verdict
	} else if !s.keyMu.TryLock() {
		return // a check is running; its result will do
	}
	defer s.keyMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.gpgTimeout.Load()))
	defer cancel()
	err := kc.CheckKey(ctx)
	if err != nil && ctx.Err() != nil && (!timeoutFails || !errors.Is(ctx.Err(), context.DeadlineExceeded)) {
		return // cut short (shutdown, or status's own deadline): no verdict
	}
	if err != nil {
		msg := err.Error()
		if s.keyErr.Swap(&msg) == nil {
			s.log.Error("the store's gpg key cannot decrypt without a prompt; reads will fail", "err", err)
		}
		return
	}
	if s.keyErr.Swap(nil) != nil {
		s.log.Info("the store's gpg key decrypts again")
	}
}

// recheckKey is status's CheckKey: a check already running (another
// status call, or the one at start) gives its verdict instead.
func (s *Server) recheckKey(ctx context.Context) { s.checkKey(ctx, false) }

// Warm decrypts paths into the cache, for the configured warm-up list.
func (s *Server) Warm(ctx context.Context, paths []string) {
	for _, raw := range paths {
		p, err := vpath.Parse(raw)
		if err != nil {
			s.log.Warn("warm: skipping an invalid path", "err", err)
			continue
		}
		gen := s.cache.Generation()
		v, err := s.backendGet(ctx, p)
		if err != nil {
			s.log.Warn("warm: could not read", "path", raw, "code", wire.CodeOf(err))
			continue
		}
		s.cache.Put(p, v, gen)
		clear(v)
	}
}

// fetch reads path from the store for a cache miss and caches it.
// Concurrent misses on one path share a single gpg run (single flight).
// Each caller gets its own copy of the value, to wipe when done; the shared
// plaintext is wiped once every caller has copied it.
func (s *Server) fetch(path vpath.Path) ([]byte, error) {
	s.flightMu.Lock()
	if f := s.flights[path]; f != nil {
		f.joined.Add(1)
		s.flightMu.Unlock()
		<-f.done
		defer f.joined.Done()
		if f.err != nil {
			return nil, f.err
		}
		return append([]byte(nil), f.val...), nil
	}
	f := &flight{done: make(chan struct{})}
	s.flights[path] = f
	s.flightMu.Unlock()

	gen := s.cache.Generation()
	f.val, f.err = s.backendGet(context.Background(), path)
	if f.err == nil {
		s.cache.Put(path, f.val, gen)
	}
	var out []byte
	if f.err == nil {
		out = append([]byte(nil), f.val...)
	}
	s.flightMu.Lock()
	delete(s.flights, path) // no one joins from here on
	s.flightMu.Unlock()
	close(f.done)
	go func() {
		f.joined.Wait()
		clear(f.val)
	}()
	return out, f.err
}

// flight is one gpg run shared by concurrent cache misses on a path.
type flight struct {
	done   chan struct{} // closed when val and err are set
	joined sync.WaitGroup
	val    []byte
	err    error
}

func (s *Server) backendGet(ctx context.Context, p vpath.Path) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.gpgTimeout.Load()))
	defer cancel()
	v, err := s.backend.Get(ctx, p)
	return v, mapBackendErr(err)
}

// mapBackendErr turns a store error into its wire error. Store messages
// describe gpg or the disk; they never contain values.
func mapBackendErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, backend.ErrNotFound):
		return wire.Errorf(wire.CodeNotFound, "no such entry")
	case errors.Is(err, backend.ErrTooLarge):
		return wire.Errorf(wire.CodeBadRequest, "the value is larger than the store accepts")
	case errors.Is(err, backend.ErrRefused):
		return wire.Errorf(wire.CodeInvalidPath, "entry refused: it leads outside the store")
	case errors.Is(err, backend.ErrUnavailable):
		return wire.Errorf(wire.CodeBackendUnavailable, "%s", err.Error())
	}
	return wire.Errorf(wire.CodeBackendUnavailable, "store error: %s", err.Error())
}

// Connections reports the number of open connections.
func (s *Server) Connections() int64 { return s.conns.Load() }

func (s *Server) track(c *conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.live[c] = struct{}{}
		if s.draining.Load() {
			_ = c.nc.SetReadDeadline(time.Now())
		}
	} else {
		delete(s.live, c)
	}
}

func (s *Server) allowedUID(uid uint32) bool {
	m := *s.allowed.Load()
	return m == nil || m[uid]
}
