package inject

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
)

// Exit statuses, after sysexits(3), and the shell's for a program that
// cannot be run.
const (
	ExitOK          = 0
	ExitError       = 1   // anything else, including a daemon bug (internal)
	ExitUsage       = 64  // EX_USAGE: bad flags, mappings, token file or paths
	ExitDataErr     = 65  // EX_DATAERR: a value cannot go in the environment (NUL byte)
	ExitNotFound    = 66  // EX_NOINPUT: a secret does not exist
	ExitUnavailable = 69  // EX_UNAVAILABLE: the daemon could not be reached
	ExitCantCreate  = 73  // EX_CANTCREAT: a --file secret could not be written
	ExitTempFail    = 75  // EX_TEMPFAIL: busy, store or audit log unavailable
	ExitDenied      = 77  // EX_NOPERM: unauthenticated or permission denied
	ExitCannotExec  = 126 // the program exists but cannot be executed
	ExitNoProgram   = 127 // the program is not found
)

// Env is what Main needs from the process.
type Env struct {
	// Environ is vault-exec's own environment, as os.Environ returns it.
	Environ []string
	Stdout  io.Writer
	Stderr  io.Writer
	// Exec replaces the process with the program; nil means syscall.Exec.
	// It only returns on failure.
	Exec func(argv0 string, argv, envv []string) error
}

// failure is an error with an exit status, the lines to print and a hint.
type failure struct {
	code  int
	lines []string
	hint  string
}

func (f *failure) Error() string { return strings.Join(f.lines, "; ") }

func fail(code int, hint, format string, args ...any) *failure {
	return &failure{code: code, lines: []string{fmt.Sprintf(format, args...)}, hint: hint}
}

type options struct {
	maps, files, mapFiles, keep []string
	socket, tokenFile           string
	wait                        time.Duration
	onChange                    string
}

// help is vault-exec --help, above the list of flags.
const help = `vault-exec fetches secrets from jawn-vault, builds a clean environment, and
replaces itself with the program (execve): same PID, so under systemd the
program is the unit's main process and gets its signals, and vault-exec's
exit status is the program's.

Flags stop at the first argument that is not a flag, so
  vault-exec --map TELEGRAM_BOT_TOKEN=claude/tokens/telegram-bot python bot.py
runs "python bot.py"; "--" may also end the flags.

The program's environment holds only: PATH HOME USER LOGNAME SHELL LANG LC_*
TZ TERM, systemd's NOTIFY_SOCKET LISTEN_PID LISTEN_FDS LISTEN_FDNAMES
INVOCATION_ID JOURNAL_STREAM CREDENTIALS_DIRECTORY RUNTIME_DIRECTORY
STATE_DIRECTORY CACHE_DIRECTORY LOGS_DIRECTORY CONFIGURATION_DIRECTORY
WATCHDOG_*, the names given with --keep-env, and the mapped secrets.

The token is read from, in order: --token-file, $VAULT_TOKEN,
$CREDENTIALS_DIRECTORY/jawn-vault-token (systemd LoadCredential=). Without
one, the daemon treats its own uid and root as the owner.

If any secret cannot be read, the program is not started.
Exit status: 64 usage or configuration, 65 a value holds a NUL byte (use
--file), 66 a secret does not exist, 69 the daemon cannot be reached,
73 a --file secret cannot be written, 75 temporary failure (busy, gpg, audit
log), 77 token refused or permission denied, 126 the program cannot be
executed, 127 the program is not found; otherwise the program's own status.

With --on-change, vault-exec stays as the program's parent instead: it
watches the mapped paths and, when one changes, either restarts the program
with fresh secrets (restart), rewrites the --file secrets in place and sends
the program a signal (signal:NAME, e.g. signal:HUP), or stops the program and
exits 75 so that systemd restarts the unit (exit). It forwards every signal
it receives to the program, and exits with the program's status (128+signal
after a signal death). Under Type=notify, set NotifyAccess=all.

Usage:
  vault-exec [flags] [--] program [args...]

Flags:
`

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// durationValue is a duration flag whose error says what was wrong (the
// flag package's own says only "parse error").
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "time: "))
	}
	*d = durationValue(x)
	return nil
}

// flags declares vault-exec's flags on a new FlagSet. vault-exec parses
// them with the standard library rather than cobra: it runs on every
// service start, and its start-up time is part of every unit's.
func (o *options) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("vault-exec", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var((*stringList)(&o.maps), "map", "NAME=path: put the secret at path in the variable NAME (repeatable)")
	fs.Var((*stringList)(&o.files), "file", "NAME=path: write the secret to a private file and set NAME_FILE to its path (repeatable)")
	fs.Var((*stringList)(&o.mapFiles), "map-file", "read NAME=path lines from this file; # starts a comment (repeatable)")
	fs.Var((*stringList)(&o.keep), "keep-env", "also pass this variable from vault-exec's environment (repeatable)")
	fs.StringVar(&o.socket, "socket", "", "daemon socket (default $VAULT_SOCKET, else $XDG_RUNTIME_DIR/jawn-vault.sock, else "+SystemSocket+" if it exists)")
	fs.StringVar(&o.tokenFile, "token-file", "", "read the token from this file")
	fs.Var((*durationValue)(&o.wait), "wait", "keep retrying to reach the daemon for this long (for boot ordering), e.g. 30s")
	fs.StringVar(&o.onChange, "on-change", "", "supervise the program and, when a mapped secret changes: restart, signal:NAME or exit (75)")
	return fs
}

// printHelp writes the help text and one line per flag.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	io.WriteString(w, help)
	fs.VisitAll(func(f *flag.Flag) {
		arg := "string"
		switch f.Name {
		case "map", "file":
			arg = "NAME=path"
		case "map-file", "token-file":
			arg = "file"
		case "keep-env":
			arg = "NAME"
		case "socket":
			arg = "path"
		case "wait":
			arg = "duration"
		case "on-change":
			arg = "action"
		}
		fmt.Fprintf(w, "  --%s %s\n        %s\n", f.Name, arg, f.Usage)
	})
	io.WriteString(w, "  -h, --help\n        this help\n")
}

// Main runs vault-exec with args (without the program name). On success it
// does not return: the process becomes the program. It returns the exit
// status when the program could not be started.
func Main(ctx context.Context, args []string, env Env) int {
	var o options
	fs := o.flags()
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printHelp(env.Stdout, fs)
		return ExitOK
	case err != nil:
		err = fail(ExitUsage, "see vault-exec --help", "%s", flagError(err))
	default:
		err = o.run(ctx, fs.Args(), env)
	}
	if err == nil {
		return ExitOK // a supervised program exited 0
	}
	var f *failure
	if !errors.As(err, &f) {
		f = fail(ExitError, "", "%v", err)
	}
	for _, l := range f.lines {
		fmt.Fprintf(env.Stderr, "vault-exec: error: %s\n", l)
	}
	if f.hint != "" {
		fmt.Fprintf(env.Stderr, "vault-exec: hint: %s\n", f.hint)
	}
	return f.code
}

// flagError rewords the flag package's errors in the --long form the help
// shows, as vault-cli words them ("flag provided but not defined: -nope"
// becomes "unknown flag: --nope").
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag: --" + strings.TrimPrefix(name, "-")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag needs an argument: --" + strings.TrimPrefix(name, "-")
	}
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		return "invalid value " + strings.Replace(rest, " for flag -", " for flag --", 1)
	}
	return msg
}

// mappings gathers --map, --file and --map-file in that order.
func (o *options) mappings() ([]Mapping, error) {
	var ms []Mapping
	for _, s := range o.maps {
		m, err := ParseMapping(s, "--map", false)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	for _, s := range o.files {
		m, err := ParseMapping(s, "--file", true)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	for _, name := range o.mapFiles {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--map-file: %w", err)
		}
		fms, err := ParseMapFile(f, name)
		f.Close()
		if err != nil {
			return nil, err
		}
		ms = append(ms, fms...)
	}
	return ms, CheckMappings(ms, o.keep)
}

func (o *options) run(ctx context.Context, argv []string, env Env) error {
	if len(argv) == 0 {
		return fail(ExitUsage, "usage: vault-exec [--map NAME=path]... [--] program [args...]", "no program to run")
	}
	ms, err := o.mappings()
	if err != nil {
		return fail(ExitUsage, "mappings look like TELEGRAM_BOT_TOKEN=claude/tokens/telegram-bot", "%v", err)
	}
	var oc onChange
	if o.onChange != "" {
		if oc, err = parseOnChange(o.onChange); err != nil {
			return fail(ExitUsage, "see vault-exec --help", "%v", err)
		}
		if len(ms) == 0 {
			return fail(ExitUsage, "map at least one secret with --map, --file or --map-file", "--on-change: no mapped secret to watch")
		}
	}
	progEnv := Scrub(env.Environ, o.keep)
	pathVar, _ := getEnv(progEnv, "PATH")
	prog, err := lookPath(argv[0], pathVar)
	if err != nil {
		code := ExitNoProgram
		if errors.Is(err, errNotExecutable) {
			code = ExitCannotExec
		}
		return fail(code, "give the program's absolute path, or check PATH (the program's PATH is vault-exec's own)", "%v", err)
	}
	token, _, err := ResolveToken(o.tokenFile, env.Environ)
	if err != nil {
		return fail(ExitUsage, "pass --token-file, set VAULT_TOKEN, or hand the token over with LoadCredential=jawn-vault-token:FILE", "%v", err)
	}
	socket := o.socket
	if socket == "" {
		socket = defaultSocket(env.Environ)
	}

	if o.onChange != "" {
		s := &supervisor{oc: oc, prog: prog, argv: argv, base: progEnv, ms: ms,
			opts: vault.Options{Socket: socket, Token: token}, fileDir: fileBase(env.Environ), stderr: env.Stderr}
		return s.supervise(ctx, o.wait)
	}

	values, err := fetchAll(ctx, socket, token, ms, o.wait)
	if err != nil {
		return err
	}
	defer func() {
		for _, v := range values {
			clear(v)
		}
	}()

	var files []Mapping
	for _, m := range ms {
		if m.File {
			files = append(files, m)
		}
	}
	var sf *secretFiles
	if len(files) > 0 {
		sf, err = writeSecretFiles(fileBase(env.Environ), files, values)
		if err != nil {
			return fail(ExitCantCreate, "set RuntimeDirectory= in the unit (vault-exec uses $RUNTIME_DIRECTORY), or make sure /dev/shm is a writable tmpfs",
				"writing --file secrets: %v", err)
		}
	}
	for _, m := range ms {
		if m.File {
			progEnv = setEnv(progEnv, m.EnvName(), sf.paths[m.Name])
		} else {
			progEnv = setEnv(progEnv, m.Name, string(values[m.Name]))
		}
	}
	execve := env.Exec
	if execve == nil {
		execve = syscall.Exec
	}
	err = execve(prog, argv, progEnv)
	sf.remove()
	return fail(ExitCannotExec, "check that the program is an executable for this machine", "executing %s: %v", prog, err)
}

// SystemSocket is the system daemon's socket (deploy/jawn-vault.socket).
const SystemSocket = vault.SystemSocket

// defaultSocket is vault.DefaultSocket, read from environ rather than from
// the process so that Main depends on its Env alone.
func defaultSocket(environ []string) string {
	return vault.SocketFrom(func(name string) string {
		v, _ := getEnv(environ, name)
		return v
	})
}
