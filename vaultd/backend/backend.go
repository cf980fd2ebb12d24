// Package backend defines what the daemon needs from a secret store, and the
// errors a store reports. The pass store (vaultd/passstore) and the
// in-memory store (vaultd/memstore) implement it.
//
// Values are raw bytes: the entry's content with exactly one trailing newline
// removed, as `pass show` prints it minus the newline that `pass insert`
// adds. Stores never interpret values and never log them.
package backend

import (
	"context"
	"errors"

	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// Errors a Backend returns, wrapped with context. The daemon maps them to
// wire codes with errors.Is; the wrapped text must never contain a value.
var (
	// ErrNotFound: no entry at that path.
	ErrNotFound = errors.New("no such entry")
	// ErrUnavailable: the store cannot be used right now (gpg failed or
	// timed out, the agent is locked, the disk is full, ...).
	ErrUnavailable = errors.New("store unavailable")
	// ErrRefused: the path exists but may not be served, for example a
	// symlink that leads out of the store.
	ErrRefused = errors.New("entry refused")
	// ErrTooLarge: a value or entry is over the store's size limit.
	ErrTooLarge = errors.New("too large")
)

// Backend is a secret store.
type Backend interface {
	// Get returns the value at p. The caller owns the returned slice and
	// wipes it when done.
	Get(ctx context.Context, p vpath.Path) ([]byte, error)
	// Set writes value at p atomically: a reader sees the old or the new
	// value, never a mix, and a crash leaves the old one.
	Set(ctx context.Context, p vpath.Path, value []byte) error
	// Delete removes the entry at p, or returns ErrNotFound.
	Delete(ctx context.Context, p vpath.Path) error
	// List returns every entry whose path starts with prefix (see
	// vpath.HasPrefix), sorted.
	List(ctx context.Context, prefix string) ([]vpath.Path, error)
	// Check reports whether the store is usable: readable, and for the
	// pass store, a key that decrypts without a prompt.
	Check(ctx context.Context) error
	// Watch calls fn for each entry changed from outside the daemon, until
	// ctx is done. fn receives "" when the store cannot tell which entries
	// changed (for example after a git pull or an overflow): everything must
	// be considered stale. Watch returns nil if the store has no changes to
	// report (memory stores).
	Watch(ctx context.Context, fn func(p vpath.Path)) error
	// Close releases the store's resources.
	Close() error
}
