// Package reliability attacks the real jawn-vault binary the way a hostile
// or unlucky world would: malformed and oversized input, slow and greedy
// clients, a starved file-descriptor table, broken gpg, hostile paths and
// symlinks, crashes in the middle of writes, a read-only or huge database,
// and a long soak. Every test runs the daemon as users do (a real pass
// store, real gpg, real SQLite) and drives it over its socket.
//
// The binaries, and starting, signalling and stopping the daemon, come
// from internal/daemontest; this package adds what only reliability tests
// need — /proc probes (RSS, CPU time, fds, children, locked memory), a gpg
// wrapper that can be slowed or hung on demand, and a leak check that, for
// every daemon a test starts, searches the state directory (database,
// -wal, -shm), the store and the daemon's output for every raw token and
// planted secret the test handed to it.
//
// Timing is never asserted except as a generous bound on a resource
// (CPU time); durations are reported with t.Logf for people to read.
package reliability

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

var (
	bins      daemontest.Bins
	gnupgHome string // one keyring for the package
	keyID     string
	realGPG   string // the gpg the wrapper hands over to
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	b, cleanup, err := daemontest.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	bins = b
	tmp, err := os.MkdirTemp("", "jvr")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if realGPG, err = exec.LookPath("gpg"); err != nil {
		fmt.Fprintln(os.Stderr, "gpg not found: apt-get install gnupg pass git")
		return 1
	}
	gnupgHome = filepath.Join(tmp, "g")
	if keyID, err = testpass.NewKeyringDir(gnupgHome); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testpass.RemoveKeyring(gnupgHome)
	return m.Run()
}

// opts configure a daemon.
type opts struct {
	args      []string // extra flags
	config    string   // config file lines, after the socket, store, keyring and state
	store     string   // an existing store, else a new one
	gnupghome string   // else the package keyring
	env       []string // extra environment
	nofile    int      // RLIMIT_NOFILE (soft and hard) through prlimit; 0 leaves it
}

// daemon is one jawn-vault under test (daemontest.New), possibly restarted
// several times, in a process group of its own so that KillGroup can take
// gpg and git with it.
type daemon struct {
	*daemontest.Daemon
	t *testing.T

	mu      sync.Mutex
	tokens  []string // raw tokens handed out; none may be at rest
	secrets [][]byte // planted values; none may be in plaintext at rest
}

// start runs a daemon with --log-level debug (so that a secret logged at
// any level shows up) and waits for READY=1 on its NOTIFY_SOCKET. When the
// test ends the daemon is stopped with SIGTERM (it must exit cleanly) and
// then its state, store and output are searched for every token and secret
// registered with it.
func start(t *testing.T, o opts) *daemon {
	t.Helper()
	do := daemontest.Options{GnuPGHome: gnupgHome, KeyID: keyID, Store: o.store, Config: o.config,
		Args: append([]string{"--log-level", "debug"}, o.args...), Env: o.env, OwnGroup: true}
	if o.gnupghome != "" {
		do.GnuPGHome = o.gnupghome
	}
	if o.nofile > 0 {
		// prlimit sets the limit on itself and execs: the pid is the daemon's.
		n := strconv.Itoa(o.nofile)
		do.Launcher = []string{"prlimit", "--nofile=" + n + ":" + n}
	}
	d := &daemon{Daemon: daemontest.New(t, bins, do), t: t}
	// Cleanups run last-in first-out: the daemon stops, then the leak
	// check runs, then daemontest removes the state and store.
	t.Cleanup(d.checkLeaks)
	t.Cleanup(d.Stop)
	d.Start()
	return d
}

// plant registers a value that must never appear in plaintext at rest.
func (d *daemon) plant(secret []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.secrets = append(d.secrets, secret)
}

// track registers a raw token that must never appear at rest.
func (d *daemon) track(tok string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tokens = append(d.tokens, tok)
}

// needles are the byte strings searched for by the leak check: each token
// as text, without its prefix, and as the 32 raw bytes it encodes; each
// planted secret as is.
func (d *daemon) needles() map[string][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := map[string][]byte{}
	for i, tok := range d.tokens {
		n[fmt.Sprintf("token %d", i)] = []byte(tok)
		body := strings.TrimPrefix(tok, "jv_")
		n[fmt.Sprintf("token %d without prefix", i)] = []byte(body)
		if raw, err := base64.RawURLEncoding.DecodeString(body); err == nil && distinct(raw) >= 16 {
			n[fmt.Sprintf("token %d raw bytes", i)] = raw
		}
	}
	for i, s := range d.secrets {
		n[fmt.Sprintf("secret %d", i)] = s
	}
	// A needle too short or too uniform to be a real token (a test's
	// deliberately bad one) would match by chance.
	for k, v := range n {
		if len(v) < 12 || distinct(v) < 6 {
			delete(n, k)
		}
	}
	return n
}

func distinct(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

// checkLeaks searches the state directory, the store and the daemon's
// output for every registered token and secret. It runs after stop.
func (d *daemon) checkLeaks() { d.assertNoLeaks("at the end of the test") }

// assertNoLeaks is checkLeaks at any moment (for example right after a
// SIGKILL, while the -wal file is still there).
func (d *daemon) assertNoLeaks(when string) {
	d.t.Helper()
	needles := d.needles()
	if len(needles) == 0 {
		return
	}
	out := []byte(d.Log())
	for name, needle := range needles {
		if hits := grepDir(d.StateDir, needle); len(hits) > 0 {
			d.t.Errorf("%s: %s found in the state directory: %v", when, name, hits)
		}
		if hits := grepDir(d.Store, needle); len(hits) > 0 {
			d.t.Errorf("%s: %s found in the store: %v", when, name, hits)
		}
		if bytes.Contains(out, needle) {
			d.t.Errorf("%s: %s found in the daemon's output", when, name)
		}
	}
}

// grepDir lists the files under dir that contain needle.
func grepDir(dir string, needle []byte) []string {
	var hits []string
	_ = filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}

// ctx is a context bounded well inside the test timeout.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// token issues a token as the local owner and registers it for the leak
// check. Grants are "pattern:level".
func (d *daemon) token(name string, grants ...string) string {
	d.t.Helper()
	p := wire.TokenCreateParams{Name: name}
	for _, g := range grants {
		pattern, level, _ := strings.Cut(g, ":")
		p.Grants = append(p.Grants, wire.GrantJSON{Pattern: pattern, Level: level})
	}
	c, err := vault.Dial(ctx(d.t), vault.Options{Socket: d.Socket})
	if err != nil {
		d.t.Fatal(err)
	}
	defer c.Close()
	res, err := c.TokenCreate(ctx(d.t), p)
	if err != nil {
		d.t.Fatal(err)
	}
	d.track(res.Token)
	return res.Token
}

// insert stores value at path with the real pass.
func (d *daemon) insert(path string, value []byte) {
	d.t.Helper()
	testpass.PassInsert(d.t, d.GnuPGHome, d.Store, path, value)
}

// auditRows reads the newest audit rows as the owner.
func (d *daemon) auditRows(q wire.AuditQueryParams) []wire.AuditEntry {
	d.t.Helper()
	if q.Limit == 0 {
		q.Limit = 10000
	}
	c, err := vault.Dial(ctx(d.t), vault.Options{Socket: d.Socket})
	if err != nil {
		d.t.Fatal(err)
	}
	defer c.Close()
	rows, err := c.AuditQuery(ctx(d.t), q)
	if err != nil {
		d.t.Fatal(err)
	}
	return rows
}

// status asks for the daemon's status as the owner.
func (d *daemon) status() wire.StatusResult {
	d.t.Helper()
	c, err := vault.Dial(ctx(d.t), vault.Options{Socket: d.Socket})
	if err != nil {
		d.t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status(ctx(d.t))
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

// mustServe proves the daemon answers a new client.
func (d *daemon) mustServe(why string) {
	d.t.Helper()
	c, err := vault.Dial(ctx(d.t), vault.Options{Socket: d.Socket})
	if err == nil {
		_, err = c.Health(ctx(d.t))
		c.Close()
	}
	if err != nil {
		d.t.Fatalf("%s: a new client was not served: %v", why, err)
	}
}

// dbPath is the daemon's SQLite file.
func (d *daemon) dbPath() string { return filepath.Join(d.StateDir, "jawn-vault.db") }

// openDB opens the state database directly; only while the daemon is
// stopped.
func (d *daemon) openDB() *sql.DB {
	d.t.Helper()
	db, err := sql.Open("sqlite", "file:"+d.dbPath()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		d.t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

func code(err error) wire.Code { return wire.CodeOf(err) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
