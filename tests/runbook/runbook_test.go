// Package runbook drills docs/runbook.md: each test creates one failure
// for real (a full file system, a locked database, a socket in use, lost
// state, a token to hand over, a migration to roll back, a store without
// its .gpg-id or its key, a locked gpg-agent, a missing grant, a rotation
// in doubt or needing re-authorisation, an upgrade), checks the symptom
// the runbook describes, then runs the shell commands written in the
// runbook's own ```sh blocks for that procedure, and checks the recovery.
//
// The commands are read from the markdown, not copied here, so the document
// and the drill cannot drift apart. A test runs them with `sh -c` after a
// few substitutions that it names (the machine's paths become the test's
// temporary ones, `sudo` is dropped: the tests run as root). A `systemctl`
// line cannot run here; each test says what it does instead (stop or start
// the daemon under test), and a systemctl line nobody handles fails the
// test, as does any command that exits non-zero.
package runbook

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/daemontest"
)

var bins daemontest.Bins

func TestMain(m *testing.M) {
	// The lock holder of TestLockedDatabaseAtStart is this binary run again.
	if db := os.Getenv(holdLockEnv); db != "" {
		os.Exit(holdLock(db))
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// vault-cli and vault-migrate read these; each test passes what it means.
	os.Unsetenv("VAULT_TOKEN")
	os.Unsetenv("VAULT_SOCKET")
	b, cleanup, err := daemontest.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	bins = b
	return m.Run()
}

const runbookPath = "../../docs/runbook.md"

// block is one ```sh block of the runbook: its commands, one a line, with
// comments and blank lines dropped.
type block []string

// blocks returns the ```sh blocks of the section whose heading is title,
// up to the next heading of the same or a higher level.
func blocks(t *testing.T, title string) []block {
	t.Helper()
	f, err := os.Open(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []block
	level, in, fence := 0, false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !fence && strings.HasPrefix(line, "#") {
			hashes := len(line) - len(strings.TrimLeft(line, "#"))
			heading := strings.TrimSpace(line[hashes:])
			switch {
			case heading == title:
				level, in = hashes, true
				continue
			case in && hashes <= level:
				in = false
			}
		}
		if !in {
			continue
		}
		switch {
		case !fence && strings.TrimSpace(line) == "```sh":
			fence = true
			out = append(out, nil)
		case fence && strings.TrimSpace(line) == "```":
			fence = false
		case fence:
			cmd := line
			if i := strings.Index(cmd, " #"); i >= 0 {
				cmd = cmd[:i]
			}
			if cmd = strings.TrimSpace(cmd); cmd != "" && !strings.HasPrefix(cmd, "#") {
				out[len(out)-1] = append(out[len(out)-1], cmd)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s has no ```sh block under %q", runbookPath, title)
	}
	return out
}

// drill runs a procedure's commands against one daemon.
type drill struct {
	t *testing.T
	d *daemontest.Daemon
	// subst replaces the machine's names with the test's, in order, in
	// each command before it runs.
	subst []string
	// on says what the test does for a command it cannot run as written
	// (systemctl): keyed by the command as the runbook writes it.
	on map[string]func()
	// status is the exit status a command is expected to have, when it is
	// not 0 (doctor reporting a warning the procedure expects).
	status map[string]int
	// stdin is what the owner types into a command that reads it (a
	// passphrase), by the command as written; commands get none otherwise.
	stdin map[string]string
	// results holds what each command printed, by the command as written.
	results map[string]daemontest.Result
	cwd     string
}

func newDrill(t *testing.T, d *daemontest.Daemon, subst ...string) *drill {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	noUnits := filepath.Join(t.TempDir(), "units")
	if err := os.Mkdir(noUnits, 0o755); err != nil {
		t.Fatal(err)
	}
	// Every drill: no sudo (the tests run as root), the system's state
	// directory is the daemon's, and doctor looks at an empty units
	// directory rather than the machine's /etc/systemd/system. The test's
	// own pairs come first and win where both match.
	subst = append(subst,
		"sudo -u jamditis ", "",
		"sudo ", "",
		"-o jamditis", "-o "+me.Username,
		"/var/lib/jawn-vault", d.StateDir,
		"vault-cli doctor", "vault-cli doctor --units-dir "+noUnits,
	)
	return &drill{t: t, d: d, subst: subst, on: map[string]func(){}, status: map[string]int{}, stdin: map[string]string{}, results: map[string]daemontest.Result{}}
}

// run runs one block's commands in order and fails the test at the first
// command that exits non-zero or cannot be run.
func (dr *drill) run(b block) {
	dr.t.Helper()
	for _, cmd := range b {
		if fn, ok := dr.on[cmd]; ok {
			dr.t.Logf("runbook: %s  (the test does this itself)", cmd)
			fn()
			continue
		}
		line := strings.NewReplacer(dr.subst...).Replace(cmd)
		if strings.HasPrefix(line, "systemctl ") {
			dr.t.Fatalf("runbook: %q cannot run here and the test has nothing for it: add it to the drill's on map", cmd)
		}
		if dir, ok := strings.CutPrefix(line, "cd "); ok {
			dr.cwd = dir
			continue
		}
		if dr.cwd != "" {
			line = "cd '" + dr.cwd + "' && " + line
		}
		r := dr.d.Run(nil, dr.stdin[cmd], "sh", "-c", line)
		dr.t.Logf("runbook: %s\n  ran: %s\n  %s", cmd, line, strings.ReplaceAll(r.String(), "\n", "\n  "))
		dr.results[cmd] = r
		if r.Code != dr.status[cmd] {
			dr.t.Fatalf("runbook command exited %d, want %d: %s\n(ran %s)\n%s", r.Code, dr.status[cmd], cmd, line, r)
		}
	}
}

// result returns what a command printed; it must have run.
func (dr *drill) result(cmd string) daemontest.Result {
	dr.t.Helper()
	r, ok := dr.results[cmd]
	if !ok {
		dr.t.Fatalf("the runbook no longer has the command %q (or it did not run)", cmd)
	}
	return r
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// requireRoot skips a test that creates its failure with mount or runs as
// another user; the skip says why, so it is never silent.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skipf("needs root: %s", why)
	}
}

func requireTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("the runbook's procedure uses %s, which is not installed (Debian: apt-get install %s)", name, pkg)
	}
}

// doctorOK checks that doctor reports every check in checks ok.
func doctorOK(t *testing.T, r daemontest.Report, checks ...string) {
	t.Helper()
	for _, c := range checks {
		if got := r.Status(c); got != "ok" {
			t.Errorf("doctor: %s is %q, want ok\n%s", c, got, r.Result)
		}
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
