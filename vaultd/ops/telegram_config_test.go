package ops_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/rotation/rotator"
)

// TestTelegramCommandsKey: [alerts.telegram] commands is accepted and off
// unless set. (It lives here because the rotator's own tests belong to
// another change.)
func TestTelegramCommandsKey(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  bool
	}{{"", false}, {"commands = true\n", true}, {"commands = false\n", false}} {
		p := filepath.Join(t.TempDir(), "config.toml")
		body := "[alerts.telegram]\nbot_token_path = \"a/b\"\nchat_ids = [1]\n" + tc.extra
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		plan, err := rotator.Load(p, true)
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		if plan.Telegram == nil || plan.Telegram.Commands != tc.want {
			t.Errorf("%q: Telegram = %+v, want Commands %v", tc.extra, plan.Telegram, tc.want)
		}
	}
}
