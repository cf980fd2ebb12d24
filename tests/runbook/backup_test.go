package runbook

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestBackupAndRestore drills "Backup and restore of the state": an online
// backup while the daemon serves, more work after it, then the state lost
// and restored. The restored daemon knows the tokens of the backup and not
// the later one, and its audit log holds every row written before the
// backup exactly once, though at the time of the backup those rows were
// only in the journal.
func TestBackupAndRestore(t *testing.T) {
	requireTool(t, "sqlite3", "sqlite3")
	d := daemontest.New(t, bins, daemontest.Options{})
	d.Start()
	owner := d.Owner()
	ctx := tctx(t)
	const n = 5
	for i := range n {
		if err := owner.Set(ctx, fmt.Sprintf("svc/before-%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := owner.Set(ctx, "svc/after", []byte("v")); err != nil {
		t.Fatal(err)
	}
	early, err := owner.TokenCreate(ctx, wire.TokenCreateParams{Name: "early", Grants: []wire.GrantJSON{{Pattern: "svc/**", Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	ec := d.Dial(early.Token)
	// So that the reads before the backup are only in the journal when it
	// is taken — decided here, not by when the daemon's loader last ran —
	// another connection holds SQLite's write lock meanwhile, as a long
	// write would: the loader waits, the reads are answered once their
	// records are in the journal, and the backup (a reader) is not held up.
	_, release := lockDB(t, filepath.Join(d.StateDir, "jawn-vault.db"))
	for i := range n {
		if _, err := ec.Get(ctx, fmt.Sprintf("svc/before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}

	backup := t.TempDir()
	b := blocks(t, "Backup and restore of the state")
	if len(b) != 2 {
		t.Fatalf("want two ```sh blocks (backup, restore), got %d", len(b))
	}
	dr := newDrill(t, d, "/backup", backup)
	dr.run(b[0])
	for _, f := range []string{"jawn-vault.db", "jawn-vault.db.journal"} {
		fi, err := os.Stat(filepath.Join(backup, f))
		if err != nil {
			t.Fatalf("the backup has no %s: %v", f, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("backup %s has mode %04o, want 0600", f, fi.Mode().Perm())
		}
	}

	release()
	if got := readsIn(t, filepath.Join(backup, "jawn-vault.db")); got != 0 {
		t.Fatalf("the database copy holds %d of the reads made with its write lock held elsewhere; want them only in the journal copy", got)
	}

	// After the backup: a token and a read the restore will forget.
	late, err := owner.TokenCreate(ctx, wire.TokenCreateParams{Name: "late", Grants: []wire.GrantJSON{{Pattern: "svc/**", Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.Get(ctx, "svc/after"); err != nil {
		t.Fatal(err)
	}

	dr.on["sudo systemctl stop jawn-vault.socket jawn-vault"] = d.Stop
	dr.on["sudo systemctl start jawn-vault.socket"] = d.Start
	dr.run(b[1])

	// The moved-aside state is kept.
	if _, err := os.Stat(filepath.Join(d.StateDir+".broken", "jawn-vault.db")); err != nil {
		t.Errorf("the moved-aside database is gone: %v", err)
	}
	doctorOK(t, d.Doctor(), "state-dir", "database", "audit-journal", "audit", "daemon")

	// Every audit row written before the backup, once; none after it.
	rows, err := d.Owner().AuditQuery(ctx, wire.AuditQueryParams{Client: "early", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		if r.Method == "get" {
			seen[r.Path]++
		}
	}
	for i := range n {
		if p := fmt.Sprintf("svc/before-%d", i); seen[p] != 1 {
			t.Errorf("audit rows for the read of %s before the backup: %d, want 1", p, seen[p])
		}
	}
	if seen["svc/after"] != 0 {
		t.Errorf("the restored audit log has a read made after the backup")
	}
	// Tokens as of the backup.
	if v, err := d.Dial(early.Token).Get(ctx, "svc/before-0"); err != nil || string(v) != "v" {
		t.Errorf("a token issued before the backup: %q %v, want it to work", v, err)
	}
	if _, err := d.Dial(late.Token).Get(ctx, "svc/before-0"); wire.CodeOf(err) != wire.CodeUnauthenticated {
		t.Errorf("a token issued after the backup: %v, want unauthenticated", err)
	}
	// The restored daemon writes on from where the backup ended.
	if _, err := d.Dial(early.Token).Get(ctx, "svc/after"); err != nil {
		t.Fatal(err)
	}
	rows, err = d.Owner().AuditQuery(ctx, wire.AuditQueryParams{Client: "early", Path: "svc/after", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Errorf("a read after the restore: %d audit rows, want 1", len(rows))
	}
}

// readsIn counts the audit rows of reads of svc/before-* in a copy of the
// database at path.
func readsIn(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	writeFile(t, cp, string(b), 0o600)
	db, err := sql.Open("sqlite", "file:"+cp)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM audit WHERE method = 'get' AND path LIKE 'svc/before-%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
