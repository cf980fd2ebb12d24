package ops

import (
	"context"
	"fmt"
	"time"
)

// rotateDisabled answers "/vault rotate" when PollOptions.Rotate is nil.
const rotateDisabled = "Rotating from Telegram is disabled. To allow it, set allow_rotate = true under [alerts.telegram] in the config file and restart the rotator. Meanwhile: vault-cli rotate NAME"

// maxRotateAge is how old a "/vault rotate" may be and still run.
const maxRotateAge = 5 * time.Minute

// reply is the answer to one "/vault" message from a configured chat.
// Snapshot commands go to Answer; "who" and "denied SINCE" read the audit
// log; "rotate" goes to Rotate. Every read behind an answer is the
// daemon's to audit.
func (p *poller) reply(ctx context.Context, chat int64, text string, sent time.Time) string {
	c, bad := parseCommand(text)
	if bad != "" {
		return bad
	}
	switch {
	case c.sub == "rotate":
		if p.Rotate == nil {
			return rotateDisabled
		}
		// Telegram hands out an update until a later getUpdates confirms
		// it; a rotator that stopped before confirming sees the command
		// again when it restarts. An old one is not run.
		if age := p.Now().Sub(sent); age > maxRotateAge {
			return fmt.Sprintf("Not rotating %s: that command was sent %s (before a restart?). Send it again to rotate now.", c.name, relative(-age))
		}
		// Telegram must know the command is handled before it runs, so
		// that a crash mid-rotation cannot run it again after a restart.
		if err := p.confirmNow(ctx); err != nil {
			return fmt.Sprintf("Not rotating %s: Telegram could not be told the command was received (%s), and it could run twice. Send it again.", c.name, clipText(p.redact(err.Error()), 80))
		}
		return p.Rotate(ctx, chat, c.name)
	case c.sub == "who" || c.sub == "denied" && c.since != "":
		if p.Audit == nil {
			return "The audit log is not readable here."
		}
		q := whoQuery(c)
		if c.sub == "denied" {
			q = deniedQuery(c)
		}
		entries, err := p.Audit(ctx, q)
		if err != nil {
			return "Audit not readable: " + clipText(p.redact(describe(err)), 160)
		}
		if c.sub == "denied" {
			return answerDeniedSince(c, entries, p.Now())
		}
		return answerWho(c, entries, p.Now())
	}
	st, err := p.Snapshot(ctx)
	if err != nil {
		st = Snapshot{Error: p.redact(err.Error())}
	}
	return Answer(text, st)
}
