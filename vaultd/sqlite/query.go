package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Limits on QueryAudit's result size.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 10000
)

// AuditQuery selects audit records. Zero fields do not filter.
type AuditQuery struct {
	Since, Until time.Time         // Since <= Time < Until
	Client       string            // exact match
	PathMatch    func(string) bool // applied in Go, after the SQL filters
	Outcome      string            // exact match
	Limit        int               // default DefaultAuditLimit, at most MaxAuditLimit
}

// auditPage is how many rows QueryAudit reads at a time when PathMatch has
// to sift them.
const auditPage = 1000

// QueryAudit returns the records that match q, newest first. Records queued
// before the call are committed first, so a caller sees its own writes.
func (db *DB) QueryAudit(ctx context.Context, q AuditQuery) ([]Record, error) {
	if err := db.flush(ctx); err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)

	var where []string
	var args []any
	if !q.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, q.Until.UnixNano())
	}
	if q.Client != "" {
		where = append(where, "client = ?")
		args = append(args, q.Client)
	}
	if q.Outcome != "" {
		where = append(where, "outcome = ?")
		args = append(args, q.Outcome)
	}
	page := limit
	if q.PathMatch != nil {
		page = max(limit, auditPage)
	}

	var out []Record
	var after *Record // the last row of the previous page
	for {
		w, a := where, args
		if after != nil {
			// Keyset paging on (time, seq), the order of the time index.
			w = append(w[:len(w):len(w)], "(time < ? OR (time = ? AND seq < ?))")
			ns := after.Time.UnixNano()
			a = append(a[:len(a):len(a)], ns, ns, after.Seq)
		}
		query := `SELECT ` + auditCols + ` FROM audit`
		if len(w) > 0 {
			query += ` WHERE ` + strings.Join(w, " AND ")
		}
		query += ` ORDER BY time DESC, seq DESC LIMIT ?`
		recs, err := db.auditRows(ctx, query, append(a[:len(a):len(a)], page)...)
		if err != nil {
			return nil, fmt.Errorf("query audit: %w", err)
		}
		for i := range recs {
			if q.PathMatch == nil || q.PathMatch(recs[i].Path) {
				out = append(out, recs[i])
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(recs) < page {
			return out, nil
		}
		after = &recs[len(recs)-1]
	}
}

// CountAudit returns the number of audit rows, after committing the records
// already queued.
func (db *DB) CountAudit(ctx context.Context) (int64, error) {
	if err := db.flush(ctx); err != nil {
		return 0, fmt.Errorf("count audit: %w", err)
	}
	var n int64
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM audit`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count audit: %w", err)
	}
	return n, nil
}

const auditCols = `seq, time, coalesce(request_id, ''), coalesce(token_id, ''), coalesce(client, ''),
	coalesce(pid, 0), coalesce(uid, -1), coalesce(gid, -1), coalesce(exe, ''), coalesce(unit, ''),
	method, coalesce(path, ''), outcome, coalesce(code, ''), coalesce(detail, ''), coalesce(duration_us, 0)`

func (db *DB) auditRows(ctx context.Context, query string, args ...any) ([]Record, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []Record
	for rows.Next() {
		var r Record
		var ns, us int64
		if err := rows.Scan(&r.Seq, &ns, &r.RequestID, &r.TokenID, &r.Client,
			&r.PID, &r.UID, &r.GID, &r.Exe, &r.Unit,
			&r.Method, &r.Path, &r.Outcome, &r.Code, &r.Detail, &us); err != nil {
			return nil, err
		}
		r.Time = time.Unix(0, ns)
		r.Duration = time.Duration(us) * time.Microsecond
		recs = append(recs, r)
	}
	return recs, rows.Err()
}
