// Package rotator wires the rotation library to the daemon's config file
// and socket. Load reads the [[rotation]] and [alerts] tables into a Plan;
// Plan.Engine builds the engine and alerts that both `vault-cli rotate`
// and `jawn-vault rotator` use; Run is `jawn-vault rotator` itself: it
// schedules every rotation until its context ends, watches the rotations'
// inputs so a paused rotation resumes when a person stores a new refresh
// token, and tells systemd when it is ready.
//
// What it does not do: decide anything about rotations (vaultd/rotation
// does) or parse flags (cmd/jawn-vault does).
package rotator

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/rotation/provider"
	"github.com/jamditis/jawn-vault/vaultd/rotation/telegram"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Plan is what the config file says about rotation.
type Plan struct {
	File      string
	Socket    string // the daemon's socket per the config file
	Rotations []*rotation.Rotation
	Telegram  *Telegram // nil: no alerts are delivered (they are still logged)
}

// Telegram is [alerts.telegram].
type Telegram struct {
	BotTokenPath string  `toml:"bot_token_path"`
	ChatIDs      []int64 `toml:"chat_ids"`
	APIURL       string  `toml:"api_url"`
	// Commands makes the rotator answer "/vault" commands from ChatIDs
	// (read-only but for AllowRotate; see ops.PollCommands). Default
	// false.
	Commands bool `toml:"commands"`
	// AllowRotate lets "/vault rotate NAME" from ChatIDs run a configured
	// rotation now, audited with trigger "telegram:CHAT-ID". It needs
	// Commands. Default false: the command answers that it is disabled.
	AllowRotate bool `toml:"allow_rotate"`
}

// spec is one [[rotation]] table.
type spec struct {
	Name             string          `toml:"name"`
	Provider         string          `toml:"provider"`
	AccessTokenPath  string          `toml:"access_token_path"`
	RefreshTokenPath string          `toml:"refresh_token_path"`
	ClientIDPath     string          `toml:"client_id_path"`
	ClientSecretPath string          `toml:"client_secret_path"`
	TokenURL         string          `toml:"token_url"`
	Scopes           []string        `toml:"scopes"`
	Command          []string        `toml:"command"`
	RefreshBefore    config.Duration `toml:"refresh_before"`
	Interval         config.Duration `toml:"interval"`
	Lease            config.Duration `toml:"lease"`
	Timeout          config.Duration `toml:"timeout"`
}

// Keys each provider accepts; any other key is an error.
var (
	commonKeys = []string{"name", "provider", "access_token_path", "refresh_before", "interval", "lease", "timeout"}
	oauthKeys  = []string{"refresh_token_path", "client_id_path", "client_secret_path", "token_url"}
	keysOf     = map[string][]string{
		provider.KindSlack:   oauthKeys,
		provider.KindGoogle:  oauthKeys,
		provider.KindOAuth2:  append(slices.Clone(oauthKeys), "scopes"),
		provider.KindCommand: {"command", "refresh_token_path", "client_id_path", "client_secret_path"},
	}
	telegramKeys = []string{"bot_token_path", "chat_ids", "api_url", "commands", "allow_rotate"}
)

// Load reads the config file (see config.Load for path and explicit).
func Load(path string, explicit bool) (*Plan, error) {
	cfg, err := config.Load(path, explicit)
	if err != nil {
		return nil, err
	}
	return FromConfig(cfg)
}

// FromConfig decodes the rotation tables of a loaded config.
func FromConfig(cfg *config.Config) (*Plan, error) {
	md := cfg.Meta()
	where := "config"
	if cfg.File != "" {
		where = "config " + cfg.File
	}
	p := &Plan{File: cfg.File, Socket: cfg.Socket}
	hc := provider.NewHTTPClient()
	seen := map[string]bool{}
	for i, prim := range cfg.Rotation {
		r, err := decodeRotation(&md, prim, hc)
		if err != nil {
			return nil, fmt.Errorf("%s: [[rotation]] #%d: %w", where, i+1, err)
		}
		name := r.Provider.Name()
		if seen[name] {
			return nil, fmt.Errorf("%s: two [[rotation]] tables are named %q", where, name)
		}
		seen[name] = true
		p.Rotations = append(p.Rotations, r)
	}
	if md.IsDefined("alerts") {
		tg, err := decodeAlerts(&md, cfg.Alerts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		p.Telegram = tg
	}
	return p, nil
}

func decodeRotation(md *toml.MetaData, prim toml.Primitive, hc *http.Client) (*rotation.Rotation, error) {
	var raw map[string]any
	if err := md.PrimitiveDecode(prim, &raw); err != nil {
		return nil, err
	}
	kind, _ := raw["provider"].(string)
	extra, ok := keysOf[kind]
	if !ok {
		return nil, fmt.Errorf(`provider must be "slack", "google", "oauth2" or "command", not %q`, kind)
	}
	if err := onlyKeys(raw, append(slices.Clone(commonKeys), extra...), "[[rotation]] with provider = \""+kind+"\""); err != nil {
		return nil, err
	}
	var s spec
	if err := md.PrimitiveDecode(prim, &s); err != nil {
		return nil, err
	}
	if !wire.ValidName(s.Name) {
		return nil, fmt.Errorf("name must be 1-64 characters of A-Z a-z 0-9 . _ @ -, not %q", s.Name)
	}
	paths := rotation.Paths{Access: s.AccessTokenPath, Refresh: s.RefreshTokenPath, ClientID: s.ClientIDPath, ClientSecret: s.ClientSecretPath}
	if paths.Access == "" {
		return nil, fmt.Errorf("rotation %s: access_token_path is required", s.Name)
	}
	for key, v := range map[string]string{"access_token_path": paths.Access, "refresh_token_path": paths.Refresh, "client_id_path": paths.ClientID, "client_secret_path": paths.ClientSecret} {
		if v == "" {
			continue
		}
		if _, err := vpath.Parse(v); err != nil {
			return nil, fmt.Errorf("rotation %s: %s: %v", s.Name, key, err)
		}
	}
	if s.RefreshBefore.Set && s.Interval.Set {
		return nil, fmt.Errorf("rotation %s: set refresh_before or interval, not both", s.Name)
	}
	if s.Lease.Set && (s.Lease.Duration < time.Second || s.Lease.Duration > time.Hour) {
		return nil, fmt.Errorf("rotation %s: lease must be between 1s and 1h", s.Name)
	}
	r := &rotation.Rotation{RefreshBefore: s.RefreshBefore.Duration, Interval: s.Interval.Duration, Lease: s.Lease.Duration, Timeout: s.Timeout.Duration}
	if r.Lease == 0 {
		r.Lease = rotation.DefaultLease
	}
	if r.Timeout == 0 {
		r.Timeout = min(rotation.DefaultTimeout, r.Lease/2)
	}
	if r.Timeout >= r.Lease {
		return nil, fmt.Errorf("rotation %s: timeout (%s) must be shorter than lease (%s)", s.Name, r.Timeout, r.Lease)
	}
	if s.Interval.Set && s.Interval.Duration < time.Minute {
		return nil, fmt.Errorf("rotation %s: interval must be at least 1m", s.Name)
	}
	prov, err := provider.New(kind, provider.Config{Name: s.Name, Paths: paths, TokenURL: s.TokenURL, Scopes: s.Scopes, Command: s.Command, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	r.Provider = prov
	return r, nil
}

func decodeAlerts(md *toml.MetaData, prim toml.Primitive) (*Telegram, error) {
	var raw map[string]any
	if err := md.PrimitiveDecode(prim, &raw); err != nil {
		return nil, fmt.Errorf("[alerts]: %w", err)
	}
	if err := onlyKeys(raw, []string{"telegram"}, "[alerts]"); err != nil {
		return nil, err
	}
	tgRaw, ok := raw["telegram"].(map[string]any)
	if !ok {
		return nil, nil
	}
	if err := onlyKeys(tgRaw, telegramKeys, "[alerts.telegram]"); err != nil {
		return nil, err
	}
	var a struct {
		Telegram Telegram `toml:"telegram"`
	}
	if err := md.PrimitiveDecode(prim, &a); err != nil {
		return nil, fmt.Errorf("[alerts.telegram]: %w", err)
	}
	tg := a.Telegram
	if _, err := vpath.Parse(tg.BotTokenPath); err != nil {
		return nil, fmt.Errorf("[alerts.telegram]: bot_token_path: %v", err)
	}
	if len(tg.ChatIDs) == 0 {
		return nil, fmt.Errorf("[alerts.telegram]: chat_ids must list at least one chat")
	}
	if tg.AllowRotate && !tg.Commands {
		return nil, fmt.Errorf("[alerts.telegram]: allow_rotate = true needs commands = true")
	}
	if tg.APIURL == "" {
		tg.APIURL = telegram.DefaultAPIURL
	}
	return &tg, nil
}

// onlyKeys fails on any key of raw not in allowed.
func onlyKeys(raw map[string]any, allowed []string, table string) error {
	var bad []string
	for k := range raw {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("unknown key(s) %s in %s (allowed: %s)", strings.Join(bad, ", "), table, strings.Join(allowed, ", "))
}
