package sqlite

import (
	"testing"
)

// BenchmarkAuditSingle is one connection auditing and waiting for each
// record in turn: every record is its own transaction.
func BenchmarkAuditSingle(b *testing.B) {
	db := MustOpenDB(b)
	w := NewWaiter()
	r := rec("get", "apps/bench/key")
	b.ReportAllocs()
	for b.Loop() {
		db.Audit(r, w)
		if err := w.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	reportBatches(b, db)
}

// BenchmarkAuditParallel is many connections at once, each waiting for its
// own records; group commit shares transactions between them.
func BenchmarkAuditParallel(b *testing.B) {
	db := MustOpenDB(b)
	r := rec("get", "apps/bench/key")
	b.SetParallelism(16) // goroutines per CPU: connections outnumber cores
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := NewWaiter()
		for pb.Next() {
			db.Audit(r, w)
			if err := w.Wait(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportBatches(b, db)
}

func reportBatches(b *testing.B, db *DB) {
	s := db.AuditStats()
	if s.Batches > 0 {
		b.ReportMetric(float64(s.Committed)/float64(s.Batches), "records/batch")
	}
}

// BenchmarkAuditWriterBatch measures the writer alone: one full batch per
// transaction, no waiters, no goroutine handoffs. It is the ceiling on
// audit throughput.
func BenchmarkAuditWriterBatch(b *testing.B) {
	db := MustOpenDB(b)
	batch := make([]Record, maxBatch)
	seq := int64(1 << 40)
	for b.Loop() {
		for i := range batch {
			batch[i] = rec("get", "apps/bench/key")
			batch[i].Time = db.Now()
			batch[i].Seq = seq
			seq++
		}
		if err := db.insertRecords(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*maxBatch), "ns/record")
}
