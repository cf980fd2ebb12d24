package ops

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/policy"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// maxRecent bounds "/vault recent N" to what a Snapshot holds.
const maxRecent = RecentLimit

const answerHelp = "Usage: /vault status | recent [N] | denied [SINCE] | who PATH-GLOB [SINCE] | rotation | rotate NAME"

const badSince = "SINCE must be a duration back from now (90m, 24h, 7d) or an RFC 3339 time. " + answerHelp

// defaultSince is how far back "/vault who" looks without a SINCE.
const defaultSince = "24h"

// command is a parsed "/vault ..." message.
type command struct {
	sub     string // status, recent, denied, who, rotation, rotate
	n       int    // recent's N
	since   string // denied's and who's SINCE, as given ("" for denied: however old)
	pattern string // who's PATH-GLOB
	name    string // rotate's NAME
}

// parseCommand reads a "/vault" message. On bad input it returns the
// reply instead: what was wrong, then the usage.
func parseCommand(text string) (command, string) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return command{}, answerHelp
	}
	word, _, _ := strings.Cut(f[0], "@")
	if word != "/vault" {
		return command{}, answerHelp
	}
	c := command{sub: "status"}
	if len(f) > 1 {
		c.sub = strings.ToLower(f[1])
	}
	args := f[min(len(f), 2):]
	switch {
	case c.sub == "status" && len(args) == 0:
	case c.sub == "recent" && len(args) <= 1:
		c.n = 5
		if len(args) == 1 {
			var err error
			if c.n, err = strconv.Atoi(args[0]); err != nil || c.n < 1 {
				return c, "N must be a whole number from 1 to " + strconv.Itoa(maxRecent) + ". " + answerHelp
			}
			c.n = min(c.n, maxRecent)
		}
	case c.sub == "denied" && len(args) <= 1:
		if len(args) == 1 {
			if !validSince(args[0]) {
				return c, badSince
			}
			c.since = args[0]
		}
	case c.sub == "who" && len(args) >= 1 && len(args) <= 2:
		c.pattern, c.since = args[0], defaultSince
		if err := policy.ValidatePattern(c.pattern); err != nil {
			return c, "PATH-GLOB must be a grant pattern such as claude/slack/* or claude/**: " + clipText(err.Error(), 80) + ". " + answerHelp
		}
		if len(args) == 2 {
			if !validSince(args[1]) {
				return c, badSince
			}
			c.since = args[1]
		}
	case (c.sub == "rotation" || c.sub == "rotations") && len(args) == 0:
		c.sub = "rotation"
	case c.sub == "rotate" && len(args) == 1:
		if !wire.ValidName(args[0]) {
			return c, "NAME must be the name of a [[rotation]] in the config (see /vault rotation). " + answerHelp
		}
		c.name = args[0]
	default:
		return c, answerHelp
	}
	return c, ""
}

// validSince: what audit.query accepts as since, checked here so a typo
// gets the usage rather than the daemon's error.
func validSince(s string) bool {
	if _, err := time.Parse(time.RFC3339, s); err == nil {
		return true
	}
	_, err := config.ParseDuration(s)
	return err == nil
}

// Answer is the reply to a Telegram "/vault" command that a Snapshot
// answers, built from st alone: short lines for a phone, plain text (no
// parse mode, so nothing in a path can be read as markup), never a value
// or a token — a Snapshot holds neither — and only the code of a
// rotation's last error.
//
// Commands: "/vault status" (also bare "/vault"), "/vault recent [N]"
// (default 5, at most 20), "/vault denied" (the latest denials however
// old), "/vault rotation". The "/vault@botname" form Telegram uses in
// groups is accepted. The commands that need more than a Snapshot —
// "/vault denied SINCE", "/vault who" and "/vault rotate" — are answered
// by PollCommands; Answer says so.
func Answer(cmd string, st Snapshot) string {
	c, bad := parseCommand(cmd)
	if bad != "" {
		return bad
	}
	if !st.Up {
		return "🔴 Vault daemon DOWN: " + clipText(st.Error, 120)
	}
	v := newView(&st)
	switch c.sub {
	case "status":
		return answerStatus(v)
	case "recent":
		return answerRecent(v, c.n)
	case "denied":
		if c.since == "" {
			return answerDenied(v)
		}
	case "rotation":
		return answerRotation(v)
	}
	return "That command needs the bot's own reads of the daemon; it is answered by the Telegram poller, not from a snapshot."
}

func answerStatus(v view) string {
	var b strings.Builder
	st := v.Status
	if st == nil {
		return "🟡 Vault up, status unreadable: " + clipText(v.Error, 120)
	}
	if v.Healthy() {
		b.WriteString("🟢 Vault healthy")
	} else {
		b.WriteString("🔴 Vault DEGRADED")
	}
	fmt.Fprintf(&b, " (v%s, up %s)\n", st.Version, (time.Duration(st.UptimeS) * time.Second).String())
	store := "ok"
	if !st.Store.OK {
		store = "FAILING"
	}
	fmt.Fprintf(&b, "store %s · audit %s\n", store, v.AuditText())
	fmt.Fprintf(&b, "%d requests · %d tokens · cache %d, hits %s\n", st.Requests, st.Tokens.Active, st.Cache.Entries, v.HitRatioText())
	if n := v.Denials(); n > 0 {
		fmt.Fprintf(&b, "⚠️ %d denied in the last %d requests\n", n, len(v.Recent))
	}
	for _, r := range v.Rotations {
		if v.RotationBad(r) {
			fmt.Fprintf(&b, "⚠️ rotation %s: %s, %d failures\n", r.Name, r.State, r.Failures)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func auditLine(v view, e wire.AuditEntry) string {
	mark := "✓"
	switch e.Outcome {
	case wire.OutcomeDenied:
		mark = "✗ DENIED"
	case wire.OutcomeError:
		mark = "! error"
	}
	line := fmt.Sprintf("%s %s %s %s", v.When(e.Time), v.Client(e), e.Method, mark)
	if e.Path != "" {
		line = fmt.Sprintf("%s %s %s %s %s", v.When(e.Time), v.Client(e), e.Method, e.Path, mark)
	}
	return line
}

func answerRecent(v view, n int) string {
	if v.RecentError != "" {
		return "Audit not readable: " + clipText(v.RecentError, 120)
	}
	if len(v.Recent) == 0 {
		return "No recent access."
	}
	n = min(n, len(v.Recent))
	lines := []string{fmt.Sprintf("Last %d requests:", n)}
	for _, e := range v.Recent[:n] {
		lines = append(lines, auditLine(v, e))
	}
	return strings.Join(lines, "\n")
}

func answerDenied(v view) string {
	if len(v.Denied) == 0 {
		return "No denials on record. ✓"
	}
	lines := []string{fmt.Sprintf("Latest %d denials:", len(v.Denied))}
	for _, e := range v.Denied {
		lines = append(lines, deniedLine(v, e))
	}
	return strings.Join(lines, "\n")
}

// deniedLine is an audit line with the start of the daemon's reason.
func deniedLine(v view, e wire.AuditEntry) string {
	l := auditLine(v, e)
	if e.Detail != "" {
		l += " (" + clipText(e.Detail, 40) + ")"
	}
	return l
}

func answerRotation(v view) string {
	if len(v.Rotations) == 0 {
		return "No rotations configured."
	}
	lines := []string{"Rotations:"}
	for _, r := range v.Rotations {
		mark := "🟢"
		if v.RotationBad(r) {
			mark = "🔴"
		}
		l := fmt.Sprintf("%s %s: %s, ok %s, due %s, expires %s", mark, r.Name, r.State, v.Ago(r.LastSuccess), v.Ago(r.NextDue), v.Ago(r.ExpiresAt))
		if r.Failures > 0 {
			l += fmt.Sprintf(", %d failures (%s)", r.Failures, v.LastErrorCode(r))
		}
		if r.Permanent {
			l += ", needs a person"
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
