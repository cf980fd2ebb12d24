package reliability

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestBadTokensAreRefusedAndAuditedWithAReason: unknown, empty, padded,
// truncated, re-cased and oversized tokens are all unauthenticated, with
// one generic message, and each audit row says why in its detail.
func TestBadTokensAreRefusedAndAuditedWithAReason(t *testing.T) {
	d := start(t, opts{})
	d.insert("svc/token", []byte("v"))
	good := d.token("good", "svc/*:read")
	if v, err := d.Dial(good).Get(ctx(t), "svc/token"); err != nil || string(v) != "v" {
		t.Fatalf("the good token: %q %v", v, err)
	}
	cases := []struct {
		name, token, detail string
	}{
		{"unknown", "jv_" + strings.Repeat("A", 43), "unknown token"},
		{"not even the format", "hello", "unknown token"},
		{"leading space", " " + good, "unknown token"},
		{"trailing space", good + " ", "unknown token"},
		{"trailing newline escape", good + "\n", "unknown token"},
		{"leading NUL", "\x00" + good, "unknown token"},
		{"truncated", good[:len(good)-1], "unknown token"},
		{"upper-cased", strings.ToUpper(good), "unknown token"},
		{"doubled", good + good, "unknown token"},
		{"just the prefix", "jv_", "unknown token"},
		{"oversized (10 KB)", good + strings.Repeat("A", 10<<10), "oversized token"},
		{"oversized (129 bytes)", strings.Repeat("B", 129), "oversized token"},
	}
	r := d.Raw()
	var messages = map[string]bool{}
	for i, c := range cases {
		id := fmt.Sprintf("badtok-%d", i)
		d.track(c.token) // none of these may be stored either
		r.Send(mustJSON(map[string]any{"id": id, "auth": c.token, "method": "get", "params": map[string]string{"path": "svc/token"}}) + "\n")
		a := r.Answer()
		if a.Error == nil || a.Error.Code != wire.CodeUnauthenticated {
			t.Errorf("%s: %+v, want unauthenticated", c.name, a.Error)
			continue
		}
		messages[a.Error.Message] = true
	}
	if len(messages) != 1 {
		t.Errorf("the refusals differ between kinds of bad token (an oracle): %v", messages)
	}

	// Empty: "" from a peer that is not the owner. Stop trusting the
	// owner (SIGHUP applies it) so that root's empty token is just that.
	d.SetConfig("trust_owner = false\n")
	_ = d.Signal(syscall.SIGHUP)
	d.AwaitNotify("READY=1")
	r.Send(`{"id":"badtok-empty","auth":"","method":"get","params":{"path":"svc/token"}}` + "\n")
	r.Send(`{"id":"badtok-absent","method":"get","params":{"path":"svc/token"}}` + "\n")
	for _, want := range []string{`"badtok-empty"`, `"badtok-absent"`} {
		if a := r.Answer(); a.Error == nil || a.Error.Code != wire.CodeUnauthenticated || string(a.ID) != want {
			t.Errorf("%s: %s %+v, want unauthenticated", want, a.ID, a.Error)
		}
	}
	// The good token still works, then read the audit log with it (it
	// cannot: it is not an admin), so restore owner trust to read it.
	if _, err := d.Dial(good).Get(ctx(t), "svc/token"); err != nil {
		t.Fatalf("the good token after the reload: %v", err)
	}
	d.SetConfig("")
	_ = d.Signal(syscall.SIGHUP)
	d.AwaitNotify("READY=1")

	details := map[string]wire.AuditEntry{}
	for _, row := range d.auditRows(wire.AuditQueryParams{Outcome: "denied"}) {
		if strings.HasPrefix(row.RequestID, "badtok-") {
			details[row.RequestID] = row
		}
	}
	for i, c := range cases {
		row, ok := details[fmt.Sprintf("badtok-%d", i)]
		switch {
		case !ok:
			t.Errorf("%s: no audit row", c.name)
		case row.Detail != c.detail || row.Code != string(wire.CodeUnauthenticated) || row.TokenID != "":
			t.Errorf("%s: audit row %+v, want detail %q", c.name, row, c.detail)
		}
	}
	for _, id := range []string{"badtok-empty", "badtok-absent"} {
		if row, ok := details[id]; !ok || row.Detail != "no token" {
			t.Errorf("%s: audit row %+v, want detail \"no token\"", id, row)
		}
	}
}

// TestNoRawTokenAtRest: many tokens are issued and used; then, with the
// daemon killed (so that the -wal and journal files are as a crash leaves
// them) and again after a clean stop, no token appears in any file of the
// state directory, in the store, or in the daemon's output, whether as
// text, without its prefix, or as the raw bytes it encodes.
func TestNoRawTokenAtRest(t *testing.T) {
	d := start(t, opts{})
	d.insert("svc/token", []byte("v"))
	const n = 200
	toks := make([]string, n)
	c := d.Dial("")
	for i := range n {
		res, err := c.TokenCreate(ctx(t), wire.TokenCreateParams{Name: fmt.Sprintf("t%03d", i),
			Grants: []wire.GrantJSON{{Pattern: "svc/*", Level: "read"}}})
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = res.Token
		d.track(res.Token)
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i += 25 {
		wg.Go(func() {
			for _, tok := range toks[i : i+25] {
				tc := d.Dial(tok)
				if _, err := tc.Get(ctx(t), "svc/token"); err != nil {
					t.Errorf("token use: %v", err)
				}
				_, _ = tc.Get(ctx(t), "other/x") // denied: audited with the token id
				tc.Close()
			}
		})
	}
	wg.Wait()
	for i := 0; i < n; i += 4 {
		if _, err := c.TokenRevoke(ctx(t), fmt.Sprintf("t%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.TokenList(ctx(t)); err != nil {
		t.Fatal(err)
	}
	d.Kill()
	d.assertNoLeaks("after SIGKILL")
	d.Start()
	// Revoked tokens stay revoked, the others work, across the crash.
	if _, err := d.Dial(toks[0]).Get(ctx(t), "svc/token"); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("a revoked token after restart: %v", err)
	}
	if _, err := d.Dial(toks[1]).Get(ctx(t), "svc/token"); err != nil {
		t.Fatalf("a live token after restart: %v", err)
	}
	d.Stop()
	d.assertNoLeaks("after a clean stop")
}
