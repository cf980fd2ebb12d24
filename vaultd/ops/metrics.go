package ops

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// writeMetrics writes s in the Prometheus text format, version 0.0.4.
// When the daemon is down only jawnvault_up is written.
func writeMetrics(w io.Writer, s *Snapshot) {
	up := 0
	if s.Up {
		up = 1
	}
	metric(w, "jawnvault_up", "gauge", "Whether the daemon answered the status page.", "", float64(up))
	st := s.Status
	if st == nil {
		return
	}
	if m := st.Metrics; m != nil {
		writeRequestMetrics(w, m)
	} else {
		// A daemon from before per-method counts.
		metric(w, "jawnvault_requests_total", "counter", "Requests the daemon has served since it started.", "", float64(st.Requests))
	}
	metric(w, "jawnvault_connections", "gauge", "Open client connections.", "", float64(st.Connections))
	metric(w, "jawnvault_cache_entries", "gauge", "Values in the cache.", "", float64(st.Cache.Entries))
	metric(w, "jawnvault_cache_hits_total", "counter", "Cache hits.", "", float64(st.Cache.Hits))
	metric(w, "jawnvault_cache_misses_total", "counter", "Cache misses.", "", float64(st.Cache.Misses))
	metric(w, "jawnvault_audit_queue_depth", "gauge", "Audit records waiting to be committed.", "", float64(st.Audit.QueueDepth))
	metric(w, "jawnvault_audit_committed_total", "counter", "Audit records committed.", "", float64(st.Audit.Committed))
	metric(w, "jawnvault_audit_failed_total", "counter", "Audit records that failed to commit.", "", float64(st.Audit.Failed))
	metric(w, "jawnvault_tokens_active", "gauge", "Tokens neither revoked nor expired.", "", float64(st.Tokens.Active))
	if m := st.Metrics; m != nil {
		fmt.Fprintf(w, "# HELP jawnvault_audit_commit_duration_seconds Time of each audit journal write, which answers wait for.\n# TYPE jawnvault_audit_commit_duration_seconds histogram\n")
		writeHistogram(w, "jawnvault_audit_commit_duration_seconds", "", m.BoundsUS, m.AuditCommit)
		if len(m.Rotations) > 0 {
			fmt.Fprintf(w, "# HELP jawnvault_rotations_total Rotation attempts that ended since the daemon started, by result.\n# TYPE jawnvault_rotations_total counter\n")
			for _, r := range m.Rotations {
				name := labelEscape(r.Name)
				fmt.Fprintf(w, "jawnvault_rotations_total{name=\"%s\",result=\"ok\"} %d\n", name, r.Succeeded)
				fmt.Fprintf(w, "jawnvault_rotations_total{name=\"%s\",result=\"failed\"} %d\n", name, r.Failed)
			}
		}
	}

	if len(s.Rotations) == 0 {
		return
	}
	fmt.Fprintf(w, "# HELP jawnvault_rotation_failures Current failure streak of each rotation.\n# TYPE jawnvault_rotation_failures gauge\n")
	for _, r := range s.Rotations {
		fmt.Fprintf(w, "jawnvault_rotation_failures{name=\"%s\"} %d\n", labelEscape(r.Name), r.Failures)
	}
	fmt.Fprintf(w, "# HELP jawnvault_rotation_expiry_seconds Seconds until each rotated token expires (negative: expired).\n# TYPE jawnvault_rotation_expiry_seconds gauge\n")
	for _, r := range s.Rotations {
		if r.ExpiresAt == nil {
			continue
		}
		secs := r.ExpiresAt.Sub(s.FetchedAt).Seconds()
		fmt.Fprintf(w, "jawnvault_rotation_expiry_seconds{name=\"%s\"} %s\n", labelEscape(r.Name), strconv.FormatFloat(secs, 'f', 0, 64))
	}
}

// writeRequestMetrics writes requests by method and outcome, and a
// latency histogram per method (outcomes merged, to keep the series few).
func writeRequestMetrics(w io.Writer, m *wire.MetricsStatus) {
	fmt.Fprintf(w, "# HELP jawnvault_requests_total Requests the daemon has handled since it started, by method and outcome.\n# TYPE jawnvault_requests_total counter\n")
	for _, r := range m.Requests {
		fmt.Fprintf(w, "jawnvault_requests_total{method=\"%s\",outcome=\"%s\"} %d\n", labelEscape(r.Method), labelEscape(r.Outcome), r.Count)
	}
	fmt.Fprintf(w, "# HELP jawnvault_request_duration_seconds Time the daemon took to handle a request, before waiting for its audit row.\n# TYPE jawnvault_request_duration_seconds histogram\n")
	for _, r := range m.ByMethod() {
		writeHistogram(w, "jawnvault_request_duration_seconds", `method="`+labelEscape(r.Method)+`",`, m.BoundsUS, r.Histogram)
	}
}

// writeHistogram writes one histogram's series: cumulative buckets, the
// +Inf bucket, sum and count. labels, when not empty, end with a comma.
func writeHistogram(w io.Writer, name, labels string, boundsUS []int64, h wire.Histogram) {
	var cum uint64
	for i, b := range boundsUS {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		fmt.Fprintf(w, "%s_bucket{%sle=\"%s\"} %d\n", name, labels, strconv.FormatFloat(float64(b)/1e6, 'g', -1, 64), cum)
	}
	fmt.Fprintf(w, "%s_bucket{%sle=\"+Inf\"} %d\n", name, labels, h.Count)
	braces := ""
	if labels != "" {
		braces = "{" + strings.TrimSuffix(labels, ",") + "}"
	}
	fmt.Fprintf(w, "%s_sum%s %s\n", name, braces, strconv.FormatFloat(float64(h.SumUS)/1e6, 'g', -1, 64))
	fmt.Fprintf(w, "%s_count%s %d\n", name, braces, h.Count)
}

func metric(w io.Writer, name, typ, help, labels string, v float64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s%s %s\n", name, help, name, typ, name, labels, strconv.FormatFloat(v, 'g', -1, 64))
}

// labelEscape escapes a label value as the text format requires.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func labelEscape(s string) string { return labelEscaper.Replace(s) }
