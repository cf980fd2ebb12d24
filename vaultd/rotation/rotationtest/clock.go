package rotationtest

import (
	"context"
	"sync"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
)

// Clock is a rotation.Clock that moves only when told to. Tests await the
// code under test blocking on a timer (AwaitTimer) instead of sleeping.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*timer]bool
	changed chan struct{} // closed and replaced on every change
}

type timer struct {
	c        *Clock
	deadline time.Time
	ch       chan time.Time
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, timers: map[*timer]bool{}, changed: make(chan struct{})}
}

// Now implements rotation.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer implements rotation.Clock.
func (c *Clock) NewTimer(d time.Duration) rotation.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, deadline: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers[t] = true
	c.notify()
	return t
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if !t.c.timers[t] {
		return false
	}
	delete(t.c.timers, t)
	t.c.notify()
	return true
}

// Advance moves the clock by d and fires the timers that come due.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t (never backwards) and fires due timers.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	for tm := range c.timers {
		if !tm.deadline.After(c.now) {
			delete(c.timers, tm)
			tm.ch <- c.now
		}
	}
	c.notify()
}

func (c *Clock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// AwaitTimer waits until a pending timer's deadline satisfies match (nil:
// any) and returns that deadline.
func (c *Clock) AwaitTimer(ctx context.Context, match func(deadline time.Time) bool) (time.Time, error) {
	for {
		c.mu.Lock()
		for t := range c.timers {
			if match == nil || match(t.deadline) {
				d := t.deadline
				c.mu.Unlock()
				return d, nil
			}
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// Pending lists the deadlines of pending timers.
func (c *Clock) Pending() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for t := range c.timers {
		out = append(out, t.deadline)
	}
	return out
}
