package migrate

import "testing"

func TestClassify(t *testing.T) {
	c := Classifier{Secret: map[string]bool{"FORCED": true}, Plain: map[string]bool{"API_KEY_ID": true}}
	for _, tc := range []struct {
		name, value string
		secret      bool
	}{
		{"TELEGRAM_BOT_TOKEN", "x", true},
		{"ANTHROPIC_API_KEY", "x", true},
		{"APIKEY", "x", true},
		{"DB_PASSWORD", "x", true},
		{"DBPASS", "x", true},
		{"MYSQL_PASSWD", "x", true},
		{"BASIC_AUTH", "x", true},
		{"GOOGLE_CREDENTIALS", "x", true},
		{"SSH_PRIVATE", "x", true},
		{"SESSION_COOKIE", "x", true},
		{"CLIENT_SECRET", "x", true},
		{"SLACK_WEBHOOK_URL", "https://hooks.slack.com/x", true},
		{"lower_token", "x", true},
		{"FORCED", "plain", true},
		{"DATABASE_URL", "postgres://u:p@host/db", true},
		{"REDIS_DSN", "host=x port=5432 password=y", true},
		{"GOOGLE_JSON", `{"private_key": "-----BEGIN PRIVATE KEY-----\nX"}`, true},
		{"OPENAI", "sk-0123456789abcdefghij", true},

		{"LOG_LEVEL", "info", false},
		{"PORT", "8080", false},
		{"DATABASE_URL", "postgres://u@host/db", false},
		{"CANVAS_BASE_URL", "https://canvas.example.edu", false},
		{"API_KEY_ID", "x", false}, // --plain wins
		{"EMPTY_TOKEN", "", false}, // nothing to protect
		{"SHORT", "sk-1", false},
	} {
		got, why := c.Classify(tc.name, tc.value)
		if got != tc.secret {
			t.Errorf("Classify(%s) = %v (%s), want %v", tc.name, got, why, tc.secret)
		}
		if why == "" {
			t.Errorf("Classify(%s) gave no reason", tc.name)
		}
	}
}

func TestTemplates(t *testing.T) {
	if k := Kebab("TELEGRAM__BOT_TOKEN_"); k != "telegram-bot-token" {
		t.Errorf("Kebab = %q", k)
	}
	p, err := ExpandTemplate(DefaultTemplate, "houseofjawn-bot.service", "TELEGRAM_BOT_TOKEN")
	if err != nil || p != "claude/houseofjawn-bot/telegram-bot-token" {
		t.Errorf("ExpandTemplate = %q, %v", p, err)
	}
	p, err = ExpandTemplate("svc/{unit}/{NAME}", "a.service", "X_Y")
	if err != nil || p != "svc/a/X_Y" {
		t.Errorf("ExpandTemplate = %q, %v", p, err)
	}
	for _, bad := range []string{"/abs/{name}", "{unit}/../{name}", "x/*/{name}", "x/{name}.gpg"} {
		if _, err := ExpandTemplate(bad, "a.service", "N"); err == nil {
			t.Errorf("ExpandTemplate(%q) succeeded", bad)
		}
	}
}
