package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/auth"
	"github.com/jamditis/jawn-vault/vaultd/policy"
)

func newToken(t *testing.T, name string) (*Token, string) {
	t.Helper()
	raw, hash, err := auth.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return &Token{
		ID: auth.NewID(), Name: name, Hash: hash, BindUID: -1,
		Grants: []policy.Grant{{Pattern: "apps/" + name + "/**", Level: policy.Read}},
	}, raw
}

func TestTokenRoundTrip(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 123456789)
	db.Now = func() time.Time { return now }

	tok, _ := newToken(t, "deploy")
	tok.Grants = []policy.Grant{
		{Pattern: "apps/deploy/**", Level: policy.Read},
		{Pattern: "ci/*", Level: policy.Write},
		{Pattern: "**", Level: policy.Admin},
	}
	tok.ExpiresAt = now.Add(24 * time.Hour)
	tok.BindUID = 0 // root: a real binding, not "unbound"
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if !tok.CreatedAt.Equal(now) {
		t.Errorf("CreatedAt = %v, want db.Now() %v", tok.CreatedAt, now)
	}
	unbound, _ := newToken(t, "plain")
	if err := db.CreateToken(ctx, unbound); err != nil {
		t.Fatal(err)
	}

	ts, err := db.ActiveTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("ActiveTokens: %d tokens, want 2", len(ts))
	}
	byName := map[string]Token{ts[0].Name: ts[0], ts[1].Name: ts[1]}
	got := byName["deploy"]
	if got.ID != tok.ID || got.Hash != tok.Hash || !reflect.DeepEqual(got.Grants, tok.Grants) ||
		!got.CreatedAt.Equal(tok.CreatedAt) || !got.ExpiresAt.Equal(tok.ExpiresAt) ||
		got.BindUID != 0 || !got.RevokedAt.IsZero() {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, *tok)
	}
	if p := byName["plain"]; p.BindUID != -1 || !p.ExpiresAt.IsZero() {
		t.Errorf("unbound token came back with BindUID %d, ExpiresAt %v", p.BindUID, p.ExpiresAt)
	}
}

func TestTokenNames(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()

	first, _ := newToken(t, "ci")
	if err := db.CreateToken(ctx, first); err != nil {
		t.Fatal(err)
	}
	dup, _ := newToken(t, "ci")
	if err := db.CreateToken(ctx, dup); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("duplicate name: err = %v, want ErrNameTaken", err)
	}

	// Revoke by name.
	got, err := db.RevokeToken(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != first.ID || got.RevokedAt.IsZero() {
		t.Fatalf("revoked %+v, want %s with RevokedAt set", got, first.ID)
	}
	if _, err := db.RevokeToken(ctx, "ci"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second revoke: err = %v, want ErrNotFound", err)
	}
	if _, err := db.RevokeToken(ctx, first.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke of a revoked id: err = %v, want ErrNotFound", err)
	}

	// The name is free again; revoke the new one by id.
	if err := db.CreateToken(ctx, dup); err != nil {
		t.Fatalf("re-create after revoke: %v", err)
	}
	got, err = db.RevokeToken(ctx, dup.ID)
	if err != nil || got.ID != dup.ID {
		t.Fatalf("revoke by id: %+v, %v", got, err)
	}
	ts, err := db.ActiveTokens(ctx)
	if err != nil || len(ts) != 0 {
		t.Fatalf("after revoking both: %d active, err %v", len(ts), err)
	}
}

func TestRevokePrefersID(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	byID, _ := newToken(t, "one")
	byID.ID = "tok_aaaaaaaaaaaa"
	confusing, _ := newToken(t, "tok_aaaaaaaaaaaa") // named like the other's id
	for _, tok := range []*Token{byID, confusing} {
		if err := db.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.RevokeToken(ctx, "tok_aaaaaaaaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != byID.ID {
		t.Fatalf("revoked %s (%s), want the token whose id matched", got.ID, got.Name)
	}
	// Now only the name matches.
	got, err = db.RevokeToken(ctx, "tok_aaaaaaaaaaaa")
	if err != nil || got.ID != confusing.ID {
		t.Fatalf("second revoke: %+v, %v; want the token with that name", got, err)
	}
}

func TestCreateTokenRejects(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	tests := map[string]func(*Token){
		"no id":      func(t *Token) { t.ID = "" },
		"no name":    func(t *Token) { t.Name = "" },
		"no hash":    func(t *Token) { t.Hash = [32]byte{} },
		"revoked":    func(t *Token) { t.RevokedAt = time.Now() },
		"level none": func(t *Token) { t.Grants = []policy.Grant{{Pattern: "**"}} },
	}
	for name, spoil := range tests {
		t.Run(name, func(t *testing.T) {
			tok, _ := newToken(t, "x")
			spoil(tok)
			if err := db.CreateToken(ctx, tok); err == nil {
				t.Fatal("CreateToken accepted it")
			}
		})
	}
	// A second token with the same hash is refused too, though not as a
	// name clash.
	a, _ := newToken(t, "a")
	b, _ := newToken(t, "b")
	b.Hash = a.Hash
	if err := db.CreateToken(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, b); err == nil || errors.Is(err, ErrNameTaken) {
		t.Fatalf("same hash: err = %v, want a non-name error", err)
	}
}

func TestRawTokenNeverStored(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	tok, raw := newToken(t, "secretive")
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	r := rec("get", "apps/secretive/db")
	r.TokenID = tok.ID
	w := NewWaiter()
	db.Audit(r, w)
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}

	var all []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(db.Path() + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	// The search must be able to see what was written, or finding nothing
	// proves nothing.
	if !bytes.Contains(all, tok.Hash[:]) || !bytes.Contains(all, []byte(tok.Name)) {
		t.Fatal("the token's hash and name are not in the files; the search is blind")
	}
	if bytes.Contains(all, []byte(raw)) {
		t.Fatal("the raw token is in the database files")
	}
}

func TestLastUse(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	base := time.Unix(1_700_000_000, 0)
	a, _ := newToken(t, "a")
	b, _ := newToken(t, "b")
	unused, _ := newToken(t, "unused")
	for _, tok := range []*Token{a, b, unused} {
		if err := db.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	w := NewWaiter()
	add := func(tokenID string, at time.Duration, uid int64, unit string) {
		r := rec("get", "a/b")
		r.TokenID, r.Time, r.UID, r.Unit = tokenID, base.Add(at), uid, unit
		db.Audit(r, w)
	}
	add(a.ID, 1*time.Second, 1000, "old.service")
	add(a.ID, 3*time.Second, 1001, "new.service")
	add(a.ID, 2*time.Second, 1002, "middle.service") // committed later, but older
	add(b.ID, 5*time.Second, 0, "")
	add("", 9*time.Second, 7, "anonymous.service")
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	want := map[string]Use{
		a.ID: {Time: base.Add(3 * time.Second), UID: 1001, Unit: "new.service"},
		b.ID: {Time: base.Add(5 * time.Second), UID: 0, Unit: ""},
	}
	checkLastUse(t, db, want)

	// A later batch that holds only an older use changes nothing; a newer
	// one moves it on.
	add(a.ID, 2500*time.Millisecond, 1003, "late.service")
	add(b.ID, 6*time.Second, 1004, "b2.service")
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	want[b.ID] = Use{Time: base.Add(6 * time.Second), UID: 1004, Unit: "b2.service"}
	checkLastUse(t, db, want)
}

func checkLastUse(t *testing.T, db *DB, want map[string]Use) {
	t.Helper()
	got, err := db.LastUse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("LastUse = %v, want %v", got, want)
	}
	for id, u := range want {
		g := got[id]
		if !g.Time.Equal(u.Time) || g.UID != u.UID || g.Unit != u.Unit {
			t.Errorf("LastUse[%s] = %+v, want %+v", id, g, u)
		}
	}
}

// Migration 0004 moves last use onto the tokens: a database written by an
// older version keeps each token's last use, taken from its audit rows.
func TestLastUseMigratedFromAudit(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, m := range ms[:3] {
		if _, err := old.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	for _, q := range []string{
		`PRAGMA user_version = 3`,
		`INSERT INTO tokens (id, name, hash, grants, created_at) VALUES ('tok_a', 'a', x'01', '[]', 1), ('tok_b', 'b', x'02', '[]', 1)`,
		`INSERT INTO audit (seq, time, token_id, uid, unit, method, outcome) VALUES
			(1, 100, 'tok_a', 1000, 'first.service', 'get', 'ok'),
			(2, 300, 'tok_a', 1001, 'newest.service', 'get', 'ok'),
			(3, 200, 'tok_a', 1002, 'middle.service', 'get', 'ok'),
			(4, 400, NULL, 7, 'anon.service', 'get', 'ok')`,
	} {
		if _, err := old.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkLastUse(t, db, map[string]Use{"tok_a": {Time: time.Unix(0, 300), UID: 1001, Unit: "newest.service"}})
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'audit_token_time'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("audit_token_time still there (%d, %v)", n, err)
	}
}
