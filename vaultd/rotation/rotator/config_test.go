package rotator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/rotation"
)

func load(t *testing.T, body string) (*Plan, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p, true)
}

const slackTable = `
[[rotation]]
name = "slack-bot"
provider = "slack"
access_token_path = "claude/tokens/slack-bot"
refresh_token_path = "claude/tokens/slack-bot-refresh"
client_id_path = "claude/slack/client-id"
client_secret_path = "claude/slack/client-secret"
refresh_before = "2h"
`

func TestLoadTheDocumentedExample(t *testing.T) {
	p, err := load(t, `socket = "/run/jawn-vault/jawn-vault.sock"
`+slackTable+`
[[rotation]]
name = "drive"
provider = "google"
access_token_path = "claude/tokens/drive"
refresh_token_path = "claude/tokens/drive-refresh"
client_id_path = "claude/google/client-id"
client_secret_path = "claude/google/client-secret"
interval = "50m"

[[rotation]]
name = "gitea"
provider = "oauth2"
access_token_path = "claude/tokens/gitea"
refresh_token_path = "claude/tokens/gitea-refresh"
client_id_path = "claude/gitea/client-id"
token_url = "https://git.example/login/oauth/access_token"
scopes = ["read:repository"]

[[rotation]]
name = "legacy"
provider = "command"
access_token_path = "claude/tokens/legacy"
command = ["/usr/local/bin/legacy-token", "--json"]
lease = "5m"
timeout = "1m"

[alerts.telegram]
bot_token_path = "claude/tokens/telegram-bot"
chat_ids = [123456789, -100200300]
`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Socket != "/run/jawn-vault/jawn-vault.sock" || len(p.Rotations) != 4 {
		t.Fatalf("plan %+v", p)
	}
	slack := p.Rotations[0]
	if slack.Provider.Name() != "slack-bot" || slack.RefreshBefore != 2*time.Hour || slack.Lease != rotation.DefaultLease || slack.Timeout != rotation.DefaultTimeout {
		t.Errorf("slack rotation %+v", slack)
	}
	if got := slack.Provider.Paths(); got.Refresh != "claude/tokens/slack-bot-refresh" || got.ClientSecret != "claude/slack/client-secret" {
		t.Errorf("paths %+v", got)
	}
	if p.Rotations[1].Interval != 50*time.Minute || p.Rotations[3].Lease != 5*time.Minute || p.Rotations[3].Timeout != time.Minute {
		t.Errorf("durations %+v %+v", p.Rotations[1], p.Rotations[3])
	}
	if tg := p.Telegram; tg == nil || tg.BotTokenPath != "claude/tokens/telegram-bot" || len(tg.ChatIDs) != 2 || tg.APIURL != "https://api.telegram.org" || tg.Commands || tg.AllowRotate {
		t.Errorf("telegram %+v", p.Telegram)
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", slackTable + `colour = "blue"` + "\n", "unknown key(s) colour"},
		{"key of another provider", slackTable + `command = ["/bin/true"]` + "\n", "unknown key(s) command"},
		{"scopes on slack", slackTable + `scopes = ["a"]` + "\n", "unknown key(s) scopes"},
		{"unknown provider", strings.Replace(slackTable, `"slack"`, `"ldap"`, 1), `not "ldap"`},
		{"missing paths", "[[rotation]]\nname = \"x\"\nprovider = \"slack\"\naccess_token_path = \"a/b\"\n", "needs refresh_token_path"},
		{"no access path", "[[rotation]]\nname = \"x\"\nprovider = \"command\"\ncommand = [\"/bin/true\"]\n", "access_token_path is required"},
		{"bad path", strings.Replace(slackTable, "claude/tokens/slack-bot-refresh", "../etc/passwd", 1), "refresh_token_path"},
		{"bad name", strings.Replace(slackTable, `"slack-bot"`, `"slack bot"`, 1), "name must be"},
		{"duplicate", slackTable + slackTable, "two [[rotation]] tables"},
		{"both schedules", slackTable + "interval = \"1h\"\n", "not both"},
		{"timeout past lease", slackTable + "lease = \"10s\"\ntimeout = \"10s\"\n", "shorter than lease"},
		{"bad duration", slackTable + "lease = \"soon\"\n", "invalid duration"},
		{"unknown alerts table", slackTable + "[alerts.email]\nto = \"a@b\"\n", "unknown key(s) email"},
		{"unknown telegram key", slackTable + "[alerts.telegram]\nbot_token_path = \"a/b\"\nchat_ids = [1]\ntoken = \"x\"\n", "unknown key(s) token"},
		{"no chats", slackTable + "[alerts.telegram]\nbot_token_path = \"a/b\"\nchat_ids = []\n", "chat_ids"},
		{"allow_rotate without commands", slackTable + "[alerts.telegram]\nbot_token_path = \"a/b\"\nchat_ids = [1]\nallow_rotate = true\n", "allow_rotate = true needs commands = true"},
		{"oauth2 without url", "[[rotation]]\nname = \"x\"\nprovider = \"oauth2\"\naccess_token_path = \"a/b\"\nrefresh_token_path = \"a/r\"\nclient_id_path = \"a/c\"\n", "needs token_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadWithoutRotation(t *testing.T) {
	p, err := load(t, "log_level = \"debug\"\n")
	if err != nil || len(p.Rotations) != 0 || p.Telegram != nil {
		t.Errorf("plan %+v, err %v", p, err)
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	os.WriteFile(file, []byte("jv_from_file\n"), 0o600)
	os.WriteFile(filepath.Join(dir, CredentialName), []byte("jv_from_credential\n"), 0o600)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		file string
		env  map[string]string
		want string
	}{
		{file, map[string]string{"VAULT_TOKEN": "jv_env", "CREDENTIALS_DIRECTORY": dir}, "jv_from_file"},
		{"", map[string]string{"VAULT_TOKEN": "jv_env", "CREDENTIALS_DIRECTORY": dir}, "jv_env"},
		{"", map[string]string{"CREDENTIALS_DIRECTORY": dir}, "jv_from_credential"},
		{"", map[string]string{"CREDENTIALS_DIRECTORY": t.TempDir()}, ""},
		{"", nil, ""},
	} {
		got, err := LoadToken(tc.file, env(tc.env))
		if err != nil || got != tc.want {
			t.Errorf("LoadToken(%q, %v) = %q, %v; want %q", tc.file, tc.env, got, err, tc.want)
		}
	}
	if _, err := LoadToken(filepath.Join(dir, "missing"), env(nil)); err == nil {
		t.Error("a missing --token-file is not an error")
	}
}
