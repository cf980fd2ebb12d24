// Package integration runs the real jawn-vault binary on a temporary socket
// against a real pass store (real gpg, a throwaway key) and a real SQLite
// state directory, and drives it the way clients do. The binaries and the
// daemon's start and stop come from internal/daemontest.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

var (
	bins      daemontest.Bins
	gnupgHome string // one keyring for the package
	keyID     string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	b, cleanup, err := daemontest.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	bins = b
	tmp, err := os.MkdirTemp("", "jvit")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	gnupgHome = filepath.Join(tmp, "gnupg")
	if keyID, err = testpass.NewKeyringDir(gnupgHome); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testpass.RemoveKeyring(gnupgHome)
	return m.Run()
}

// vaultd is one daemon (daemontest.New on the package's keyring).
type vaultd struct {
	*daemontest.Daemon
	t *testing.T
}

type opts struct {
	args   []string // extra flags
	config string   // config file lines, after the socket, store and state
	store  string   // an existing store, else a new one
}

// start runs the daemon with --log-level debug (so that a secret logged at
// any level shows up) and waits for its READY=1 on a NOTIFY_SOCKET, as
// systemd would: no sleeping, no polling.
func start(t *testing.T, o opts) *vaultd {
	t.Helper()
	d := daemontest.New(t, bins, daemontest.Options{GnuPGHome: gnupgHome, KeyID: keyID, Store: o.store,
		Config: o.config, Args: append([]string{"--log-level", "debug"}, o.args...)})
	d.Start()
	t.Cleanup(func() { d.StopWith(syscall.SIGINT) })
	return &vaultd{Daemon: d, t: t}
}

// stop ends the daemon with SIGINT, as Ctrl-C would, and waits; it must
// stop within the deadline and exit cleanly.
func (d *vaultd) stop() { d.StopWith(syscall.SIGINT) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// token issues a token as the local owner.
func (d *vaultd) token(name string, bindUID *int64, grants ...string) string {
	d.t.Helper()
	p := wire.TokenCreateParams{Name: name, BindUID: bindUID}
	for _, g := range grants {
		pattern, level, _ := strings.Cut(g, ":")
		p.Grants = append(p.Grants, wire.GrantJSON{Pattern: pattern, Level: level})
	}
	res, err := d.Owner().TokenCreate(ctx(d.t), p)
	if err != nil {
		d.t.Fatal(err)
	}
	return res.Token
}

func code(err error) wire.Code { return wire.CodeOf(err) }

// auditRows reads the whole audit log as the owner.
func (d *vaultd) auditRows(q wire.AuditQueryParams) []wire.AuditEntry {
	d.t.Helper()
	if q.Limit == 0 {
		q.Limit = 10000
	}
	rows, err := d.Owner().AuditQuery(ctx(d.t), q)
	if err != nil {
		d.t.Fatal(err)
	}
	return rows
}

// cli runs vault-cli --socket against the daemon with only PATH and env
// in its environment.
func (d *vaultd) cli(stdin string, env []string, args ...string) (string, string, int) {
	d.t.Helper()
	r := d.Run(append([]string{"PATH=" + os.Getenv("PATH")}, env...), stdin, bins.CLI, append([]string{"--socket", d.Socket}, args...)...)
	return r.Stdout, r.Stderr, r.Code
}

// mustJSON is json.Marshal for test inputs.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// grepDir reports the files under dir that contain needle.
func grepDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	_ = filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}
