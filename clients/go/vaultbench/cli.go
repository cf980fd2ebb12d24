package vaultbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
)

// Main runs vault-bench with args and returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o LoadOptions
	var asJSON bool
	var prefix string
	root := &cobra.Command{
		Use:   "vault-bench",
		Short: "Drive jawn-vault (or Redis) with N connections and report throughput and latency",
		Long: `vault-bench keeps --conns connections busy for --duration, one request in
flight on each, and reports requests/s and latency percentiles. It counts only
answers it received and checked. --target redis sends GET of the same paths to
a Redis server on --socket, with the same client code, for comparison.

"vault-bench suite" runs the whole benchmark behind "make bench".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Token == "" {
				o.Token = os.Getenv("VAULT_TOKEN")
			}
			if o.Socket == "" {
				o.Socket = vault.DefaultSocket()
			}
			if prefix != "" {
				paths, err := listPrefix(cmd.Context(), o.Socket, o.Token, prefix)
				if err != nil {
					return err
				}
				o.Paths = append(o.Paths, paths...)
			}
			res, err := Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.Marshal(res)
				fmt.Fprintf(stdout, "%s\n", b)
				return nil
			}
			fmt.Fprintf(stdout, "%s, %d conns: %d requests, %d errors, %.0f req/s, p50 %.1f µs, p99 %.1f µs, p99.9 %.1f µs\n",
				res.Target, res.Conns, res.Requests, res.Errors, res.RPS, res.P50US, res.P99US, res.P999US)
			return nil
		},
	}
	f := root.Flags()
	f.StringVar(&o.Target, "target", "vault", `"vault" or "redis"`)
	f.StringVar(&o.Socket, "socket", "", "the server's Unix socket (default $VAULT_SOCKET)")
	f.StringVar(&o.Token, "token", "", "token (default $VAULT_TOKEN)")
	f.StringArrayVar(&o.Paths, "path", nil, "path to get (repeatable)")
	f.StringVar(&prefix, "prefix", "", "also get every path under this prefix (vault only)")
	f.IntVar(&o.Conns, "conns", 1, "connections")
	f.DurationVar(&o.Duration, "duration", 5*time.Second, "how long to run")
	f.BoolVar(&asJSON, "json", false, "print one JSON line")
	root.AddCommand(suiteCmd(stdout, stderr))
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "vault-bench: error: %v\n", err)
		return 1
	}
	return 0
}

func listPrefix(ctx context.Context, socket, token, prefix string) ([]string, error) {
	c, err := vault.Dial(ctx, vault.Options{Socket: socket, Token: token})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.List(ctx, prefix)
}
