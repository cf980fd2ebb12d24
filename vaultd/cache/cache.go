// Package cache keeps recently read secret values for a short time, in
// locked memory.
//
// Values live in memguard buffers (mlocked, guarded, excluded from core
// dumps) carved from a small arena, so a cache hit reads memory that is
// already open and writes it straight into the answer: no allocation of
// locked memory and no copy into the Go heap per request. Entries expire
// after a TTL, the cache holds at most a number of entries and bytes, and
// the oldest entry goes first when it is full. Values are wiped when they
// are evicted, invalidated or when the cache closes.
//
// What the cache deliberately does not do: decide who may read a value
// (the daemon checks grants before every lookup), fetch values (the caller
// does, then calls Put), or outlive a change: Invalidate and InvalidateAll
// bump a generation so that a value fetched before a change is never
// stored after it.
package cache

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/vpath"
	"golang.org/x/sys/unix"
)

// Options configure a Cache.
type Options struct {
	// TTL is how long an entry is served; 0 disables the cache.
	TTL time.Duration
	// MaxEntries bounds the number of entries (default 1024).
	MaxEntries int
	// MaxBytes bounds the locked memory the cache may use (default 4 MiB).
	// It is further capped by RLIMIT_MEMLOCK, less a reserve for memguard.
	MaxBytes int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Cache is safe for concurrent use.
type Cache struct {
	mu         sync.RWMutex
	ttl        time.Duration
	maxEntries int
	now        func() time.Time
	entries    map[vpath.Path]*entry
	order      *list.List // of *entry, oldest first
	arena      arena
	closed     bool

	gen     atomic.Uint64
	allGen  uint64                // generation of the last InvalidateAll; under mu
	pathGen map[vpath.Path]uint64 // generation of each path's last Invalidate; under mu
	hits    atomic.Uint64
	misses  atomic.Uint64
}

type entry struct {
	path    vpath.Path
	sp      span
	expires time.Time
	elem    *list.Element
}

// memlockReserve is left to memguard's own buffers (its key enclave).
const memlockReserve = 64 << 10

// New returns an empty cache.
func New(opts Options) *Cache {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1024
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 4 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	budget := opts.MaxBytes
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl) == nil && rl.Cur != unix.RLIM_INFINITY {
		budget = min(budget, int(rl.Cur)-memlockReserve)
	}
	return &Cache{
		ttl:        opts.TTL,
		maxEntries: opts.MaxEntries,
		now:        opts.Now,
		entries:    make(map[vpath.Path]*entry),
		pathGen:    make(map[vpath.Path]uint64),
		order:      list.New(),
		arena:      arena{budget: max(budget, 0)},
	}
}

// Generation returns a token to pass to Put: take it before fetching a
// value, so a change that lands during the fetch keeps the stale value out.
func (c *Cache) Generation() uint64 { return c.gen.Load() }

// fresh reports whether a value fetched at generation gen may be stored for
// p: nothing invalidated p, or everything, since. c.mu is held.
func (c *Cache) fresh(p vpath.Path, gen uint64) bool {
	return c.allGen <= gen && c.pathGen[p] <= gen
}

// Get calls fn with the cached value of p and reports whether there was
// one. fn runs under the cache's read lock and must not keep the slice or
// call back into the cache.
func (c *Cache) Get(p vpath.Path, fn func(value []byte)) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := c.entries[p]
	if e == nil || !c.now().Before(e.expires) {
		c.misses.Add(1)
		return false
	}
	c.hits.Add(1)
	fn(e.sp.bytes())
	return true
}

// Put stores a copy of value for p, unless the cache is off, the value was
// fetched before a change (gen is stale), or it does not fit. It reports
// whether the value was stored. The caller still owns value.
func (c *Cache) Put(p vpath.Path, value []byte, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.ttl <= 0 || !c.fresh(p, gen) {
		return false
	}
	now := c.now()
	if old := c.entries[p]; old != nil {
		c.remove(old)
	}
	c.evictExpired(now)
	for c.order.Len() >= c.maxEntries {
		c.remove(c.order.Front().Value.(*entry))
	}
	sp, ok := c.arena.alloc(value)
	for !ok && c.order.Len() > 0 {
		c.remove(c.order.Front().Value.(*entry))
		sp, ok = c.arena.alloc(value)
	}
	if !ok {
		return false
	}
	e := &entry{path: p, sp: sp, expires: now.Add(c.ttl)}
	e.elem = c.order.PushBack(e)
	c.entries[p] = e
	return true
}

// Invalidate drops p, wiping its value, and keeps out any value of p
// fetched before now. Values of other paths fetched meanwhile still count.
func (c *Cache) Invalidate(p vpath.Path) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pathGen[p] = c.gen.Add(1)
	if e := c.entries[p]; e != nil {
		c.remove(e)
	}
}

// InvalidateAll drops every entry and keeps out every value fetched before
// now.
func (c *Cache) InvalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.allGen = c.gen.Add(1)
	clear(c.pathGen) // allGen covers them all
	for c.order.Len() > 0 {
		c.remove(c.order.Front().Value.(*entry))
	}
}

// Sweep drops expired entries now, so their values do not wait in memory
// for the next Put. The daemon calls it periodically.
func (c *Cache) Sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evictExpired(c.now())
}

// SetTTL changes the TTL of entries stored from now on; 0 also drops every
// entry.
func (c *Cache) SetTTL(ttl time.Duration) {
	c.mu.Lock()
	c.ttl = ttl
	c.mu.Unlock()
	if ttl <= 0 {
		c.InvalidateAll()
	}
}

// Stats reports the cache's size and counters.
type Stats struct {
	Entries int
	Bytes   int // locked bytes held
	Hits    uint64
	Misses  uint64
	TTL     time.Duration
}

// Stats returns a snapshot.
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Stats{Entries: len(c.entries), Bytes: c.arena.locked, Hits: c.hits.Load(), Misses: c.misses.Load(), TTL: c.ttl}
}

// Close wipes every value and releases the locked memory. The cache stores
// nothing afterwards. Close is idempotent.
func (c *Cache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.allGen = c.gen.Add(1)
	if c.closed {
		return
	}
	c.closed = true
	for c.order.Len() > 0 {
		c.remove(c.order.Front().Value.(*entry))
	}
	c.arena.destroy()
}

func (c *Cache) evictExpired(now time.Time) {
	for c.order.Len() > 0 {
		e := c.order.Front().Value.(*entry)
		if now.Before(e.expires) {
			return
		}
		c.remove(e)
	}
}

func (c *Cache) remove(e *entry) {
	c.order.Remove(e.elem)
	delete(c.entries, e.path)
	c.arena.free(e.sp)
}
