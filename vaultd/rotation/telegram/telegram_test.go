package telegram_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/rotation/rotationtest"
	"github.com/jamditis/jawn-vault/vaultd/rotation/telegram"
)

const token = "987654:SENTINEL-BOT-TOKEN"

func notifier(url string) *telegram.Notifier {
	return &telegram.Notifier{APIURL: url, ChatIDs: []int64{1, 2}, Token: func(context.Context) ([]byte, error) { return []byte(token), nil }}
}

func TestNotifySendsToEveryChat(t *testing.T) {
	tg := rotationtest.NewTelegram(t, token)
	if err := notifier(tg.URL).Notify(context.Background(), "hello"); err != nil {
		t.Fatal(err)
	}
	got := tg.All()
	if len(got) != 2 || got[0].ChatID != 1 || got[1].ChatID != 2 || got[0].Text != "hello" {
		t.Errorf("messages %+v", got)
	}
}

func TestNotifyRetriesAShort429(t *testing.T) {
	tg := rotationtest.NewTelegram(t, token)
	tg.Script(rotationtest.Reply{Status: 429, Body: `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 0","parameters":{"retry_after":0}}`})
	if err := notifier(tg.URL).Notify(context.Background(), "hello"); err != nil {
		t.Fatal(err)
	}
	if n := len(tg.All()); n != 2 {
		t.Errorf("%d messages delivered, want 2", n)
	}
}

func TestNotifyErrorsNeverShowTheToken(t *testing.T) {
	tg := rotationtest.NewTelegram(t, token)
	tg.Script(
		rotationtest.Reply{Drop: true}, // net/http's error quotes the URL, token and all
		rotationtest.Reply{Status: 400, Body: `{"ok":false,"error_code":400,"description":"Bad Request: chat not found for ` + token + `"}`},
	)
	err := notifier(tg.URL).Notify(context.Background(), "hello")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, "SENTINEL") {
		t.Errorf("the bot token leaked: %s", msg)
	}
	if !strings.Contains(msg, "chat 1:") || !strings.Contains(msg, "chat 2: error 400: Bad Request: chat not found") {
		t.Errorf("error %q does not say what failed", msg)
	}
	wrong := notifier(tg.URL)
	wrong.Token = func(context.Context) ([]byte, error) { return []byte("111:SENTINEL-WRONG"), nil }
	if err := wrong.Notify(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "error 401: Unauthorized") || strings.Contains(err.Error(), "SENTINEL") {
		t.Errorf("wrong token: %v", err)
	}
}
