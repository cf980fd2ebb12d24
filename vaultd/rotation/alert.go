package rotation

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Notifier delivers an alert's text to people (Telegram, in
// vaultd/rotation/telegram). It is called from one goroutine at a time.
type Notifier interface {
	Notify(ctx context.Context, text string) error
}

// Alerts sends alerts in the background, so that a slow or failing
// notifier never delays or changes a rotation: Send only queues. Texts are
// built here from names, paths, codes and times — never from secrets or
// provider bodies. A nil *Alerts is valid and sends nothing.
type Alerts struct {
	n    Notifier
	log  *slog.Logger
	host string

	q    chan string
	done chan struct{}

	mu     sync.Mutex
	closed bool
	once   map[string]bool // keys of alerts sent once per process
}

// SendTimeout bounds one delivery.
const SendTimeout = 20 * time.Second

// NewAlerts starts a sender. n may be nil (alerts are only logged).
func NewAlerts(n Notifier, log *slog.Logger) *Alerts {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	a := &Alerts{n: n, log: log, host: host, q: make(chan string, 64), done: make(chan struct{}), once: map[string]bool{}}
	go a.run()
	return a
}

func (a *Alerts) run() {
	defer close(a.done)
	for text := range a.q {
		if a.n == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), SendTimeout)
		err := a.n.Notify(ctx, text)
		cancel()
		if err != nil {
			// The notifier's errors are built to be secret-free.
			a.log.Warn("alert not delivered", "err", err)
		}
	}
}

// Close stops accepting alerts and waits until the queued ones are sent or
// ctx is done. It is safe to call more than once.
func (a *Alerts) Close(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.q)
	}
	a.mu.Unlock()
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("alerts not all delivered: %w", ctx.Err())
	}
}

// send queues text; key, when not "", makes it once per process until
// Reset(key).
func (a *Alerts) send(key, text string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || key != "" && a.once[key] {
		return
	}
	if key != "" {
		a.once[key] = true
	}
	a.log.Info("alert", "text", text)
	select {
	case a.q <- text:
	default:
		a.log.Warn("alert queue full; alert dropped")
	}
}

// reset forgets once-keys that start with prefix.
func (a *Alerts) reset(prefix string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.once {
		if strings.HasPrefix(k, prefix) {
			delete(a.once, k)
		}
	}
}

func (a *Alerts) prefix() string {
	if a.host == "" {
		return "jawn-vault: "
	}
	return "jawn-vault on " + a.host + ": "
}

// Failing: the first failure of a streak.
func (a *Alerts) Failing(name string, f *Failure, retryAt time.Time, expires *time.Time) {
	if a == nil {
		return
	}
	a.send("", a.prefix()+FailingText(name, f, retryAt, expires))
}

// FailingText is the text of a Failing alert.
func FailingText(name string, f *Failure, retryAt time.Time, expires *time.Time) string {
	s := fmt.Sprintf("rotation %s is FAILING: %s (temporary).", name, f.Code)
	if !retryAt.IsZero() {
		s += " Next try " + when(retryAt) + "."
	}
	if expires != nil {
		s += " The current token expires " + when(*expires) + "."
	}
	return s
}

// Reauth: a permanent failure; a person must act.
func (a *Alerts) Reauth(name string, paths Paths, f *Failure) {
	if a == nil {
		return
	}
	a.send("", a.prefix()+ReauthText(name, paths, f))
}

// ReauthText is the text of a Reauth alert.
func ReauthText(name string, paths Paths, f *Failure) string {
	s := fmt.Sprintf("rotation %s NEEDS RE-AUTHORISATION: %s. Automatic rotation is paused.", name, f.Code)
	if paths.Refresh != "" {
		s += fmt.Sprintf(" Re-authorise the app, store the new refresh token with `vault-cli set %s`, then run `vault-cli rotate %s`.", paths.Refresh, name)
	} else {
		s += fmt.Sprintf(" Fix the cause, then run `vault-cli rotate %s`.", name)
	}
	return s
}

// Recovered: success after a failure streak.
func (a *Alerts) Recovered(name string, failures int, expires *time.Time) {
	if a == nil {
		return
	}
	a.send("", a.prefix()+RecoveredText(name, failures, expires))
}

// RecoveredText is the text of a Recovered alert.
func RecoveredText(name string, failures int, expires *time.Time) string {
	s := fmt.Sprintf("rotation %s RECOVERED after %d failed attempt(s).", name, failures)
	if expires != nil {
		s += " The new token expires " + when(*expires) + "."
	}
	return s
}

// InDoubt: an attempt died after its provider answered. Sent once per
// process until the rotation is cleared.
func (a *Alerts) InDoubt(name string) {
	if a == nil {
		return
	}
	a.send("doubt:"+name, a.prefix()+InDoubtText(name))
}

// InDoubtText is the text of an InDoubt alert.
func InDoubtText(name string) string {
	return fmt.Sprintf("rotation %s is IN DOUBT: an attempt died after the provider answered and before the new tokens were stored, "+
		"so the old refresh token may be spent. Automatic rotation is paused. Check whether the service still works "+
		"(if not, re-authorise and store a new refresh token), then run `vault-cli rotation clear %s`.", name, name)
}

// CannotStart: the daemon refuses to start attempts (the token's grants,
// or the config, are wrong). Once per process per code.
func (a *Alerts) CannotStart(name, path, code string) {
	if a == nil {
		return
	}
	a.send("start:"+name+":"+code, a.prefix()+CannotStartText(name, path, code))
}

// CannotStartText is the text of a CannotStart alert.
func CannotStartText(name, path, code string) string {
	return fmt.Sprintf("rotation %s CANNOT START: the daemon answers %s. Check that the rotator's token may write %s "+
		"(`vault-cli token list`) and that no other rotation uses the name %s for another path.", name, code, path, name)
}

// Expiring: the token is in the last quarter of its life and its due
// rotation has not succeeded. Once per process per expiry time.
func (a *Alerts) Expiring(name, path string, expires, now time.Time, lastError string) {
	if a == nil {
		return
	}
	a.send("expiring:"+name+":"+expires.UTC().Format(time.RFC3339), a.prefix()+ExpiringText(name, path, expires, now, lastError))
}

// ExpiringText is the text of an Expiring alert.
func ExpiringText(name, path string, expires, now time.Time, lastError string) string {
	var s string
	if !expires.After(now) {
		s = fmt.Sprintf("the token at %s (rotation %s) EXPIRED %s and has not been rotated.", path, name, when(expires))
	} else {
		s = fmt.Sprintf("the token at %s (rotation %s) EXPIRES %s (in %s) and has not been rotated.", path, name, when(expires), Human(expires.Sub(now)))
	}
	if lastError != "" {
		s += " Last error: " + lastError + "."
	}
	return s
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// Human formats a duration to the minute ("1h30m"), or to the second
// under a minute.
func Human(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
