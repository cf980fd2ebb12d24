package vaultd

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/policy"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Watching: a connection that calls watch is told of every later change to
// the entries it subscribed to and may read, by event lines pushed between
// its answers. Events name a path and a version, never a value, so they
// are not audited; the watch request itself is. A subscriber that falls
// behind gets one "stale" event instead of the ones it missed, and a
// subscriber whose token is revoked or expires is disconnected.

const (
	maxWatchPaths   = 1000
	eventQueue      = 256
	revalidateEvery = 2 * time.Second
)

type subscription struct {
	c       *conn
	who     principal
	paths   map[vpath.Path]bool
	prefix  string
	events  chan wire.Event
	behind  atomic.Bool
	stopped chan struct{}
}

type broker struct {
	mu      sync.Mutex
	subs    map[*subscription]struct{}
	version atomic.Uint64
}

// publish tells subscribers that p changed; "" means the store changed in
// a way that names no entry.
func (s *Server) publish(p vpath.Path) {
	v := s.watchers.version.Add(1)
	ev := wire.Event{Event: wire.EventChanged, Path: string(p), Version: v}
	if p == "" {
		ev.Event = wire.EventStale
	}
	b := &s.watchers
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs {
		if p != "" && !sub.wants(p) {
			continue
		}
		select {
		case sub.events <- ev:
		default:
			sub.behind.Store(true)
		}
	}
}

func (sub *subscription) wants(p vpath.Path) bool {
	if !policy.Allows(sub.who.grants, p, policy.Read) {
		return false
	}
	if len(sub.paths) > 0 {
		return sub.paths[p]
	}
	return vpath.HasPrefix(p, sub.prefix)
}

func (cl *call) watch(params json.RawMessage) ([]byte, *wire.Error) {
	var p wire.WatchParams
	if err := wire.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	if len(p.Paths) > maxWatchPaths {
		return nil, wire.Errorf(wire.CodeBadRequest, "watch at most %d paths", maxWatchPaths)
	}
	if len(p.Paths) > 0 && p.Prefix != "" {
		return nil, wire.Errorf(wire.CodeBadRequest, `watch takes "paths" or "prefix", not both`)
	}
	sub := &subscription{c: cl.c, who: cl.who, events: make(chan wire.Event, eventQueue), stopped: make(chan struct{})}
	if len(p.Paths) > 0 {
		sub.paths = make(map[vpath.Path]bool, len(p.Paths))
		for _, raw := range p.Paths {
			path, werr := cl.path(raw, policy.Read)
			if werr != nil {
				return nil, werr
			}
			sub.paths[path] = true
		}
		cl.rec.Path = ""
	} else {
		prefix, err := vpath.ParsePrefix(p.Prefix)
		if err != nil {
			return nil, wire.Errorf(wire.CodeInvalidPath, "%s", err.Error())
		}
		sub.prefix = prefix
		cl.rec.Path = prefix
	}
	s := cl.c.s
	b := &s.watchers
	b.mu.Lock()
	if old := cl.c.sub; old != nil {
		delete(b.subs, old)
		close(old.events)
	}
	b.subs[sub] = struct{}{}
	b.mu.Unlock()
	cl.c.sub = sub
	go sub.run()
	return mustJSON(wire.WatchResult{Version: b.version.Load()}), nil
}

// run writes events to the connection until the subscription ends.
func (sub *subscription) run() {
	defer close(sub.stopped)
	c := sub.c
	var buf []byte
	// A revoked or expired token is noticed at the next event, or within
	// revalidateEvery when there is none.
	tick := time.NewTicker(revalidateEvery)
	defer tick.Stop()
	for {
		var ev wire.Event
		var ok bool
		select {
		case ev, ok = <-sub.events:
		case <-tick.C:
			if !c.s.stillValid(sub.who) {
				_ = c.nc.Close()
				for range sub.events { // until unsubscribe closes it
				}
				return
			}
			continue
		}
		if !ok {
			return
		}
		if !c.s.stillValid(sub.who) {
			_ = c.nc.Close() // the reader notices and cleans up
			for range sub.events {
			}
			return
		}
		buf = buf[:0]
		if sub.behind.Swap(false) {
			buf = wire.AppendEvent(buf, wire.Event{Event: wire.EventStale, Version: ev.Version})
		}
		buf = wire.AppendEvent(buf, ev)
		c.wmu.Lock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Duration(c.s.readTimeout.Load())))
		_, err := c.nc.Write(buf)
		c.wmu.Unlock()
		if err != nil {
			_ = c.nc.Close()
			for range sub.events {
			}
			return
		}
	}
}

// unsubscribe ends the connection's subscription, if any.
func (c *conn) unsubscribe() {
	sub := c.sub
	if sub == nil {
		return
	}
	b := &c.s.watchers
	b.mu.Lock()
	if _, ok := b.subs[sub]; ok {
		delete(b.subs, sub)
		close(sub.events)
	}
	b.mu.Unlock()
	<-sub.stopped
	c.sub = nil
}

// stillValid reports whether a principal's token is still live.
func (s *Server) stillValid(who principal) bool {
	if who.tokenID == "" {
		return true // the local owner
	}
	t := (*s.tokens.cur.Load())[who.hash]
	return t != nil && !expired(t, s.now())
}
