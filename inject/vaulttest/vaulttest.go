// Package vaulttest runs the real jawn-vault daemon, built from this
// module, for the tests of vault-exec and vault-migrate.
//
// Binaries are built once per test binary into a temporary directory
// (Build). A daemon is either a dev vault (`jawn-vault dev --json`, ready
// when it prints its JSON line) or a daemon on a pass store the test made
// with internal/testpass (ready when it answers health). Readiness is always
// awaited with a deadline, never slept for.
//
// What it deliberately does not do: fake anything. There is no in-process
// or in-memory daemon here; tests that need one should not use this package.
// It lives under inject/ only because that is where vault-exec's tests are;
// vault-migrate's tests use it too.
package vaulttest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
)

// Module is this module's path.
const Module = "github.com/jamditis/jawn-vault"

// readyTimeout bounds the wait for a daemon to be ready.
const readyTimeout = 60 * time.Second

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// Build builds the command in pkg (a package path such as
// Module+"/cmd/jawn-vault") once per test binary and returns the binary's
// absolute path, in a directory any uid may read (end-to-end tests run
// vault-exec as a service's uid). The binary is named after the package's
// last element.
//
// A prebuilt binary is copied there instead when the environment names
// one, as make test-go does: $JAWN_VAULT_BIN for jawn-vault,
// $VAULT_EXEC_BIN for vault-exec (the name upper-cased, '-' as '_', _BIN).
func Build(pkg string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p, nil
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "jvbin")
		if err != nil {
			return "", err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return "", err
		}
		buildDir = d
	}
	name := filepath.Base(pkg)
	out := filepath.Join(buildDir, name)
	if p := os.Getenv(strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_BIN"); p != "" {
		// Copy with cp, not os.WriteFile: a write descriptor held by this
		// process can leak into a child forked at that moment by another
		// goroutine, and exec of the binary then fails with "text file
		// busy" (ETXTBSY). cp's descriptors die with cp.
		if b, err := exec.Command("cp", p, out).CombinedOutput(); err != nil {
			return "", fmt.Errorf("vaulttest: prebuilt %s: %v: %s", name, err, b)
		}
		if err := os.Chmod(out, 0o755); err != nil {
			return "", err
		}
		built[pkg] = out
		return out, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("vaulttest: the go command is needed to build %s: %w", pkg, err)
	}
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("vaulttest: go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out, nil
}

// Cleanup removes what Build built. Call it at the end of TestMain.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir = ""
		clear(built)
	}
}

// Daemon is a running jawn-vault.
type Daemon struct {
	Socket   string
	Token    string // global admin token (dev vaults only; else "")
	StateDir string
	Store    string
	cmd      *exec.Cmd
	done     chan error
	stderr   *logBuf
	once     sync.Once
	stopErr  error
}

// SocketPath returns a fresh socket path in a new short directory (a Unix
// socket path must stay under 108 bytes, which a test's TempDir may not),
// and a function that removes the directory.
func SocketPath() (string, func(), error) {
	d, err := os.MkdirTemp("", "jvs")
	if err != nil {
		return "", nil, err
	}
	if err := os.Chmod(d, 0o755); err != nil {
		return "", nil, err
	}
	return filepath.Join(d, "vault.sock"), func() { os.RemoveAll(d) }, nil
}

// StartDev runs `jawn-vault dev --json --socket socket` and waits for its
// JSON line. Stop it with Stop.
func StartDev(socket string) (*Daemon, error) {
	bin, err := Build(Module + "/cmd/jawn-vault")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "dev", "--json", "--socket", socket)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	d := &Daemon{cmd: cmd, stderr: &logBuf{}, done: make(chan error, 1)}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- cmd.Wait() }()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case s := <-line:
		var info struct{ Socket, Token, State_dir, Store string }
		if err := json.Unmarshal([]byte(s), &info); err != nil || info.Socket == "" {
			d.Stop()
			return nil, fmt.Errorf("vaulttest: jawn-vault dev printed %q: %v\n%s", s, err, d.stderr)
		}
		d.Socket, d.Token, d.StateDir, d.Store = info.Socket, info.Token, info.State_dir, info.Store
		return d, nil
	case <-time.After(readyTimeout):
		d.Stop()
		return nil, fmt.Errorf("vaulttest: jawn-vault dev not ready after %v\n%s", readyTimeout, d.stderr)
	}
}

// Options configure Start.
type Options struct {
	Socket      string
	Store       string   // pass store directory
	GnuPGHome   string   // keyring of the store
	StateDir    string   // tokens and audit
	Env         []string // the daemon's environment (testpass.Env)
	SocketGroup string   // with it, the socket is 0660 and owned by this group
}

// Start runs the daemon on a pass store and waits until it answers health.
func Start(o Options) (*Daemon, error) {
	bin, err := Build(Module + "/cmd/jawn-vault")
	if err != nil {
		return nil, err
	}
	args := []string{"--socket", o.Socket, "--store", o.Store, "--gnupghome", o.GnuPGHome,
		"--state-dir", o.StateDir, "--log-level", "warn"}
	if o.SocketGroup != "" {
		args = append(args, "--socket-mode", "0660", "--socket-group", o.SocketGroup)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = o.Env
	d := &Daemon{cmd: cmd, Socket: o.Socket, StateDir: o.StateDir, Store: o.Store,
		stderr: &logBuf{}, done: make(chan error, 1)}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- cmd.Wait() }()
	if err := d.awaitHealth(); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// awaitHealth polls the socket until the daemon answers, it exits, or the
// deadline passes.
func (d *Daemon) awaitHealth() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for {
		c, err := vault.Dial(ctx, vault.Options{Socket: d.Socket})
		if err == nil {
			_, err = c.Health(ctx)
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case werr := <-d.done:
			d.done <- werr
			return fmt.Errorf("vaulttest: jawn-vault exited before it was ready: %v\n%s", werr, d.stderr)
		case <-ctx.Done():
			return fmt.Errorf("vaulttest: jawn-vault not ready after %v: %v\n%s", readyTimeout, err, d.stderr)
		case <-time.After(20 * time.Millisecond): // polling interval, not a readiness guess
		}
	}
}

// Stop stops the daemon with SIGTERM and waits for it. It is safe to call
// more than once.
func (d *Daemon) Stop() error {
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-d.done:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				d.stopErr = err
			}
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
			d.stopErr = fmt.Errorf("vaulttest: jawn-vault did not stop on SIGTERM\n%s", d.stderr)
		}
	})
	return d.stopErr
}

// Log returns what the daemon wrote to stderr so far.
func (d *Daemon) Log() string { return d.stderr.String() }

// Owner connects as the local owner (no token).
func (d *Daemon) Owner(ctx context.Context) (*vault.Client, error) {
	return vault.Dial(ctx, vault.Options{Socket: d.Socket})
}

// logBuf collects a daemon's stderr; it is written by os/exec's copying
// goroutine and read by the test.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
