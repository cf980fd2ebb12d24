// Package config reads the daemon's TOML configuration and supplies the
// defaults that come from the environment. The rotator and vault-cli read
// the same file.
//
// Unknown keys are an error: a misspelt setting must not be silently
// ignored in a security tool. The [[rotation]] and [alerts] tables are
// reserved for the rotator and decoded by it, not here.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("config")

// Config is the daemon's configuration. Zero values mean "default"; call
// Defaults or Load to fill them.
type Config struct {
	Socket      string `toml:"socket"`       // socket path
	SocketMode  string `toml:"socket_mode"`  // octal, "0600" or "0660"
	SocketGroup string `toml:"socket_group"` // group owning the socket (with 0660)

	Backend   string `toml:"backend"`   // "pass" (default) or "memory"
	Store     string `toml:"store"`     // pass store directory
	GnuPGHome string `toml:"gnupghome"` // "" = inherit $GNUPGHOME
	GPG       string `toml:"gpg"`       // gpg binary, default "gpg" on PATH
	StateDir  string `toml:"state_dir"` // where audit.db lives

	CacheTTL        Duration `toml:"cache_ttl"`         // 0 disables the cache
	CacheMaxEntries int      `toml:"cache_max_entries"` // default 1024
	CacheMaxBytes   int      `toml:"cache_max_bytes"`   // default 4 MiB
	Warm            []string `toml:"warm"`              // paths decrypted at start

	MaxLine     int      `toml:"max_line"`     // bytes, default 65536
	MaxConns    int      `toml:"max_conns"`    // default 256
	ReadTimeout Duration `toml:"read_timeout"` // to finish a started line, default 10s
	IdleTimeout Duration `toml:"idle_timeout"` // between requests, default 5m
	GPGTimeout  Duration `toml:"gpg_timeout"`  // per gpg run, default 10s

	AllowedUIDs    []uint32 `toml:"allowed_uids"`    // empty = any uid may connect
	TrustOwner     *bool    `toml:"trust_owner"`     // daemon uid and root without a token are admin; default true
	AuditRetention Duration `toml:"audit_retention"` // default 90d; "0s" keeps forever
	LogLevel       string   `toml:"log_level"`       // debug, info, warn, error

	// Rotation and Alerts belong to the rotator; kept raw here.
	Rotation []toml.Primitive `toml:"rotation"`
	Alerts   toml.Primitive   `toml:"alerts"`

	// File is the path the config was read from, "" if none.
	File string `toml:"-"`
	meta toml.MetaData
}

// Duration is a time.Duration that reads from TOML as a string: Go's
// syntax ("90s", "12h") plus days ("30d").
type Duration struct {
	time.Duration
	Set bool
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration, d.Set = v, true
	return nil
}

// ParseDuration parses Go durations plus a "d" (24h) unit, alone or first
// ("30d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q (use for example 90s, 12h, 30d)", s)
	}
	return days + v, nil
}

// DefaultPath returns $XDG_CONFIG_HOME/jawn-vault/config.toml (or
// ~/.config/...) when it exists, else /etc/jawn-vault/config.toml.
func DefaultPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".config")
		}
	}
	if dir != "" {
		p := filepath.Join(dir, "jawn-vault", "config.toml")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/etc/jawn-vault/config.toml"
}

// Load reads path. With explicit false, a missing file means "all
// defaults"; with explicit true (the user named the file) it is an error.
func Load(path string, explicit bool) (*Config, error) {
	c := &Config{}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		md, err := toml.Decode(string(data), c)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrConfig, path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			var keys []string
			for _, k := range und {
				if k[0] != "rotation" && k[0] != "alerts" {
					keys = append(keys, k.String())
				}
			}
			if len(keys) > 0 {
				return nil, fmt.Errorf("%w %s: unknown setting(s) %s", ErrConfig, path, strings.Join(keys, ", "))
			}
		}
		c.File, c.meta = path, md
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	default:
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c, c.Defaults()
}

// Meta returns the TOML metadata, for decoding the reserved tables.
func (c *Config) Meta() toml.MetaData { return c.meta }

// Defaults fills every unset field and checks the values.
func (c *Config) Defaults() error {
	if c.Socket == "" {
		c.Socket = DefaultSocket()
	}
	if c.SocketMode == "" {
		c.SocketMode = "0600"
	}
	if _, err := c.Mode(); err != nil {
		return err
	}
	if c.Backend == "" {
		c.Backend = "pass"
	}
	if c.Backend != "pass" && c.Backend != "memory" {
		return fmt.Errorf(`%w: backend must be "pass" or "memory"`, ErrConfig)
	}
	if c.Store == "" {
		c.Store = DefaultStore()
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	}
	if !c.CacheTTL.Set {
		c.CacheTTL = Duration{5 * time.Minute, true}
	}
	if c.CacheMaxEntries <= 0 {
		c.CacheMaxEntries = 1024
	}
	if c.CacheMaxBytes <= 0 {
		c.CacheMaxBytes = 4 << 20
	}
	if c.MaxLine <= 0 {
		c.MaxLine = 64 << 10
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 256
	}
	if !c.ReadTimeout.Set || c.ReadTimeout.Duration <= 0 {
		c.ReadTimeout = Duration{10 * time.Second, true}
	}
	if !c.IdleTimeout.Set || c.IdleTimeout.Duration <= 0 {
		c.IdleTimeout = Duration{5 * time.Minute, true}
	}
	if !c.GPGTimeout.Set || c.GPGTimeout.Duration <= 0 {
		c.GPGTimeout = Duration{10 * time.Second, true}
	}
	if !c.AuditRetention.Set {
		c.AuditRetention = Duration{90 * 24 * time.Hour, true}
	}
	if c.TrustOwner == nil {
		t := true
		c.TrustOwner = &t
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%w: log_level must be debug, info, warn or error", ErrConfig)
	}
	return nil
}

// Mode returns SocketMode as a file mode.
func (c *Config) Mode() (os.FileMode, error) {
	m, err := strconv.ParseUint(c.SocketMode, 8, 32)
	if err != nil || m&^0o777 != 0 || m&0o007 != 0 {
		return 0, fmt.Errorf("%w: socket_mode %q must be octal like 0600 or 0660, with no access for others", ErrConfig, c.SocketMode)
	}
	return os.FileMode(m), nil
}

// DefaultSocket is $VAULT_SOCKET, else $XDG_RUNTIME_DIR/jawn-vault.sock,
// else /run/user/<uid>/jawn-vault.sock.
func DefaultSocket() string {
	if s := os.Getenv("VAULT_SOCKET"); s != "" {
		return s
	}
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		return filepath.Join(firstDir(d), "jawn-vault.sock")
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "jawn-vault.sock")
	}
	return fmt.Sprintf("/run/user/%d/jawn-vault.sock", os.Getuid())
}

// DefaultStore is $PASSWORD_STORE_DIR, else ~/.password-store.
func DefaultStore() string {
	if s := os.Getenv("PASSWORD_STORE_DIR"); s != "" {
		return s
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".password-store")
}

// DefaultStateDir is $STATE_DIRECTORY (systemd), else
// $XDG_STATE_HOME/jawn-vault, else ~/.local/state/jawn-vault.
func DefaultStateDir() string {
	if s := os.Getenv("STATE_DIRECTORY"); s != "" {
		return firstDir(s)
	}
	if s := os.Getenv("XDG_STATE_HOME"); s != "" {
		return filepath.Join(s, "jawn-vault")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state", "jawn-vault")
}

// firstDir takes the first of systemd's colon-separated directory lists.
func firstDir(s string) string {
	first, _, _ := strings.Cut(s, ":")
	return first
}
