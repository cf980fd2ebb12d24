package rotator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

func TestAllowRotateKey(t *testing.T) {
	p, err := load(t, slackTable+"[alerts.telegram]\nbot_token_path = \"a/b\"\nchat_ids = [1]\ncommands = true\nallow_rotate = true\n")
	if err != nil {
		t.Fatal(err)
	}
	if tg := p.Telegram; tg == nil || !tg.Commands || !tg.AllowRotate {
		t.Errorf("telegram %+v", p.Telegram)
	}
	p, err = load(t, slackTable+"[alerts.telegram]\nbot_token_path = \"a/b\"\nchat_ids = [1]\ncommands = true\n")
	if err != nil || p.Telegram.AllowRotate {
		t.Errorf("allow_rotate must default to false: %+v %v", p.Telegram, err)
	}
}

func TestRotateReply(t *testing.T) {
	now := time.Date(2026, 5, 1, 20, 14, 0, 0, time.UTC)
	exp, due, retry := now.Add(12*time.Hour), now.Add(10*time.Hour), now.Add(90*time.Second)
	const tr = "telegram:42"
	for _, tc := range []struct {
		name string
		out  rotation.Outcome
		want string
	}{
		{"rotated", rotation.Outcome{Name: "s", Trigger: tr, Expires: &exp, NextDue: &due},
			"🟢 s rotated. The new token expires 2026-05-02 08:14 UTC (in 12h). Next rotation due 2026-05-02 06:14 UTC (in 10h)."},
		{"joined the schedule's", rotation.Outcome{Name: "s"},
			"An attempt started by the schedule was already running; its outcome:\n🟢 s rotated."},
		{"busy", rotation.Outcome{Name: "s", Err: fmt.Errorf("rotation s: %w", rotation.ErrBusy)},
			"🟡 s: another attempt is running (busy). See /vault rotation."},
		{"in doubt", rotation.Outcome{Name: "s", Err: fmt.Errorf("rotation s: %w", rotation.ErrInDoubt)},
			"🔴 s is in doubt: an earlier attempt died after the provider answered. Check the token, then run: vault-cli rotation clear s"},
		{"transient", rotation.Outcome{Name: "s", Trigger: tr, Failure: &rotation.Failure{Code: "http_503", Detail: "SECRET-DETAIL"}, RetryAt: retry, Err: fmt.Errorf("x")},
			"🔴 s failed: http_503. Next try 2026-05-01 20:15 UTC (in 1m)."},
		{"permanent", rotation.Outcome{Name: "s", Trigger: tr, Failure: &rotation.Failure{Code: "invalid_refresh_token", Permanent: true}, Err: fmt.Errorf("x")},
			"🔴 s failed: invalid_refresh_token. It needs a person"},
		{"not started", rotation.Outcome{Name: "s", Err: fmt.Errorf("rotation s: starting the attempt: %w", wire.Errorf(wire.CodePermissionDenied, "SECRET-MESSAGE"))},
			"🔴 s did not start: permission_denied."},
		{"interrupted", rotation.Outcome{Name: "s", Err: fmt.Errorf("rotation s: %w", context.Canceled)},
			"🔴 s did not start: interrupted."},
	} {
		got := rotateReply(tc.out, tr, now)
		if !strings.HasPrefix(got, tc.want) || strings.Contains(got, "SECRET") {
			t.Errorf("%s:\n got %q\nwant %q...", tc.name, got, tc.want)
		}
	}
}
