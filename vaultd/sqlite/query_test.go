package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestQueryAuditFilters(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	base := time.Unix(1_700_000_000, 0)
	w := NewWaiter()
	// Ten records a second apart, alternating clients and outcomes.
	for i := range 10 {
		r := rec("get", fmt.Sprintf("apps/%d/key", i))
		r.Time = base.Add(time.Duration(i) * time.Second)
		r.Client = []string{"alpha", "beta"}[i%2]
		r.Outcome = []string{"ok", "ok", "denied"}[i%3]
		db.Audit(r, w)
	}
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	paths := func(rs []Record) string {
		var ps []string
		for _, r := range rs {
			ps = append(ps, strings.Split(r.Path, "/")[1])
		}
		return strings.Join(ps, ",")
	}
	tests := []struct {
		name string
		q    AuditQuery
		want string // the numbers in the paths, newest first
	}{
		{"all", AuditQuery{}, "9,8,7,6,5,4,3,2,1,0"},
		{"limit", AuditQuery{Limit: 3}, "9,8,7"},
		{"since", AuditQuery{Since: base.Add(7 * time.Second)}, "9,8,7"},
		{"until is exclusive", AuditQuery{Until: base.Add(2 * time.Second)}, "1,0"},
		{"window", AuditQuery{Since: base.Add(3 * time.Second), Until: base.Add(6 * time.Second)}, "5,4,3"},
		{"client", AuditQuery{Client: "beta"}, "9,7,5,3,1"},
		{"outcome", AuditQuery{Outcome: "denied"}, "8,5,2"},
		{"client and outcome", AuditQuery{Client: "alpha", Outcome: "denied"}, "8,2"},
		{"path", AuditQuery{PathMatch: func(p string) bool { return strings.Contains(p, "/4/") || strings.Contains(p, "/6/") }}, "6,4"},
		{"path and limit", AuditQuery{Limit: 1, PathMatch: func(p string) bool { return p != "apps/9/key" }}, "8"},
		{"nothing", AuditQuery{Client: "gamma"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.QueryAudit(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if paths(got) != tt.want {
				t.Errorf("got %s, want %s", paths(got), tt.want)
			}
		})
	}

	// Every field comes back as it went in.
	got, err := db.QueryAudit(ctx, AuditQuery{Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v, %v", got, err)
	}
	want := rec("get", "apps/9/key")
	want.Time, want.Client, want.Outcome = base.Add(9*time.Second), "beta", "ok"
	want.Seq = got[0].Seq
	if got[0] != want || got[0].Seq == 0 {
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], want)
	}
}

func TestQueryAuditEmptyFields(t *testing.T) {
	db := MustOpenDB(t)
	db.Audit(Record{Method: "ping", Outcome: "ok", UID: -1, GID: -1}, nil)
	got, err := db.QueryAudit(context.Background(), AuditQuery{})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v, %v", got, err)
	}
	r := got[0]
	if r.Method != "ping" || r.Client != "" || r.Path != "" || r.UID != -1 || r.Time.IsZero() {
		t.Fatalf("got %+v", r)
	}
}

// TestQueryAuditPages makes the path filter sift more rows than one page
// holds, with ties in time, to exercise keyset paging.
func TestQueryAuditPages(t *testing.T) {
	db := MustOpenDB(t)
	base := time.Unix(1_700_000_000, 0)
	const n = 3*auditPage + 17
	for i := range n {
		r := rec("get", fmt.Sprintf("p/%d", i))
		r.Time = base.Add(time.Duration(i/3) * time.Millisecond) // three records per instant
		db.Audit(r, nil)
	}
	every7 := func(p string) bool {
		var i int
		fmt.Sscanf(p, "p/%d", &i)
		return i%7 == 0
	}
	got, err := db.QueryAudit(context.Background(), AuditQuery{PathMatch: every7, Limit: MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	if want := (n + 6) / 7; len(got) != want {
		t.Fatalf("%d matches, want %d", len(got), want)
	}
	seen := make(map[int64]bool)
	for i, r := range got {
		if seen[r.Seq] {
			t.Fatalf("record %d returned twice", r.Seq)
		}
		seen[r.Seq] = true
		if i > 0 && (r.Time.After(got[i-1].Time) || r.Time.Equal(got[i-1].Time) && r.Seq > got[i-1].Seq) {
			t.Fatalf("not newest first at %d: %v after %v", i, r.Time, got[i-1].Time)
		}
	}
	few, err := db.QueryAudit(context.Background(), AuditQuery{PathMatch: every7, Limit: 5})
	if err != nil || len(few) != 5 || few[0] != got[0] {
		t.Fatalf("limit 5: %d records, err %v", len(few), err)
	}
}

func TestQueryReadsOwnWrites(t *testing.T) {
	db := MustOpenDB(t)
	const n = 5000
	for i := range n {
		db.Audit(rec("get", fmt.Sprint(i)), nil)
	}
	got, err := db.QueryAudit(context.Background(), AuditQuery{Limit: MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("query right after Audit saw %d of %d records", len(got), n)
	}
}

func TestQueryAuditLimitCapped(t *testing.T) {
	db := MustOpenDB(t)
	for i := range 150 {
		db.Audit(rec("get", fmt.Sprint(i)), nil)
	}
	got, err := db.QueryAudit(context.Background(), AuditQuery{})
	if err != nil || len(got) != DefaultAuditLimit {
		t.Fatalf("default limit: %d records, err %v", len(got), err)
	}
}

// fillForRetention writes old and recent records relative to a fixed clock
// far in the past, so that only the injected clock can tell them apart.
func fillForRetention(t *testing.T, db *DB, old, recent int) {
	t.Helper()
	now := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	w := NewWaiter()
	for i := range old {
		r := rec("get", "old")
		r.Time = now.Add(-100*24*time.Hour + time.Duration(i))
		db.Audit(r, w)
	}
	for range recent {
		r := rec("get", "recent")
		r.Time = now.Add(-time.Hour)
		db.Audit(r, w)
	}
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := db.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPruneChunks(t *testing.T) {
	db := MustOpenDB(t)
	fillForRetention(t, db, 2500, 10)
	cutoff := db.Now().Add(-90 * 24 * time.Hour)
	var got []int64
	for {
		n, err := pruneChunkOn(context.Background(), db.sql, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n < pruneChunk {
			break
		}
	}
	if fmt.Sprint(got) != "[1000 1000 500]" {
		t.Fatalf("chunks deleted %v, want [1000 1000 500]", got)
	}
	if n := count(t, db); n != 10 {
		t.Fatalf("%d rows left, want the 10 recent ones", n)
	}
}

func TestRetentionInWriter(t *testing.T) {
	db := MustOpenDB(t)
	fillForRetention(t, db, 2500, 10)
	db.SetRetention(90 * 24 * time.Hour)
	eventually(t, "the writer to prune old rows", func() bool { return count(t, db) == 10 })
	if steps := db.pruneSteps.Load(); steps < 3 {
		t.Fatalf("2500 rows pruned in %d steps; chunks are %d rows", steps, pruneChunk)
	}
	recs, err := db.QueryAudit(context.Background(), AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Path != "recent" {
			t.Fatalf("retention kept %q and deleted recent rows", r.Path)
		}
	}
}

func TestPruneNow(t *testing.T) {
	db := MustOpenDB(t)
	fillForRetention(t, db, 2500, 10)
	ctx := context.Background()
	if n, err := db.PruneNow(ctx); err != nil || n != 0 {
		t.Fatalf("PruneNow without retention deleted %d, err %v", n, err)
	}
	// Set the period without waking the writer, so PruneNow does the work.
	db.retention.Store(int64(90 * 24 * time.Hour))
	n, err := db.PruneNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if left := count(t, db); left != 10 {
		t.Fatalf("%d rows left, want 10", left)
	}
	if n == 0 || n > 2500 {
		t.Fatalf("PruneNow deleted %d rows, want up to 2500", n)
	}
}
