// Command vault-migrate moves a systemd service's secrets from .env files
// into jawn-vault. See `vault-migrate --help` and package migrate.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jamditis/jawn-vault/migrate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := migrate.Main(ctx, os.Args[1:], migrate.IO{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
