package vaultcli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

func (a *app) getCmd() *cobra.Command {
	var noNewline, asJSON bool
	cmd := &cobra.Command{
		Use:   "get PATH",
		Short: "Print a secret",
		Long:  "get prints the value at PATH followed by a newline (-n: without it). A value that is not UTF-8 is printed as raw bytes; with --json it travels as value_b64.",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				v, err := c.Get(ctx, args[0])
				if err != nil {
					return err
				}
				defer clear(v)
				if asJSON {
					out := map[string]string{"path": args[0]}
					if utf8.Valid(v) {
						out["value"] = string(v)
					} else {
						out["value_b64"] = base64.StdEncoding.EncodeToString(v)
					}
					return a.printJSON(out)
				}
				if !noNewline {
					v = append(v, '\n')
				}
				_, err = a.io.Stdout.Write(v)
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&noNewline, "no-newline", "n", false, "do not print a newline after the value")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {path, value | value_b64}")
	return cmd
}

func (a *app) setCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set PATH",
		Short: "Store a secret, read from standard input or a prompt",
		Long: `set stores a value at PATH. The value is never taken from the command line
(it would show in ps and shell history): it is read from standard input, with
one trailing newline removed (so "echo tok | vault-cli set p" stores "tok"),
or, on a terminal, typed twice at a prompt without echo.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			value, err := a.readValue()
			if err != nil {
				return err
			}
			defer clear(value)
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				return c.Set(ctx, args[0], value)
			})
		},
	}
}

// readValue reads a value from a pipe, or prompts twice on a terminal.
func (a *app) readValue() ([]byte, error) {
	if f, ok := a.io.Stdin.(*os.File); ok && isTerminal(f) {
		first, err := prompt(f, a.io.Stderr, "Value: ")
		if err != nil {
			return nil, err
		}
		second, err := prompt(f, a.io.Stderr, "Again: ")
		defer clear(second)
		if err != nil {
			clear(first)
			return nil, err
		}
		if !bytes.Equal(first, second) {
			clear(first)
			return nil, usageError{errors.New("the two values differ; nothing was stored")}
		}
		return first, nil
	}
	v, err := io.ReadAll(io.LimitReader(a.io.Stdin, 1<<20))
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(v, []byte("\n")), nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// prompt reads a line from a terminal with echo off.
func prompt(f *os.File, w io.Writer, label string) ([]byte, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, err
	}
	defer func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }()
	fmt.Fprint(w, label)
	line, err := bufio.NewReader(f).ReadBytes('\n')
	fmt.Fprintln(w)
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return nil, err
	}
	return bytes.TrimSuffix(line, []byte("\n")), nil
}

func (a *app) rmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm PATH",
		Aliases: []string{"delete"},
		Short:   "Delete a secret",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error { return c.Delete(ctx, args[0]) })
		},
	}
}

func (a *app) listCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list [PREFIX]",
		Aliases: []string{"ls"},
		Short:   "List the secrets you may read, optionally under a prefix",
		Args:    maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				paths, err := c.List(ctx, prefix)
				if err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(map[string][]string{"paths": paths})
				}
				for _, p := range paths {
					fmt.Fprintln(a.io.Stdout, p)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {paths: [...]}")
	return cmd
}

func (a *app) healthCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that the daemon answers",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				h, err := c.Health(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(h)
				}
				fmt.Fprintf(a.io.Stdout, "%s (jawn-vault %s, protocol %d)\n", h.Status, h.Version, h.Protocol)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's status: cache, store, audit log, tokens (admin)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				s, err := c.Status(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(s)
				}
				w := tabwriter.NewWriter(a.io.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(w, "version\t%s (protocol %d)\n", s.Version, s.Protocol)
				fmt.Fprintf(w, "uptime\t%s\n", (time.Duration(s.UptimeS) * time.Second).String())
				fmt.Fprintf(w, "connections\t%d\n", s.Connections)
				fmt.Fprintf(w, "requests\t%d\n", s.Requests)
				storeState := "ok"
				if !s.Store.OK {
					storeState = "UNAVAILABLE: " + s.Store.Error
				}
				fmt.Fprintf(w, "store\t%s %s (%s)\n", s.Store.Kind, s.Store.Dir, storeState)
				fmt.Fprintf(w, "cache\t%d entries, %d hits, %d misses, ttl %ds\n", s.Cache.Entries, s.Cache.Hits, s.Cache.Misses, s.Cache.TTLS)
				auditState := "ok"
				if !s.Audit.Healthy {
					auditState = "FAILING"
				}
				fmt.Fprintf(w, "audit\t%s, %d committed, %d failed, queue %d\n", auditState, s.Audit.Committed, s.Audit.Failed, s.Audit.QueueDepth)
				fmt.Fprintf(w, "tokens\t%d active\n", s.Tokens.Active)
				for _, l := range latencyLines(s.Metrics) {
					fmt.Fprintln(w, l)
				}
				for _, r := range s.Rotations {
					line := r.State
					if r.LastError != "" {
						line += fmt.Sprintf(", %d failures (last %s)", r.Failures, r.LastError)
					}
					fmt.Fprintf(w, "rotation %s\t%s, expires %s\n", r.Name, line, timeOr(r.ExpiresAt, "unknown"))
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) tokenCmd() *cobra.Command {
	tok := &cobra.Command{Use: "token", Short: "Create, list and revoke tokens (admin)"}

	var grants []string
	var level, ttl string
	var uid int64
	var createJSON bool
	create := &cobra.Command{
		Use:   "create NAME --grant PATTERN [--grant PATTERN...] -p read|write|admin",
		Short: "Issue a token and print it (shown only once)",
		Long: `create issues a token named NAME with the given grants, all at one level, and
prints the token. It is shown only this once: the daemon keeps only its hash.

Patterns: "*" matches within one path segment, a "**" segment matches any
number of segments. A grant may carry its own level as PATTERN:LEVEL, which
overrides -p for that grant. Examples:
  vault-cli token create houseofjawn-bot --grant 'claude/tokens/telegram-bot' -p read --uid 1001
  vault-cli token create rotator --grant claude/tokens/slack-bot:write --grant 'claude/slack/*:read'`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(grants) == 0 {
				return usageError{errors.New("at least one --grant is required")}
			}
			p := wire.TokenCreateParams{Name: args[0], TTL: ttl}
			for _, g := range grants {
				pattern, lvl := splitGrant(g, level)
				p.Grants = append(p.Grants, wire.GrantJSON{Pattern: pattern, Level: lvl})
			}
			if cmd.Flags().Changed("uid") {
				p.BindUID = &uid
			}
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				res, err := c.TokenCreate(ctx, p)
				if err != nil {
					return err
				}
				if createJSON {
					return a.printJSON(res)
				}
				fmt.Fprintln(a.io.Stdout, res.Token)
				return nil
			})
		},
	}
	create.Flags().StringArrayVar(&grants, "grant", nil, "path pattern to grant (repeatable)")
	create.Flags().StringVarP(&level, "permission", "p", "read", `level of every grant: read, write, admin, or status (on "**" only: daemon state, no secrets)`)
	create.Flags().StringVar(&ttl, "ttl", "", `expiry, e.g. "12h" or "30d" (default: none)`)
	create.Flags().Int64Var(&uid, "uid", 0, "only accept the token from this peer uid")
	create.Flags().BoolVar(&createJSON, "json", false, "print the token with its id, grants and expiry as JSON")

	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List live tokens (never their secrets)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				toks, err := c.TokenList(ctx)
				if err != nil {
					return err
				}
				if listJSON {
					return a.printJSON(map[string]any{"tokens": toks})
				}
				w := tabwriter.NewWriter(a.io.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tID\tGRANTS\tEXPIRES\tUID\tLAST USED")
				for _, t := range toks {
					var gs []string
					for _, g := range t.Grants {
						gs = append(gs, g.Pattern+":"+g.Level)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.ID, strings.Join(gs, ","), timeOr(t.ExpiresAt, "never"), uidOr(t.BindUID), timeOr(t.LastUsedAt, "never"))
				}
				return w.Flush()
			})
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke NAME|ID",
		Short: "Revoke a token; it is refused from the next request on, even on open connections",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				r, err := c.TokenRevoke(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.io.Stdout, "revoked %s (%s)\n", r.Name, r.ID)
				return nil
			})
		},
	}
	tok.AddCommand(create, list, revoke)
	return tok
}

// splitGrant reads PATTERN:LEVEL, or PATTERN with the default level.
func splitGrant(g, def string) (string, string) {
	if i := strings.LastIndexByte(g, ':'); i > 0 {
		switch g[i+1:] {
		case "read", "write", "admin", "status":
			return g[:i], g[i+1:]
		}
	}
	return g, def
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Local().Format("2006-01-02 15:04")
}

func uidOr(u *int64) string {
	if u == nil {
		return "any"
	}
	return fmt.Sprint(*u)
}

func (a *app) auditCmd() *cobra.Command {
	var q wire.AuditQueryParams
	var denied, asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log, newest first (admin)",
		Long: `audit shows who asked for what. --since and --until take a duration back from
now ("1h", "7d") or an RFC 3339 time; --path takes a pattern ("claude/**").`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if denied {
				q.Outcome = wire.OutcomeDenied
			}
			return a.with(cmd, func(ctx context.Context, c *vault.Client) error {
				entries, err := c.AuditQuery(ctx, q)
				if err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(map[string]any{"entries": entries})
				}
				w := tabwriter.NewWriter(a.io.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TIME\tCLIENT\tUID\tUNIT\tMETHOD\tPATH\tOUTCOME")
				for _, e := range entries {
					outcome := e.Outcome
					if e.Code != "" {
						outcome += " (" + e.Code + ")"
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), dash(e.Client), e.UID, dash(e.Unit), dash(e.Method), dash(e.Path), outcome)
				}
				return w.Flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Since, "since", "", "only entries after this (duration or RFC 3339)")
	f.StringVar(&q.Until, "until", "", "only entries before this")
	f.StringVar(&q.Client, "client", "", `only this token name ("owner" for the local owner)`)
	f.StringVar(&q.Path, "path", "", "only paths matching this pattern")
	f.StringVar(&q.Outcome, "outcome", "", "ok, denied or error")
	f.BoolVar(&denied, "denied", false, "only denied requests (same as --outcome denied)")
	f.IntVar(&q.Limit, "limit", 100, "at most this many entries (max 10000)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// latencyLines summarises the daemon's request histograms, one line per
// method (its outcomes together): how many, and the bucket bounds that hold
// the median and the 99th percentile.
func latencyLines(m *wire.MetricsStatus) []string {
	if m == nil {
		return nil
	}
	var lines []string
	for _, r := range m.ByMethod() {
		lines = append(lines, fmt.Sprintf("latency %s\t%d requests, p50 %s, p99 %s", r.Method, r.Count,
			quantileText(m.BoundsUS, r.Histogram, 0.50), quantileText(m.BoundsUS, r.Histogram, 0.99)))
	}
	return lines
}

// quantileText names the bucket that holds quantile q of h: "≤ 100µs", or
// "> 10s" above the last bound.
func quantileText(boundsUS []int64, h wire.Histogram, q float64) string {
	if h.Count == 0 {
		return "-"
	}
	need := uint64(math.Ceil(q * float64(h.Count)))
	var cum uint64
	for i, n := range h.Counts {
		cum += n
		if cum >= need {
			if i < len(boundsUS) {
				return "≤ " + (time.Duration(boundsUS[i]) * time.Microsecond).String()
			}
			break
		}
	}
	if len(boundsUS) == 0 {
		return "-"
	}
	return "> " + (time.Duration(boundsUS[len(boundsUS)-1]) * time.Microsecond).String()
}
