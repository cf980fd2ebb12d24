package rotator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TelegramRotate is "/vault rotate NAME" (ops.PollOptions.Rotate) on e: it
// runs the named rotation now, through the same engine as the schedule,
// with trigger "telegram:CHAT-ID" so the daemon's audit row of
// rotation.begin says who asked, and answers the outcome in a few words
// that hold no token and no provider text (only failure codes).
func TelegramRotate(e *rotation.Engine, log *slog.Logger) func(ctx context.Context, chatID int64, name string) string {
	return func(ctx context.Context, chatID int64, name string) string {
		if e.Rotation(name) == nil {
			return fmt.Sprintf("No rotation named %s. Configured: %s", name, strings.Join(e.Names(), ", "))
		}
		trigger := "telegram:" + strconv.FormatInt(chatID, 10)
		log.Info("rotation asked for from Telegram", "rotation", name, "chat_id", chatID)
		out := e.Rotate(ctx, name, rotation.WithTrigger(trigger))
		return rotateReply(out, trigger, time.Now())
	}
}

// rotateReply says what one attempt did, for a phone.
func rotateReply(out rotation.Outcome, trigger string, now time.Time) string {
	name := out.Name
	var b strings.Builder
	if out.Err == nil || out.Failure != nil {
		if out.Trigger != trigger {
			by := out.Trigger
			if by == "" {
				by = "the schedule"
			}
			fmt.Fprintf(&b, "An attempt started by %s was already running; its outcome:\n", by)
		}
	}
	switch {
	case out.Err == nil:
		fmt.Fprintf(&b, "🟢 %s rotated.", name)
		if out.Expires != nil {
			fmt.Fprintf(&b, " The new token expires %s.", when(*out.Expires, now))
		}
		if out.NextDue != nil {
			fmt.Fprintf(&b, " Next rotation due %s.", when(*out.NextDue, now))
		}
	case errors.Is(out.Err, rotation.ErrBusy):
		fmt.Fprintf(&b, "🟡 %s: another attempt is running (busy). See /vault rotation.", name)
	case errors.Is(out.Err, rotation.ErrInDoubt):
		fmt.Fprintf(&b, "🔴 %s is in doubt: an earlier attempt died after the provider answered. Check the token, then run: vault-cli rotation clear %s", name, name)
	case out.Failure != nil && out.Failure.Permanent:
		fmt.Fprintf(&b, "🔴 %s failed: %s. It needs a person (re-authorisation or a config fix); the rotator will not retry it until an input changes.", name, out.Failure.Code)
	case out.Failure != nil:
		fmt.Fprintf(&b, "🔴 %s failed: %s.", name, out.Failure.Code)
		if !out.RetryAt.IsZero() {
			fmt.Fprintf(&b, " Next try %s.", when(out.RetryAt, now))
		}
	default:
		// The engine's own errors hold no secret, but say only the code:
		// the rotator's log has the rest.
		code := "see the rotator's log"
		var we *wire.Error
		switch {
		case errors.As(out.Err, &we):
			code = string(we.Code)
		case errors.Is(out.Err, context.Canceled) || errors.Is(out.Err, context.DeadlineExceeded):
			code = "interrupted"
		}
		fmt.Fprintf(&b, "🔴 %s did not start: %s.", name, code)
	}
	return b.String()
}

// when is an absolute UTC time with the distance from now: "2026-05-02
// 08:14 UTC (in 12h)".
func when(t, now time.Time) string {
	d := t.Sub(now)
	rel := "in " + span(d)
	if d < 0 {
		rel = span(-d) + " ago"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC") + " (" + rel + ")"
}

func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
