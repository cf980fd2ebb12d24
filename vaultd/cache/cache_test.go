package cache

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/vpath"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func get(c *Cache, p string) ([]byte, bool) {
	var out []byte
	ok := c.Get(vpath.MustParse(p), func(v []byte) { out = append([]byte(nil), v...) })
	return out, ok
}

func TestTTL(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	c := New(Options{TTL: 30 * time.Second, Now: clk.now})
	defer c.Close()
	p := vpath.MustParse("a/b")
	if !c.Put(p, []byte("v1"), c.Generation()) {
		t.Fatal("Put refused")
	}
	if v, ok := get(c, "a/b"); !ok || string(v) != "v1" {
		t.Fatalf("fresh entry: %q %v", v, ok)
	}
	clk.t = clk.t.Add(29 * time.Second)
	if _, ok := get(c, "a/b"); !ok {
		t.Fatal("entry expired early")
	}
	clk.t = clk.t.Add(time.Second)
	if _, ok := get(c, "a/b"); ok {
		t.Fatal("entry served at its expiry")
	}
	c.Sweep()
	if s := c.Stats(); s.Entries != 0 || s.Hits != 2 || s.Misses != 1 {
		t.Fatalf("stats after sweep: %+v", s)
	}
}

func TestDisabled(t *testing.T) {
	c := New(Options{TTL: 0})
	defer c.Close()
	if c.Put(vpath.MustParse("a"), []byte("v"), c.Generation()) {
		t.Fatal("a cache with TTL 0 stored a value")
	}
}

func TestStaleGenerationIsNotStored(t *testing.T) {
	c := New(Options{TTL: time.Minute})
	defer c.Close()
	p := vpath.MustParse("a")
	gen := c.Generation()
	c.Invalidate(vpath.MustParse("unrelated")) // a change elsewhere lands during the fetch
	if !c.Put(p, []byte("fine"), gen) {
		t.Fatal("a change to another path kept a fresh value out")
	}
	gen = c.Generation()
	c.Invalidate(p) // a change to p itself lands during the fetch
	if c.Put(p, []byte("old"), gen) {
		t.Fatal("a value fetched before its own change was stored")
	}
	gen = c.Generation()
	c.InvalidateAll()
	if c.Put(p, []byte("old"), gen) {
		t.Fatal("a value fetched before an InvalidateAll was stored")
	}
	if !c.Put(p, []byte("new"), c.Generation()) {
		t.Fatal("fresh Put refused")
	}
	c.InvalidateAll()
	if _, ok := get(c, "a"); ok {
		t.Fatal("InvalidateAll left an entry")
	}
}

func TestEvictionByCountAndBudget(t *testing.T) {
	c := New(Options{TTL: time.Minute, MaxEntries: 3})
	defer c.Close()
	for i := range 5 {
		c.Put(vpath.MustParse(fmt.Sprintf("k%d", i)), []byte("v"), c.Generation())
	}
	if _, ok := get(c, "k1"); ok {
		t.Fatal("oldest entries were not evicted")
	}
	if _, ok := get(c, "k4"); !ok {
		t.Fatal("newest entry missing")
	}
	if n := c.Stats().Entries; n != 3 {
		t.Fatalf("entries = %d, want 3", n)
	}

	// A budget of one slab: large values push each other out, and a value
	// bigger than the budget is not stored at all.
	small := New(Options{TTL: time.Minute, MaxBytes: slabSize})
	defer small.Close()
	big := bytes.Repeat([]byte("x"), 20<<10)
	if !small.Put(vpath.MustParse("b1"), big, small.Generation()) {
		t.Fatal("20 KiB value refused")
	}
	if !small.Put(vpath.MustParse("b2"), big, small.Generation()) {
		t.Fatal("second 20 KiB value refused")
	}
	if small.Put(vpath.MustParse("huge"), bytes.Repeat([]byte("y"), 2*slabSize), small.Generation()) {
		t.Fatal("value over the budget stored")
	}
	if s := small.Stats(); s.Bytes > slabSize {
		t.Fatalf("locked %d bytes over a budget of %d", s.Bytes, slabSize)
	}
}

func TestValuesAreWipedOnEviction(t *testing.T) {
	c := New(Options{TTL: time.Minute})
	defer c.Close()
	p := vpath.MustParse("a")
	c.Put(p, []byte("SECRET-VALUE"), c.Generation())
	e := c.entries[p]
	mem := e.sp.bytes() // the locked memory itself
	c.Invalidate(p)
	if !bytes.Equal(mem, make([]byte, len(mem))) {
		t.Fatalf("locked memory not wiped: %q", mem)
	}
}

// TestArenaModel allocates and frees at random and checks every live value
// against a model, so overlapping spans would be caught.
func TestArenaModel(t *testing.T) {
	a := arena{budget: 8 * slabSize}
	defer a.destroy()
	r := rand.New(rand.NewPCG(3, 4))
	type live struct {
		sp  span
		val []byte
	}
	var lives []live
	for i := range 4000 {
		if len(lives) > 0 && r.IntN(3) == 0 {
			j := r.IntN(len(lives))
			a.free(lives[j].sp)
			lives = append(lives[:j], lives[j+1:]...)
			continue
		}
		n := r.IntN(3000)
		if r.IntN(50) == 0 {
			n = maxSmall + r.IntN(8000)
		}
		val := bytes.Repeat([]byte{byte(i)}, n)
		sp, ok := a.alloc(val)
		if !ok {
			continue
		}
		lives = append(lives, live{sp, val})
		for _, l := range lives {
			if !bytes.Equal(l.sp.bytes(), l.val) {
				t.Fatalf("step %d: a live value was overwritten", i)
			}
		}
	}
	if a.locked > a.budget {
		t.Fatalf("locked %d over budget %d", a.locked, a.budget)
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := New(Options{TTL: time.Hour})
	defer c.Close()
	p := vpath.MustParse("claude/tokens/telegram-bot")
	c.Put(p, []byte("123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"), c.Generation())
	out := make([]byte, 0, 64)
	for b.Loop() {
		c.Get(p, func(v []byte) { out = append(out[:0], v...) })
	}
}
