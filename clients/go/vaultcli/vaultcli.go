// Package vaultcli is vault-cli, the owner's command line: secrets, tokens,
// the audit log and status. cmd/vault-cli calls Main.
//
// Output that is data has a --json form. Errors are one "error:" line and,
// where there is something to do, a "hint:" line, with an exit status that
// says what kind of failure it was (see ExitCode).
package vaultcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Exit statuses, after sysexits(3) where one fits.
const (
	ExitOK          = 0
	ExitError       = vault.ExitError       // anything else
	ExitUsage       = vault.ExitUsage       // EX_USAGE: bad flags or arguments, invalid path
	ExitNotFound    = vault.ExitNotFound    // EX_NOINPUT: no such entry or token
	ExitUnavailable = vault.ExitUnavailable // EX_UNAVAILABLE: the daemon is not running
	ExitExists      = vault.ExitExists      // EX_CANTCREAT: a live token already has the name
	ExitTempFail    = vault.ExitTempFail    // EX_TEMPFAIL: busy, store or audit log unavailable
	ExitDenied      = vault.ExitDenied      // EX_NOPERM: unauthenticated or permission denied
)

// IO is where the command reads and writes.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

type app struct {
	io      IO
	socket  string
	tokenFn string
	jsonOut bool
	timeout time.Duration
}

// usageError marks errors in how the command was called.
type usageError struct{ error }

// exitStatus ends a command with a status and no error message, for
// commands whose output already says what went wrong (doctor).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Main runs vault-cli with args and returns the exit status.
func Main(ctx context.Context, args []string, stdio IO) int {
	a := &app{io: stdio}
	root := a.root()
	root.SetArgs(args)
	root.SetIn(stdio.Stdin)
	root.SetOut(stdio.Stdout)
	root.SetErr(stdio.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	code := ExitCode(err)
	fmt.Fprintf(stdio.Stderr, "vault-cli: error: %s\n", vault.Describe(err))
	if h := hint(err); h != "" {
		fmt.Fprintf(stdio.Stderr, "vault-cli: hint: %s\n", h)
	}
	return code
}

// ExitCode maps an error to vault-cli's exit status.
func ExitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	}
	return vault.ExitStatus(err)
}

func hint(err error) string {
	if errors.Is(err, vault.ErrUnavailable) {
		return "is jawn-vault running? Check VAULT_SOCKET or --socket, or start it (systemctl --user start jawn-vault, or jawn-vault dev)"
	}
	switch wire.CodeOf(err) {
	case wire.CodeUnauthenticated:
		return "set VAULT_TOKEN (or --token-file) to a live token; `vault-cli token list` as the owner shows them"
	case wire.CodePermissionDenied:
		return "the token's grants do not cover this; the owner can issue one with `vault-cli token create NAME --grant PATTERN -p LEVEL`"
	case wire.CodeInvalidPath:
		return "paths look like claude/tokens/telegram-bot: relative, no .. or leading -, no .gpg suffix"
	case wire.CodeBackendUnavailable:
		return "gpg could not decrypt or encrypt: is the key present and gpg-agent unlocked? See the daemon log"
	case wire.CodeAuditUnavailable:
		return "the audit database cannot be written (disk full or read-only?); free space and retry"
	case wire.CodeBusy:
		return "too many connections; retry shortly"
	case wire.CodeNameTaken:
		return "`vault-cli token list` shows live tokens; `vault-cli token revoke NAME` frees the name, or pick another"
	}
	return ""
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "vault-cli",
		Short: "Manage a Jawn Vault: secrets, tokens, audit log and status",
		Long: `vault-cli talks to the jawn-vault daemon on its Unix socket.

Environment:
  VAULT_SOCKET  the daemon's socket (default $XDG_RUNTIME_DIR/jawn-vault.sock)
  VAULT_TOKEN   the token to use; without one, the daemon's own uid and root
                act as the owner (admin)

Exit status: 0 ok, 1 other error, 64 usage or invalid path, 66 not found,
69 daemon not running, 75 busy or store/audit temporarily unavailable,
77 unauthenticated or permission denied.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.socket, "socket", "", "daemon socket (default $VAULT_SOCKET, else $XDG_RUNTIME_DIR/jawn-vault.sock)")
	pf.StringVar(&a.tokenFn, "token-file", "", "read the token from this file instead of $VAULT_TOKEN")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "give up after this long")
	root.AddCommand(a.getCmd(), a.setCmd(), a.rmCmd(), a.listCmd(), a.healthCmd(), a.statusCmd(), a.tokenCmd(), a.auditCmd(), a.rotateCmd(), a.rotationCmd(), a.doctorCmd())
	return root
}

// dial connects with the configured socket and token.
func (a *app) dial(ctx context.Context) (*vault.Client, context.Context, context.CancelFunc, error) {
	token := os.Getenv("VAULT_TOKEN")
	if a.tokenFn != "" {
		b, err := os.ReadFile(a.tokenFn)
		if err != nil {
			return nil, nil, nil, usageError{fmt.Errorf("--token-file: %w", err)}
		}
		token = strings.TrimSpace(string(b))
		clear(b)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	c, err := vault.Dial(ctx, vault.Options{Socket: a.socket, Token: token})
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return c, ctx, cancel, nil
}

// with runs fn with a connected client.
func (a *app) with(cmd *cobra.Command, fn func(ctx context.Context, c *vault.Client) error) error {
	c, ctx, cancel, err := a.dial(cmd.Context())
	if err != nil {
		return err
	}
	defer cancel()
	defer c.Close()
	return fn(ctx, c)
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.io.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s), got %d; see --help", cmd.CommandPath(), n, len(args))}
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError{fmt.Errorf("%s takes at most %d argument(s); see --help", cmd.CommandPath(), n)}
		}
		return nil
	}
}
