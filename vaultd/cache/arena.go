package cache

import "github.com/awnumar/memguard"

// Arena sizes. A slab is one memguard buffer: locked, guarded by
// inaccessible pages, never swapped, never in a core dump. Small values are
// carved from slabs in blocks; a value bigger than maxSmall gets a buffer
// of its own.
const (
	slabSize  = 64 << 10
	blockSize = 64
	blocks    = slabSize / blockSize
	maxSmall  = 16 << 10
	pageSize  = 4096
)

// span is a value's place in locked memory.
type span struct {
	slab  *slab // nil for a dedicated buffer
	own   *memguard.LockedBuffer
	first int // first block, within slab
	n     int // length in bytes
}

func (s span) bytes() []byte {
	if s.own != nil {
		return s.own.Bytes()[:s.n]
	}
	off := s.first * blockSize
	return s.slab.buf.Bytes()[off : off+s.n]
}

type slab struct {
	buf  *memguard.LockedBuffer
	used [blocks / 64]uint64 // bitmap of blocks in use
	free int                 // free blocks
}

// arena hands out locked memory within a byte budget. Allocating locked
// memory costs 100–250 µs, so the arena allocates slabs rarely and reuses
// them; a cache hit never allocates. Not safe for concurrent use: the cache
// holds its lock.
type arena struct {
	budget int // bytes of locked memory the arena may hold
	locked int // bytes of locked memory held now
	slabs  []*slab
}

// alloc copies value into locked memory. ok is false if the budget does not
// allow it (the caller evicts and retries, or serves uncached).
func (a *arena) alloc(value []byte) (span, bool) {
	n := len(value)
	if n > maxSmall {
		size := roundUp(max(n, 1), pageSize)
		if a.locked+size > a.budget {
			return span{}, false
		}
		buf := memguard.NewBuffer(n)
		if !buf.IsAlive() {
			return span{}, false
		}
		a.locked += size
		copy(buf.Bytes(), value)
		return span{own: buf, n: n}, true
	}
	need := max(1, (n+blockSize-1)/blockSize)
	for _, s := range a.slabs {
		if s.free >= need {
			if first, ok := s.find(need); ok {
				return a.place(s, first, need, value), true
			}
		}
	}
	if a.locked+slabSize > a.budget {
		return span{}, false
	}
	buf := memguard.NewBuffer(slabSize)
	if !buf.IsAlive() {
		return span{}, false
	}
	a.locked += slabSize
	s := &slab{buf: buf, free: blocks}
	a.slabs = append(a.slabs, s)
	return a.place(s, 0, need, value), true
}

func (a *arena) place(s *slab, first, need int, value []byte) span {
	for b := first; b < first+need; b++ {
		s.used[b/64] |= 1 << (b % 64)
	}
	s.free -= need
	sp := span{slab: s, first: first, n: len(value)}
	copy(sp.bytes(), value)
	return sp
}

// free wipes a span and returns its memory. An empty slab is released
// unless it is the last one (kept to avoid paying for it again at once).
func (a *arena) free(sp span) {
	if sp.own != nil {
		a.locked -= roundUp(max(sp.n, 1), pageSize)
		sp.own.Destroy() // wipes
		return
	}
	clear(sp.bytes())
	need := max(1, (sp.n+blockSize-1)/blockSize)
	s := sp.slab
	for b := sp.first; b < sp.first+need; b++ {
		s.used[b/64] &^= 1 << (b % 64)
	}
	s.free += need
	if s.free == blocks && len(a.slabs) > 1 {
		for i, x := range a.slabs {
			if x == s {
				a.slabs = append(a.slabs[:i], a.slabs[i+1:]...)
				break
			}
		}
		a.locked -= slabSize
		s.buf.Destroy()
	}
}

// destroy wipes and releases everything.
func (a *arena) destroy() {
	for _, s := range a.slabs {
		s.buf.Destroy()
	}
	a.slabs = nil
	a.locked = 0
}

// find returns the first run of need free blocks.
func (s *slab) find(need int) (int, bool) {
	run := 0
	for w := 0; w < len(s.used); w++ {
		word := s.used[w]
		if word == ^uint64(0) {
			run = 0
			continue
		}
		if word == 0 && run+64 < need {
			run += 64
			continue
		}
		for bit := 0; bit < 64; bit++ {
			if word&(1<<bit) != 0 {
				run = 0
				// Skip the rest of a fully used stretch quickly.
				if rest := word >> bit; rest == ^uint64(0)>>bit {
					break
				}
				continue
			}
			run++
			if run == need {
				return w*64 + bit - need + 1, true
			}
		}
	}
	return 0, false
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }
