package runbook

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/vaultd"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// oldCommit is the version upgraded from: the last commit before migration
// 0004 (a token's last use kept on the token), so that the upgrade applies
// a real migration to a database the old daemon wrote.
const oldCommit = "8905b67"

// oldVersion labels the old build, so that doctor can tell it from the new.
const oldVersion = "0.1.0-" + oldCommit

// buildOld builds jawn-vault as it was at oldCommit into dir, from
// `git archive` (the working tree is not touched).
func buildOld(t *testing.T, dir string) string {
	t.Helper()
	requireTool(t, "git", "git")
	// From the repository's top: git archive in a subdirectory archives
	// only that subdirectory.
	const top = "../.."
	check := exec.Command("git", "cat-file", "-e", oldCommit+"^{commit}")
	check.Dir = top
	if out, err := check.CombinedOutput(); err != nil {
		t.Skipf("the upgrade drill builds the old version from commit %s, which this checkout does not have (a clone with its history is needed): %v %s", oldCommit, err, out)
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", `git archive "$0" | tar -x -C "$1"`, oldCommit, src)
	archive.Dir = top
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", oldCommit, err, out)
	}
	bin := filepath.Join(dir, "jawn-vault")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X "+daemontest.Module+"/vaultd.Version="+oldVersion, "-o", bin, "./cmd/jawn-vault")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building jawn-vault at %s: %v\n%s", oldCommit, err, out)
	}
	return bin
}

// userVersion is the number of migrations the database at path has had.
func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestUpgrade drills "Upgrade": a daemon of the old version serves, with a
// token in use; the runbook's backup is taken; the new binaries are
// installed over the old and the daemon restarted. The new daemon applies
// the migration the old database lacks and keeps the rest: the token
// still reads, the audit rows from before are there, doctor shows the new
// version, and the backup keeps the old schema for a rollback.
func TestUpgrade(t *testing.T) {
	requireTool(t, "sqlite3", "sqlite3")
	requireTool(t, "install", "coreutils")
	migrations, err := filepath.Glob("../../vaultd/sqlite/migrations/*.sql")
	if err != nil || len(migrations) < 4 {
		t.Fatalf("the migrations the new daemon embeds: %v %v", migrations, err)
	}

	// /usr/local/bin, holding the old version.
	installed := filepath.Join(t.TempDir(), "usr-local-bin")
	if err := os.Mkdir(installed, 0o755); err != nil {
		t.Fatal(err)
	}
	old := buildOld(t, t.TempDir())
	if out, err := exec.Command("install", old, installed+"/").CombinedOutput(); err != nil {
		t.Fatalf("installing the old version: %v\n%s", err, out)
	}
	// bin/ after `make build`: the binaries under test.
	built := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(built, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bins.Daemon, bins.CLI, bins.Exec, bins.Migrate} {
		if err := os.Symlink(p, filepath.Join(built, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}

	ib := bins
	ib.Daemon = filepath.Join(installed, "jawn-vault")
	d := daemontest.New(t, ib, daemontest.Options{})
	d.Start()
	ctx := tctx(t)
	owner := d.Owner()
	const secret = "s3cret-value"
	if err := owner.Set(ctx, "svc/token", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	bot, err := owner.TokenCreate(ctx, wire.TokenCreateParams{Name: "bot", Grants: []wire.GrantJSON{{Pattern: "svc/token", Level: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := d.Dial(bot.Token).Get(ctx, "svc/token"); err != nil || string(v) != secret {
		t.Fatalf("the token before the upgrade: %q %v", v, err)
	}
	db := filepath.Join(d.StateDir, "jawn-vault.db")
	before := userVersion(t, db)
	if before >= len(migrations) {
		t.Fatalf("the old daemon's database has had %d migrations; the upgrade would apply none of the %d", before, len(migrations))
	}

	// Step 1: doctor before, and what it says of the daemon.
	r := d.Doctor()
	if f := r.Find("daemon"); len(f) == 0 || !strings.Contains(f[0].Message, "jawn-vault "+oldVersion+" ") {
		t.Fatalf("doctor before the upgrade does not show the old version %s:\n%s", oldVersion, r.Result)
	}
	// Step 2: the backup, as its section says.
	backup := t.TempDir()
	bdr := newDrill(t, d, "/backup", backup)
	bdr.run(blocks(t, "Backup and restore of the state")[0])

	// Steps 3 to 5. `make build` made the binaries under test.
	dr := newDrill(t, d, "make build && ", "", "bin/*", built+"/*", "/usr/local/bin/", installed+"/")
	dr.on["sudo systemctl restart jawn-vault"] = func() {
		d.Stop()
		d.Start()
	}
	const doctor = "vault-cli doctor"
	dr.run(lockedBlock(t, blocks(t, "Upgrade"), "sudo systemctl restart jawn-vault"))

	if out := dr.result(doctor).Stdout; !strings.Contains(out, "jawn-vault "+vaultd.Version+" answers") || strings.Contains(out, oldVersion) {
		t.Errorf("doctor after the upgrade does not show the new version %s:\n%s", vaultd.Version, out)
	}
	if got := userVersion(t, db); got != len(migrations) {
		t.Errorf("the database after the upgrade has had %d migrations, want all %d", got, len(migrations))
	}
	if got := userVersion(t, filepath.Join(backup, "jawn-vault.db")); got != before {
		t.Errorf("the backup has had %d migrations, want the old version's %d (it is what a rollback restores)", got, before)
	}
	if v, err := d.Dial(bot.Token).Get(ctx, "svc/token"); err != nil || string(v) != secret {
		t.Errorf("the token after the upgrade: %q %v", v, err)
	}
	a := d.CLI(nil, "audit", "--client", "bot")
	if a.Code != 0 || strings.Count(a.Stdout, "svc/token") != 2 {
		t.Errorf("the audit after the upgrade should hold bot's read from before and after it:\n%s", a)
	}
	doctorOK(t, d.Doctor(), "daemon", "database", "audit", "store-live")
}
