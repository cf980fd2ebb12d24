package vaultcli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/config"
	"github.com/jamditis/jawn-vault/vaultd/rotation"
	"github.com/jamditis/jawn-vault/vaultd/rotation/rotator"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// hinted is an error whose message carries a hint line for Main to print
// under it (Main's own hints know only the daemon's codes).
type hinted struct {
	err  error
	hint string
}

func (h hinted) Error() string { return h.err.Error() + "\nvault-cli: hint: " + h.hint }
func (h hinted) Unwrap() error { return h.err }

func (a *app) rotateCmd() *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Rotate a token now, as the rotator would",
		Long: `rotate runs one rotation now: it reads the [[rotation]] named NAME from the
config file, asks the provider for a new token, stores the new refresh token
(read back and compared) before the new access token, and alerts as the
rotator does. It needs no rotator: the daemon keeps the state, so a rotation
already running elsewhere is refused (busy), and one that died after its
provider answered is refused as in doubt. --timeout does not apply: each
attempt is bounded by the rotation's own timeout and lease.

Exit status: 0 rotated, 1 failed, busy or in doubt (the hint says which),
69 daemon not running.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			path, explicit := cfgPath, cfgPath != ""
			if !explicit {
				path = config.DefaultPath()
			}
			plan, err := rotator.Load(path, explicit)
			if err != nil {
				return err
			}
			token, err := a.token()
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(a.io.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
			e, err := plan.Engine(rotator.Dialer(a.socketPath(), token), log, nil)
			if err != nil {
				return err
			}
			if e.Rotation(name) == nil {
				return usageError{fmt.Errorf("%s has no [[rotation]] named %q (it has: %s)", path, name, strings.Join(e.Names(), ", "))}
			}
			out := e.Rotate(cmd.Context(), name, rotation.WithTrigger("cli"))
			// Alerts are sent in the background; give them a moment, but
			// their fate does not change the outcome.
			actx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 10*time.Second)
			_ = e.Alerts().Close(actx)
			cancel()
			if asJSON {
				if err := a.printJSON(outcomeJSON(out)); err != nil {
					return err
				}
			} else if out.Err == nil {
				a.printRotated(out)
			}
			return rotateError(e, out)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (default $XDG_CONFIG_HOME/jawn-vault/config.toml, else /etc/jawn-vault/config.toml)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	return cmd
}

func (a *app) printRotated(out rotation.Outcome) {
	fmt.Fprintf(a.io.Stdout, "%s: rotated.", out.Name)
	if out.Expires != nil {
		fmt.Fprintf(a.io.Stdout, " The new token expires %s (in %s).", fmtTime(out.Expires), rotation.Human(time.Until(*out.Expires)))
	}
	if out.NextDue != nil {
		fmt.Fprintf(a.io.Stdout, " Next rotation due %s.", fmtTime(out.NextDue))
	}
	fmt.Fprintln(a.io.Stdout)
}

// rotateError explains a failed outcome, with what to do.
func rotateError(e *rotation.Engine, out rotation.Outcome) error {
	if out.Err == nil {
		return nil
	}
	name := out.Name
	switch {
	case errors.Is(out.Err, rotation.ErrInDoubt):
		return hinted{out.Err, "an earlier attempt died after the provider answered, so the refresh token may be spent. Check that the service works (else re-authorise and store a new refresh token), then run `vault-cli rotation clear " + name + "`"}
	case errors.Is(out.Err, rotation.ErrBusy):
		return hinted{out.Err, "the rotator or another vault-cli is rotating it right now; see `vault-cli rotation status`"}
	case out.Failure != nil && (out.Failure.Code == "missing_secret" || out.Failure.Code == "vault_denied"):
		return hinted{out.Err, "check the rotation's paths in the config file and that the token may read and write them (`vault-cli token list`)"}
	case out.Failure != nil && out.Failure.Permanent:
		paths := e.Rotation(name).Provider.Paths()
		h := "fix the cause, then run `vault-cli rotate " + name + "` again"
		if paths.Refresh != "" {
			h = "re-authorise the app, store the new refresh token with `vault-cli set " + paths.Refresh + "`, then run `vault-cli rotate " + name + "` again"
		}
		return hinted{out.Err, h}
	case out.Failure != nil:
		return hinted{out.Err, "a temporary failure; the rotator retries at " + fmtTime(&out.RetryAt) + ", or run `vault-cli rotate " + name + "` again later"}
	}
	return out.Err
}

// rotateResult is one rotation's outcome as `vault-cli rotate --json`
// prints it.
type rotateResult struct {
	Name      string              `json:"name"`
	OK        bool                `json:"ok"`
	Answered  bool                `json:"answered"`
	ExpiresAt *time.Time          `json:"expires_at,omitempty"`
	NextDue   *time.Time          `json:"next_due,omitempty"`
	ErrorCode string              `json:"error_code,omitempty"`
	Permanent bool                `json:"permanent,omitempty"`
	RetryAt   *time.Time          `json:"retry_at,omitempty"`
	Error     string              `json:"error,omitempty"`
	State     *wire.RotationState `json:"state,omitempty"`
}

func outcomeJSON(out rotation.Outcome) rotateResult {
	j := rotateResult{Name: out.Name, OK: out.Err == nil, Answered: out.Answered, ExpiresAt: out.Expires, NextDue: out.NextDue}
	if out.Err != nil {
		j.Error = out.Err.Error()
	}
	if f := out.Failure; f != nil {
		j.ErrorCode, j.Permanent = f.Code, f.Permanent
		if !out.RetryAt.IsZero() {
			j.RetryAt = &out.RetryAt
		}
	}
	if out.After.Name != "" {
		j.State = &out.After
	}
	return j
}

func (a *app) rotationCmd() *cobra.Command {
	rot := &cobra.Command{Use: "rotation", Short: "Show the state of token rotations, clear one in doubt"}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show each rotation's last success, expiry, next due time, failure streak and last error",
		Long: `status shows the rotations the daemon knows and your token may see (admin, or
write on the rotation's access token path). STATE is idle, running, answered
(the provider answered; storing) or in_doubt (an attempt died after the
provider answered: see vault-cli rotation clear).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				rs, err := c.RotationStatus(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(wire.RotationStatusResult{Rotations: rs})
				}
				w := tabwriter.NewWriter(a.io.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tSTATE\tLAST SUCCESS\tEXPIRES\tNEXT DUE\tFAILURES\tLAST ERROR")
				for _, r := range rs {
					lastErr, next := dash(r.LastError), timeOr(r.NextDue, "-")
					switch {
					case r.State == wire.RotationInDoubt:
						next = "paused (in doubt)"
					case r.Permanent && r.Failures > 0:
						lastErr += " (needs re-authorisation)"
						next = "paused"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Name, r.State, timeOr(r.LastSuccess, "never"), timeOr(r.ExpiresAt, "unknown"), next, r.Failures, lastErr)
				}
				return w.Flush()
			})
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	clearCmd := &cobra.Command{
		Use:   "clear NAME",
		Short: "Clear a rotation in doubt, once you have checked its token (admin)",
		Long: `A rotation is in doubt when an attempt died after the provider answered and
before the new tokens were stored: the old refresh token may be spent and the
new one lost, so nothing rotates it until a person looks. Check whether the
service still works with the stored token; if not, re-authorise the app and
store the new refresh token (vault-cli set). Then clear it: it rotates at its
next due time, or now with vault-cli rotate NAME.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				if err := c.RotationClear(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.io.Stdout, "cleared %s; run `vault-cli rotate %s` to rotate it now\n", args[0], args[0])
				return nil
			})
		},
	}
	rot.AddCommand(status, clearCmd)
	return rot
}

// token is the token vault-cli uses: --token-file, else $VAULT_TOKEN.
func (a *app) token() (string, error) {
	if a.tokenFn == "" {
		return os.Getenv("VAULT_TOKEN"), nil
	}
	b, err := os.ReadFile(a.tokenFn)
	if err != nil {
		return "", usageError{fmt.Errorf("--token-file: %w", err)}
	}
	defer clear(b)
	return strings.TrimSpace(string(b)), nil
}

func (a *app) socketPath() string {
	if a.socket != "" {
		return a.socket
	}
	return vault.DefaultSocket()
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "unknown"
	}
	return t.Local().Format("2006-01-02 15:04 MST")
}
