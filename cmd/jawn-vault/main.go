// Command jawn-vault is the Jawn Vault daemon. See `jawn-vault --help`.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jamditis/jawn-vault/vaultd"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/daemon"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := newRoot(ctx, stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "jawn-vault: error: %v\n", err)
		if h := hintFor(err); h != "" {
			fmt.Fprintf(stderr, "jawn-vault: hint: %s\n", h)
		}
		return 1
	}
	return 0
}

// flags holds the command-line overrides of the config file.
type flags struct {
	config                                                    string
	over                                                      config.Config
	cacheTTL, readTimeout, idleTimeout, gpgTimeout, retention string
}

func newRoot(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	var f flags
	root := &cobra.Command{
		Use:   "jawn-vault",
		Short: "Serve secrets from a pass store to local services over a Unix socket",
		Long: `jawn-vault serves secrets from the owner's pass store (GPG-encrypted files) to
local services over a Unix socket, with per-service tokens, path grants, peer
credential checks and an audit log.

With no arguments it serves with defaults from the environment:
  socket  $VAULT_SOCKET, else $XDG_RUNTIME_DIR/jawn-vault.sock
  store   $PASSWORD_STORE_DIR, else ~/.password-store
  state   $STATE_DIRECTORY, else $XDG_STATE_HOME/jawn-vault
Settings come from --config (default $XDG_CONFIG_HOME/jawn-vault/config.toml,
else /etc/jawn-vault/config.toml, if present); flags override the file.
SIGHUP reloads the file; SIGTERM drains connections and stops.`,
		Version:       vaultd.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, &f)
			if err != nil {
				return err
			}
			log := newLogger(stderr, cfg.LogLevel)
			slog.SetDefault(log) // packages that log through the default obey log_level too
			reload := make(chan *config.Config, 1)
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					next, err := loadConfig(cmd, &f)
					if err != nil {
						log.Error("reload failed; keeping the current configuration", "err", err)
						continue
					}
					reload <- next
				}
			}()
			return daemon.Run(ctx, cfg, daemon.Options{Logger: log, Reload: reload})
		},
	}
	fl := root.Flags()
	fl.StringVar(&f.config, "config", "", "config file (TOML)")
	fl.StringVar(&f.over.Socket, "socket", "", "socket path")
	fl.StringVar(&f.over.SocketMode, "socket-mode", "", "socket mode: 0600 (default) or 0660 with --socket-group")
	fl.StringVar(&f.over.SocketGroup, "socket-group", "", "group that may connect (with --socket-mode 0660)")
	fl.StringVar(&f.over.Backend, "backend", "", `store backend: "pass" (default) or "memory"`)
	fl.StringVar(&f.over.Store, "store", "", "pass store directory")
	fl.StringVar(&f.over.GnuPGHome, "gnupghome", "", "GnuPG home for gpg (default $GNUPGHOME)")
	fl.StringVar(&f.over.StateDir, "state-dir", "", "directory of the audit and token database")
	fl.StringVar(&f.cacheTTL, "cache-ttl", "", "how long decrypted values are cached (0 disables; default 5m)")
	fl.IntVar(&f.over.CacheMaxEntries, "cache-max-entries", 0, "most cached values (default 1024)")
	fl.IntVar(&f.over.MaxLine, "max-line", 0, "longest request line in bytes (default 65536)")
	fl.IntVar(&f.over.MaxConns, "max-conns", 0, "most open connections (default 256)")
	fl.StringVar(&f.readTimeout, "read-timeout", "", "time to finish a request line once started (default 10s)")
	fl.StringVar(&f.idleTimeout, "idle-timeout", "", "idle time before a connection is closed (default 5m)")
	fl.StringVar(&f.gpgTimeout, "gpg-timeout", "", "time limit for one gpg run (default 10s)")
	fl.StringVar(&f.retention, "audit-retention", "", "how long audit rows are kept (default 90d; 0 keeps all)")
	fl.StringVar(&f.over.LogLevel, "log-level", "", "debug, info (default), warn or error")
	root.SetVersionTemplate("jawn-vault {{.Version}}\n")

	root.AddCommand(newDev(ctx, stdout, stderr))
	root.AddCommand(newRotator(ctx, stdout, stderr))
	root.AddCommand(newStatusPage(ctx, stdout, stderr))
	return root
}

func newDev(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	var o daemon.DevOptions
	var logLevel, cacheTTL string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a throwaway vault with example secrets, for trying things out",
		Long: `dev runs a vault in the foreground with everything in a temporary directory:
a pass store with a freshly generated gpg key when gpg is installed (else an
in-memory store), a few example secrets under claude/, and an admin token.
It prints the export lines to paste into another shell, and deletes
everything when it stops (Ctrl-C).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Stdout, o.Stderr = stdout, stderr
			o.Logger = newLogger(stderr, logLevel)
			if cmd.Flags().Changed("cache-ttl") {
				ttl, err := config.ParseDuration(cacheTTL)
				if err != nil {
					return fmt.Errorf("--cache-ttl: %w", err)
				}
				o.CacheTTL = config.Duration{Duration: ttl, Set: true}
			}
			return daemon.RunDev(ctx, o)
		},
	}
	cmd.Flags().StringVar(&o.Socket, "socket", "", "socket path (default: in the temporary directory)")
	cmd.Flags().BoolVar(&o.Memory, "memory", false, "use the in-memory store even if gpg is installed")
	cmd.Flags().BoolVar(&o.JSON, "json", false, `print one JSON line {"socket","token",...} instead of export lines`)
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	cmd.Flags().StringVar(&cacheTTL, "cache-ttl", "", "how long decrypted values are cached (0s disables; default 5m)")
	return cmd
}

// loadConfig reads the config file and applies the flags that were set.
func loadConfig(cmd *cobra.Command, f *flags) (*config.Config, error) {
	path, explicit := f.config, f.config != ""
	if !explicit {
		path = config.DefaultPath()
	}
	cfg, err := config.Load(path, explicit)
	if err != nil {
		return nil, err
	}
	fl := cmd.Flags()
	set := func(name string, apply func()) {
		if fl.Changed(name) {
			apply()
		}
	}
	o := f.over
	set("socket", func() { cfg.Socket = o.Socket })
	set("socket-mode", func() { cfg.SocketMode = o.SocketMode })
	set("socket-group", func() { cfg.SocketGroup = o.SocketGroup })
	set("backend", func() { cfg.Backend = o.Backend })
	set("store", func() { cfg.Store = o.Store })
	set("gnupghome", func() { cfg.GnuPGHome = o.GnuPGHome })
	set("state-dir", func() { cfg.StateDir = o.StateDir })
	set("cache-max-entries", func() { cfg.CacheMaxEntries = o.CacheMaxEntries })
	set("max-line", func() { cfg.MaxLine = o.MaxLine })
	set("max-conns", func() { cfg.MaxConns = o.MaxConns })
	set("log-level", func() { cfg.LogLevel = o.LogLevel })
	for name, dst := range map[string]*config.Duration{
		"cache-ttl": &cfg.CacheTTL, "read-timeout": &cfg.ReadTimeout, "idle-timeout": &cfg.IdleTimeout,
		"gpg-timeout": &cfg.GPGTimeout, "audit-retention": &cfg.AuditRetention,
	} {
		if !fl.Changed(name) {
			continue
		}
		v, _ := fl.GetString(name)
		if err := dst.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
	}
	return cfg, cfg.Defaults()
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if os.Getenv("JOURNAL_STREAM") != "" {
		// journald stamps every line itself.
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
