package ops

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// maxRecent bounds "/vault recent N" to what a Snapshot holds.
const maxRecent = RecentLimit

const answerHelp = "Usage: /vault status | /vault recent [N] | /vault denied | /vault rotation"

// Answer is the reply to a Telegram "/vault" command, built from st alone:
// short lines for a phone, plain text (no parse mode, so nothing in a path
// can be read as markup), never a value or a token — a Snapshot holds
// neither — and only the code of a rotation's last error.
//
// Commands: "/vault status" (also bare "/vault"), "/vault recent [N]"
// (default 5, at most 20), "/vault denied", "/vault rotation". The
// "/vault@botname" form Telegram uses in groups is accepted.
func Answer(cmd string, st Snapshot) string {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return answerHelp
	}
	word, _, _ := strings.Cut(f[0], "@")
	if word != "/vault" {
		return answerHelp
	}
	sub := "status"
	if len(f) > 1 {
		sub = strings.ToLower(f[1])
	}
	if !st.Up && sub != "help" {
		return "🔴 Vault daemon DOWN: " + clipText(st.Error, 120)
	}
	v := newView(&st)
	switch {
	case sub == "status" && len(f) <= 2:
		return answerStatus(v)
	case sub == "recent" && len(f) <= 3:
		n := 5
		if len(f) == 3 {
			var err error
			if n, err = strconv.Atoi(f[2]); err != nil || n < 1 {
				return "N must be a whole number from 1 to " + strconv.Itoa(maxRecent) + ". " + answerHelp
			}
			n = min(n, maxRecent)
		}
		return answerRecent(v, n)
	case sub == "denied" && len(f) == 2:
		return answerDenied(v)
	case (sub == "rotation" || sub == "rotations") && len(f) == 2:
		return answerRotation(v)
	}
	return answerHelp
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
		l := auditLine(v, e)
		if e.Detail != "" {
			l += " (" + clipText(e.Detail, 40) + ")"
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
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
