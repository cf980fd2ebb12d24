package ops

import (
	"fmt"
	"io"
	"strconv"
	"strings"
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
	metric(w, "jawnvault_requests_total", "counter", "Requests the daemon has served since it started.", "", float64(st.Requests))
	metric(w, "jawnvault_connections", "gauge", "Open client connections.", "", float64(st.Connections))
	metric(w, "jawnvault_cache_entries", "gauge", "Values in the cache.", "", float64(st.Cache.Entries))
	metric(w, "jawnvault_cache_hits_total", "counter", "Cache hits.", "", float64(st.Cache.Hits))
	metric(w, "jawnvault_cache_misses_total", "counter", "Cache misses.", "", float64(st.Cache.Misses))
	metric(w, "jawnvault_audit_queue_depth", "gauge", "Audit records waiting to be committed.", "", float64(st.Audit.QueueDepth))
	metric(w, "jawnvault_audit_committed_total", "counter", "Audit records committed.", "", float64(st.Audit.Committed))
	metric(w, "jawnvault_audit_failed_total", "counter", "Audit records that failed to commit.", "", float64(st.Audit.Failed))
	metric(w, "jawnvault_tokens_active", "gauge", "Tokens neither revoked nor expired.", "", float64(st.Tokens.Active))

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

func metric(w io.Writer, name, typ, help, labels string, v float64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s%s %s\n", name, help, name, typ, name, labels, strconv.FormatFloat(v, 'g', -1, 64))
}

// labelEscape escapes a label value as the text format requires.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func labelEscape(s string) string { return labelEscaper.Replace(s) }
