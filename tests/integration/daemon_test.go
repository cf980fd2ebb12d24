package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/internal/testpass"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestRoundTripsWithPass: what pass writes the vault serves, and what the
// vault writes pass reads, byte for byte.
func TestRoundTripsWithPass(t *testing.T) {
	d := start(t, opts{})
	testpass.PassInsert(t, gnupgHome, d.Store, "claude/api/anthropic", []byte("sk-ant-from-pass"))
	c := d.Dial(d.token("rw", nil, "claude/**:write"))

	v, err := c.Get(ctx(t), "claude/api/anthropic")
	if err != nil || string(v) != "sk-ant-from-pass" {
		t.Fatalf("get of a pass insert: %q %v", v, err)
	}
	values := map[string][]byte{
		"claude/multi":    []byte("line1\nline2\n"),
		"claude/binary":   {0xff, 0x00, 0xfe, 'x'},
		"claude/empty":    {},
		"claude/unicode":  []byte("é 日本 😀 \u2028"),
		"claude/deep/a/b": []byte("deep"),
	}
	for p, val := range values {
		if err := c.Set(ctx(t), p, val); err != nil {
			t.Fatalf("set %s: %v", p, err)
		}
		if got := testpass.PassShow(t, gnupgHome, d.Store, p); !bytes.Equal(got, append(append([]byte{}, val...), '\n')) {
			t.Fatalf("pass show %s = %q, want %q plus a newline", p, got, val)
		}
		got, err := c.Get(ctx(t), p)
		if err != nil || !bytes.Equal(got, val) {
			t.Fatalf("get %s = %q %v, want %q", p, got, err, val)
		}
	}
	if err := c.Delete(ctx(t), "claude/multi"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx(t), "claude/multi"); code(err) != wire.CodeNotFound {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.Store, "claude/multi.gpg")); !os.IsNotExist(err) {
		t.Fatalf("entry file still there: %v", err)
	}
}

// TestExternalChangeIsPickedUp: a value cached by the daemon is replaced
// when pass changes the entry behind its back.
func TestExternalChangeIsPickedUp(t *testing.T) {
	d := start(t, opts{config: `cache_ttl = "1h"`})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("old"))
	c := d.Dial("")
	if v, err := c.Get(ctx(t), "svc/token"); err != nil || string(v) != "old" {
		t.Fatalf("first get: %q %v", v, err)
	}
	testpass.Pass(t, gnupgHome, d.Store, []byte("new\n"), "insert", "-m", "-f", "svc/token")
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, err := c.Get(ctx(t), "svc/token")
		if err != nil {
			t.Fatal(err)
		}
		if string(v) == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q after an external pass insert", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGrantsAndNoExistenceOracle: a token reads only what it was granted;
// outside its grants, existing and missing paths are refused alike, and
// list shows only readable paths.
func TestGrantsAndNoExistenceOracle(t *testing.T) {
	d := start(t, opts{})
	for _, p := range []string{"claude/tokens/telegram-bot", "claude/tokens/slack-bot", "claude/api/anthropic", "other/x"} {
		testpass.PassInsert(t, gnupgHome, d.Store, p, []byte("v-"+p))
	}
	c := d.Dial(d.token("bot", nil, "claude/tokens/*:read"))
	if v, err := c.Get(ctx(t), "claude/tokens/telegram-bot"); err != nil || string(v) != "v-claude/tokens/telegram-bot" {
		t.Fatalf("granted get: %q %v", v, err)
	}
	_, errExists := c.Get(ctx(t), "claude/api/anthropic")
	_, errMissing := c.Get(ctx(t), "claude/api/missing")
	if code(errExists) != wire.CodePermissionDenied || errExists.Error() != errMissing.Error() {
		t.Fatalf("outside the grants: existing %v, missing %v; want the same permission_denied", errExists, errMissing)
	}
	if err := c.Set(ctx(t), "claude/tokens/telegram-bot", []byte("x")); code(err) != wire.CodePermissionDenied {
		t.Fatalf("read token wrote: %v", err)
	}
	paths, err := c.List(ctx(t), "")
	if err != nil || strings.Join(paths, ",") != "claude/tokens/slack-bot,claude/tokens/telegram-bot" {
		t.Fatalf("list = %v %v", paths, err)
	}
	if _, err := c.TokenList(ctx(t)); code(err) != wire.CodePermissionDenied {
		t.Fatalf("a read token listed tokens: %v", err)
	}
	// An admin of claude/** may hand out claude/tokens/* but not other/**.
	sub := d.Dial(d.token("sub-admin", nil, "claude/**:admin"))
	if _, err := sub.TokenCreate(ctx(t), wire.TokenCreateParams{Name: "ok", Grants: []wire.GrantJSON{{Pattern: "claude/tokens/*", Level: "read"}}}); err != nil {
		t.Fatalf("scoped admin could not delegate within its scope: %v", err)
	}
	if _, err := sub.TokenCreate(ctx(t), wire.TokenCreateParams{Name: "bad", Grants: []wire.GrantJSON{{Pattern: "other/**", Level: "read"}}}); code(err) != wire.CodePermissionDenied {
		t.Fatalf("scoped admin escalated: %v", err)
	}
	// No token from a non-owner is unauthenticated; a wrong token too.
	if _, err := d.Dial("jv_not-a-real-token").Get(ctx(t), "claude/tokens/slack-bot"); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("bogus token: %v", err)
	}
}

// TestRevocationBitesOnOpenConnection: a revoked token is refused on the
// next request of a connection opened before the revocation, even for a
// value that sits in the cache.
func TestRevocationBitesOnOpenConnection(t *testing.T) {
	d := start(t, opts{config: `cache_ttl = "1h"`})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("v"))
	c := d.Dial(d.token("svc", nil, "svc/*:read"))
	if _, err := c.Get(ctx(t), "svc/token"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dial("").TokenRevoke(ctx(t), "svc"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx(t), "svc/token"); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("revoked token on an open connection: %v", err)
	}
	rows := d.auditRows(wire.AuditQueryParams{Client: "svc", Outcome: "denied"})
	if len(rows) == 0 {
		// The client name is unknown once revoked; find it by detail.
		rows = d.auditRows(wire.AuditQueryParams{Outcome: "denied"})
	}
	found := false
	for _, r := range rows {
		if r.Detail == "revoked token" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no audit row says the token was revoked: %+v", rows)
	}
}

// TestTokenExpiry: a token with a TTL stops working when it expires.
func TestTokenExpiry(t *testing.T) {
	d := start(t, opts{})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("v"))
	res, err := d.Dial("").TokenCreate(ctx(t), wire.TokenCreateParams{Name: "short", TTL: "1s", Grants: []wire.GrantJSON{{Pattern: "svc/*", Level: "read"}}})
	if err != nil || res.ExpiresAt == nil {
		t.Fatalf("create: %+v %v", res, err)
	}
	c := d.Dial(res.Token)
	for time.Now().Before(res.ExpiresAt.Add(50 * time.Millisecond)) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.Get(ctx(t), "svc/token"); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("expired token: %v", err)
	}
}

// TestBadInputIsAnsweredAndOthersAreServed: every kind of bad request gets
// its code on a connection that stays usable, an over-long line closes
// only its own connection, and other clients are served throughout.
func TestBadInputIsAnsweredAndOthersAreServed(t *testing.T) {
	d := start(t, opts{})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("v"))
	good := d.Dial("")
	const sentinel = "SENTINEL-c0ffee"
	r := d.Raw()
	cases := []struct {
		line string
		code wire.Code
	}{
		{`{"id":1,"method":"get","params":{"path":"` + sentinel + `"` + "\n", wire.CodeBadRequest},
		{`{"id":2,"method":"` + sentinel + `"}` + "\n", wire.CodeUnknownMethod},
		{`{"id":3,"method":"get","params":{"path":"../` + sentinel + `"}}` + "\n", wire.CodeInvalidPath},
		{`{"id":4,"method":"get","params":{"path":"a/b.gpg"}}` + "\n", wire.CodeInvalidPath},
		{`{"id":5,"method":"get","params":{"path":"-rf"}}` + "\n", wire.CodeInvalidPath},
		{`{"id":6,"method":"get","params":{"path":"x","` + sentinel + `":1}}` + "\n", wire.CodeBadRequest},
		{"[" + sentinel + "]\n", wire.CodeBadRequest},
		{"{\"id\":7,\"method\":\"get\",\"params\":{\"path\":\"a\xff\"}}\n", wire.CodeBadRequest},
		{`{"id":8,"method":"set","params":{"path":"svc/x","value":"a","value_b64":"YQ=="}}` + "\n", wire.CodeBadRequest},
	}
	for _, c := range cases {
		r.Send(c.line)
		a := r.Answer()
		if a.Error == nil || a.Error.Code != c.code {
			t.Fatalf("%q: answer %+v, want %s", c.line, a.Error, c.code)
		}
		if strings.Contains(a.Error.Message, sentinel) {
			t.Fatalf("the answer echoes the request: %q", a.Error.Message)
		}
		if _, err := good.Get(ctx(t), "svc/token"); err != nil {
			t.Fatalf("another client was not served: %v", err)
		}
	}
	// The same connection still works after all that.
	r.Send(`{"id":"ok","method":"health"}` + "\n")
	if a := r.Answer(); a.Error != nil {
		t.Fatalf("health after bad input: %v", a.Error)
	}
	// An over-long line: line_too_long, then the connection is closed.
	long := d.Raw()
	long.Send(`{"id":1,"method":"set","params":{"path":"a","value":"` + strings.Repeat("A", 70000))
	if a := long.Answer(); a.Error == nil || a.Error.Code != wire.CodeLineTooLong || string(a.ID) != "null" {
		t.Fatalf("long line: %+v", a)
	}
	if !long.Closed() {
		t.Fatal("connection left open after line_too_long")
	}
	if _, err := good.Get(ctx(t), "svc/token"); err != nil {
		t.Fatalf("served no one after a long line: %v", err)
	}
	if strings.Contains(d.Log(), sentinel) {
		t.Fatal("the daemon log echoes request bytes")
	}
	for _, row := range d.auditRows(wire.AuditQueryParams{}) {
		if strings.Contains(mustJSON(row), sentinel) {
			t.Fatalf("the audit log echoes request bytes: %+v", row)
		}
	}
}

// TestPipeliningAndAuditCompleteness: a thousand pipelined requests come
// back in order with their ids, and the audit log has exactly one row per
// request, including malformed and denied ones.
func TestPipeliningAndAuditCompleteness(t *testing.T) {
	d := start(t, opts{})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("v"))
	tok := d.token("pipe", nil, "svc/*:read")
	r := d.Raw()
	const n = 1000
	var sb strings.Builder
	for i := range n {
		switch i % 4 {
		case 0, 1:
			fmt.Fprintf(&sb, `{"id":"r%d","auth":%q,"method":"get","params":{"path":"svc/token"}}`+"\n", i, tok)
		case 2:
			fmt.Fprintf(&sb, `{"id":"r%d","auth":%q,"method":"get","params":{"path":"nope/x"}}`+"\n", i, tok)
		case 3:
			fmt.Fprintf(&sb, `{"id":"r%d","auth":%q,"method":"get","params":{"path":7}}`+"\n", i, tok)
		}
	}
	go r.Send(sb.String())
	for i := range n {
		a := r.Answer()
		if want := fmt.Sprintf(`"r%d"`, i); string(a.ID) != want {
			t.Fatalf("answer %d has id %s", i, a.ID)
		}
		wantErr := map[int]wire.Code{0: "", 1: "", 2: wire.CodePermissionDenied, 3: wire.CodeBadRequest}[i%4]
		if (a.Error == nil) != (wantErr == "") || (a.Error != nil && a.Error.Code != wantErr) {
			t.Fatalf("answer %d: %+v, want %q", i, a.Error, wantErr)
		}
	}
	rows := d.auditRows(wire.AuditQueryParams{})
	ids := map[string]bool{}
	for _, row := range rows {
		if strings.HasPrefix(row.RequestID, "r") {
			ids[row.RequestID] = true
		}
	}
	if len(ids) != n {
		t.Fatalf("%d distinct audited request ids, want %d", len(ids), n)
	}
}

// TestNoSecretOrTokenAtRest: values and raw tokens never reach the state
// directory or the daemon's output.
func TestNoSecretOrTokenAtRest(t *testing.T) {
	d := start(t, opts{})
	const secret = "SECRET-VALUE-8d1e"
	c := d.Dial("")
	if err := c.Set(ctx(t), "svc/secret", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	tok := d.token("reader", nil, "svc/*:read")
	rc := d.Dial(tok)
	for range 3 {
		if _, err := rc.Get(ctx(t), "svc/secret"); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = rc.Get(ctx(t), "svc/../secret")
	d.stop()
	for _, needle := range []string{secret, tok, tok[3:]} {
		if hits := grepDir(t, d.StateDir, []byte(needle)); len(hits) > 0 {
			t.Fatalf("found %q in %v", needle[:6], hits)
		}
		if strings.Contains(d.Log(), needle) {
			t.Fatalf("found a secret or token in the daemon's output")
		}
	}
	if hits := grepDir(t, d.Store, []byte(secret)); len(hits) > 0 {
		t.Fatalf("plaintext in the store: %v", hits)
	}
}

// TestSetValueRulesAndLimits covers value_b64 and the value size limit.
func TestSetValueRulesAndLimits(t *testing.T) {
	d := start(t, opts{args: []string{"--max-line", "4096"}})
	r := d.Raw()
	r.Send(`{"id":1,"method":"set","params":{"path":"svc/b","value_b64":"/wA="}}` + "\n")
	if a := r.Answer(); a.Error != nil {
		t.Fatalf("value_b64 set: %v", a.Error)
	}
	r.Send(`{"id":2,"method":"get","params":{"path":"svc/b"}}` + "\n")
	if a := r.Answer(); a.Error != nil || string(a.Result) != `{"value_b64":"/wA="}` {
		t.Fatalf("binary get: %s %v", a.Result, a.Error)
	}
	r.Send(`{"id":3,"method":"set","params":{"path":"svc/big","value":"` + strings.Repeat("x", 5000) + `"}}` + "\n")
	if a := r.Answer(); a.Error == nil || a.Error.Code != wire.CodeLineTooLong {
		t.Fatalf("oversized set: %+v", a.Error)
	}
}

// TestConcurrentMissesShareOneGPGRun: many clients missing the cache on
// one path at once make a single gpg run, counted by a gpg wrapper.
func TestConcurrentMissesShareOneGPGRun(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	wrapper := filepath.Join(dir, "gpg")
	real, err := exec.LookPath("gpg")
	if err != nil {
		t.Fatal(err)
	}
	// Slow enough that all clients ask while the first run is going on.
	script := "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = --decrypt ] && echo x >> " + calls + " && sleep 0.5; done\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	d := start(t, opts{config: "gpg = \"" + wrapper + "\"\n"})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("shared"))
	const n = 8
	errs := make(chan error, n)
	for range n {
		c := d.Dial("")
		go func() {
			v, err := c.Get(ctx(t), "svc/token")
			if err == nil && string(v) != "shared" {
				err = fmt.Errorf("got %q", v)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(calls)
	// The daemon's start-up key check decrypts once too.
	if runs := strings.Count(string(b), "x"); runs > 2 {
		t.Fatalf("%d concurrent misses ran gpg --decrypt %d times", n, runs)
	}
}

// TestCLITokenCreateMixedLevels: --grant PATTERN:LEVEL sets a level per
// grant, and the CLI prints the token once.
func TestCLITokenCreateMixedLevels(t *testing.T) {
	d := start(t, opts{})
	out, errOut, code := d.cli("", nil, "token", "create", "rotator", "--grant", "claude/tokens/slack-bot:write", "--grant", "claude/slack/*", "-p", "read", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res wire.TokenCreateResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(res.Grants)
	if got != "[{claude/tokens/slack-bot write} {claude/slack/* read}]" {
		t.Fatalf("grants %s", got)
	}
	if _, errOut, code := d.cli("", nil, "get", "nope/x"); code != 66 || !strings.Contains(errOut, "hint:") && !strings.Contains(errOut, "not_found") {
		t.Fatalf("get of a missing entry: exit %d, %s", code, errOut)
	}
}

// TestSlowPipelineIsNotCutOff: a pipeline whose requests take longer in
// total than read_timeout is served to the end; the timeout is per line.
func TestSlowPipelineIsNotCutOff(t *testing.T) {
	real, err := exec.LookPath("gpg")
	if err != nil {
		t.Fatal(err)
	}
	slow := filepath.Join(t.TempDir(), "gpg")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\nsleep 0.05\nexec "+real+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := start(t, opts{args: []string{"--read-timeout", "1s", "--cache-ttl", "0s"}, config: "gpg = \"" + slow + "\"\n"})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("v"))
	r := d.Raw()
	const n = 60 // each a real gpg run: seconds in all
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, `{"id":%d,"method":"get","params":{"path":"svc/token"}}`+"\n", i)
	}
	// The last request is sent in two parts: its first half now, buffered
	// behind the slow ones, the rest once they are answered.
	r.Send(sb.String() + `{"id":"last","method":"health"`)
	start := time.Now()
	for i := range n {
		a := r.Answer()
		if a.Error != nil || string(a.ID) != fmt.Sprint(i) {
			t.Fatalf("answer %d: %s %v", i, a.ID, a.Error)
		}
	}
	r.Send("}\n")
	if a := r.Answer(); a.Error != nil || string(a.ID) != `"last"` {
		t.Fatalf("the request finished after a long pipeline: %s %v", a.ID, a.Error)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("the pipeline took %v, under the 1 s read timeout: the test proves nothing", took)
	}
}

// TestStatusLevel: a token with status on "**" reads the daemon's state
// (status, tokens, audit, rotations) and nothing else: no value, no path
// list, no change. Only a global admin may issue one.
func TestStatusLevel(t *testing.T) {
	d := start(t, opts{})
	testpass.PassInsert(t, gnupgHome, d.Store, "svc/token", []byte("SECRET-status-level"))
	res, err := d.Dial("").TokenCreate(ctx(t), wire.TokenCreateParams{Name: "status-page", Grants: []wire.GrantJSON{{Pattern: "**", Level: "status"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Dial(res.Token)
	if _, err := c.Status(ctx(t)); err != nil {
		t.Fatalf("status: %v", err)
	}
	if _, err := c.TokenList(ctx(t)); err != nil {
		t.Fatalf("token.list: %v", err)
	}
	if _, err := c.AuditQuery(ctx(t), wire.AuditQueryParams{Limit: 5}); err != nil {
		t.Fatalf("audit.query: %v", err)
	}
	if _, err := c.Get(ctx(t), "svc/token"); code(err) != wire.CodePermissionDenied {
		t.Fatalf("a status token read a value: %v", err)
	}
	if paths, err := c.List(ctx(t), ""); err != nil || len(paths) != 0 {
		t.Fatalf("a status token listed paths: %v %v", paths, err)
	}
	if _, err := c.TokenCreate(ctx(t), wire.TokenCreateParams{Name: "x", Grants: []wire.GrantJSON{{Pattern: "**", Level: "status"}}}); code(err) != wire.CodePermissionDenied {
		t.Fatalf("a status token issued a token: %v", err)
	}
	if _, err := c.TokenRevoke(ctx(t), "status-page"); code(err) != wire.CodePermissionDenied {
		t.Fatalf("a status token revoked a token: %v", err)
	}
	// A scoped admin may not hand out the status level, and it is "**" only.
	sub := d.Dial(d.token("scoped-admin", nil, "svc/**:admin"))
	if _, err := sub.TokenCreate(ctx(t), wire.TokenCreateParams{Name: "y", Grants: []wire.GrantJSON{{Pattern: "svc/**", Level: "status"}}}); code(err) != wire.CodeBadRequest {
		t.Fatalf("status on a narrower pattern: %v", err)
	}
	reader := d.Dial(d.token("reader", nil, "svc/*:read"))
	if _, err := reader.Status(ctx(t)); code(err) != wire.CodePermissionDenied {
		t.Fatalf("a read token read the daemon's state: %v", err)
	}
}

// TestWarmUp: paths listed in warm are decrypted at start, before anyone
// asks: the cache holds them without a single get.
func TestWarmUp(t *testing.T) {
	store := testpass.NewStore(t, gnupgHome, keyID)
	testpass.PassInsert(t, gnupgHome, store, "svc/token", []byte("v"))
	d := start(t, opts{store: store, config: `warm = ["svc/token", "svc/missing"]` + "\n"})
	owner := d.Dial("")
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := owner.Status(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if st.Cache.Entries == 1 && st.Cache.Hits == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("warm-up did not fill the cache: %+v", st.Cache)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v, err := owner.Get(ctx(t), "svc/token"); err != nil || string(v) != "v" {
		t.Fatalf("get of a warmed path: %q %v", v, err)
	}
	if st, _ := owner.Status(ctx(t)); st.Cache.Hits != 1 {
		t.Fatalf("the first get after warm-up missed the cache: %+v", st.Cache)
	}
}

// TestTrustOwnerOff: with trust_owner = false the daemon's own uid needs a
// token like anyone else.
func TestTrustOwnerOff(t *testing.T) {
	d := start(t, opts{config: "trust_owner = false\n"})
	if _, err := d.Dial("").TokenList(ctx(t)); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("the owner without a token under trust_owner = false: %v", err)
	}
	if _, err := d.Dial("").Health(ctx(t)); err != nil {
		t.Fatalf("health needs no token: %v", err)
	}
}
