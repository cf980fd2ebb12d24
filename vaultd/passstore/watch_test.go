package passstore

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

// deadline is how long a test waits for an event before failing. It is
// generous on purpose: events usually arrive in milliseconds, and a slow
// CI machine must not make the test flaky.
const deadline = 10 * time.Second

// startWatch runs Watch until the test ends and returns the channel of
// reported paths, once the watcher is known to be live.
func startWatch(t *testing.T, s *Store, dir string) <-chan vpath.Path {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan vpath.Path, 1024)
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(ctx, func(p vpath.Path) {
			select {
			case events <- p:
			default: // a test that stops reading does not block the watcher
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(deadline):
			t.Errorf("Watch did not return after its context was cancelled")
		}
	})
	// Readiness: touch a probe entry until the watcher reports it.
	probe := filepath.Join(dir, "ready-probe.gpg")
	stop := time.Now().Add(deadline)
	for i := 0; time.Now().Before(stop); i++ {
		if err := os.WriteFile(probe, []byte(strconv.Itoa(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-events:
			if p == "ready-probe" {
				drain(events)
				return events
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("the watcher never became ready")
	return nil
}

func drain(ch <-chan vpath.Path) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// await waits for want to be reported, ignoring other reports.
func await(t *testing.T, events <-chan vpath.Path, want vpath.Path) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case p := <-events:
			if p == want {
				return
			}
		case <-timeout:
			t.Fatalf("no report of %q within %v", want, deadline)
		}
	}
}

func TestWatchExternalChanges(t *testing.T) {
	t.Parallel()
	s, dir, _ := newTestStore(t, true)
	ctx := context.Background()
	if err := s.Set(ctx, "existing/folder/entry", []byte("v")); err != nil {
		t.Fatal(err)
	}
	events := startWatch(t, s, dir)

	testpass.PassInsert(t, gnupghome, dir, "top", []byte("v"))
	await(t, events, "top")

	testpass.PassInsert(t, gnupghome, dir, "existing/folder/entry", []byte("changed"))
	await(t, events, "existing/folder/entry")

	// A folder that did not exist when Watch started.
	testpass.PassInsert(t, gnupghome, dir, "brand/new/folder/entry", []byte("v"))
	await(t, events, "brand/new/folder/entry")
	// And a later change inside it, through the watch added for it.
	testpass.PassInsert(t, gnupghome, dir, "brand/new/folder/second", []byte("v"))
	await(t, events, "brand/new/folder/second")

	// A folder moved in whole: its entries were written before any watch
	// on it could exist, and only the folder itself makes an event.
	elsewhere := testpass.NewStore(t, gnupghome, keyID)
	testpass.PassInsert(t, gnupghome, elsewhere, "moved/inner/entry", []byte("v"))
	if err := os.Rename(filepath.Join(elsewhere, "moved"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	await(t, events, "moved/inner/entry")

	testpass.Pass(t, gnupghome, dir, nil, "rm", "-f", "top")
	await(t, events, "top")

	// Our own writes are changes too (the daemon's cache does not care who
	// wrote), but their temporary files never show.
	if err := s.Set(ctx, "ours", []byte("v")); err != nil {
		t.Fatal(err)
	}
	await(t, events, "ours")

	// Recipients changing, or git rewriting the tree, concern every entry.
	testpass.Pass(t, gnupghome, dir, nil, "init", "-p", "existing", keyID)
	await(t, events, "")
	drain(events)
	gitOut(t, dir, "reset", "-q", "--hard", "HEAD~1")
	await(t, events, "")
}

func TestWatchStopsOnClose(t *testing.T) {
	t.Parallel()
	dir := testpass.NewStore(t, gnupghome, keyID)
	s, err := Open(Options{Dir: dir, GnuPGHome: gnupghome})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Watch(context.Background(), func(vpath.Path) {}) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatal("Watch did not return after Close")
	}
}
