package reliability

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestValuesRoundTripByteExact: values with embedded newlines, NUL bytes,
// bytes that are not UTF-8, and the largest value a 64 KiB line can carry
// (as value_b64) come back byte for byte, through the vault and through
// `pass show`; one byte more is line_too_long.
func TestValuesRoundTripByteExact(t *testing.T) {
	d := start(t, opts{})
	noise := make([]byte, 4096)
	_, _ = rand.Read(noise)
	values := map[string][]byte{
		"svc/newlines":  []byte("line1\nline2\n\nline4"),
		"svc/only-nl":   []byte("\n"),
		"svc/two-nl":    []byte("\n\n"),
		"svc/trailing":  []byte("value\n"),
		"svc/crlf":      []byte("a\r\nb\r\n"),
		"svc/nul":       []byte("nul\x00inside\x00"),
		"svc/just-nul":  {0},
		"svc/not-utf8":  {0xff, 0xfe, 0x00, 0x80, 'x', 0xc0, 0xaf},
		"svc/surrogate": []byte("\xed\xa0\x80"),
		"svc/noise":     noise,
		"svc/empty":     {},
		"svc/unicode":   []byte("\u2028\u2029\ufeff é 😀"),
	}
	c := d.Dial("")
	for p, v := range values {
		if err := c.Set(ctx(t), p, v); err != nil {
			t.Fatalf("set %s: %v", p, err)
		}
		got, err := c.Get(ctx(t), p)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("get %s = %q %v, want %q", p, got, err, v)
		}
		if show := testpass.PassShow(t, gnupgHome, d.Store, p); !bytes.Equal(show, append(bytes.Clone(v), '\n')) {
			t.Fatalf("pass show %s = %q, want %q and a newline", p, show, v)
		}
	}

	// The largest value_b64 that fits a 64 KiB line.
	const prefix, suffix = `{"id":1,"method":"set","params":{"path":"svc/max","value_b64":"`, `"}}`
	room := wire.DefaultMaxLine - len(prefix) - len(suffix)
	n := room / 4 * 3
	big := make([]byte, n)
	_, _ = rand.Read(big)
	big[0] = 0xff // certainly not UTF-8
	line := prefix + base64.StdEncoding.EncodeToString(big) + suffix
	if len(line) > wire.DefaultMaxLine || len(line)+4 <= wire.DefaultMaxLine {
		t.Fatalf("miscalculated: line %d bytes", len(line))
	}
	r := d.Raw()
	r.Send(line + "\n")
	if a := r.Answer(); a.Error != nil {
		t.Fatalf("set of the largest value (%d bytes, line %d bytes): %v", n, len(line), a.Error)
	}
	got, err := c.Get(ctx(t), "svc/max")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("get of the largest value: %d bytes, %v", len(got), err)
	}
	if show := testpass.PassShow(t, gnupgHome, d.Store, "svc/max"); !bytes.Equal(show, append(bytes.Clone(big), '\n')) {
		t.Fatalf("pass show of the largest value differs (%d bytes)", len(show))
	}
	t.Logf("largest value through a 64 KiB line: %d bytes (line %d bytes)", n, len(line))

	over := make([]byte, n+1)
	r2 := d.Raw()
	r2.Send(prefix + base64.StdEncoding.EncodeToString(over) + suffix + "\n")
	if a := r2.Answer(); a.Error == nil || a.Error.Code != wire.CodeLineTooLong {
		t.Fatalf("one byte more: %+v, want line_too_long", a.Error)
	}
	if got, _ := c.Get(ctx(t), "svc/max"); !bytes.Equal(got, big) {
		t.Fatal("the refused write changed the entry")
	}
}

// TestOversizeValueIsBadRequest: with the line limit raised, a value larger
// than the store accepts (512 KiB) is refused with bad_request, the code for
// sizes, and a message about the size; not invalid_path with "it leads
// outside the store", which sends the user looking for a symlink.
func TestOversizeValueIsBadRequest(t *testing.T) {
	d := start(t, opts{args: []string{"--max-line", "2000000"}})
	const secret = "SENTINEL-oversize-0b5e"
	d.plant([]byte(secret))
	c := d.Dial("")
	v := []byte(secret + strings.Repeat("x", 600<<10))
	err := c.Set(ctx(t), "svc/huge", v)
	if err == nil {
		t.Fatal("a 600 KiB value was accepted")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("the refusal echoes the value")
	}
	if code(err) != wire.CodeBadRequest || strings.Contains(err.Error(), "outside the store") {
		t.Fatalf("oversize value: %v; want bad_request saying the value is too large", err)
	}
}

// git runs git in the store.
func gitOut(t *testing.T, store string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", store}, args...)...)
	cmd.Env = testpass.Env(gnupgHome, store)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestConcurrentWritersAndReaders: 100 writers and 100 readers on one path,
// with the cache off so every read decrypts the file: every read is the old
// value or one of the written ones, never a mix or a torn file; in a git
// store each write is exactly one commit and the tree is clean afterwards.
func TestConcurrentWritersAndReaders(t *testing.T) {
	store := testpass.NewStore(t, gnupgHome, keyID)
	testpass.InitGit(t, store, gnupgHome)
	// A generous gpg timeout: a burst of 100 gpg runs on one GNUPGHOME
	// queues on gpg's random_seed lock for seconds, and on a loaded machine
	// some exceed the default 10 s (a separate finding); this test is about
	// atomicity and history, not that latency.
	d := start(t, opts{store: store, args: []string{"--cache-ttl", "0", "--gpg-timeout", "60s"}})
	initial := []byte("initial|" + strings.Repeat("0", 3000) + "|end")
	d.insert("svc/shared", initial)
	commits0, _ := strconv.Atoi(gitOut(t, store, "rev-list", "--count", "HEAD"))

	const writers, readers, maxReads = 100, 100, 3
	valid := map[string]bool{string(initial): true}
	vals := make([][]byte, writers)
	for i := range vals {
		vals[i] = []byte(fmt.Sprintf("writer-%03d|", i) + strings.Repeat(string(rune('a'+i%26)), 3000) + "|end")
		valid[string(vals[i])] = true
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var torn []string
	failed := map[string]int{} // "writer: code" -> count
	firstFail := map[string]string{}
	fail := func(who string, err error) {
		mu.Lock()
		defer mu.Unlock()
		k := who + " " + string(code(err))
		failed[k]++
		if firstFail[k] == "" {
			firstFail[k] = err.Error()
		}
	}
	written := 0
	gate := make(chan struct{})
	writing := make(chan struct{}) // closed when every writer is done
	reads, sawInitial := 0, 0
	for i := range writers {
		c := d.Dial("")
		wg.Go(func() {
			<-gate
			if err := c.Set(ctx(t), "svc/shared", vals[i]); err != nil {
				fail("writer", err)
				return
			}
			mu.Lock()
			written++
			mu.Unlock()
		})
	}
	for i := range readers {
		c := d.Dial("")
		wg.Go(func() {
			<-gate
			// Read while the writes go on (at least once, at most maxReads).
			for n := 0; n < maxReads; n++ {
				if n > 0 {
					select {
					case <-writing:
						return
					default:
					}
				}
				v, err := c.Get(ctx(t), "svc/shared")
				switch {
				case err != nil:
					fail("reader", err)
				case !valid[string(v)]:
					mu.Lock()
					torn = append(torn, fmt.Sprintf("reader %d saw a value nobody wrote (%d bytes): %.40q...", i, len(v), v))
					mu.Unlock()
				}
				mu.Lock()
				reads++
				if bytes.Equal(v, initial) {
					sawInitial++
				}
				mu.Unlock()
			}
		})
	}
	t0 := time.Now()
	close(gate)
	go func() {
		for {
			mu.Lock()
			n := written + countFailures(failed, "writer")
			mu.Unlock()
			if n == writers {
				close(writing)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	wg.Wait()
	t.Logf("%d writers and %d readers on one path in %s: %d writes succeeded, %d reads (%d saw the initial value, %d a written one); failures %v",
		writers, readers, time.Since(t0).Round(time.Millisecond), written, reads, sawInitial, reads-sawInitial, failed)
	if len(torn) > 0 {
		t.Fatalf("%d reads saw a torn or foreign value; first: %s", len(torn), torn[0])
	}
	for k, n := range failed {
		t.Errorf("%d %s failures under concurrency; first: %s", n, k, firstFail[k])
	}
	final, err := d.Dial("").Get(ctx(t), "svc/shared")
	if err != nil || !valid[string(final)] || bytes.Equal(final, initial) {
		t.Fatalf("final value: %.40q %v", final, err)
	}
	if show := testpass.PassShow(t, gnupgHome, store, "svc/shared"); !bytes.Equal(show, append(bytes.Clone(final), '\n')) {
		t.Fatalf("pass show differs from the vault's value")
	}
	commits, _ := strconv.Atoi(gitOut(t, store, "rev-list", "--count", "HEAD"))
	if commits-commits0 != written {
		t.Errorf("%d commits for %d writes", commits-commits0, written)
	}
	if st := gitOut(t, store, "status", "--porcelain", "--ignored"); st != "" {
		t.Errorf("the store's work tree is not clean after the writes:\n%s", st)
	}
	awaitNoChildren(t, d.PID(), 15*time.Second)
}

func countFailures(m map[string]int, who string) int {
	n := 0
	for k, v := range m {
		if strings.HasPrefix(k, who+" ") {
			n += v
		}
	}
	return n
}

// tempFiles lists the write-temporary files (".NAME.gpg.tmp-...") in store.
func tempFiles(store string) []string {
	var out []string
	_ = filepath.WalkDir(store, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if de.IsDir() && de.Name() == ".git" {
			return filepath.SkipDir
		}
		if strings.Contains(de.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestKillDuringWrite: the daemon is killed with SIGKILL in the middle of a
// write, first while gpg encrypts (a slowed gpg), then between the
// temporary file's creation and its rename (timed with inotify). The old
// value is intact each time, and after a restart no temporary file is left
// in the store.
func TestKillDuringWrite(t *testing.T) {
	w := newGPGWrapper(t)
	d := start(t, opts{config: w.config()})
	const secret = "SENTINEL-midwrite-7f3c"
	d.plant([]byte(secret))
	if err := d.Dial("").Set(ctx(t), "svc/x", []byte("old")); err != nil {
		t.Fatal(err)
	}

	// 1. While gpg encrypts.
	w.set("slow-encrypt", true)
	c := d.Dial("")
	go func() { _ = c.Set(ctx(t), "svc/x", []byte(secret+"-new")) }()
	awaitFile(t, filepath.Join(w.dir, "encrypt-started"), 15*time.Second)
	d.Kill()
	w.killSleepers()
	w.set("slow-encrypt", false)
	if pid, err := os.ReadFile(filepath.Join(w.dir, "encrypt-started")); err == nil {
		// The wrapper outlived the daemon, as gpg would; end it.
		if p, _ := strconv.Atoi(strings.TrimSpace(string(pid))); p > 1 {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	d.assertNoLeaks("right after SIGKILL during encryption")
	d.Start()
	if v, err := d.Dial("").Get(ctx(t), "svc/x"); err != nil || string(v) != "old" {
		t.Fatalf("after a kill during encryption: %q %v, want the old value", v, err)
	}
	if tmp := tempFiles(d.Store); len(tmp) > 0 {
		t.Errorf("temporary files after a kill during encryption: %v", tmp)
	}

	// 2. Between the temporary file and the rename: an inotify watch on
	// the entry's folder kills the daemon the moment the temporary file is
	// created. The window is a write and an fsync, so it is usually hit;
	// try a few times.
	prev := []byte("old")
	caught := false
	for attempt := 0; attempt < 8 && !caught; attempt++ {
		next := []byte(fmt.Sprintf("%s-v%d", secret, attempt))
		killed := killOnCreate(t, filepath.Join(d.Store, "svc"), ".tmp-", d.PID())
		c := d.Dial("")
		go func() { _ = c.Set(ctx(t), "svc/x", next) }()
		select {
		case <-killed:
		case <-time.After(20 * time.Second):
			t.Fatal("no temporary file was created within 20 s")
		}
		if exited, _ := d.Wait(20 * time.Second); !exited {
			t.Fatal("the daemon outlived its SIGKILL")
		}
		left := tempFiles(d.Store)
		caught = len(left) > 0
		d.assertNoLeaks("right after SIGKILL in the rename window")
		d.Start()
		v, err := d.Dial("").Get(ctx(t), "svc/x")
		switch {
		case err != nil:
			t.Fatalf("after a kill in the rename window: %v", err)
		case caught && !bytes.Equal(v, prev):
			t.Fatalf("killed before the rename, but the value is %q, want the old %q", v, prev)
		case !bytes.Equal(v, prev) && !bytes.Equal(v, next):
			t.Fatalf("value %q is neither the old nor the new one", v)
		}
		prev = v
		if caught {
			t.Logf("attempt %d: killed with %v in the store", attempt, left)
		}
	}
	if !caught {
		t.Log("the kill never landed between create and rename; the temporary-file check below is vacuous")
	}
	if tmp := tempFiles(d.Store); len(tmp) > 0 {
		t.Errorf("temporary files left in the store after a restart: %v (the store should remove stale .*.tmp-* files when it opens)", tmp)
	}
}

// killOnCreate watches dir with inotify and SIGKILLs pid as soon as a file
// whose name contains marker is created there. The returned channel is
// closed after the kill.
func killOnCreate(t *testing.T, dir, marker string, pid int) <-chan struct{} {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer unix.Close(fd)
		defer close(done)
		buf := make([]byte, 64<<10)
		deadline := time.Now().Add(25 * time.Second)
		for time.Now().Before(deadline) {
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
				name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+nameLen], "\x00"))
				if strings.Contains(name, marker) {
					_ = unix.Kill(pid, unix.SIGKILL)
					return
				}
				off += unix.SizeofInotifyEvent + nameLen
			}
		}
	}()
	return done
}
