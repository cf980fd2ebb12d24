// Package daemon wires the daemon together: it hardens the process, opens
// the state database, the store and the cache, binds the socket, tells
// systemd when it is ready, and drains on shutdown. cmd/jawn-vault only
// parses flags and calls Run; tests call Run too.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/jamditis/jawn-vault/vaultd"
	"github.com/jamditis/jawn-vault/vaultd/backend"
	"github.com/jamditis/jawn-vault/vaultd/cache"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/memstore"
	"github.com/jamditis/jawn-vault/vaultd/passstore"
	"github.com/jamditis/jawn-vault/vaultd/sqlite"
)

// DBName is the state database's file name inside the state directory.
const DBName = "jawn-vault.db"

// Errors Run wraps, so that callers can give hints without reading text.
var (
	ErrState = errors.New("state database")
	ErrStore = errors.New("store")
)

// Options tune Run.
type Options struct {
	Logger *slog.Logger
	// Reload delivers new configurations (SIGHUP); nil means none.
	Reload <-chan *config.Config
	// Backend overrides the configured store (jawn-vault dev's memory
	// store with its examples).
	Backend backend.Backend
	// Ready is called once the socket serves.
	Ready func(socket string)
}

// Harden makes the process non-dumpable (no core files; other processes of
// the same uid cannot ptrace it or read its memory) before any secret is
// loaded.
func Harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("setrlimit(RLIMIT_CORE): %w", err)
	}
	return nil
}

// Run serves until ctx is done.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := Harden(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("%w: directory: %w", ErrState, err)
	}
	db, err := sqlite.Open(filepath.Join(cfg.StateDir, DBName))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	defer db.Close()

	be := opts.Backend
	if be == nil {
		if be, err = openBackend(cfg, log); err != nil {
			return err
		}
	}
	defer be.Close()
	checkCtx, cancel := context.WithTimeout(ctx, cfg.GPGTimeout.Duration)
	err = be.Check(checkCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}

	c := cache.New(cache.Options{TTL: cfg.CacheTTL.Duration, MaxEntries: cfg.CacheMaxEntries, MaxBytes: cfg.CacheMaxBytes})
	defer c.Close()

	srv, err := vaultd.New(ctx, vaultd.Options{Config: cfg, Backend: be, DB: db, Cache: c, Logger: log})
	if err != nil {
		return fmt.Errorf("loading tokens: %w", err)
	}
	mode, _ := cfg.Mode()
	ln, activated, err := vaultd.Listen(cfg.Socket, mode, cfg.SocketGroup)
	if err != nil {
		return err
	}
	sock := cfg.Socket
	if activated {
		sock = ln.Addr().String()
	}

	serveCtx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(serveCtx, ln) }()

	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS=serving on "+sock)
	log.Info("jawn-vault ready", "socket", sock, "activated", activated, "backend", cfg.Backend, "store", storeName(cfg), "state", cfg.StateDir)
	if opts.Ready != nil {
		opts.Ready(sock)
	}
	go func() {
		srv.CheckKey(serveCtx)
		if len(cfg.Warm) > 0 {
			srv.Warm(serveCtx, cfg.Warm)
		}
	}()

	for {
		select {
		case newCfg := <-opts.Reload:
			_, _ = daemon.SdNotify(false, daemon.SdNotifyReloading)
			warnRestartOnly(log, cfg, newCfg)
			srv.Reload(newCfg)
			_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
			log.Info("configuration reloaded", "file", newCfg.File)
		case err := <-done:
			return err
		case <-ctx.Done():
			_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
			log.Info("stopping: draining connections")
			stop()
			select {
			case err := <-done:
				return err
			case <-time.After(15 * time.Second):
				return errors.New("connections did not drain within 15s")
			}
		}
	}
}

func storeName(cfg *config.Config) string {
	if cfg.Backend == "memory" {
		return "(memory)"
	}
	return cfg.Store
}

func openBackend(cfg *config.Config, log *slog.Logger) (backend.Backend, error) {
	if cfg.Backend == "memory" {
		return memstore.New(), nil
	}
	st, err := passstore.Open(passstore.Options{Dir: cfg.Store, GPG: cfg.GPG, GnuPGHome: cfg.GnuPGHome, Timeout: cfg.GPGTimeout.Duration, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrStore, cfg.Store, err)
	}
	return st, nil
}

// warnRestartOnly logs the settings a reload cannot change.
func warnRestartOnly(log *slog.Logger, old, cur *config.Config) {
	for name, changed := range map[string]bool{
		"socket":               old.Socket != cur.Socket || old.SocketMode != cur.SocketMode || old.SocketGroup != cur.SocketGroup,
		"store":                old.Store != cur.Store || old.Backend != cur.Backend,
		"gpg":                  old.GPG != cur.GPG || old.GnuPGHome != cur.GnuPGHome,
		"state_dir":            old.StateDir != cur.StateDir,
		"cache_max_entries":    old.CacheMaxEntries != cur.CacheMaxEntries || old.CacheMaxBytes != cur.CacheMaxBytes,
		"log_level":            old.LogLevel != cur.LogLevel,
		"warm":                 fmt.Sprint(old.Warm) != fmt.Sprint(cur.Warm),
		"gpg_timeout (longer)": cur.GPGTimeout.Duration > old.GPGTimeout.Duration,
	} {
		if changed {
			log.Warn("setting changed on reload; it takes effect after a restart", "setting", name)
		}
	}
}
