// Command vault-bench load-tests jawn-vault beside Redis. See --help.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jamditis/jawn-vault/clients/go/vaultbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := vaultbench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
