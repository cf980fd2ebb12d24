package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/inject"
	"github.com/jamditis/jawn-vault/vaultd/vpath"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// Exit statuses, after sysexits(3).
const (
	ExitOK          = 0
	ExitError       = 1  // anything else, such as a unit that did not come up
	ExitUsage       = 64 // EX_USAGE: bad flags or arguments
	ExitDataErr     = 65 // EX_DATAERR: a unit or .env that cannot be migrated as it is, a conflicting value
	ExitNoUnit      = 66 // EX_NOINPUT: no such unit
	ExitUnavailable = 69 // EX_UNAVAILABLE: the daemon could not be reached
	ExitCantCreate  = 73 // EX_CANTCREAT: a directory vault-migrate must write to is not writable
	ExitTempFail    = 75 // EX_TEMPFAIL: busy, or the store (gpg) or audit log failed
	ExitDenied      = 77 // EX_NOPERM: the token was refused or lacks a grant
)

// IO is where Main writes.
type IO struct {
	Stdout io.Writer
	Stderr io.Writer
}

// usageError marks mistakes in how vault-migrate was called.
type usageError struct{ error }

// planError marks a unit that cannot be migrated as it is.
type planError struct{ error }

func (e planError) Unwrap() error { return e.error }

type cli struct {
	io                                IO
	root, socket, tokenFile           string
	user, yes, undo, restart          bool
	noReload, removeEnv               bool
	secret, plain, paths, drop        []string
	template, shared                  string
	vaultExec, vaultUnit, backupPrefx string
	socketGroup                       string
	stateDir, credsDir                string
	wait                              time.Duration
}

// Main runs vault-migrate with args and returns the exit status. It reads
// HOME, XDG_*, VAULT_SOCKET and VAULT_TOKEN from the process environment.
func Main(ctx context.Context, args []string, stdio IO) int {
	c := &cli{io: stdio}
	cmd := c.command()
	cmd.SetArgs(args)
	cmd.SetOut(stdio.Stdout)
	cmd.SetErr(stdio.Stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stdio.Stderr, "vault-migrate: error: %s\n", describe(err))
	if h := hint(err); h != "" {
		fmt.Fprintf(stdio.Stderr, "vault-migrate: hint: %s\n", h)
	}
	return exitCode(err)
}

func (c *cli) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vault-migrate [flags] UNIT...",
		Short: "Move a systemd service's secrets from .env files into jawn-vault",
		Long: `vault-migrate moves the secrets a systemd service reads from EnvironmentFile=
and Environment= into jawn-vault, and rewrites the service (with a drop-in,
never the unit file itself) to start through vault-exec with a token of its
own that may read exactly those secrets.

UNIT is a unit name (houseofjawn-bot or houseofjawn-bot.service), looked up
in the system unit directories (with --user, the user's), or a path to a unit
file.

Without --yes nothing is changed: the plan and the drop-in are printed.
With --yes, for each unit: every secret is imported and read back, a
read-only token named after the unit is issued (bound to the unit's User=),
stored in --credentials-dir and handed over with LoadCredential=, the drop-in
<unit>.d/jawn-vault.conf is written, and systemd is reloaded. Any failure
puts every unit of the run back as it was. Running it again changes nothing.

--undo UNIT... revokes the token, removes the drop-in and the token file,
writes back any .env file --remove-env-files removed, and restores the unit
file byte for byte.

Secrets are told from plain settings by name (TOKEN KEY SECRET PASSWORD PASSWD
PASS AUTH CREDENTIAL PRIVATE COOKIE, at the start or end of a part of the
name) and by value (URLs and connection strings with a password, well-known
token prefixes); --secret and --plain decide for a name. Paths come from
--path-template ({unit}, {name} in kebab case, {NAME} as is); a value several
units share goes to --shared-template once and is granted to each.

Exit status: 64 usage, 65 a unit or .env that cannot be migrated as it is,
66 no such unit, 69 daemon not running, 73 a directory cannot be written,
75 temporary failure, 77 token refused or permission denied, 1 anything else.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, units []string) error {
			if len(units) == 0 {
				return usageError{errors.New("name at least one unit")}
			}
			return c.run(cmd.Context(), units)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&c.yes, "yes", false, "apply the plan (without it, a dry run that changes nothing)")
	f.BoolVar(&c.undo, "undo", false, "put the units back as they were before the migration")
	f.StringVar(&c.root, "root", "", "work on the file system under this directory (like systemctl --root); implies --no-reload")
	f.BoolVar(&c.user, "user", false, "work on the calling user's units (systemctl --user)")
	f.BoolVar(&c.noReload, "no-reload", false, "do not run systemctl daemon-reload")
	f.BoolVar(&c.restart, "restart", false, "restart each unit afterwards and check that it is active (a unit that does not come up is put back)")
	f.BoolVar(&c.removeEnv, "remove-env-files", false, "after a successful migration, overwrite and remove the EnvironmentFile=s (their bytes are kept in the vault for --undo)")
	f.StringArrayVar(&c.secret, "secret", nil, "treat this variable as a secret (repeatable)")
	f.StringArrayVar(&c.plain, "plain", nil, "treat this variable as plain configuration (repeatable)")
	f.StringArrayVar(&c.drop, "drop", nil, "do not pass this variable to the units at all, for least privilege when a shared .env holds more than a unit uses (repeatable)")
	f.StringArrayVar(&c.paths, "path", nil, "NAME=path: store this variable at this path (repeatable)")
	f.StringVar(&c.template, "path-template", DefaultTemplate, "path of a unit's secret")
	f.StringVar(&c.shared, "shared-template", DefaultSharedTemplate, "path of a value several units share")
	f.StringVar(&c.socket, "socket", "", "daemon socket, also written into the drop-in (default $VAULT_SOCKET, else "+inject.SystemSocket+"; --user: $XDG_RUNTIME_DIR/jawn-vault.sock)")
	f.StringVar(&c.tokenFile, "token-file", "", "admin token for the migration (default $VAULT_TOKEN; none: the daemon's own uid and root are admin)")
	f.StringVar(&c.vaultExec, "vault-exec", "/usr/local/bin/vault-exec", "vault-exec's path on the machine")
	f.StringVar(&c.vaultUnit, "vault-unit", "jawn-vault.socket", `the daemon's unit, for After= and Wants= ("" for none)`)
	f.StringVar(&c.socketGroup, "socket-group", "", "add SupplementaryGroups= with this group, the socket's group (deploy/jawn-vault.socket: jawn-vault), so the service may connect")
	f.DurationVar(&c.wait, "wait", 30*time.Second, "vault-exec --wait in the drop-in: how long the service waits for the daemon at start")
	f.StringVar(&c.stateDir, "state-dir", "", "manifests and backups (default /var/lib/jawn-vault-migrate; --user: $XDG_STATE_HOME/jawn-vault/migrate)")
	f.StringVar(&c.credsDir, "credentials-dir", "", "token files (default /etc/jawn-vault/credentials; --user: $XDG_CONFIG_HOME/jawn-vault/credentials)")
	f.StringVar(&c.backupPrefx, "backup-prefix", DefaultBackupPrefix, "vault path under which --remove-env-files keeps removed files")
	return cmd
}

// options turns the flags into Options.
func (c *cli) options() (Options, error) {
	s := Scope{Root: c.root, User: c.user}
	if c.root != "" {
		abs, err := filepath.Abs(c.root)
		if err != nil {
			return Options{}, usageError{err}
		}
		s.Root = abs
	}
	if c.user {
		s.Home = os.Getenv("HOME")
		if !filepath.IsAbs(s.Home) {
			return Options{}, usageError{errors.New("--user needs $HOME")}
		}
		s.ConfigHome = xdg("XDG_CONFIG_HOME", s.Home, ".config")
		s.DataHome = xdg("XDG_DATA_HOME", s.Home, ".local/share")
		s.StateHome = xdg("XDG_STATE_HOME", s.Home, ".local/state")
	}
	o := Options{Scope: s, Template: c.template, SharedTemplate: c.shared, VaultExec: c.vaultExec,
		VaultUnit: c.vaultUnit, SocketGroup: c.socketGroup, Wait: c.wait, StateDir: c.stateDir, CredentialsDir: c.credsDir,
		LookupUser: LookupUser(s.Root), Uid: int64(os.Getuid()), Paths: map[string]string{}, Drop: map[string]bool{},
		Classifier: Classifier{Secret: map[string]bool{}, Plain: map[string]bool{}}}
	switch {
	case o.StateDir != "":
	case c.user:
		o.StateDir = filepath.Join(s.StateHome, "jawn-vault/migrate")
	default:
		// Not under the daemon's StateDirectory= (/var/lib/jawn-vault):
		// systemd hands that to the daemon's user, and --undo writes these
		// backups into /etc as root.
		o.StateDir = "/var/lib/jawn-vault-migrate"
	}
	switch {
	case o.CredentialsDir != "":
	case c.user:
		o.CredentialsDir = filepath.Join(s.ConfigHome, "jawn-vault/credentials")
	default:
		o.CredentialsDir = "/etc/jawn-vault/credentials"
	}
	for _, d := range []string{o.StateDir, o.CredentialsDir, o.VaultExec} {
		if !filepath.IsAbs(d) {
			return o, usageError{fmt.Errorf("%s: give an absolute path (as the machine sees it, without --root)", d)}
		}
	}
	sock := c.socket
	switch {
	case sock != "":
	case c.user || os.Getenv("VAULT_SOCKET") != "":
		sock = vault.DefaultSocket()
	default:
		sock = inject.SystemSocket
	}
	abs, err := filepath.Abs(sock)
	if err != nil {
		return o, usageError{err}
	}
	o.Socket = abs
	for _, n := range c.secret {
		o.Classifier.Secret[n] = true
	}
	for _, n := range c.plain {
		if o.Classifier.Secret[n] {
			return o, usageError{fmt.Errorf("%s is given both --secret and --plain", n)}
		}
		o.Classifier.Plain[n] = true
	}
	for _, n := range c.drop {
		o.Drop[n] = true
	}
	for _, kv := range c.paths {
		name, p, ok := strings.Cut(kv, "=")
		if !ok || !inject.ValidName(name) {
			return o, usageError{fmt.Errorf("--path %q: want NAME=path", kv)}
		}
		if _, err := vpath.Parse(p); err != nil || strings.Contains(p, "*") {
			return o, usageError{fmt.Errorf("--path %s: %q is not a valid secret path", name, p)}
		}
		o.Paths[name] = p
	}
	for _, t := range []string{o.Template, o.SharedTemplate} {
		if _, err := ExpandTemplate(t, "unit.service", "NAME"); err != nil {
			return o, usageError{err}
		}
	}
	return o, nil
}

func xdg(env, home, def string) string {
	if v := os.Getenv(env); filepath.IsAbs(v) {
		return v
	}
	return filepath.Join(home, def)
}

// dial connects to the daemon with the migration's token.
func (c *cli) dial(ctx context.Context, socket string) (*vault.Client, error) {
	token := os.Getenv("VAULT_TOKEN")
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, usageError{fmt.Errorf("--token-file: %w", err)}
		}
		token = strings.TrimSpace(string(b))
		clear(b)
	}
	return vault.Dial(ctx, vault.Options{Socket: socket, Token: token})
}

func (c *cli) run(ctx context.Context, args []string) error {
	o, err := c.options()
	if err != nil {
		return err
	}
	a := &Applier{Opts: o, Restart: c.restart}
	if c.root == "" && !c.noReload {
		a.Systemd = Systemctl{User: c.user}
	}
	out := c.io.Stdout
	if c.undo {
		names := make([]string, 0, len(args))
		for _, arg := range args {
			n, err := UnitName(filepath.Base(arg))
			if err != nil {
				return usageError{err}
			}
			names = append(names, n)
		}
		v, err := c.dial(ctx, o.Socket)
		if err != nil {
			return err
		}
		defer v.Close()
		a.Vault = v
		err = a.Undo(ctx, names)
		printUndo(out, a)
		return err
	}

	var units []*Unit
	for _, arg := range args {
		u, err := o.Scope.Find(arg)
		if err != nil {
			if errors.Is(err, ErrUnitNotFound) {
				return err
			}
			return planError{err}
		}
		units = append(units, u)
	}
	v, err := c.dial(ctx, o.Socket)
	if err != nil && (c.yes || !errors.Is(err, vault.ErrUnavailable)) {
		return err
	}
	var vlt Vault
	if v != nil {
		defer v.Close()
		vlt = v
	}
	known, err := knownValues(ctx, o, vlt)
	if err != nil {
		return err
	}
	p, err := MakePlan(units, known, o)
	if err != nil {
		return planError{err}
	}
	if !c.yes {
		if err := p.Check(ctx, vlt); err != nil {
			return err
		}
		printPlan(out, p, o)
		fmt.Fprintln(out, "\nDry run: nothing was changed. Run again with --yes to apply.")
		return nil
	}
	a.Vault = v
	err = a.Apply(ctx, p)
	var removal *Removal
	if err == nil && c.removeEnv {
		names := make([]string, len(units))
		for i, u := range units {
			names[i] = u.Name
		}
		removal, err = RemoveEnvFiles(ctx, o.Scope, o.StateDir, c.backupPrefx, names, v)
	}
	printSummary(out, p, a, removal, c)
	return err
}

// knownValues reads the secrets of earlier migrations (from their
// manifests and the vault), so that a value a new unit shares with one
// migrated before keeps its path. Without a daemon it returns nothing.
func knownValues(ctx context.Context, o Options, v Vault) (map[string]string, error) {
	known := map[string]string{}
	if v == nil {
		return known, nil
	}
	ents, err := os.ReadDir(o.Scope.Host(o.StateDir))
	if err != nil {
		return known, nil // no state directory: nothing migrated yet
	}
	for _, e := range ents {
		m, err := ReadManifest(o.Scope, o.StateDir, e.Name())
		if err != nil || m == nil || m.Status != StatusDone {
			continue
		}
		for _, s := range m.Secrets {
			val, err := v.Get(ctx, s.Path)
			if err != nil {
				if wire.CodeOf(err) == wire.CodeNotFound {
					continue
				}
				return nil, fmt.Errorf("reading %s (migrated with %s): %w", s.Path, m.Unit, err)
			}
			if _, ok := known[string(val)]; !ok {
				known[string(val)] = s.Path
			}
			clear(val)
		}
	}
	return known, nil
}

func exitCode(err error) int {
	var ue usageError
	var pe planError
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, ErrUnitNotFound):
		return ExitNoUnit
	case errors.Is(err, vault.ErrUnavailable):
		return ExitUnavailable
	case errors.Is(err, ErrPreflight):
		return ExitCantCreate
	case errors.Is(err, ErrConflict), errors.Is(err, ErrInUse), errors.As(err, &pe):
		return ExitDataErr
	}
	switch wire.CodeOf(err) {
	case wire.CodeUnauthenticated, wire.CodePermissionDenied:
		return ExitDenied
	case wire.CodeBusy, wire.CodeBackendUnavailable, wire.CodeAuditUnavailable:
		return ExitTempFail
	case wire.CodeInvalidPath, wire.CodeBadRequest:
		return ExitUsage
	case wire.CodeNotFound:
		return ExitNoUnit
	}
	return ExitError
}

func describe(err error) string {
	var we *wire.Error
	if errors.As(err, &we) {
		// Keep our context ("importing claude/x: ") and end with the code.
		return strings.TrimSuffix(err.Error(), we.Error()) + we.Message + " (" + string(we.Code) + ")"
	}
	return err.Error()
}

func hint(err error) string {
	switch exitCode(err) {
	case ExitUsage:
		return "see vault-migrate --help"
	case ExitNoUnit:
		return "give the unit's name as systemctl shows it, a path to the unit file, or --user for user units"
	case ExitUnavailable:
		return "is jawn-vault running, and is --socket its socket? A dry run works without it; --yes and --undo need it"
	case ExitCantCreate:
		return "nothing was imported or changed; make the directory writable (or choose another with --state-dir / --credentials-dir) and run again"
	case ExitDenied:
		return "vault-migrate needs a global admin: run it as root or as the daemon's user without a token, or pass an admin token with --token-file"
	case ExitTempFail:
		return "the daemon could not write the store (gpg?) or its audit log; nothing was changed in the units; see the daemon's log and run again"
	case ExitDataErr:
		return "the unit was left alone; fix what the message says, or decide with --secret, --plain or --path"
	}
	return ""
}
