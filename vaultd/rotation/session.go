package rotation

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// session is one attempt's connection to the daemon, redialled when it
// breaks. Errors that are not the daemon's answers mean it broke.
type session struct {
	connect Connect
	mu      sync.Mutex
	v       Vault
}

func (s *session) call(ctx context.Context, fn func(Vault) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.v == nil {
		v, err := s.connect(ctx)
		if err != nil {
			return err
		}
		s.v = v
	}
	err := fn(s.v)
	var we *wire.Error
	if err != nil && !errors.As(err, &we) {
		_ = s.v.Close()
		s.v = nil
	}
	return err
}

// retry calls fn until it succeeds, fails in a way retrying cannot fix,
// or ctx is done; waits grow from 250ms to 5s.
func (s *session) retry(ctx context.Context, fn func(Vault) error) error {
	wait := 250 * time.Millisecond
	for {
		err := s.call(ctx, fn)
		switch wire.CodeOf(err) {
		case "", wire.CodePermissionDenied, wire.CodeUnauthenticated, wire.CodeInvalidPath, wire.CodeBadRequest, wire.CodeNotFound:
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.v != nil {
		_ = s.v.Close()
		s.v = nil
	}
}

// describe shortens a daemon or connection error for a Failure's detail:
// the daemon's messages never carry values, and connection errors name
// only the socket.
func describe(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		return string(we.Code)
	}
	return err.Error()
}
