package memstore

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

func TestGetSetDelete(t *testing.T) {
	ctx := context.Background()
	s := New()
	if _, err := s.Get(ctx, "a"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get of a missing entry: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "a"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Delete of a missing entry: %v, want ErrNotFound", err)
	}
	for _, v := range [][]byte{[]byte("x\n"), {0, 0xff}, {}} {
		if err := s.Set(ctx, "a", v); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "a")
		if err != nil || !bytes.Equal(got, v) || got == nil {
			t.Errorf("Get = %q, %v; want %q", got, err, v)
		}
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
}

func TestCopiesInAndOut(t *testing.T) {
	ctx := context.Background()
	s := New()
	in := []byte("secret")
	if err := s.Set(ctx, "a", in); err != nil {
		t.Fatal(err)
	}
	clear(in) // the caller wipes what it passed
	out, err := s.Get(ctx, "a")
	if err != nil || string(out) != "secret" {
		t.Fatalf("Get = %q, %v", out, err)
	}
	clear(out) // and what it got
	if again, _ := s.Get(ctx, "a"); string(again) != "secret" {
		t.Errorf("wiping a returned value changed the store: %q", again)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	s := New()
	for _, p := range []vpath.Path{"web/x", "claude/tokens/b", "claude/tokensx", "claude/tokens/a"} {
		if err := s.Set(ctx, p, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for prefix, want := range map[string][]vpath.Path{
		"":               {"claude/tokens/a", "claude/tokens/b", "claude/tokensx", "web/x"},
		"claude/tokens/": {"claude/tokens/a", "claude/tokens/b"},
		"claude/tok":     {"claude/tokens/a", "claude/tokens/b", "claude/tokensx"},
		"none/":          nil,
	} {
		got, err := s.List(ctx, prefix)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, %v; want %q", prefix, got, err, want)
		}
	}
}

func TestWatchCheckClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := New()
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := s.Watch(ctx, func(vpath.Path) { t.Error("Watch reported a change") }); err != nil {
		t.Errorf("Watch: %v", err)
	}
	if ctx.Err() != nil {
		t.Error("Watch blocked until its context ended")
	}
	if err := s.Set(ctx, "a", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if err := s.Check(ctx); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Check after Close: %v, want ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("Get after Close: %v, want ErrUnavailable", err)
	}
}

func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	s := New()
	a, b := bytes.Repeat([]byte("a"), 1024), bytes.Repeat([]byte("b"), 1024)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				v := a
				if i%2 == 0 {
					v = b
				}
				if err := s.Set(ctx, "k", v); err != nil {
					t.Error(err)
				}
				got, err := s.Get(ctx, "k")
				if err != nil || !(bytes.Equal(got, a) || bytes.Equal(got, b)) {
					t.Errorf("Get = %d bytes, %v", len(got), err)
				}
				_, _ = s.List(ctx, "")
			}
		})
	}
	wg.Wait()
}
