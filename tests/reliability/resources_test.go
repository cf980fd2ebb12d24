package reliability

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestOutOfFileDescriptors: with RLIMIT_NOFILE at 40, more clients than
// the daemon has descriptors for connect at once. The accept loop backs off
// instead of spinning (its CPU time over a 2 s window stays far below one
// core), the clients it did accept are served, and once they leave the
// ones waiting in the listen backlog are accepted and served too.
func TestOutOfFileDescriptors(t *testing.T) {
	const limit, clients = 40, 60
	d := start(t, opts{nofile: limit})
	d.insert("svc/token", []byte("v"))
	d.mustServe("before")
	base := fdCount(t, d.PID())
	t.Logf("daemon fds at rest: %d of %d", base, limit)

	type client struct {
		c  net.Conn
		br *bufio.Reader
	}
	cs := make([]*client, clients)
	for i := range cs {
		c, err := net.Dial("unix", d.Socket)
		if err != nil {
			t.Fatalf("client %d: connect: %v (the listen backlog should take it)", i, err)
		}
		t.Cleanup(func() { c.Close() })
		cs[i] = &client{c: c, br: bufio.NewReader(c)}
		if _, err := fmt.Fprintf(c, `{"id":%d,"method":"health"}`+"\n", i); err != nil {
			t.Fatal(err)
		}
	}
	// The accept loop must have hit the limit.
	d.awaitLog("out of file descriptors", 15*time.Second)

	// Who got an answer (was accepted) and who waits in the backlog.
	answered := make([]bool, clients)
	var wg sync.WaitGroup
	for i, cl := range cs {
		wg.Go(func() {
			_ = cl.c.SetReadDeadline(time.Now().Add(3 * time.Second))
			line, err := cl.br.ReadBytes('\n')
			if err != nil {
				return
			}
			a, err := wire.ParseResponse(line[:len(line)-1])
			if err != nil || a.Error != nil {
				t.Errorf("client %d: %q %v", i, line, err)
				return
			}
			answered[i] = true
		})
	}
	wg.Wait()
	served := 0
	for _, ok := range answered {
		if ok {
			served++
		}
	}
	if served == clients {
		t.Fatalf("all %d clients were served with %d descriptors: the limit was not reached", clients, limit)
	}

	// Over a 2 s window in that state the daemon must sleep, not spin.
	c0 := cpuTicks(t, d.PID())
	w0 := time.Now()
	time.Sleep(2 * time.Second)
	ticks := cpuTicks(t, d.PID()) - c0
	wall := time.Since(w0)
	share := float64(ticks) / 100 / wall.Seconds()
	t.Logf("%d of %d clients accepted at the limit; daemon CPU over %s while out of descriptors: %d ticks (%.1f%% of one core); fds %d; limits: %s",
		served, clients, wall.Round(time.Millisecond), ticks, 100*share, fdCount(t, d.PID()), nofileLimit(d.PID()))
	if share >= 0.5 {
		t.Errorf("the accept loop spins: %.0f%% of a core while out of descriptors", 100*share)
	}

	// Release the accepted clients: the waiting ones get in and are served.
	for i, ok := range answered {
		if ok {
			cs[i].c.Close()
		}
	}
	for i, cl := range cs {
		if answered[i] {
			continue
		}
		_ = cl.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		line, err := cl.br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("client %d waiting in the backlog was never served after descriptors came back: %v", i, err)
		}
		if a, err := wire.ParseResponse(line[:len(line)-1]); err != nil || a.Error != nil {
			t.Fatalf("client %d: %q %v", i, line, err)
		}
		cl.c.Close()
	}
	// And it is all healthy again, gpg included (gpg needs descriptors for
	// its pipes).
	c := d.Dial("")
	if v, err := c.Get(ctx(t), "svc/token"); err != nil || string(v) != "v" {
		t.Fatalf("get after recovery: %q %v", v, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for fdCount(t, d.PID()) > base+1 { // +1: the client above
		if time.Now().After(deadline) {
			t.Fatalf("fds after recovery: %d, at rest %d", fdCount(t, d.PID()), base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// smapsLockedKB sums the Locked: lines of /proc/pid/smaps.
func smapsLockedKB(t *testing.T, pid int) (total int64, mappings int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Locked:"); ok {
			var kb int64
			if _, err := fmt.Sscan(rest, &kb); err != nil {
				t.Fatal(err)
			}
			if kb > 0 {
				total += kb
				mappings++
			}
		}
	}
	return total, mappings
}

// TestCachedSecretsLiveInLockedMemory: with caching on, a value read once
// sits in memguard's locked (mlocked, never swapped) memory: the daemon has
// Locked mappings in smaps and a non-zero VmLck.
func TestCachedSecretsLiveInLockedMemory(t *testing.T) {
	d := start(t, opts{args: []string{"--cache-ttl", "5m"}})
	const secret = "SENTINEL-locked-9e0f"
	d.plant([]byte(secret))
	d.insert("svc/token", []byte(secret))
	lck0 := procStatusKB(t, d.PID(), "VmLck")
	sm0, n0 := smapsLockedKB(t, d.PID())
	c := d.Dial("")
	for range 3 {
		if v, err := c.Get(ctx(t), "svc/token"); err != nil || string(v) != secret {
			t.Fatalf("get: %q %v", v, err)
		}
	}
	st := d.status()
	if st.Cache.Entries != 1 || st.Cache.Hits < 2 {
		t.Fatalf("the value was not cached: %+v", st.Cache)
	}
	lck := procStatusKB(t, d.PID(), "VmLck")
	sm, n := smapsLockedKB(t, d.PID())
	t.Logf("before the first get: VmLck %d kB, %d locked mappings (%d kB); after: VmLck %d kB, %d locked mappings (%d kB)", lck0, n0, sm0, lck, n, sm)
	if lck <= 0 || sm <= 0 {
		t.Fatalf("no locked memory after caching a value: VmLck %d kB, smaps Locked %d kB", lck, sm)
	}
	if sm <= sm0 {
		t.Errorf("locked memory did not grow when a value was cached (%d kB -> %d kB)", sm0, sm)
	}
}

// nofileLimit is the "Max open files" line of /proc/pid/limits.
func nofileLimit(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			return strings.Join(strings.Fields(line)[3:5], "/")
		}
	}
	return "?"
}
