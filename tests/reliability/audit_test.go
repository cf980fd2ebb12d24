package reliability

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/daemontest"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// chattr sets or clears the immutable flag on files; root cannot write an
// immutable file either, even through a descriptor it already holds.
func chattr(t *testing.T, flag string, files ...string) {
	t.Helper()
	if len(files) == 0 {
		return
	}
	if out, err := exec.Command("chattr", append([]string{flag}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %v: %v %s", flag, files, err, out)
	}
}

// stateFiles lists the regular files in the state directory.
func stateFiles(t *testing.T, d *daemon) (db, journal []string) {
	t.Helper()
	es, err := os.ReadDir(d.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(d.StateDir, e.Name())
		if strings.HasSuffix(e.Name(), ".journal") {
			journal = append(journal, p)
		} else {
			db = append(db, p)
		}
	}
	return db, journal
}

// TestReadOnlyDatabase makes the state unwritable in a way that binds root
// too: the immutable attribute (ext4 here), and a read-only bind mount.
//   - While running, with the database files immutable but the audit
//     journal writable, the journal still makes each record durable, so
//     reads go on; the backlog is reported.
//   - With the journal immutable too, reads answer audit_unavailable and no
//     value leaves the daemon; clearing the flag brings service back.
//   - A fresh start on an immutable database, or on a read-only mount of
//     the state directory, fails at once with a clear error and a hint.
func TestReadOnlyDatabase(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test needs root (chattr, mount)")
	}
	d := start(t, opts{args: []string{"--cache-ttl", "1h"}})
	const secret = "SENTINEL-readonly-4a4a"
	d.plant([]byte(secret))
	d.insert("svc/token", []byte(secret))
	c := d.Dial("")
	if v, err := c.Get(ctx(t), "svc/token"); err != nil || string(v) != secret {
		t.Fatalf("before: %q %v", v, err)
	}
	dbFiles, journal := stateFiles(t, d)
	t.Cleanup(func() { chattr(t, "-i", append(dbFiles, journal...)...) })

	// 1. The database alone is read-only.
	chattr(t, "+i", dbFiles...)
	for i := range 200 {
		if v, err := c.Get(ctx(t), "svc/token"); err != nil || string(v) != secret {
			t.Fatalf("read %d with only the database read-only: %v (the journal still works)", i, err)
		}
	}
	// How the backlog grows: 20,000 more requests, pipelined.
	rss0 := procStatusKB(t, d.PID(), "VmRSS")
	var lines []string
	var ids []string
	for i := range 20000 {
		lines = append(lines, fmt.Sprintf(`{"id":"ro-%d","method":"health"}`+"\n", i))
		ids = append(ids, fmt.Sprintf("ro-%d", i))
	}
	if err := pipeline(d.Socket, lines, ids, 500, func(answerRec) {}); err != nil {
		t.Fatal(err)
	}
	st := d.status()
	rss1 := procStatusKB(t, d.PID(), "VmRSS")
	t.Logf("database files %v immutable, journal writable: 20,200 requests served; audit healthy=%v committed=%d queue_depth=%d (records held in memory until the database is writable); VmRSS %d -> %d kB",
		names(dbFiles), st.Audit.Healthy, st.Audit.Committed, st.Audit.QueueDepth, rss0, rss1)

	// 2. The journal too: no value may leave.
	chattr(t, "+i", journal...)
	refused := false
	for i := 0; i < 500 && !refused; i++ {
		v, err := c.Get(ctx(t), "svc/token")
		switch {
		case code(err) == wire.CodeAuditUnavailable:
			refused = true
		case err != nil:
			t.Fatalf("unexpected error with the state read-only: %v", err)
		case string(v) != secret:
			t.Fatalf("wrong value %q", v)
		}
	}
	if !refused {
		t.Fatal("500 reads with an immutable journal and database were all served")
	}
	for range 5 {
		if v, err := c.Get(ctx(t), "svc/token"); err == nil || len(v) > 0 {
			t.Fatalf("a value left the daemon while the audit log was read-only: %v", err)
		}
	}
	chattr(t, "-i", append(dbFiles, journal...)...)
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, err := c.Get(ctx(t), "svc/token")
		if err == nil && string(v) == secret {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not resume once the state was writable: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.Stop()

	// 3. A fresh start on an immutable database.
	dbFiles, journal = stateFiles(t, d)
	chattr(t, "+i", dbFiles...)
	out, err := d.failedStart()
	chattr(t, "-i", dbFiles...)
	t.Logf("start on an immutable database: %v\n%s", err, out)
	if err == nil || !strings.Contains(out, "state database") || !strings.Contains(out, "hint:") {
		t.Errorf("start on an immutable database: %v, want a clear error and a hint\n%s", err, out)
	}

	// 4. A fresh start on a read-only mount of the state directory.
	if o, err := exec.Command("mount", "--bind", d.StateDir, d.StateDir).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind: %v %s", err, o)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", d.StateDir).Run() })
	if o, err := exec.Command("mount", "-o", "remount,bind,ro", d.StateDir).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, o)
	}
	out, err = d.failedStart()
	t.Logf("start on a read-only state directory: %v\n%s", err, out)
	if err == nil || !strings.Contains(out, "state database") || !strings.Contains(out, "hint:") {
		t.Errorf("start on a read-only state directory: %v, want a clear error and a hint\n%s", err, out)
	}
	if o, err := exec.Command("umount", d.StateDir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, o)
	}
	d.Start()
	if v, err := d.Dial("").Get(ctx(t), "svc/token"); err != nil || string(v) != secret {
		t.Fatalf("after the state was writable again: %q %v", v, err)
	}
}

func names(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	return out
}

// failedStart runs the daemon expecting it to exit before READY, and
// returns what it printed during this run and, if its exit status was not
// zero, an error saying so.
func (d *daemon) failedStart() (string, error) {
	d.t.Helper()
	mark := len(d.Log())
	err := d.TryStart()
	var exit *daemontest.ExitError
	switch {
	case errors.As(err, &exit):
		if exit.Code == 0 {
			return exit.Output, nil
		}
		return exit.Output, fmt.Errorf("exit status %d", exit.Code)
	case err != nil:
		d.t.Fatal(err)
	default:
		d.KillGroup()
		d.t.Fatalf("the daemon kept running on read-only state\n%s", d.Log()[mark:])
	}
	return "", nil
}

// answerRec is what a client got back for one request.
type answerRec struct {
	id   string
	code string
}

// pipeline sends lines on a fresh connection in chunks and collects each
// answer; it stops at the first connection error.
func pipeline(socket string, lines []string, ids []string, chunk int, got func(answerRec)) error {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return err
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 1<<16)
	for start := 0; start < len(lines); start += chunk {
		end := min(start+chunk, len(lines))
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write([]byte(strings.Join(lines[start:end], ""))); err != nil {
			return err
		}
		for i := start; i < end; i++ {
			line, err := br.ReadBytes('\n')
			if err != nil {
				return err
			}
			a, err := wire.ParseResponse(line[:len(line)-1])
			if err != nil {
				return fmt.Errorf("bad answer %q", line)
			}
			id := strings.Trim(string(a.ID), `"`)
			if want := ids[i]; id != want && !(want == "" && id == "null") {
				return fmt.Errorf("answer for %q came back as %s", want, a.ID)
			}
			rec := answerRec{id: ids[i]}
			if a.Error != nil {
				rec.code = string(a.Error.Code)
			}
			got(rec)
		}
	}
	return nil
}

// TestTenThousandMixedRequestsAllAudited: 10,000 requests, good, denied
// and malformed, pipelined on eight connections: the audit log has exactly
// one row per request; each row with an id matches its answer's outcome,
// and the malformed lines that carry no id have their rows too.
func TestTenThousandMixedRequestsAllAudited(t *testing.T) {
	d := start(t, opts{})
	d.insert("svc/token", []byte("v"))
	tok := d.token("mixed", "svc/*:read")
	const conns, per = 8, 1250
	var mu sync.Mutex
	answers := map[string]string{}
	noID := 0
	var wg sync.WaitGroup
	for ci := range conns {
		lines := make([]string, per)
		ids := make([]string, per)
		for i := range per {
			id := fmt.Sprintf("m%d-%d", ci, i)
			switch i % 10 {
			case 0, 1, 2:
				lines[i] = fmt.Sprintf(`{"id":%q,"auth":%q,"method":"get","params":{"path":"svc/token"}}`, id, tok)
			case 3:
				lines[i] = fmt.Sprintf(`{"id":%q,"method":"health"}`, id)
			case 4:
				lines[i] = fmt.Sprintf(`{"id":%q,"auth":%q,"method":"list"}`, id, tok)
			case 5:
				lines[i] = fmt.Sprintf(`{"id":%q,"auth":%q,"method":"get","params":{"path":"other/x"}}`, id, tok)
			case 6:
				lines[i] = fmt.Sprintf(`{"id":%q,"auth":"jv_nope%d","method":"get","params":{"path":"svc/token"}}`, id, i)
			case 7:
				lines[i] = fmt.Sprintf(`{"id":%q,"auth":%q,"method":"get","params":{"path":7}}`, id, tok)
			case 8:
				lines[i] = fmt.Sprintf(`{"id":%q,"auth":%q,"method":"get","params":{"path":"../x"}}`, id, tok)
			case 9:
				if i%20 == 9 {
					lines[i], id = `{"id":`+fmt.Sprint(i)+`,"method":"get","params":{"path":"x"}`, "" // truncated: no id
				} else {
					lines[i] = fmt.Sprintf(`{"id":%q,"method":"no.such.method"}`, id)
				}
			}
			lines[i] += "\n"
			ids[i] = id
		}
		wg.Go(func() {
			err := pipeline(d.Socket, lines, ids, 250, func(a answerRec) {
				mu.Lock()
				defer mu.Unlock()
				if a.id == "" {
					noID++
					return
				}
				answers[a.id] = a.code
			})
			if err != nil {
				t.Errorf("connection %d: %v", ci, err)
			}
		})
	}
	wg.Wait()
	if len(answers)+noID != conns*per {
		t.Fatalf("%d answers for %d requests", len(answers)+noID, conns*per)
	}
	d.Stop()

	db := d.openDB()
	defer db.Close()
	rows, err := db.Query(`SELECT coalesce(request_id, ''), coalesce(code, ''), outcome FROM audit`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	rowsNoID, total := 0, 0
	for rows.Next() {
		var id, code, outcome string
		if err := rows.Scan(&id, &code, &outcome); err != nil {
			t.Fatal(err)
		}
		total++
		switch {
		case id == "" && code == string(wire.CodeBadRequest):
			rowsNoID++
		case strings.HasPrefix(id, "m"):
			seen[id]++
			if want, ok := answers[id]; !ok {
				t.Errorf("audit row for %s, which was never answered", id)
			} else if code != want {
				t.Errorf("%s: audit code %q, answer %q", id, code, want)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id := range answers {
		if seen[id] != 1 {
			t.Errorf("request %s has %d audit rows, want 1", id, seen[id])
		}
	}
	if rowsNoID != noID {
		t.Errorf("%d audit rows for %d malformed lines without an id", rowsNoID, noID)
	}
	t.Logf("%d requests (%d without an id) on %d connections; %d audit rows in all, %d joined by request id",
		conns*per, noID, conns, total, len(seen))
}

// TestKillNineUnderLoad: twenty times, clients load the daemon and it is
// killed with SIGKILL at a random moment. While it is down the database
// passes PRAGMA integrity_check; after each restart, every answer any
// client received has its audit row, with the answer's code.
func TestKillNineUnderLoad(t *testing.T) {
	d := start(t, opts{})
	d.insert("svc/token", []byte("v"))
	tok := d.token("loader", "svc/**:write")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 42))
	t.Logf("random seed %d", seed)
	const rounds, clients, perClient = 20, 4, 1000
	totalAnswered := 0
	var downtime time.Duration
	for round := range rounds {
		since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
		// A warm cache, so that the load is the daemon's, not gpg's.
		if _, err := d.Dial("").Get(ctx(t), "svc/token"); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		answered := map[string]string{}
		var wg sync.WaitGroup
		for ci := range clients {
			lines := make([]string, perClient)
			ids := make([]string, perClient)
			for i := range perClient {
				id := fmt.Sprintf("k%d-%d-%d", round, ci, i)
				switch {
				case ci == 0 && i%50 == 25:
					lines[i] = fmt.Sprintf(`{"id":%q,"auth":%q,"method":"set","params":{"path":"svc/w","value":"r%d-%d"}}`, id, tok, round, i)
				case i%3 == 0:
					lines[i] = fmt.Sprintf(`{"id":%q,"auth":%q,"method":"get","params":{"path":"other/x"}}`, id, tok)
				case i%3 == 1:
					lines[i] = fmt.Sprintf(`{"id":%q,"method":"health"}`, id)
				default:
					lines[i] = fmt.Sprintf(`{"id":%q,"auth":%q,"method":"get","params":{"path":"svc/token"}}`, id, tok)
				}
				lines[i] += "\n"
				ids[i] = id
			}
			wg.Go(func() {
				_ = pipeline(d.Socket, lines, ids, 10, func(a answerRec) {
					mu.Lock()
					answered[a.id] = a.code
					mu.Unlock()
				})
			})
		}
		time.Sleep(time.Duration(50+rng.IntN(350)) * time.Millisecond)
		d.Kill()
		wg.Wait()

		db := d.openDB()
		var check string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			db.Close()
			t.Fatalf("round %d: integrity_check = %q %v", round, check, err)
		}
		db.Close()

		t1 := time.Now()
		d.Start()
		downtime += time.Since(t1)
		rows := d.auditRows(wire.AuditQueryParams{Since: since, Limit: 10000})
		inLog := map[string]string{}
		for _, r := range rows {
			inLog[r.RequestID] = r.Code
		}
		missing := 0
		for id, c := range answered {
			lc, ok := inLog[id]
			if !ok {
				missing++
				if missing <= 3 {
					t.Errorf("round %d: %s was answered (%q) but has no audit row", round, id, c)
				}
			} else if lc != c {
				t.Errorf("round %d: %s answered %q, audited %q", round, id, c, lc)
			}
		}
		if missing > 0 {
			t.Fatalf("round %d: %d of %d answered requests missing from the audit log", round, missing, len(answered))
		}
		totalAnswered += len(answered)
	}
	t.Logf("%d kills; %d answered requests in all, every one audited; integrity_check ok every time; restarts took %s on average",
		rounds, totalAnswered, (downtime / rounds).Round(time.Millisecond))
	if v, err := d.Dial("").Get(ctx(t), "svc/token"); err != nil || string(v) != "v" {
		t.Fatalf("after the kills: %q %v", v, err)
	}
}

// TestRetentionOfAMillionRows: a database with a million audit rows older
// than the retention period is pruned while clients keep sending
// requests: no client sees an error, rows get deleted, and the database
// stays sound. Latencies and the deletion rate are reported, not asserted.
func TestRetentionOfAMillionRows(t *testing.T) {
	d := start(t, opts{})
	d.insert("svc/token", []byte("v"))
	d.mustServe("create the schema")
	d.Stop()

	db := d.openDB()
	old := time.Now().Add(-30 * 24 * time.Hour).UnixNano()
	t0 := time.Now()
	if _, err := db.Exec(`INSERT INTO audit (time, request_id, pid, uid, gid, method, path, outcome, duration_us)
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000000)
		SELECT ? + i*1000, 'old-' || i, 1, 0, 0, 'get', 'svc/token', 'ok', 5 FROM n`, old); err != nil {
		t.Fatal(err)
	}
	var n0 int
	_ = db.QueryRow(`SELECT count(*) FROM audit WHERE time < ?`, time.Now().Add(-24*time.Hour).UnixNano()).Scan(&n0)
	db.Close()
	t.Logf("inserted 1,000,000 old rows in %s", time.Since(t0).Round(time.Millisecond))
	if n0 < 1000000 {
		t.Fatalf("%d old rows", n0)
	}

	d.AddArgs("--audit-retention", "1d")
	d.Start()
	if _, err := d.Dial("").Get(ctx(t), "svc/token"); err != nil { // warm the cache
		t.Fatal(err)
	}
	const clients, window = 8, 6 * time.Second
	var mu sync.Mutex
	var lat []time.Duration
	var errs []string
	stop := time.Now().Add(window)
	var wg sync.WaitGroup
	for range clients {
		c := d.Dial("")
		wg.Go(func() {
			for time.Now().Before(stop) {
				t1 := time.Now()
				v, err := c.Get(ctx(t), "svc/token")
				el := time.Since(t1)
				mu.Lock()
				lat = append(lat, el)
				if err != nil || string(v) != "v" {
					errs = append(errs, fmt.Sprint(err))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("%d of %d requests failed during retention; first: %s", len(errs), len(lat), errs[0])
	}
	d.Stop()

	db = d.openDB()
	defer db.Close()
	var left int
	_ = db.QueryRow(`SELECT count(*) FROM audit WHERE time < ?`, time.Now().Add(-24*time.Hour).UnixNano()).Scan(&left)
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q %v", check, err)
	}
	p := percentiles(lat)
	t.Logf("during %s of retention: %d requests from %d clients, latency p50 %s p99 %s max %s; old rows deleted %d of %d (%.0f/s), %d left",
		window, len(lat), clients, p[0], p[1], p[2], n0-left, n0, float64(n0-left)/window.Seconds(), left)
	if left >= n0 {
		t.Fatal("retention deleted no rows")
	}
}

// percentiles returns p50, p99 and the maximum.
func percentiles(d []time.Duration) [3]time.Duration {
	if len(d) == 0 {
		return [3]time.Duration{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return [3]time.Duration{s[len(s)/2], s[len(s)*99/100], s[len(s)-1]}
}

// TestUnloadableAuditBacklogIsBounded: when the database cannot be
// written but the journal can, every answered request's record is durable
// in the journal, and the daemon keeps a copy of each in memory to load
// later. That copy must be bounded: after 50,000 requests the daemon has
// either grown by less than 32 MiB or started refusing reads with
// audit_unavailable. Today it keeps every record (about 1.3 KB of RSS per
// request), so a long outage of the database ends in an OOM kill.
func TestUnloadableAuditBacklogIsBounded(t *testing.T) {
	d := start(t, opts{args: []string{"--cache-ttl", "1h"}})
	d.insert("svc/token", []byte("v"))
	if v, err := d.Dial("").Get(ctx(t), "svc/token"); err != nil || string(v) != "v" {
		t.Fatalf("before: %q %v", v, err)
	}
	dbFiles, journal := stateFiles(t, d)
	if len(journal) == 0 {
		t.Skip("no audit journal beside the database: nothing to bound")
	}
	t.Cleanup(func() { chattr(t, "-i", dbFiles...) })
	chattr(t, "+i", dbFiles...)
	rss0 := procStatusKB(t, d.PID(), "VmRSS")
	const n = 50000
	lines, ids := make([]string, n), make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("bl-%d", i)
		lines[i] = fmt.Sprintf(`{"id":%q,"method":"get","params":{"path":"svc/token"}}`+"\n", ids[i])
	}
	refused := 0
	if err := pipeline(d.Socket, lines, ids, 500, func(a answerRec) {
		if a.code == string(wire.CodeAuditUnavailable) {
			refused++
		}
	}); err != nil {
		t.Fatal(err)
	}
	rss1 := procStatusKB(t, d.PID(), "VmRSS")
	st := d.status()
	t.Logf("%d reads with the database unwritable: %d refused; audit queue_depth %d; VmRSS %d -> %d kB (%+d kB)",
		n, refused, st.Audit.QueueDepth, rss0, rss1, rss1-rss0)
	if rss1-rss0 >= 32<<10 && refused == 0 {
		t.Errorf("the daemon grew by %d kB holding %d unloaded audit records and never refused: the backlog is unbounded", rss1-rss0, st.Audit.QueueDepth)
	}
	chattr(t, "-i", dbFiles...)
	deadline := time.Now().Add(30 * time.Second)
	for d.status().Audit.QueueDepth > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the backlog was not loaded once the database was writable: %d left", d.status().Audit.QueueDepth)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
