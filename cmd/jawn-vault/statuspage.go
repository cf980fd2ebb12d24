package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/jamditis/jawn-vault/vaultd/ops"
)

func newStatusPage(ctx context.Context, _, stderr io.Writer) *cobra.Command {
	var o ops.ServeOptions
	var logLevel string
	cmd := &cobra.Command{
		Use:   "status-page",
		Short: "Serve a read-only status page, widget, JSON and Prometheus metrics over HTTP",
		Long: `status-page is a separate, read-only HTTP server that reads the daemon over its
socket on each request and shows health, cache, clients, recent access and
rotations. Routes: / (HTML), /status.json, /widget (embeddable card),
/metrics (Prometheus). It listens on loopback only, or on a Unix socket when
--listen starts with "/".

Token: --token-file, else $VAULT_TOKEN, else $CREDENTIALS_DIRECTORY/jawn-vault-token.
The daemon's status method needs a global admin token today. See docs/OPERATIONS.md.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			o.Logger = newLogger(stderr, logLevel)
			return ops.Serve(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8477", "loopback host:port, or a Unix socket path")
	f.StringVar(&o.Socket, "socket", "", "the daemon's socket (default $VAULT_SOCKET, else $XDG_RUNTIME_DIR/jawn-vault.sock)")
	f.StringVar(&o.TokenFile, "token-file", "", "read the token from this file")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
