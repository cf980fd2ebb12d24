// Command vault-exec runs a program with secrets from jawn-vault in its
// environment, replacing itself with the program. See `vault-exec --help`
// and package inject.
package main

import (
	"context"
	"os"

	"github.com/jamditis/jawn-vault/inject"
)

func main() {
	os.Exit(inject.Main(context.Background(), os.Args[1:], inject.Env{
		Environ: os.Environ(),
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
	}))
}
