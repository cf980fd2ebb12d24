// Command vault-cli manages a Jawn Vault. See `vault-cli --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jamditis/jawn-vault/clients/go/vaultcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := vaultcli.Main(ctx, os.Args[1:], vaultcli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
