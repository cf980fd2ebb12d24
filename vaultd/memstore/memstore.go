// Package memstore is an in-memory backend.Backend for `jawn-vault dev`
// and for tests of code above the backend.
//
// It keeps values in a map guarded by a mutex and copies them in and out,
// so callers can wipe what they pass and what they get. It deliberately
// does not persist anything, encrypt anything or lock its memory: it is
// not for real secrets. Nothing changes it from outside, so Watch has
// nothing to report.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// Store is an in-memory secret store, safe for concurrent use. The zero
// value is not ready; use New.
type Store struct {
	mu      sync.RWMutex
	entries map[vpath.Path][]byte
	closed  bool
}

var _ backend.Backend = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{entries: map[vpath.Path][]byte{}}
}

// Get returns a copy of the value at p.
func (s *Store) Get(ctx context.Context, p vpath.Path) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	v, ok := s.entries[p]
	if !ok {
		return nil, fmt.Errorf("memstore: %w: %s", backend.ErrNotFound, p)
	}
	return append(make([]byte, 0, len(v)), v...), nil
}

// Set stores a copy of value at p, wiping the value it replaces.
func (s *Store) Set(ctx context.Context, p vpath.Path, value []byte) error {
	v := append(make([]byte, 0, len(value)), value...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		clear(v)
		return err
	}
	clear(s.entries[p])
	s.entries[p] = v
	return nil
}

// Delete removes and wipes the value at p.
func (s *Store) Delete(ctx context.Context, p vpath.Path) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	v, ok := s.entries[p]
	if !ok {
		return fmt.Errorf("memstore: %w: %s", backend.ErrNotFound, p)
	}
	clear(v)
	delete(s.entries, p)
	return nil
}

// List returns the paths that start with prefix, sorted.
func (s *Store) List(ctx context.Context, prefix string) ([]vpath.Path, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	var out []vpath.Path
	for p := range s.entries {
		if vpath.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Check reports ErrUnavailable once the store is closed.
func (s *Store) Check(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.usable()
}

// Watch returns nil at once: nothing changes a memory store from outside.
func (s *Store) Watch(ctx context.Context, fn func(p vpath.Path)) error {
	return nil
}

// Close wipes every value; later calls fail with ErrUnavailable. It is
// idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, v := range s.entries {
		clear(v)
		delete(s.entries, p)
	}
	s.closed = true
	return nil
}

func (s *Store) usable() error {
	if s.closed {
		return fmt.Errorf("memstore: %w: store is closed", backend.ErrUnavailable)
	}
	return nil
}
