package sqlite

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// The audit journal is an append-only file beside the database
// (<db>.journal). A record is durable for the daemon's purposes once it is
// in the journal: a write(2) that reached the kernel survives a crash of the
// process, which is the same guarantee SQLite gives in WAL mode with
// synchronous=NORMAL, at a fraction of the cost. The loader copies records
// into SQLite behind the answers, and the journal is truncated whenever
// SQLite has caught up. At open, records that the journal holds and SQLite
// does not are loaded first.
//
// Entry format: 4 bytes little-endian payload length, 4 bytes CRC-32C of the
// payload, then the payload: uvarint seq, varint time (unix ns), varint
// pid, uid, gid, duration (µs), then ten strings (uvarint length + bytes):
// request id, token id, client, exe, unit, method, path, outcome, code,
// detail. A torn or corrupt tail (a crash mid-write) ends the journal.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const maxJournalEntry = 1 << 20

// appendEntry appends rec's journal entry to dst.
func appendEntry(dst []byte, rec *Record) []byte {
	head := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	body := len(dst)
	dst = binary.AppendUvarint(dst, uint64(rec.Seq))
	dst = binary.AppendVarint(dst, rec.Time.UnixNano())
	dst = binary.AppendVarint(dst, int64(rec.PID))
	dst = binary.AppendVarint(dst, rec.UID)
	dst = binary.AppendVarint(dst, rec.GID)
	dst = binary.AppendVarint(dst, rec.Duration.Microseconds())
	for _, s := range [...]string{rec.RequestID, rec.TokenID, rec.Client, rec.Exe, rec.Unit, rec.Method, rec.Path, rec.Outcome, rec.Code, rec.Detail} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	binary.LittleEndian.PutUint32(dst[head:], uint32(len(dst)-body))
	binary.LittleEndian.PutUint32(dst[head+4:], crc32.Checksum(dst[body:], castagnoli))
	return dst
}

var errBadEntry = errors.New("corrupt journal entry")

// decodeEntry decodes one payload.
func decodeEntry(p []byte) (Record, error) {
	var r Record
	var ok = true
	uv := func() uint64 {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			ok = false
			return 0
		}
		p = p[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(p)
		if n <= 0 {
			ok = false
			return 0
		}
		p = p[n:]
		return v
	}
	r.Seq = int64(uv())
	r.Time = time.Unix(0, sv())
	r.PID = int32(sv())
	r.UID = sv()
	r.GID = sv()
	r.Duration = time.Duration(sv()) * time.Microsecond
	for _, dst := range [...]*string{&r.RequestID, &r.TokenID, &r.Client, &r.Exe, &r.Unit, &r.Method, &r.Path, &r.Outcome, &r.Code, &r.Detail} {
		n := uv()
		if !ok || n > uint64(len(p)) {
			return r, errBadEntry
		}
		*dst = string(p[:n])
		p = p[n:]
	}
	if !ok || len(p) != 0 {
		return r, errBadEntry
	}
	return r, nil
}

// scanJournal calls fn for each intact record of the journal file f, from
// the start, without holding the whole file in memory, and stops at a torn
// or corrupt tail (or one being written right now).
func scanJournal(f *os.File, fn func(Record) error) error {
	br := bufio.NewReaderSize(f, 256<<10)
	var head [8]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return nil
		}
		n := int(binary.LittleEndian.Uint32(head[:]))
		if n > maxJournalEntry {
			return nil
		}
		if cap(payload) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return nil
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(head[4:]) {
			return nil
		}
		r, err := decodeEntry(payload)
		if err != nil {
			return nil
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

// readJournal returns the intact records of the journal file f and the
// offset where the intact part ends.
func readJournal(f *os.File) ([]Record, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, err
	}
	var recs []Record
	off := 0
	for len(data)-off >= 8 {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n > maxJournalEntry || off+8+n > len(data) {
			break
		}
		payload := data[off+8 : off+8+n]
		if crc32.Checksum(payload, castagnoli) != sum {
			break
		}
		r, err := decodeEntry(payload)
		if err != nil {
			break
		}
		recs = append(recs, r)
		off += 8 + n
	}
	return recs, int64(off), nil
}
