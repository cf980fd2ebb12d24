package reliability

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// soakDuration is $SOAK_DURATION (a Go duration), 30 s by default.
func soakDuration(t *testing.T) time.Duration {
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		return v
	}
	return 30 * time.Second
}

// TestSoak: 64 clients of mixed traffic (cached and uncached reads, writes,
// lists, denied and unauthenticated requests, malformed lines, reconnects)
// for SOAK_DURATION. No client sees anything but the answer its request
// deserves; afterwards the daemon holds no more descriptors than before,
// and its memory after warm-up stays flat.
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	// The default cache TTL: the svc/k* reads are cache hits; the writers'
	// read-backs miss (a set invalidates), so gpg runs throughout. The
	// wrapper counts gpg runs.
	w := newGPGWrapper(t)
	d := start(t, opts{config: w.config()})
	for i := range 8 {
		d.insert(fmt.Sprintf("svc/k%d", i), []byte(fmt.Sprintf("value-%d", i)))
	}
	d.insert("other/x", []byte("x"))
	reader := d.token("soak-reader", "svc/*:read")
	writer := d.token("soak-writer", "svc/w/*:write")
	// Warm the cache before the clients start, so that the soak measures
	// the daemon rather than a cold start's burst of gpg runs.
	warmC := d.Dial("")
	for i := range 8 {
		if _, err := warmC.Get(ctx(t), fmt.Sprintf("svc/k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := warmC.Get(ctx(t), "other/x"); err != nil {
		t.Fatal(err)
	}
	warmC.Close()

	var (
		requests, unexpected atomic.Int64
		firstErr             atomic.Value
		stop                 = make(chan struct{})
	)
	fail := func(format string, args ...any) {
		if unexpected.Add(1) == 1 {
			firstErr.Store(fmt.Sprintf(format, args...))
		}
	}
	ctxAll, cancel := context.WithTimeout(context.Background(), dur+60*time.Second)
	defer cancel()
	dialTok := func(tok string) *vault.Client {
		c, err := vault.Dial(ctxAll, vault.Options{Socket: d.Socket, Token: tok})
		if err != nil {
			fail("dial: %v", err)
			return nil
		}
		return c
	}

	// Each client mixes operations by its index and a counter; every 100
	// requests it reconnects, so connections churn throughout.
	client := func(id int) {
		tok := reader
		switch id % 4 {
		case 1:
			tok = writer
		case 2:
			tok = "" // the owner
		}
		c := dialTok(tok)
		if c == nil {
			return
		}
		defer func() { c.Close() }()
		bogus := "jv_" + fmt.Sprintf("%043d", id)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i > 0 && i%100 == 0 {
				c.Close()
				if c = dialTok(tok); c == nil {
					return
				}
			}
			requests.Add(1)
			k := fmt.Sprintf("svc/k%d", (id+i)%8)
			switch {
			case id%4 == 1 && i%20 == 0: // a write, then read it back
				p := fmt.Sprintf("svc/w/c%d", id)
				v := fmt.Sprintf("written-%d-%d", id, i)
				if err := c.Set(ctxAll, p, []byte(v)); err != nil {
					fail("client %d set: %v", id, err)
					continue
				}
				requests.Add(1)
				if _, err := c.Get(ctxAll, p); code(err) != wire.CodePermissionDenied {
					// writer has write on svc/w/*: that includes read.
					if err != nil {
						fail("client %d read back: %v", id, err)
					}
				}
			case id%4 == 1:
				if _, err := c.Get(ctxAll, k); code(err) != wire.CodePermissionDenied {
					fail("writer read outside its grant: %v", err)
				}
			case i%10 == 3:
				if _, err := c.Get(ctxAll, "other/x"); tok == reader && code(err) != wire.CodePermissionDenied || tok == "" && err != nil {
					fail("client %d other/x: %v", id, err)
				}
			case i%10 == 5:
				if _, err := c.List(ctxAll, "svc/"); err != nil {
					fail("client %d list: %v", id, err)
				}
			case i%50 == 7:
				b := dialTok(bogus)
				if b == nil {
					return
				}
				_, err := b.Get(ctxAll, k)
				b.Close()
				if code(err) != wire.CodeUnauthenticated {
					fail("bogus token: %v", err)
				}
			case i%50 == 9:
				nc, err := net.Dial("unix", d.Socket)
				if err != nil {
					fail("raw dial: %v", err)
					continue
				}
				_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
				_, _ = nc.Write([]byte("{\"id\":1,\"method\":\"get\",\"params\":{\"path\":7}}\n{not json\n"))
				br := bufio.NewReader(nc)
				for range 2 {
					line, err := br.ReadBytes('\n')
					if err != nil {
						fail("malformed: %v", err)
						break
					}
					if a, err := wire.ParseResponse(line[:len(line)-1]); err != nil || a.Error == nil || a.Error.Code != wire.CodeBadRequest {
						fail("malformed answered %q", line)
					}
				}
				nc.Close()
			default:
				v, err := c.Get(ctxAll, k)
				if err != nil || string(v) != fmt.Sprintf("value-%d", (id+i)%8) {
					fail("client %d get %s: %q %v", id, k, v, err)
				}
			}
		}
	}

	pid := d.PID()
	var wg sync.WaitGroup
	for id := range 64 {
		wg.Go(func() { client(id) })
	}
	warm := min(dur/5, 10*time.Second)
	time.Sleep(warm)
	rssWarm, fdWarm := procStatusKB(t, pid, "VmRSS"), fdCount(t, pid)
	var samples []int64
	for left := dur - warm; left > 0; left -= 5 * time.Second {
		time.Sleep(min(left, 5*time.Second))
		samples = append(samples, procStatusKB(t, pid, "VmRSS"))
	}
	close(stop)
	wg.Wait()
	if n := unexpected.Load(); n > 0 {
		t.Errorf("%d unexpected outcomes in %d requests; first: %v", n, requests.Load(), firstErr.Load())
	}

	// Once the clients are gone, descriptors return to the resting level.
	var fdEnd int
	deadline := time.Now().Add(15 * time.Second)
	for {
		fdEnd = fdCount(t, pid)
		if fdEnd <= fdWarm || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	rssEnd := procStatusKB(t, pid, "VmRSS")
	// The daemon notices closed connections asynchronously; the status
	// connection itself is one.
	st := d.status()
	for deadline := time.Now().Add(10 * time.Second); st.Connections > 1 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		st = d.status()
	}
	t.Logf("soak: %s, 64 clients, %d requests (%.0f/s); audit committed %d, failed %d",
		dur, requests.Load(), float64(requests.Load())/dur.Seconds(), st.Audit.Committed, st.Audit.Failed)
	dec, enc := 0, 0
	for _, c := range w.calls() {
		switch {
		case strings.Contains(c, "--decrypt"):
			dec++
		case strings.Contains(c, "--encrypt"):
			enc++
		}
	}
	t.Logf("soak: gpg ran %d times to decrypt, %d to encrypt", dec, enc)
	t.Logf("soak: VmRSS after %s warm-up %d kB, every 5 s %v kB, at the end %d kB; fds under load %d, after %d; connections now %d",
		warm, rssWarm, samples, rssEnd, fdWarm, fdEnd, st.Connections)
	if fdEnd > fdWarm {
		t.Errorf("descriptor leak: %d fds after the soak, %d under load after warm-up", fdEnd, fdWarm)
	}
	if st.Connections != 1 { // the status connection itself
		t.Errorf("the daemon counts %d open connections after every client left", st.Connections)
	}
	if st.Audit.Failed != 0 {
		t.Errorf("%d audit records failed", st.Audit.Failed)
	}
	peak := rssWarm
	for _, s := range samples {
		peak = max(peak, s)
	}
	// Flat means: no growth that follows the request count. Allow the heap
	// to settle at a higher working size (a quarter, plus 8 MiB).
	if limit := rssWarm + rssWarm/4 + 8<<10; peak > limit {
		t.Errorf("memory grows under steady load: %d kB after warm-up, peak %d kB", rssWarm, peak)
	}
	awaitNoChildren(t, pid, 15*time.Second)
}
