package inject

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// stopTimeout is how long a child has between SIGTERM and SIGKILL.
const stopTimeout = 10 * time.Second

// settleTime gathers the events of one change into one action: a single
// write can reach the watcher more than once (the write itself, then the
// store's own file watch), and a restart per event would be a restart too
// many.
const settleTime = 300 * time.Millisecond

// onChange is what --on-change asks for when a mapped secret changes.
type onChange struct {
	mode string         // "restart", "signal" or "exit"
	sig  syscall.Signal // for "signal"
}

// parseOnChange reads restart, exit or signal:NAME (NAME with or without
// SIG, any case: signal:HUP, signal:sigusr1).
func parseOnChange(s string) (onChange, error) {
	switch s {
	case "restart", "exit":
		return onChange{mode: s}, nil
	}
	name, ok := strings.CutPrefix(s, "signal:")
	if !ok {
		return onChange{}, fmt.Errorf("--on-change %q: want restart, exit or signal:NAME", s)
	}
	name = strings.ToUpper(name)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return onChange{}, fmt.Errorf("--on-change %q: unknown signal %s", s, name)
	}
	return onChange{mode: "signal", sig: sig}, nil
}

// supervisor runs the program as a child and keeps its secrets current.
type supervisor struct {
	oc      onChange
	prog    string
	argv    []string
	base    []string // the scrubbed environment, without secrets
	ms      []Mapping
	opts    vault.Options
	fileDir string // where --file secrets go
	stderr  io.Writer
	sf      *secretFiles
	digest  [sha256.Size]byte // of the values the program has, to skip no-op changes
}

// child is one run of the program.
type child struct {
	cmd  *exec.Cmd
	done chan int // its exit status, once
}

// supervise is vault-exec --on-change: it subscribes to the mapped paths,
// fetches the secrets, starts the program, and then forwards signals and
// acts on changes until the program exits. It returns the program's status
// as a *failure without lines (nil for 0).
func (s *supervisor) supervise(ctx context.Context, wait time.Duration) error {
	// Subscribe before the first fetch, so that no change between the two
	// goes unseen.
	params := wire.WatchParams{Paths: s.paths()}
	w, err := watchRetry(ctx, s.opts, params, wait)
	if err != nil {
		return &failure{code: exitFor(err), hint: hintFor(err),
			lines: []string{fmt.Sprintf("watching the mapped paths at %s: %s", s.opts.Socket, vault.Describe(err))}}
	}
	values, err := fetchAll(ctx, s.opts.Socket, s.opts.Token, s.ms, wait)
	if err != nil {
		w.Close()
		return err
	}
	s.digest = s.digestOf(values)
	env, err := s.environ(values)
	clearAll(values)
	if err != nil {
		w.Close()
		return err
	}
	defer func() { s.sf.remove() }()

	// Catch every signal before the child exists, so none is lost between
	// its start and the loop below.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	defer signal.Stop(sigs)

	c, err := s.start(env)
	if err != nil {
		w.Close()
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes := make(chan string, 1)
	go watchLoop(wctx, s.opts, params, w, changes, s.logf)

	var settle <-chan time.Time
	var why string
	for {
		select {
		case status := <-c.done:
			return statusErr(status)
		case sig := <-sigs:
			forward(c, sig)
		case w := <-changes:
			if settle == nil {
				why = w
				settle = time.After(settleTime)
			}
		case <-settle:
			settle = nil
			switch s.oc.mode {
			case "exit":
				s.logf("%s; stopping the program and exiting %d so that it is restarted with fresh secrets", why, ExitTempFail)
				if status, quit := s.stop(c, sigs); quit {
					return statusErr(status)
				}
				return &failure{code: ExitTempFail}
			case "signal":
				if s.sf != nil {
					values, err := s.refetch(ctx, why)
					if err != nil {
						continue
					}
					err = s.rewriteFiles(values)
					clearAll(values)
					if err != nil {
						s.digest = [sha256.Size]byte{} // the program's files are not known to hold either
						s.logf("%s, but the secret files could not be rewritten, so the program was not signalled: %v", why, err)
						continue
					}
				}
				s.logf("%s; sending %s to the program", why, unix.SignalName(s.oc.sig))
				_ = c.cmd.Process.Signal(s.oc.sig)
			case "restart":
				values, err := s.refetch(ctx, why)
				if err != nil {
					continue
				}
				old := s.sf
				env, err := s.environ(values)
				clearAll(values)
				if err != nil {
					s.sf = old
					s.digest = [sha256.Size]byte{} // the program still has the old values
					s.logf("%s, but the program keeps its old secrets: %v", why, err)
					continue
				}
				s.logf("%s; restarting the program", why)
				status, quit := s.stop(c, sigs)
				old.remove()
				if quit {
					return statusErr(status)
				}
				if c, err = s.start(env); err != nil {
					return err
				}
			}
		}
	}
}

// paths lists the mapped paths once each.
func (s *supervisor) paths() []string {
	var ps []string
	for _, m := range s.ms {
		if !slices.Contains(ps, m.Path) {
			ps = append(ps, m.Path)
		}
	}
	return ps
}

// environ builds the program's environment from values, writing the --file
// secrets to a new directory (s.sf).
func (s *supervisor) environ(values map[string][]byte) ([]string, error) {
	env := slices.Clone(s.base)
	var files []Mapping
	for _, m := range s.ms {
		if m.File {
			files = append(files, m)
		}
	}
	s.sf = nil
	if len(files) > 0 {
		sf, err := writeSecretFiles(s.fileDir, files, values)
		if err != nil {
			return nil, fail(ExitCantCreate, "set RuntimeDirectory= in the unit (vault-exec uses $RUNTIME_DIRECTORY), or make sure /dev/shm is a writable tmpfs",
				"writing --file secrets: %v", err)
		}
		s.sf = sf
	}
	for _, m := range s.ms {
		if m.File {
			env = setEnv(env, m.EnvName(), s.sf.paths[m.Name])
		} else {
			env = setEnv(env, m.Name, string(values[m.Name]))
		}
	}
	return env, nil
}

// refetch reads every secret again, all or nothing. On failure it logs one
// line (names, paths and reasons; never a value) and the program keeps what
// it has.
func (s *supervisor) refetch(ctx context.Context, why string) (map[string][]byte, error) {
	values, err := fetchAll(ctx, s.opts.Socket, s.opts.Token, s.ms, 0)
	if err != nil {
		s.logf("%s, but the program keeps its old secrets: %v", why, err)
		return nil, err
	}
	if d := s.digestOf(values); d != s.digest {
		s.digest = d
		return values, nil
	}
	clearAll(values)
	s.logf("%s, but the values the program has are unchanged; nothing to do", why)
	return nil, errUnchanged
}

// errUnchanged is refetch's answer when every value is what the program
// already has (a stale event after a reconnect, a write of the same value).
var errUnchanged = errors.New("unchanged")

// digestOf hashes the values in mapping order, each with its length, so
// that the supervisor can tell a change without keeping old values.
func (s *supervisor) digestOf(values map[string][]byte) [sha256.Size]byte {
	h := sha256.New()
	for _, m := range s.ms {
		v := values[m.Name]
		fmt.Fprintf(h, "%s %d\n", m.Name, len(v))
		h.Write(v)
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// rewriteFiles replaces each --file secret in place, atomically (a new file
// renamed over the old one), so the program never reads half a value.
func (s *supervisor) rewriteFiles(values map[string][]byte) error {
	for name, p := range s.sf.paths {
		tmp := filepath.Join(filepath.Dir(p), "."+name+".new")
		_ = os.Remove(tmp)
		if err := writePrivate(tmp, values[name]); err != nil {
			_ = os.Remove(tmp)
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			_ = os.Remove(tmp)
			return err
		}
	}
	return nil
}

// start runs the program with env, in vault-exec's own process group (so
// systemd's KillMode= and a terminal's signals reach both).
func (s *supervisor) start(env []string) (*child, error) {
	cmd := &exec.Cmd{Path: s.prog, Args: s.argv, Env: env,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := cmd.Start(); err != nil {
		code := ExitCannotExec
		if errors.Is(err, os.ErrNotExist) {
			code = ExitNoProgram
		}
		return nil, fail(code, "check that the program is an executable for this machine", "starting %s: %v", s.prog, err)
	}
	c := &child{cmd: cmd, done: make(chan int, 1)}
	go func() {
		_ = cmd.Wait()
		c.done <- exitStatus(cmd.ProcessState)
	}()
	return c, nil
}

// stop sends SIGTERM to the child, then SIGKILL after stopTimeout, and
// waits for it. Signals that arrive meanwhile are forwarded; if one of them
// asks vault-exec to end (or the child had already exited on its own), quit
// is true and status is the child's.
func (s *supervisor) stop(c *child, sigs <-chan os.Signal) (status int, quit bool) {
	select {
	case status := <-c.done:
		return status, true
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	kill := time.NewTimer(stopTimeout)
	defer kill.Stop()
	for {
		select {
		case status := <-c.done:
			return status, quit
		case sig := <-sigs:
			forward(c, sig)
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP:
				quit = true
			}
		case <-kill.C:
			s.logf("the program did not stop within %v of SIGTERM; killing it", stopTimeout)
			_ = c.cmd.Process.Kill()
		}
	}
}

func (s *supervisor) logf(format string, args ...any) {
	fmt.Fprintf(s.stderr, "vault-exec: "+format+"\n", args...)
}

// forward passes a signal on to the child, except SIGCHLD (about vault-exec's
// own child) and SIGURG (the Go runtime's preemption signal).
func forward(c *child, sig os.Signal) {
	if sig == syscall.SIGCHLD || sig == syscall.SIGURG {
		return
	}
	_ = c.cmd.Process.Signal(sig)
}

// exitStatus is the shell's: the exit code, or 128+signo for a signal death.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// statusErr turns the child's status into Main's return: nil for 0.
func statusErr(status int) error {
	if status == 0 {
		return nil
	}
	return &failure{code: status}
}

func clearAll(values map[string][]byte) {
	for _, v := range values {
		clear(v)
	}
}

// watchRetry subscribes, retrying while the daemon cannot be reached or is
// busy, until wait has passed.
func watchRetry(ctx context.Context, opts vault.Options, p wire.WatchParams, wait time.Duration) (*vault.Watcher, error) {
	deadline := time.Now().Add(wait)
	delay := 50 * time.Millisecond
	for {
		w, err := watchOnce(ctx, opts, p)
		if err == nil || !(errors.Is(err, vault.ErrUnavailable) || wire.CodeOf(err) == wire.CodeBusy) {
			return w, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, err
		}
		if !sleepCtx(ctx, min(delay, left)) {
			return nil, err
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func watchOnce(ctx context.Context, opts vault.Options, p wire.WatchParams) (*vault.Watcher, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	return vault.Watch(ctx, opts, p)
}

// watchLoop reports every event on w to changes (coalesced: a pending
// report is not repeated). When the connection breaks it re-subscribes
// with backoff and then reports the secrets as stale, since changes may
// have been missed meanwhile. It returns when ctx is done.
func watchLoop(ctx context.Context, opts vault.Options, p wire.WatchParams, w *vault.Watcher, changes chan<- string, logf func(string, ...any)) {
	report := func(why string) {
		select {
		case changes <- why:
		default:
		}
	}
	for {
		for {
			ev, err := w.Next(ctx)
			if err != nil {
				w.Close()
				if ctx.Err() != nil {
					return
				}
				logf("the watch on the mapped paths broke (%s); reconnecting", vault.Describe(err))
				break
			}
			if ev.Event == "stale" {
				report("jawn-vault reports the secrets may be stale")
			} else {
				report(fmt.Sprintf("%s was %s", ev.Path, ev.Event))
			}
		}
		delay := 100 * time.Millisecond
		var last string
		for {
			if !sleepCtx(ctx, delay) {
				return
			}
			var err error
			w, err = watchOnce(ctx, opts, p)
			if err == nil {
				break
			}
			if msg := vault.Describe(err); msg != last {
				logf("watching the mapped paths again: %s; retrying", msg)
				last = msg
			}
			delay = min(2*delay, 30*time.Second)
		}
		logf("watching the mapped paths again")
		report("the watch was interrupted, so the secrets may be stale")
	}
}

// sleepCtx waits d, or until ctx is done (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
