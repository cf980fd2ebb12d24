// Package telegram sends alert texts with the Telegram Bot API's
// sendMessage method: POST {api_url}/bot{token}/sendMessage with a JSON
// body {"chat_id", "text"}, answered by {"ok": true, "result": {...}} or
// {"ok": false, "error_code", "description"}.
//
// The bot token is part of the URL's path, so every error that could
// quote the URL (net/http's *url.Error) is reduced to its cause, and all
// text that leaves this package passes through a redaction of the token
// as well. The token is read afresh for each alert and wiped after. Do,
// Cause and Redact are that discipline for any Bot API call; the /vault
// command poller (vaultd/ops) uses them too.
//
// What it does not do: queue, or retry for long. Alerts are sent in the
// background by rotation.Alerts; a 429 with a short retry_after is retried
// once, anything else is reported and dropped.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAPIURL is Telegram's Bot API.
const DefaultAPIURL = "https://api.telegram.org"

// Notifier sends texts to chats. It implements rotation.Notifier.
type Notifier struct {
	// APIURL is the Bot API's base URL; "" means DefaultAPIURL.
	APIURL string
	// ChatIDs receive every alert.
	ChatIDs []int64
	// Token returns the bot token (read from the vault). The slice is
	// wiped after use.
	Token func(ctx context.Context) ([]byte, error)
	// HTTPClient sends the requests; nil means a default client.
	HTTPClient *http.Client
}

// maxRetryWait is the longest retry_after honoured within one Notify.
const maxRetryWait = 10 * time.Second

// Answer is the Bot API's envelope around every method's result.
type Answer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// Notify sends text to every chat and returns the failures, joined.
func (n *Notifier) Notify(ctx context.Context, text string) error {
	if len(n.ChatIDs) == 0 {
		return nil
	}
	tok, err := n.Token(ctx)
	if err != nil {
		return fmt.Errorf("telegram: reading the bot token: %w", err)
	}
	defer clear(tok)
	base := n.APIURL
	if base == "" {
		base = DefaultAPIURL
	}
	endpoint := strings.TrimRight(base, "/") + "/bot" + string(tok) + "/sendMessage"
	hc := n.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	var errs []error
	for _, id := range n.ChatIDs {
		if err := send(ctx, hc, endpoint, id, text); err != nil {
			errs = append(errs, errors.New(Redact(fmt.Sprintf("telegram: chat %d: %v", id, err), string(tok))))
		}
	}
	return errors.Join(errs...)
}

// send posts one message, retrying once after a short 429.
func send(ctx context.Context, hc *http.Client, endpoint string, chat int64, text string) error {
	body, _ := json.Marshal(map[string]any{"chat_id": chat, "text": text})
	for attempt := 0; ; attempt++ {
		a, err := post(ctx, hc, endpoint, body)
		if err != nil {
			return err
		}
		if a.OK {
			return nil
		}
		wait := time.Duration(a.Parameters.RetryAfter) * time.Second
		if a.ErrorCode == http.StatusTooManyRequests && attempt == 0 && wait <= maxRetryWait {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		return fmt.Errorf("error %d: %s", a.ErrorCode, clip(a.Description))
	}
}

func post(ctx context.Context, hc *http.Client, endpoint string, body []byte) (*Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("the api_url is not a valid URL")
	}
	req.Header.Set("Content-Type", "application/json")
	return Do(hc, req, 1<<20)
}

// Do sends req, which names a Bot API method, and decodes the envelope of
// the answer, read up to limit bytes. A failed call without an error_code
// gets the HTTP status as one. Its errors never quote the URL (Cause).
func Do(hc *http.Client, req *http.Request, limit int64) (*Answer, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, Cause(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, Cause(err)
	}
	var a Answer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("HTTP %d with an answer that is not the Bot API's JSON", resp.StatusCode)
	}
	if !a.OK && a.ErrorCode == 0 {
		a.ErrorCode = resp.StatusCode
	}
	return &a, nil
}

// Cause strips a *url.Error, whose text quotes the URL and so the token.
func Cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timed out")
	}
	return err
}

// Redact removes the token from s, as written and as escaped in a URL
// path: a second line of defence after Cause.
func Redact(s, tok string) string {
	if len(tok) < 4 {
		return s
	}
	s = strings.ReplaceAll(s, tok, "[redacted]")
	return strings.ReplaceAll(s, url.PathEscape(tok), "[redacted]")
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
