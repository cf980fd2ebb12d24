package ops_test

import (
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/ops"
)

func TestAnswer(t *testing.T) {
	s := *sampleSnapshot()
	down := ops.Snapshot{Error: "jawn-vault daemon unavailable: /run/x.sock: connection refused"}
	empty := *sampleSnapshot()
	empty.Denied, empty.Rotations = nil, nil
	for _, tc := range []struct {
		name, cmd string
		st        ops.Snapshot
		want      []string
		not       []string
		maxLines  int
	}{
		{"bare is status", "/vault", s, []string{"🟢 Vault healthy", "42 requests", "hits 75.0%", "1 denied", "rotation slack\"x: failed, 3 failures"}, nil, 6},
		{"status in a group", "/vault@jawn_bot status", s, []string{"Vault healthy"}, nil, 6},
		{"recent default", "/vault recent", s, []string{"Last 2 requests:", "1m ago slack-bot get claude/slack ✓", "2m ago rogue get claude/gmail ✗ DENIED"}, nil, 3},
		{"recent 1", "/vault recent 1", s, []string{"Last 1 requests:", "claude/slack"}, []string{"claude/gmail"}, 2},
		{"recent huge is clipped", "/vault recent 999", s, []string{"Last 2 requests:"}, nil, 3},
		{"recent bad N", "/vault recent -3", s, []string{"N must be"}, nil, 1},
		{"denied", "/vault denied", s, []string{"Latest 1 denials:", "rogue get claude/gmail ✗ DENIED"}, nil, 2},
		{"no denials", "/vault denied", empty, []string{"No denials"}, nil, 1},
		{"rotation", "/vault rotation", s, []string{"🟢 google: idle, ok 1h ago, due in 30m, expires in 2h", "🔴 slack\"x: failed", "3 failures (invalid_grant)", "needs a person"}, []string{"bob@example.com"}, 3},
		{"no rotations", "/vault rotation", empty, []string{"No rotations configured."}, nil, 1},
		{"degraded", "/vault status", func() ops.Snapshot {
			d := *sampleSnapshot()
			st := *d.Status
			st.Store.OK = false
			d.Status = &st
			return d
		}(), []string{"🔴 Vault DEGRADED", "store FAILING"}, nil, 6},
		{"down", "/vault status", down, []string{"DOWN", "connection refused"}, nil, 1},
		{"unknown", "/vault rm -rf", s, []string{"Usage: /vault status"}, nil, 1},
		{"who without a glob", "/vault who", s, []string{"Usage:", "who PATH-GLOB [SINCE]"}, nil, 1},
		{"who bad glob", "/vault who claude/../x", s, []string{"PATH-GLOB must be a grant pattern", "Usage:"}, nil, 1},
		{"who bad since", "/vault who claude/** yesterday", s, []string{"SINCE must be", "Usage:"}, nil, 1},
		{"who too many", "/vault who claude/** 1h 2h", s, []string{"Usage:"}, nil, 1},
		{"denied bad since", "/vault denied soon", s, []string{"SINCE must be"}, nil, 1},
		{"rotate without a name", "/vault rotate", s, []string{"Usage:", "rotate NAME"}, nil, 1},
		{"rotate bad name", "/vault rotate a/b", s, []string{"NAME must be"}, nil, 1},
		{"who needs the poller", "/vault who claude/**", s, []string{"answered by the Telegram poller"}, nil, 1},
		{"denied since needs the poller", "/vault denied 24h", s, []string{"answered by the Telegram poller"}, nil, 1},
		{"other command", "/start", s, []string{"Usage:"}, nil, 1},
		{"empty", "  ", s, []string{"Usage:"}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ops.Answer(tc.cmd, tc.st)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Answer(%q) lacks %q:\n%s", tc.cmd, w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("Answer(%q) holds %q:\n%s", tc.cmd, n, got)
				}
			}
			if lines := strings.Count(got, "\n") + 1; lines > tc.maxLines {
				t.Errorf("Answer(%q) is %d lines, want at most %d:\n%s", tc.cmd, lines, tc.maxLines, got)
			}
		})
	}
}

// TestAnswerAgainstTheDaemon: no reply built from a real Snapshot holds
// the sentinel or a token.
func TestAnswerAgainstTheDaemon(t *testing.T) {
	f := newFixture(t)
	s := (&ops.Fetcher{Socket: f.dev.Socket, Token: func() (string, error) { return f.dev.Token, nil }}).Fetch(ctx(t))
	for _, cmd := range []string{"/vault", "/vault recent 20", "/vault denied", "/vault rotation"} {
		got := ops.Answer(cmd, *s)
		for _, sec := range f.secrets {
			if strings.Contains(got, sec) {
				t.Fatalf("Answer(%q) holds a secret or token", cmd)
			}
		}
		if cmd == "/vault denied" && !strings.Contains(got, "limited-app get "+f.path+" ✗ DENIED") {
			t.Errorf("Answer(%q) does not show limited-app's denial:\n%s", cmd, got)
		}
	}
}
