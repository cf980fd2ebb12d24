package runbook

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// mountTmpfs mounts a tmpfs of size at dir (mode 0700, as a state
// directory must be) and unmounts it when t ends. It skips t, saying why,
// if mounting is not permitted here.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	requireRoot(t, "mounts a small tmpfs as the state directory")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); this drill needs a file system it can fill", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
			_ = exec.Command("umount", "-l", dir).Run()
		}
	})
}

// fill writes zeros to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		_, err := f.Write(buf)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The last partial page too.
	for _, err := f.Write(buf[:512]); err == nil; _, err = f.Write(buf[:512]) {
	}
}

// TestDiskFull drills "The audit log is full": the state directory's file
// system fills up while the daemon serves. Reads are refused with
// audit_unavailable rather than served unrecorded, doctor says audit
// fail; after the runbook (df, free space, restart) doctor says audit ok
// and every read that was answered with a value is in the audit log, once.
func TestDiskFull(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	mountTmpfs(t, state, "4m")
	d := daemontest.New(t, bins, daemontest.Options{StateDir: state})
	d.Start()
	ctx := tctx(t)
	owner := d.Owner()
	if err := owner.Set(ctx, "svc/token", []byte("v")); err != nil {
		t.Fatal(err)
	}
	tok, err := owner.TokenCreate(ctx, wire.TokenCreateParams{Name: "svc", Grants: []wire.GrantJSON{{Pattern: "svc/**", Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Dial(tok.Token)
	answered := 0
	read := func() error {
		v, err := c.Get(ctx, "svc/token")
		if err == nil {
			if string(v) != "v" {
				t.Fatalf("read %q", v)
			}
			answered++
		}
		return err
	}
	for range 20 {
		if err := read(); err != nil {
			t.Fatal(err)
		}
	}

	// The failure: something else fills the file system.
	filler := filepath.Join(state, "old-export.tar")
	fill(t, filler)
	refused := false
	for i := 0; i < 5000 && !refused; i++ {
		switch err := read(); {
		case wire.CodeOf(err) == wire.CodeAuditUnavailable:
			refused = true
		case err != nil:
			t.Fatalf("read with the disk full: %v, want a value or audit_unavailable", err)
		}
	}
	if !refused {
		t.Fatalf("5000 reads with the state's file system full were all served (%d answered)", answered)
	}
	if err := read(); wire.CodeOf(err) != wire.CodeAuditUnavailable {
		t.Fatalf("a read after the first refusal: %v, want audit_unavailable", err)
	}
	// A small record (doctor's own requests) may still fit in the
	// journal's last page when a read's does not; status still reports the
	// audit log unhealthy for 10 s after any failed write, so doctor says
	// fail at once.
	r := d.Doctor()
	if r.Status("audit") != "fail" {
		t.Errorf("doctor with the disk full: audit %q, want fail\n%s", r.Status("audit"), r.Result)
	}
	if f := r.Find("audit"); len(f) == 1 && !strings.Contains(f[0].Fix, "df -h "+state) {
		t.Errorf("the audit finding's fix does not say df -h %s: %+v", state, f[0])
	}

	b := blocks(t, "The audit log is full (audit_unavailable)")
	if len(b) != 2 {
		t.Fatalf("want two ```sh blocks (find the full file system; restart), got %d", len(b))
	}
	dr := newDrill(t, d)
	dr.run(b[0])
	const df = "df -h /var/lib/jawn-vault"
	if out := dr.result(df).Stdout; !strings.Contains(out, "100%") {
		t.Errorf("%s does not show the file system full:\n%s", df, out)
	}
	// "Free space on that file system": the owner removes what is not the
	// vault's.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	dr.on["sudo systemctl restart jawn-vault"] = func() { d.Stop(); d.Start() }
	dr.run(b[1])

	doctorOK(t, d.Doctor(), "audit", "daemon", "database", "audit-journal")
	rows, err := d.Owner().AuditQuery(ctx, wire.AuditQueryParams{Client: "svc", Path: "svc/token", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, row := range rows {
		if row.Method == "get" && row.Outcome == "ok" {
			ok++
		}
	}
	if ok != answered {
		t.Errorf("audit rows of reads answered with a value: %d, want %d (every answered read, once)", ok, answered)
	}
	t.Logf("%d reads answered before the refusals; all in the audit log", answered)
	c = d.Dial(tok.Token) // the restart closed the old connection
	if err := read(); err != nil {
		t.Errorf("a read after the recovery: %v", err)
	}
}
