package ops

// The Telegram side of Answer: a Bot API long-poll loop that reads
// "/vault ..." commands with getUpdates and replies with sendMessage.
//
// What it deliberately does not do: change anything in the daemon by
// itself (the one command that does, "/vault rotate", runs only through
// PollOptions.Rotate, which the rotator sets only when the config allows
// it: Telegram is a weak second factor and a group chat has many
// members), answer any chat outside ChatIDs, log a message's text, or
// remember its offset across restarts. Telegram keeps unconfirmed updates
// for 24 hours; PollCommands confirms what it handled when it stops, but
// after a crash recent commands may be answered once more (a "/vault
// rotate" older than maxRotateAge is answered, not run).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/rotation/telegram"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// DefaultTelegramAPIURL is Telegram's Bot API.
const DefaultTelegramAPIURL = telegram.DefaultAPIURL

// PollOptions configure PollCommands.
type PollOptions struct {
	// APIURL is the Bot API's base URL; "" means DefaultTelegramAPIURL.
	APIURL string
	// BotToken is the bot's token. It is part of every request's URL
	// path, so no error or log line that leaves PollCommands holds it.
	BotToken string
	// ChatIDs are the only chats answered; every other chat is ignored
	// and its id logged once.
	ChatIDs []int64
	// Snapshot reads the daemon afresh for each command. An error is
	// answered as "daemon DOWN".
	Snapshot func(ctx context.Context) (Snapshot, error)
	// Audit runs audit.query for "/vault who" and "/vault denied SINCE";
	// nil: those commands answer that the audit log is not readable.
	Audit func(ctx context.Context, q wire.AuditQueryParams) ([]wire.AuditEntry, error)
	// Rotate runs "/vault rotate NAME" asked from chatID (one of ChatIDs)
	// and returns the reply, which must hold no secret; nil: the command
	// answers that rotating from Telegram is disabled and how to enable
	// it. Commands are answered one at a time, so others wait for it.
	Rotate func(ctx context.Context, chatID int64, name string) string
	// Now is the clock for relative times in answers; nil means time.Now.
	Now func() time.Time
	// Send delivers a reply; nil means the Bot API's sendMessage on
	// APIURL with BotToken.
	Send func(ctx context.Context, chatID int64, text string) error
	// Logger receives ignored chats and errors; nil discards them.
	Logger *slog.Logger
	// Timeout is getUpdates' long-poll timeout; 0 means 30s.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means a client of its own.
	HTTPClient *http.Client
	// Sleep waits d or until ctx ends (tests replace it); nil means a
	// timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Backoff bounds for failed getUpdates calls that carry no retry_after.
const (
	pollBackoffMin = time.Second
	pollBackoffMax = time.Minute
	// maxRetryAfter caps a retry_after, in case a proxy sends nonsense.
	maxRetryAfter = 10 * time.Minute
	// maxUnknownChats bounds the set of logged unknown chats; past it
	// further unknown chats are ignored without a log line.
	maxUnknownChats = 1000
	sendTimeout     = 15 * time.Second
	confirmTimeout  = 5 * time.Second
)

// PollCommands answers "/vault" commands from the chats in o.ChatIDs until
// ctx ends, then returns ctx's error. Other errors are logged and retried
// with backoff (a 429's retry_after is honoured), never returned: the
// caller runs it for the life of the process.
func PollCommands(ctx context.Context, o PollOptions) error {
	p, err := newPoller(o)
	if err != nil {
		return err
	}
	defer p.confirm()
	wait := pollBackoffMin
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var ups []update
		var retryAfter time.Duration
		var err error
		if len(p.held) > 0 {
			ups, p.held = p.held, nil
		} else {
			ups, retryAfter, err = p.getUpdates(ctx, max(int(p.Timeout/time.Second), 1))
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d := wait
			if retryAfter > 0 {
				d = min(retryAfter, maxRetryAfter)
			} else {
				wait = min(wait*2, pollBackoffMax)
			}
			p.log.Warn("telegram getUpdates failed; retrying", "err", p.redact(err.Error()), "in", d.String())
			if err := p.sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		wait = pollBackoffMin
		for _, u := range ups {
			if u.UpdateID < p.offset {
				continue // handled already (fetched again by a confirmation)
			}
			// Advance before answering: a reply that fails is not sent
			// twice, and no update is handled twice.
			p.offset = u.UpdateID + 1
			p.handle(ctx, u)
		}
	}
}

// confirm tells the Bot API which updates were handled, as the next
// getUpdates would have: without it, the last ones are handed out again
// after a restart. Best effort, bounded by confirmTimeout.
func (p *poller) confirm() {
	if p.offset <= p.confirmed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), confirmTimeout)
	defer cancel()
	if _, _, err := p.getUpdates(ctx, 0); err != nil {
		p.log.Warn("telegram: confirming the last updates failed; they may be answered again after a restart", "err", p.redact(err.Error()))
	}
}

// confirmNow tells the Bot API that every update up to the current one is
// handled, before a command that must not run twice (a rotation): were the
// rotator to crash after it, Telegram would hand the command out again on
// restart. The updates that call returns are held for the main loop.
func (p *poller) confirmNow(ctx context.Context) error {
	if p.offset <= p.confirmed {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	ups, _, err := p.getUpdates(cctx, 0)
	if err != nil {
		return err
	}
	if p.offset > p.confirmed {
		return errors.New("the Bot API did not accept the offset")
	}
	p.held = append(p.held, ups...)
	return nil
}

type update struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		MessageID int64 `json:"message_id"`
		Date      int64 `json:"date"` // Unix time the message was sent
		Chat      struct {
			ID int64 `json:"id"`
		} `json:"chat"`
		Text string `json:"text"`
	} `json:"message"`
}

type poller struct {
	PollOptions
	base   string // {api}/bot{token}/
	log    *slog.Logger
	offset int64
	// confirmed is the offset the Bot API last accepted.
	confirmed int64
	// held are updates a confirmation (before a rotation) fetched: they
	// are handled before the next getUpdates.
	held    []update
	unknown map[int64]bool
}

func newPoller(o PollOptions) (*poller, error) {
	if o.BotToken == "" {
		return nil, errors.New("telegram commands: no bot token")
	}
	if len(o.ChatIDs) == 0 {
		return nil, errors.New("telegram commands: no chat ids to answer")
	}
	if o.Snapshot == nil {
		return nil, errors.New("telegram commands: no Snapshot function")
	}
	api := o.APIURL
	if api == "" {
		api = DefaultTelegramAPIURL
	}
	p := &poller{PollOptions: o, base: strings.TrimRight(api, "/") + "/bot" + o.BotToken + "/", log: o.Logger, unknown: map[int64]bool{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.Timeout <= 0 {
		p.Timeout = 30 * time.Second
	}
	if p.HTTPClient == nil {
		p.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if p.Sleep == nil {
		p.Sleep = sleepCtx
	}
	if p.Send == nil {
		p.Send = p.sendMessage
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p, nil
}

func (p *poller) sleep(ctx context.Context, d time.Duration) error {
	if err := p.Sleep(ctx, d); err != nil {
		return err
	}
	return ctx.Err()
}

// getUpdates long-polls once for up to secs seconds (0: answer at
// once). On a 429 it also returns retry_after.
func (p *poller) getUpdates(ctx context.Context, secs int) ([]update, time.Duration, error) {
	q := url.Values{}
	if p.offset > 0 {
		q.Set("offset", strconv.FormatInt(p.offset, 10))
	}
	sent := p.offset
	q.Set("timeout", strconv.Itoa(secs))
	q.Set("allowed_updates", `["message"]`)
	// The server holds the request for up to the timeout; give the
	// network some slack on top.
	rctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, p.base+"getUpdates?"+q.Encode(), nil)
	if err != nil {
		return nil, 0, errors.New("the api_url is not a valid URL")
	}
	a, err := p.do(req)
	if err == nil && a.OK || ctx.Err() != nil {
		// Updates below the offset are confirmed as soon as the Bot API
		// has the request: when it answered, or held it (a long poll)
		// until we gave up. Should the request not have left at all, the
		// updates come again after a restart: answered again, harmless,
		// and a rotation among them is confirmed before it runs.
		p.confirmed = max(p.confirmed, sent)
	}
	if err != nil {
		return nil, 0, err
	}
	if !a.OK {
		var ra time.Duration
		if a.ErrorCode == http.StatusTooManyRequests {
			ra = time.Duration(a.Parameters.RetryAfter) * time.Second
		}
		return nil, ra, fmt.Errorf("error %d: %s", a.ErrorCode, clipText(a.Description, 200))
	}
	var ups []update
	if err := json.Unmarshal(a.Result, &ups); err != nil {
		return nil, 0, errors.New("getUpdates result is not a list of updates")
	}
	return ups, 0, nil
}

// do sends req and decodes the Bot API's envelope. Its errors never quote
// the URL.
func (p *poller) do(req *http.Request) (*telegram.Answer, error) {
	return telegram.Do(p.HTTPClient, req, 8<<20)
}

// handle answers one update if it is a /vault command from a known chat.
func (p *poller) handle(ctx context.Context, u update) {
	m := u.Message
	if m == nil {
		return
	}
	chat := m.Chat.ID
	if !slices.Contains(p.ChatIDs, chat) {
		if !p.unknown[chat] && len(p.unknown) < maxUnknownChats {
			p.unknown[chat] = true
			// The text is not logged: it is a stranger's, and may be
			// anything.
			p.log.Warn("telegram message from a chat not in chat_ids; ignored (further messages from it are not logged)", "chat_id", chat)
		}
		return
	}
	if !isVaultCommand(m.Text) {
		return
	}
	reply := p.reply(ctx, chat, m.Text, time.Unix(m.Date, 0))
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	if err := p.Send(sctx, chat, reply); err != nil && ctx.Err() == nil {
		p.log.Warn("telegram reply failed", "chat_id", chat, "err", p.redact(err.Error()))
	}
}

// isVaultCommand: the first word is /vault or /vault@botname.
func isVaultCommand(text string) bool {
	f := strings.Fields(text)
	if len(f) == 0 {
		return false
	}
	word, _, _ := strings.Cut(f[0], "@")
	return word == "/vault"
}

// sendMessage is the default Send: plain text, no parse mode.
func (p *poller) sendMessage(ctx context.Context, chat int64, text string) error {
	body, _ := json.Marshal(map[string]any{"chat_id": chat, "text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"sendMessage", bytes.NewReader(body))
	if err != nil {
		return errors.New("the api_url is not a valid URL")
	}
	req.Header.Set("Content-Type", "application/json")
	a, err := p.do(req)
	if err != nil {
		return errors.New(p.redact("sendMessage: " + err.Error()))
	}
	if !a.OK {
		return errors.New(p.redact(fmt.Sprintf("sendMessage: error %d: %s", a.ErrorCode, clipText(a.Description, 200))))
	}
	return nil
}

// redact removes the bot token from s, as a second line of defence after
// telegram.Cause.
func (p *poller) redact(s string) string { return telegram.Redact(s, p.BotToken) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CommandsOptions configure RunCommands.
type CommandsOptions struct {
	Socket       string // the daemon's socket
	VaultToken   string // the caller's daemon token ("" for peer credentials)
	BotTokenPath string // where the vault holds the bot token
	APIURL       string
	ChatIDs      []int64
	Logger       *slog.Logger
	// Rotate is PollOptions.Rotate: nil keeps "/vault rotate" disabled.
	Rotate func(ctx context.Context, chatID int64, name string) string
}

// RunCommands is PollCommands wired to a daemon: it reads the bot token
// from the vault (retrying with backoff until it can), then answers
// commands with Snapshots and audit.query reads over the socket, as the
// caller's token (so they are audited under its name), until ctx ends.
// The bot token it reads is the one used until restart.
func RunCommands(ctx context.Context, o CommandsOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var tok string
	for wait := pollBackoffMin; ; wait = min(wait*2, pollBackoffMax) {
		b, err := readSecret(ctx, o.Socket, o.VaultToken, o.BotTokenPath)
		if err == nil {
			tok = strings.TrimSpace(string(b))
			clear(b)
			break
		}
		log.Warn("telegram commands: reading the bot token; retrying", "path", o.BotTokenPath, "err", err, "in", wait.String())
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
	}
	f := &Fetcher{Socket: o.Socket, Token: func() (string, error) { return o.VaultToken, nil }}
	log.Info("telegram commands enabled", "chats", len(o.ChatIDs))
	return PollCommands(ctx, PollOptions{
		APIURL:   o.APIURL,
		BotToken: tok,
		ChatIDs:  o.ChatIDs,
		Snapshot: func(ctx context.Context) (Snapshot, error) { return *f.Fetch(ctx), nil },
		Audit: func(ctx context.Context, q wire.AuditQueryParams) ([]wire.AuditEntry, error) {
			return queryAudit(ctx, o.Socket, o.VaultToken, q)
		},
		Rotate: o.Rotate,
		Logger: log,
	})
}

func readSecret(ctx context.Context, socket, token, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := vault.Dial(ctx, vault.Options{Socket: socket, Token: token})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Get(ctx, path)
}

// auditPageRows is how many rows one audit.query asks for: a few hundred
// rows stay far below the client's 4 MiB answer limit however long their
// paths and executables are.
var auditPageRows = 500

// queryAudit reads up to q.Limit rows matching q (whose Until must be
// empty), newest first, in pages of auditPageRows; rows a page repeats
// are dropped by their sequence number.
func queryAudit(ctx context.Context, socket, token string, q wire.AuditQueryParams) ([]wire.AuditEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := vault.Dial(ctx, vault.Options{Socket: socket, Token: token})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	want := q.Limit
	page := q
	page.Limit = min(auditPageRows, want)
	var out []wire.AuditEntry
	seen := map[int64]bool{}
	for len(out) < want {
		rows, err := c.AuditQuery(ctx, page)
		if err != nil {
			return nil, err
		}
		added := 0
		for _, r := range rows {
			if !seen[r.Seq] && len(out) < want {
				seen[r.Seq] = true
				out = append(out, r)
				added++
			}
		}
		if len(rows) < page.Limit {
			break
		}
		// The next page ends just after this one's oldest row, so rows of
		// the same time that did not fit are not lost; only when a whole
		// page was rows already seen does it end before that time.
		oldest := rows[len(rows)-1].Time
		next := oldest.Add(time.Nanosecond).Format(time.RFC3339Nano)
		if added == 0 {
			next = oldest.Format(time.RFC3339Nano)
		}
		if next == page.Until {
			break
		}
		page.Until = next
	}
	return out, nil
}
