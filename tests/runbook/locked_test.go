package runbook

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the driver the daemon uses; here, the other program

	"github.com/jamditis/jawn-vault/internal/daemontest"
)

// holdLockEnv names the database the lock holder opens: this test binary,
// run again, playing "an sqlite3 shell left open".
const holdLockEnv = "JAWN_VAULT_RUNBOOK_HOLD_LOCK"

// holdLock opens db, takes SQLite's write lock (BEGIN IMMEDIATE), says
// "locked" on stdout and keeps the lock until its stdin is closed.
func holdLock(db string) int {
	// It waits for a lock the daemon holds for a moment (a running
	// daemon's loader), as the sqlite3 shell's .timeout would.
	sdb, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer sdb.Close()
	conn, err := sdb.Conn(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
	return 0
}

// lockDB runs another process (this test binary again) that takes the
// write lock of the SQLite database at path and holds it until release is
// called or t ends. It returns the process's pid.
func lockDB(t *testing.T, path string) (pid int, release func()) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(self)
	holder.Env = append(os.Environ(), holdLockEnv+"="+path)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		stdin.Close()
		if err := holder.Wait(); err != nil {
			t.Errorf("the lock holder: %v", err)
		}
	}
	t.Cleanup(release)
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		t.Fatalf("the lock holder said %q", line)
	}
	return holder.Process.Pid, release
}

// TestLockedDatabaseAtStart drills "The daemon will not start", database
// locked: another process holds the state database's write lock when the
// daemon starts. The daemon exits with the state database error and a
// hint; the runbook's fuser names the holder; once it is gone the daemon
// starts and serves and doctor is content.
func TestLockedDatabaseAtStart(t *testing.T) {
	requireTool(t, "fuser", "psmisc")
	d := daemontest.New(t, bins, daemontest.Options{})
	d.Start() // creates the database
	if err := d.Owner().Set(tctx(t), "svc/token", []byte("v")); err != nil {
		t.Fatal(err)
	}
	d.Stop()

	pid, release := lockDB(t, d.StateDir+"/jawn-vault.db")

	// The symptom: the daemon does not start, and says why.
	err := d.TryStart()
	ee, ok := err.(*daemontest.ExitError)
	if !ok {
		t.Fatalf("the daemon started with its database locked by another process (%v)", err)
	}
	if ee.Code == 0 || !strings.Contains(ee.Output, "state database") || !strings.Contains(ee.Output, "locked") || !strings.Contains(ee.Output, "hint:") || !strings.Contains(ee.Output, "fuser") {
		t.Errorf("start with a locked database: status %d, want an error naming the state database and the lock, and a hint to find the holder with fuser:\n%s", ee.Code, ee.Output)
	}
	t.Logf("the daemon's error:\n%s", ee.Output)
	r := d.Doctor()
	if r.Status("daemon") != "fail" {
		t.Errorf("doctor: daemon %q, want fail\n%s", r.Status("daemon"), r.Result)
	}

	// The runbook: find who holds it, close it, start again.
	b := blocks(t, "The daemon will not start")
	dr := newDrill(t, d)
	const fuser = "sudo fuser -v /var/lib/jawn-vault/jawn-vault.db*"
	dr.on["sudo systemctl start jawn-vault"] = d.Start
	dr.run(lockedBlock(t, b, fuser))
	if out := dr.result(fuser); !strings.Contains(out.Stdout+out.Stderr, strconv.Itoa(pid)) {
		t.Errorf("%s does not name the holder (pid %d):\n%s", fuser, pid, out)
	}
	release() // "close it"
	dr.run(startBlock(t, b))

	if v, err := d.Owner().Get(tctx(t), "svc/token"); err != nil || string(v) != "v" {
		t.Errorf("after the lock was released: %q %v", v, err)
	}
	doctorOK(t, d.Doctor(), "daemon", "audit", "database")
}

// lockedBlock and startBlock pick the blocks of "The daemon will not
// start" by what they do: the one holding cmd, and the one that starts the
// daemon again.
func lockedBlock(t *testing.T, bs []block, cmd string) block {
	t.Helper()
	for _, b := range bs {
		for _, c := range b {
			if c == cmd {
				return b
			}
		}
	}
	t.Fatalf("no ```sh block holds %q", cmd)
	return nil
}

func startBlock(t *testing.T, bs []block) block {
	return lockedBlock(t, bs, "sudo systemctl start jawn-vault")
}
