package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/jamditis/jawn-vault/vaultd/rotation/rotator"
)

func newRotator(ctx context.Context, _, stderr io.Writer) *cobra.Command {
	var o rotator.Options
	var logLevel string
	cmd := &cobra.Command{
		Use:   "rotator",
		Short: "Rotate expiring OAuth tokens on schedule (a separate process with network access)",
		Long: `rotator refreshes the tokens described by the [[rotation]] tables of the config
file before they expire, stores them through the daemon, and sends alerts per
[alerts]. It runs until SIGTERM, as its own systemd unit
(deploy/jawn-vault-rotator.service): the daemon itself keeps no network.

Token: --token-file, else $VAULT_TOKEN, else $CREDENTIALS_DIRECTORY/jawn-vault-token
(systemd LoadCredential=). See docs/ROTATION.md.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			o.Logger = newLogger(stderr, logLevel)
			return rotator.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Config, "config", "", "config file (default $XDG_CONFIG_HOME/jawn-vault/config.toml, else /etc/jawn-vault/config.toml)")
	f.StringVar(&o.Socket, "socket", "", "the daemon's socket (default: the config file's)")
	f.StringVar(&o.TokenFile, "token-file", "", "read the rotator's token from this file")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
