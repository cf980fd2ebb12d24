package rotator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/ops"
	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/rotation/telegram"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// CredentialName is the systemd credential holding the rotator's token
// (LoadCredential=jawn-vault-token:...).
const CredentialName = "jawn-vault-token"

// Dialer connects to the daemon at socket with token.
func Dialer(socket, token string) rotation.Connect {
	return func(ctx context.Context) (rotation.Vault, error) {
		c, err := vault.Dial(ctx, vault.Options{Socket: socket, Token: token})
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// LoadToken finds the token: the file named by tokenFile, else
// $VAULT_TOKEN, else $CREDENTIALS_DIRECTORY/jawn-vault-token, else none
// (the daemon then treats its own uid and root as the owner).
func LoadToken(tokenFile string, getenv func(string) string) (string, error) {
	read := func(p string) (string, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		defer clear(b)
		return strings.TrimSpace(string(b)), nil
	}
	if tokenFile != "" {
		t, err := read(tokenFile)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		return t, nil
	}
	if t := getenv("VAULT_TOKEN"); t != "" {
		return t, nil
	}
	if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		t, err := read(filepath.Join(dir, CredentialName))
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("credential %s: %w", CredentialName, err)
		}
	}
	return "", nil
}

// Engine builds the engine and its alerts from the plan. The alerts must
// be closed (Alerts.Close) to deliver what is queued.
func (p *Plan) Engine(connect rotation.Connect, log *slog.Logger, clock rotation.Clock) (*rotation.Engine, error) {
	var n rotation.Notifier
	if tg := p.Telegram; tg != nil {
		n = &telegram.Notifier{
			APIURL:     tg.APIURL,
			ChatIDs:    tg.ChatIDs,
			HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
			Token: func(ctx context.Context) ([]byte, error) {
				v, err := connect(ctx)
				if err != nil {
					return nil, err
				}
				defer v.Close()
				return v.Get(ctx, tg.BotTokenPath)
			},
		}
	}
	return rotation.NewEngine(rotation.Options{
		Connect:   connect,
		Rotations: p.Rotations,
		Alerts:    rotation.NewAlerts(n, log),
		Clock:     clock,
		Logger:    log,
	})
}

// Options configure Run.
type Options struct {
	Config    string // config file; "" means config.DefaultPath()
	Socket    string // "" means the config file's
	TokenFile string
	Getenv    func(string) string // nil: os.Getenv
	Logger    *slog.Logger
	Clock     rotation.Clock // nil: the system clock
	// Notify reports to systemd; nil means go-systemd's SdNotify.
	Notify func(state string) error
}

// Run is `jawn-vault rotator`: it rotates on schedule until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Notify == nil {
		o.Notify = func(state string) error { _, err := daemon.SdNotify(false, state); return err }
	}
	log := o.Logger
	path, explicit := o.Config, o.Config != ""
	if !explicit {
		path = config.DefaultPath()
	}
	plan, err := Load(path, explicit)
	if err != nil {
		return err
	}
	if len(plan.Rotations) == 0 {
		return fmt.Errorf("%s has no [[rotation]] table: nothing to rotate", path)
	}
	socket := o.Socket
	if socket == "" {
		socket = plan.Socket
	}
	token, err := LoadToken(o.TokenFile, o.Getenv)
	if err != nil {
		return err
	}
	connect := Dialer(socket, token)
	e, err := plan.Engine(connect, log, o.Clock)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Alerts().Close(cctx); err != nil {
			log.Warn("stopping", "err", err)
		}
	}()

	// Fail the start, not the first rotation, when the daemon or the
	// token is wrong.
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = e.Status(sctx)
	cancel()
	if err != nil {
		return fmt.Errorf("the daemon at %s: %w", socket, err)
	}

	s := rotation.NewScheduler(e)
	go watchInputs(ctx, vault.Options{Socket: socket, Token: token}, plan, s, log)
	// The commands loop is waited for on the way out: it confirms to the
	// Bot API what it answered (so a restart does not answer it again)
	// and may be finishing a "/vault rotate".
	commandsDone := make(chan struct{})
	if tg := plan.Telegram; tg != nil && tg.Commands {
		co := ops.CommandsOptions{Socket: socket, VaultToken: token, BotTokenPath: tg.BotTokenPath, APIURL: tg.APIURL, ChatIDs: tg.ChatIDs, Logger: log}
		if tg.AllowRotate {
			co.Rotate = TelegramRotate(e, log)
		}
		go func() { defer close(commandsDone); _ = ops.RunCommands(ctx, co) }()
	} else {
		close(commandsDone)
	}
	if err := o.Notify(daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}
	log.Info("rotator started", "rotations", len(plan.Rotations), "socket", socket)
	err = s.Run(ctx)
	<-commandsDone
	_ = o.Notify(daemon.SdNotifyStopping)
	log.Info("rotator stopped")
	return err
}

// watchInputs subscribes to the rotations' inputs (refresh tokens, client
// credentials) and kicks the rotations that read a changed one, so a
// rotation paused for re-authorisation resumes when a person stores the
// new refresh token. It reconnects with backoff; without watch support in
// the daemon it gives up, and paused rotations wait for a restart or a
// `vault-cli rotate`.
func watchInputs(ctx context.Context, opts vault.Options, plan *Plan, s *rotation.Scheduler, log *slog.Logger) {
	var paths []string
	for _, r := range plan.Rotations {
		for _, p := range r.Provider.Paths().Inputs() {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	if len(paths) == 0 {
		return
	}
	kickAll := func() {
		for _, p := range paths {
			s.KickPath(p)
		}
	}
	wait := time.Second
	for first := true; ctx.Err() == nil; first = false {
		w, err := vault.Watch(ctx, opts, wire.WatchParams{Paths: paths})
		if err == nil {
			wait = time.Second
			if !first {
				kickAll() // changes while we were not watching went unseen
			}
			for {
				ev, err := w.Next(ctx)
				if err != nil {
					break
				}
				if ev.Event == wire.EventStale {
					kickAll()
					continue
				}
				s.KickPath(ev.Path)
			}
			w.Close()
		} else {
			switch wire.CodeOf(err) {
			case wire.CodeUnknownMethod:
				log.Warn("the daemon does not support watch; paused rotations resume only on restart or `vault-cli rotate`")
				return
			case wire.CodePermissionDenied:
				log.Warn("the rotator's token may not watch its inputs; grant it read on them", "err", err)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, time.Minute)
	}
}
