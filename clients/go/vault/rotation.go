package vault

import (
	"context"

	"fmt"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// RotationBegin starts a rotation attempt (single flight across processes:
// another live attempt answers busy, a dead one after the provider answered
// answers in_doubt).
func (c *Client) RotationBegin(ctx context.Context, p wire.RotationBeginParams) (wire.RotationState, error) {
	var r wire.RotationState
	err := c.Call(ctx, wire.MethodRotationBegin, p, &r)
	return r, err
}

// RotationMarkAnswered records that the provider answered, for the attempt
// that begin returned ("" skips the check).
func (c *Client) RotationMarkAnswered(ctx context.Context, name, attempt string) error {
	return c.Call(ctx, wire.MethodRotationMark, wire.RotationMarkParams{Name: name, Phase: wire.RotationAnswered, Attempt: attempt}, nil)
}

// RotationEnd finishes an attempt.
func (c *Client) RotationEnd(ctx context.Context, p wire.RotationEndParams) (wire.RotationState, error) {
	var r wire.RotationState
	err := c.Call(ctx, wire.MethodRotationEnd, p, &r)
	return r, err
}

// RotationStatus lists every rotation the daemon knows.
func (c *Client) RotationStatus(ctx context.Context) ([]wire.RotationState, error) {
	var r wire.RotationStatusResult
	err := c.Call(ctx, wire.MethodRotationStatus, nil, &r)
	return r.Rotations, err
}

// RotationClear clears an in-doubt rotation after a person has checked it.
func (c *Client) RotationClear(ctx context.Context, name string) error {
	return c.Call(ctx, wire.MethodRotationClear, wire.RotationNameParams{Name: name}, nil)
}

// Watcher receives change events on a dedicated connection.
type Watcher struct {
	c       *Client
	Version uint64 // the change counter when the subscription started
}

// Watch subscribes to changes on a new connection of its own. Read events
// with Next; Close ends the subscription.
func Watch(ctx context.Context, opts Options, p wire.WatchParams) (*Watcher, error) {
	c, err := Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	var r wire.WatchResult
	if err := c.Call(ctx, wire.MethodWatch, p, &r); err != nil {
		c.Close()
		return nil, err
	}
	return &Watcher{c: c, Version: r.Version}, nil
}

// Next blocks until the next event, ctx is done, or the connection breaks
// (an error wrapping ErrUnavailable: re-read what you hold, then watch
// again).
func (w *Watcher) Next(ctx context.Context) (wire.Event, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return wire.Event{}, fmt.Errorf("%w: watcher is closed", ErrUnavailable)
	}
	deadline, _ := ctx.Deadline()
	_ = c.conn.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	line, err := c.lr.ReadLine()
	if err != nil {
		if ctx.Err() != nil {
			return wire.Event{}, ctx.Err()
		}
		return wire.Event{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !wire.IsEvent(line) {
		return wire.Event{}, fmt.Errorf("%w: expected an event", wire.ErrBadResponse)
	}
	return wire.ParseEvent(line)
}

// Close ends the subscription.
func (w *Watcher) Close() error { return w.c.Close() }
