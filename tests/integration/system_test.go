package integration

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

const nobody = 65534

// asNobody runs vault-cli as uid/gid 65534 with setpriv, the way another
// local user would.
func (d *vaultd) asNobody(token string, args ...string) (string, int) {
	d.t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		d.t.Fatal("setpriv not found: apt-get install util-linux")
	}
	cmd := exec.Command("setpriv", append([]string{"--reuid", "65534", "--regid", "65534", "--clear-groups", bins.CLI, "--socket", d.Socket}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "VAULT_TOKEN=" + token}
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatal(err)
	}
	return string(out), code
}

// openToOthers lets uid 65534 reach the socket: the directory is made
// traversable and the socket group-accessible to nogroup.
func openToOthers(t *testing.T, d *vaultd) {
	if err := os.Chmod(d.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestPeerUIDBindingAndAllowlist: a token bound to a uid is refused from
// any other uid, and a uid outside allowed_uids is refused before its token
// is even looked at.
func TestPeerUIDBindingAndAllowlist(t *testing.T) {
	d := start(t, opts{args: []string{"--socket-mode", "0660", "--socket-group", "65534"}})
	openToOthers(t, d)
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("for-nobody"))
	wrongUID := int64(1000)
	rightUID := int64(nobody)
	bound := d.token("bound-elsewhere", &wrongUID, "svc/*:read")
	mine := d.token("bound-nobody", &rightUID, "svc/*:read")

	if out, code := d.asNobody(bound, "get", "svc/token"); code != 77 || !strings.Contains(out, "unauthenticated") {
		t.Fatalf("token bound to uid 1000 used by 65534: exit %d, %s", code, out)
	}
	if out, code := d.asNobody(mine, "get", "svc/token"); code != 0 || strings.TrimSpace(out) != "for-nobody" {
		t.Fatalf("token bound to 65534 used by 65534: exit %d, %s", code, out)
	}
	// Without a token, uid 65534 is not the owner.
	if out, code := d.asNobody("", "token", "list"); code != 77 {
		t.Fatalf("non-owner without a token: exit %d, %s", code, out)
	}
	rows := d.auditRows(wire.AuditQueryParams{Outcome: "denied"})
	var sawBinding bool
	for _, r := range rows {
		if r.UID == nobody && r.Detail == "token bound to another uid" {
			sawBinding = true
		}
	}
	if !sawBinding {
		t.Fatalf("no audit row for the uid-binding refusal: %+v", rows)
	}

	// Now only uid 1000 (and the owner) may connect: 65534 is refused
	// before authentication, and a SIGHUP is enough to apply it.
	d.SetConfig("allowed_uids = [1000]\n")
	_ = d.Signal(syscall.SIGHUP)
	d.AwaitNotify("READY=1")
	if out, code := d.asNobody(mine, "get", "svc/token"); code != 77 || !strings.Contains(out, "may not use this vault") {
		t.Fatalf("uid outside the allowlist: exit %d, %s", code, out)
	}
	if _, err := d.Dial("").Health(ctx(t)); err != nil {
		t.Fatalf("the owner was locked out by the allowlist: %v", err)
	}
}

// TestConnectionLimit: past max_conns a client gets busy at once and is
// closed; connected clients carry on.
func TestConnectionLimit(t *testing.T) {
	d := start(t, opts{args: []string{"--max-conns", "3"}})
	var held []*vault.Client
	for range 3 {
		c := d.Dial("")
		if _, err := c.Health(ctx(t)); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	r := d.Raw()
	if a := r.Answer(); a.Error == nil || a.Error.Code != wire.CodeBusy {
		t.Fatalf("fourth connection: %+v", a)
	}
	if !r.Closed() {
		t.Fatal("busy connection left open")
	}
	for _, c := range held {
		if _, err := c.Health(ctx(t)); err != nil {
			t.Fatalf("a connected client was disturbed: %v", err)
		}
	}
	held[0].Close()
	// Once a slot is free, a new client gets in (the daemon notices the
	// close asynchronously, so retry briefly).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := vault.Dial(ctx(t), vault.Options{Socket: d.Socket})
		if err == nil {
			_, err = c.Health(ctx(t))
			c.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a client left: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSocketTakeover: a live daemon's socket is never stolen; a dead
// daemon's stale socket is replaced.
func TestSocketTakeover(t *testing.T) {
	d := start(t, opts{})
	second := exec.Command(bins.Daemon, "--socket", d.Socket, "--state-dir", filepath.Join(d.Dir, "state2"), "--store", d.Store)
	second.Env = testpass.Env(gnupgHome, "")
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already serving") {
		t.Fatalf("second daemon on a live socket: %v\n%s", err, out)
	}
	if _, err := d.Dial("").Health(ctx(t)); err != nil {
		t.Fatalf("the first daemon lost its socket: %v", err)
	}
	d.Kill() // leaves the socket file behind
	if _, err := os.Stat(d.Socket); err != nil {
		t.Fatalf("expected a stale socket after SIGKILL: %v", err)
	}
	d.Start()
	if _, err := d.Dial("").Health(ctx(t)); err != nil {
		t.Fatalf("restart over a stale socket: %v", err)
	}
	fi, err := os.Stat(d.Socket)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v, want 0600", fi.Mode().Perm(), err)
	}
}

// TestSocketActivation: the daemon serves on a socket systemd passes in
// (LISTEN_FDS) and does not bind one of its own.
func TestSocketActivation(t *testing.T) {
	dir, _ := os.MkdirTemp("", "jva")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "act.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the socket outlives this listener, as systemd's does
	f, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	store := testpass.NewStore(t, gnupgHome, keyID)
	// systemd sets LISTEN_PID to the daemon's pid; sh's $$ survives exec.
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`, bins.Daemon,
		"--state-dir", filepath.Join(dir, "state"), "--store", store, "--socket", filepath.Join(dir, "unused.sock"))
	cmd.Env = testpass.Env(gnupgHome, "")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	f.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := vault.Dial(ctx(t), vault.Options{Socket: sock})
		if err == nil {
			_, err = c.Health(ctx(t))
			c.Close()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer on the activated socket: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused.sock")); err == nil {
		t.Fatal("the daemon bound its own socket despite activation")
	}
}

// TestAuditUnavailableWhenDiskFull: with the state directory on a full
// file system, reads answer audit_unavailable and no value leaves the
// daemon; once space is back, service resumes.
func TestAuditUnavailableWhenDiskFull(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test mounts a tmpfs and needs root")
	}
	mnt, _ := os.MkdirTemp("", "jvfull")
	defer os.RemoveAll(mnt)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", mnt).Run()
	const secret = "SECRET-on-full-disk"
	d := start(t, opts{args: []string{"--state-dir", mnt}})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte(secret))
	c := d.Dial("")
	if v, err := c.Get(ctx(t), "svc/token"); err != nil || string(v) != secret {
		t.Fatalf("before the disk fills: %q %v", v, err)
	}
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	f.Close()

	// Until the audit log fails, reads may still succeed (SQLite can reuse
	// pages it already holds); once it fails, no value may come back.
	sawRefusal := false
	for i := 0; i < 2000 && !sawRefusal; i++ {
		v, err := c.Get(ctx(t), "svc/token")
		switch {
		case code(err) == wire.CodeAuditUnavailable:
			sawRefusal = true
		case err != nil:
			t.Fatalf("unexpected error on a full disk: %v", err)
		case string(v) != secret:
			t.Fatalf("wrong value %q", v)
		}
	}
	if !sawRefusal {
		t.Fatal("2000 reads on a full disk were all served: the audit log never failed")
	}
	for range 5 {
		if v, err := c.Get(ctx(t), "svc/token"); err == nil || len(v) > 0 {
			t.Fatalf("a value left the daemon while the audit log was failing: %v", err)
		}
	}
	// Changes are refused too, and no new raw token is handed out.
	if _, err := c.TokenCreate(ctx(t), wire.TokenCreateParams{Name: "during-outage", Grants: []wire.GrantJSON{{Pattern: "svc/*", Level: "read"}}}); code(err) != wire.CodeAuditUnavailable {
		t.Fatalf("token.create while the audit log fails: %v", err)
	}
	if err := c.Set(ctx(t), "svc/token", []byte("changed")); code(err) != wire.CodeAuditUnavailable {
		t.Fatalf("set while the audit log fails: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, err := c.Get(ctx(t), "svc/token")
		if err == nil && string(v) == secret {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not resume after space came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProcessIsNotDumpable: the daemon makes itself non-dumpable, so
// another process of the same uid cannot read its memory or environment,
// and it allows no core files. Run as uid 65534 so that permissions apply.
func TestProcessIsNotDumpable(t *testing.T) {
	dir, _ := os.MkdirTemp("", "jvdump")
	defer os.RemoveAll(dir)
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "v.sock")
	cmd := exec.Command("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", bins.Daemon,
		"--backend", "memory", "--socket", sock, "--state-dir", filepath.Join(dir, "state"))
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// setpriv execs, so cmd's pid is the daemon's.
	pid := strconv.Itoa(cmd.Process.Pid)
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/"+pid+"/environ", &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 {
		t.Fatalf("/proc/%s/environ is owned by uid %d: the process is dumpable", pid, st.Uid)
	}
	peek := exec.Command("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "cat", "/proc/"+pid+"/environ")
	if out, err := peek.CombinedOutput(); err == nil {
		t.Fatalf("a same-uid process read the daemon's environment: %q", out)
	}
	limits, err := os.ReadFile("/proc/" + pid + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(limits), "\n") {
		if strings.HasPrefix(line, "Max core file size") && !strings.Contains(line, " 0 ") {
			t.Fatalf("core files allowed: %s", line)
		}
	}
}

// TestGracefulStop: SIGTERM answers the requests already sent, then the
// daemon exits 0 and removes its socket.
func TestGracefulStop(t *testing.T) {
	d := start(t, opts{})
	r := d.Raw()
	r.Send(`{"id":1,"method":"health"}` + "\n")
	if a := r.Answer(); a.Error != nil {
		t.Fatal(a.Error)
	}
	_ = d.Signal(syscall.SIGTERM)
	d.AwaitNotify("STOPPING=1")
	exited, err := d.Wait(20 * time.Second)
	if !exited {
		t.Fatal("daemon did not drain and exit")
	}
	if err != nil {
		t.Fatalf("exit: %v\n%s", err, d.Log())
	}
	if !r.Closed() {
		t.Fatal("an idle connection survived shutdown")
	}
	if _, err := os.Stat(d.Socket); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}
