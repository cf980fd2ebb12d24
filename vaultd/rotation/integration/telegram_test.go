package integration

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// A secret read by one service and refused to another, for "/vault who"
// and "/vault denied".
const (
	appPath     = "claude/app/db-password"
	appPassword = "SENTINEL-DB-PASSWORD"
	stranger    = 999 // a chat not in chat_ids
)

// TestTelegramCommandsInTheRotator runs `jawn-vault rotator` with
// commands = true against the real daemon and a fake Bot API that queues
// updates as getUpdates returns them: the configured chat gets short
// answers, a stranger's chat gets nothing, no answer holds a value or a
// token, "/vault rotate" is disabled by default, and with allow_rotate it
// rotates against the fake Slack with the daemon auditing
// rotation.begin as trigger=telegram:CHAT-ID.
func TestTelegramCommandsInTheRotator(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.client(e.admin)
	defer admin.Close()
	if err := admin.Set(ctx, appPath, []byte(appPassword)); err != nil {
		t.Fatal(err)
	}
	app := e.token("app", "--grant", "claude/app/**", "-p", "read")
	nosy := e.token("nosy", "--grant", "other/**", "-p", "read")
	if v, err := e.clientNamed(app).Get(ctx, appPath); err != nil || string(v) != appPassword {
		t.Fatalf("app read: %v", err)
	}
	if _, err := e.clientNamed(nosy).Get(ctx, appPath); wire.CodeOf(err) != wire.CodePermissionDenied {
		t.Fatalf("nosy read: %v, want permission_denied", err)
	}
	// The rotator's token as docs/OPERATIONS.md makes it for commands:
	// the rotation's paths, plus status on ** for the answers.
	rot := e.token("rotator-tg", "--grant", accessPath, "--grant", refreshPath, "--grant", idPath,
		"--grant", secretPath, "--grant", botPath, "--grant", "**:status", "-p", "write")

	e.writeConfig("20s", "5s")
	appendConfig(t, e.config, "commands = true\n")
	p := e.start(daemonBin, cliEnv(rot), "rotator", "--config", e.config, "--log-level", "debug")
	p.awaitNotify(t, "READY=1")
	<-e.slack.Requests // the first rotation, at start (no expiry known)
	e.awaitStateFn("the first rotation's success", 15*time.Second, func(st wire.RotationState) bool {
		return st.State == wire.RotationIdle && st.LastSuccess != nil
	})

	e.tg.Queue(stranger, "/vault status")
	cmds := []string{"/vault status", "/vault who claude/app/**", "/vault denied 1h", "/vault recent 20", "/vault rotation", "/vault rotate " + name, "/vault who ../x"}
	for _, c := range cmds {
		e.tg.Queue(chatID, c)
	}
	got := e.answers(len(cmds))
	for i, w := range []string{
		"🟢 Vault healthy",
		"Reads of claude/app/** in the last 24h: 1 by 1 client(s)\napp · uid ",
		"1 denied in the last 1h; latest 1:",
		"Last 20 requests:",
		"🟢 slack-bot: idle",
		"Rotating from Telegram is disabled. To allow it, set allow_rotate = true under [alerts.telegram]",
		"PATH-GLOB must be a grant pattern",
	} {
		if !strings.Contains(got[i], w) {
			t.Errorf("%q answered\n%s\nwant it to contain %q", cmds[i], got[i], w)
		}
	}
	if !strings.Contains(got[1], "⚠️ 1 refused read(s)") || !strings.Contains(got[2], "nosy get "+appPath+" ✗ DENIED") {
		t.Errorf("the refused read is missing:\n%s\n%s", got[1], got[2])
	}
	if n := e.slack.Calls(); n != 1 {
		t.Errorf("Slack calls %d after a disabled /vault rotate, want 1", n)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("rotator exit %d\n%s", code, p.out)
	}
	if !strings.Contains(p.out.String(), "chat_id=999") {
		t.Errorf("the stranger's chat was not logged as ignored:\n%s", p.out)
	}

	// allow_rotate: the expiry is known now, so the rotator does not
	// rotate at start; only the command does.
	appendConfig(t, e.config, "allow_rotate = true\n")
	p = e.start(daemonBin, cliEnv(rot), "rotator", "--config", e.config, "--log-level", "debug")
	p.awaitNotify(t, "READY=1")
	e.tg.Queue(stranger, "/vault rotate "+name)
	e.tg.Queue(chatID, "/vault rotate "+name)
	e.tg.Queue(chatID, "/vault rotate nope")
	got = e.answers(2)
	if !strings.HasPrefix(got[0], "🟢 slack-bot rotated. The new token expires ") {
		t.Errorf("rotate answered %q", got[0])
	}
	if got[1] != "No rotation named nope. Configured: slack-bot" {
		t.Errorf("rotate nope answered %q", got[1])
	}
	if n := e.slack.Calls(); n != 2 {
		t.Errorf("Slack calls %d, want 2 (the start, then the command only)", n)
	}
	rows, err := admin.AuditQuery(ctx, wire.AuditQueryParams{Client: "rotator-tg", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var begins []string
	for _, r := range rows {
		if r.Method == wire.MethodRotationBegin && r.Outcome == wire.OutcomeOK {
			begins = append(begins, r.Detail)
		}
	}
	// Newest first: the command's, then the schedule's.
	if len(begins) != 2 || begins[0] != "trigger=telegram:4242" || begins[1] != "" {
		t.Errorf("rotation.begin audit details %q, want [trigger=telegram:4242, \"\"]", begins)
		for _, r := range rows {
			t.Logf("%s %s %s %s %s %s", r.Time.Format(time.RFC3339Nano), r.Client, r.Method, r.Path, r.Outcome, r.Detail)
		}
	}
	for _, m := range e.tg.All() {
		if m.ChatID != chatID {
			t.Errorf("a message went to chat %d: %q", m.ChatID, m.Text)
		}
	}
}

// token creates a token with vault-cli and adds it to the secrets the
// test searches its outputs for.
func (e *env) token(name string, args ...string) string {
	e.t.Helper()
	r := e.cliRaw(e.admin, append([]string{"token", "create", name}, args...)...)
	if r.code != 0 {
		e.t.Fatalf("token create %s: %s", name, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	e.secret(tok)
	return tok
}

// clientNamed is client, closed when the test ends.
func (e *env) clientNamed(token string) *vault.Client {
	c := e.client(token)
	e.t.Cleanup(func() { c.Close() })
	return c
}

// answers awaits n Telegram messages and returns their texts; every one
// must be to the configured chat.
func (e *env) answers(n int) []string {
	e.t.Helper()
	var out []string
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case m := <-e.tg.Messages:
			if m.ChatID != chatID {
				e.t.Errorf("a message went to chat %d: %q", m.ChatID, m.Text)
				continue
			}
			out = append(out, m.Text)
		case <-timeout:
			e.t.Fatalf("%d of %d answers: %q", len(out), n, out)
		}
	}
	return out
}

func appendConfig(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
