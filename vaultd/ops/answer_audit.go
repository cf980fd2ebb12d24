package ops

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// auditReadLimit is how many rows "/vault who" and "/vault denied SINCE"
// ask audit.query for: the daemon's maximum. An answer built from a full
// page says "at least".
const auditReadLimit = 10000

// whoLines bounds the clients listed by "/vault who"; the rest are
// counted.
const whoLines = 10

// whoQuery is the audit.query behind "/vault who PATTERN SINCE": every row
// on a path the pattern matches; answerWho keeps the gets.
func whoQuery(c command) wire.AuditQueryParams {
	return wire.AuditQueryParams{Path: c.pattern, Since: c.since, Limit: auditReadLimit}
}

// deniedQuery is the audit.query behind "/vault denied SINCE".
func deniedQuery(c command) wire.AuditQueryParams {
	return wire.AuditQueryParams{Outcome: wire.OutcomeDenied, Since: c.since, Limit: auditReadLimit}
}

// sinceText is SINCE for a sentence: "in the last 24h" or "since 2026-…".
func sinceText(since string) string {
	if t, err := time.Parse(time.RFC3339, since); err == nil {
		return "since " + t.UTC().Format("2006-01-02 15:04 UTC")
	}
	return "in the last " + since
}

// reader is one client's reads in "/vault who".
type reader struct {
	client string // token name, or "(no token)"
	uid    int64
	where  string // systemd unit, else executable
	n      int
	last   time.Time
}

// answerWho says which clients read paths matching the pattern: per
// client (token name, uid, unit or executable) the number of reads and the
// latest, newest first. Only successful gets count as reads; refused ones
// are counted apart and left to "/vault denied".
func answerWho(c command, entries []wire.AuditEntry, now time.Time) string {
	v := newView(&Snapshot{FetchedAt: now})
	full := len(entries) >= auditReadLimit
	byKey := map[string]*reader{}
	var readers []*reader
	reads, denied := 0, 0
	for _, e := range entries {
		if e.Method != wire.MethodGet {
			continue
		}
		if e.Outcome == wire.OutcomeDenied {
			denied++
			continue
		}
		if e.Outcome != wire.OutcomeOK {
			continue
		}
		reads++
		r := reader{client: e.Client, uid: e.UID, where: e.Unit}
		if r.client == "" {
			r.client = "(no token)"
		}
		if r.where == "" {
			r.where = e.Exe
		}
		key := r.client + "\x00" + strconv.FormatInt(r.uid, 10) + "\x00" + r.where
		p := byKey[key]
		if p == nil {
			p = &r
			byKey[key] = p
			readers = append(readers, p)
		}
		p.n++
		if e.Time.After(p.last) {
			p.last = e.Time
		}
	}
	atLeast := ""
	if full {
		atLeast = "at least "
	}
	head := fmt.Sprintf("Reads of %s %s: ", c.pattern, sinceText(c.since))
	if reads == 0 {
		head += "none."
	} else {
		head += fmt.Sprintf("%s%d by %d client(s)", atLeast, reads, len(readers))
	}
	lines := []string{head}
	slices.SortFunc(readers, func(a, b *reader) int {
		return cmp.Or(b.last.Compare(a.last), cmp.Compare(a.client, b.client))
	})
	for i, r := range readers {
		if i == whoLines {
			lines = append(lines, fmt.Sprintf("… and %d more", len(readers)-whoLines))
			break
		}
		l := fmt.Sprintf("%s · uid %d", r.client, r.uid)
		if r.where != "" {
			l += " · " + clipText(r.where, 48)
		}
		lines = append(lines, fmt.Sprintf("%s: %d, last %s", l, r.n, v.When(r.last)))
	}
	if denied > 0 {
		lines = append(lines, fmt.Sprintf("⚠️ %s%d refused read(s): /vault denied %s", atLeast, denied, c.since))
	}
	return strings.Join(lines, "\n")
}

// answerDeniedSince lists the denials since c.since: how many, and the
// latest DeniedLimit of them.
func answerDeniedSince(c command, entries []wire.AuditEntry, now time.Time) string {
	if len(entries) == 0 {
		return fmt.Sprintf("No denials %s. ✓", sinceText(c.since))
	}
	v := newView(&Snapshot{FetchedAt: now})
	n := strconv.Itoa(len(entries))
	if len(entries) >= auditReadLimit {
		n = "At least " + n
	}
	shown := min(len(entries), DeniedLimit)
	lines := []string{fmt.Sprintf("%s denied %s; latest %d:", n, sinceText(c.since), shown)}
	for _, e := range entries[:shown] {
		lines = append(lines, deniedLine(v, e))
	}
	return strings.Join(lines, "\n")
}
