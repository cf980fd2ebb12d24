package reliability

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestPlantedSecretNeverAtRest: one secret value is written, read, cached,
// refused, sent in malformed and over-long requests, caught in a hung gpg,
// in a write killed with SIGKILL and in a SIGQUIT goroutine dump
// (GOTRACEBACK=crash). Afterwards it is nowhere in plaintext: not in the
// state directory (database, -wal, -shm, journal), not in the store, not in
// anything the daemon printed, not in gpg's command lines.
func TestPlantedSecretNeverAtRest(t *testing.T) {
	w := newGPGWrapper(t)
	d := start(t, opts{config: w.config(), args: []string{"--gpg-timeout", "3s", "--cache-ttl", "5m"}, env: []string{"GOTRACEBACK=crash"}})
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	secret := "SENTINEL-" + hex.EncodeToString(rnd[:])
	d.plant([]byte(secret))
	d.awaitKeyCheck(w)

	owner := d.Dial("")
	// Written and read (and so cached).
	if err := owner.Set(ctx(t), "svc/s", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if v, err := owner.Get(ctx(t), "svc/s"); err != nil || string(v) != secret {
			t.Fatalf("get: %q %v", v, err)
		}
	}
	reader := d.Dial(d.token("reader", "svc/*:read"))
	if v, err := reader.Get(ctx(t), "svc/s"); err != nil || string(v) != secret {
		t.Fatalf("reader: %q %v", v, err)
	}
	// Refused in every way a request can be.
	if err := reader.Set(ctx(t), "svc/s", []byte(secret)); code(err) != wire.CodePermissionDenied {
		t.Fatalf("read token wrote: %v", err)
	}
	other := d.Dial(d.token("other", "other/*:write"))
	if _, err := other.Get(ctx(t), "svc/s"); code(err) != wire.CodePermissionDenied {
		t.Fatalf("other token read: %v", err)
	}
	if err := owner.Set(ctx(t), "../"+secret, []byte(secret)); code(err) != wire.CodeInvalidPath {
		t.Fatalf("invalid path: %v", err)
	}
	if err := d.Dial("jv_"+secret).Set(ctx(t), "svc/s", []byte(secret)); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("bogus token: %v", err)
	}
	r := d.Raw()
	for _, line := range []string{
		`{"id":1,"method":"set","params":{"path":"svc/s","value":"` + secret + `"`, // truncated
		`{"id":2,"method":"set","params":{"path":"svc/s","value":"` + secret + `","x":1}}`,
		`{"id":3,"method":"set","params":{"path":"svc/s","value":"` + secret + `","value_b64":"YQ=="}}`,
		`{"id":4,"method":"` + secret + `"}`,
		`{"id":5,"method":"set","params":{"path":"svc/s","value":` + "\"\xff" + secret + `"}}`,
	} {
		r.Send(line + "\n")
		if a := r.Answer(); a.Error == nil {
			t.Fatalf("accepted %q", line)
		}
	}
	long := d.Raw()
	go func() {
		_, _ = long.Conn.Write([]byte(`{"id":1,"method":"set","params":{"path":"svc/s","value":"` + strings.Repeat(secret, 10000)))
	}()
	if a := long.Answer(); a.Error == nil || a.Error.Code != wire.CodeLineTooLong {
		t.Fatalf("long line: %+v", a.Error)
	}

	// A hung gpg while decrypting it.
	if err := owner.Set(ctx(t), "svc/s2", []byte(secret+"-2")); err != nil {
		t.Fatal(err)
	}
	w.set("hang-decrypt", true)
	if _, err := owner.Get(ctx(t), "svc/s2"); code(err) != wire.CodeBackendUnavailable {
		t.Fatalf("hung gpg: %v", err)
	}
	w.set("hang-decrypt", false)
	w.killSleepers()

	// SIGKILL in the middle of writing it.
	w.set("slow-encrypt", true)
	go func() { _ = d.Dial("").Set(ctx(t), "svc/s3", []byte(secret+"-3")) }()
	awaitFile(t, filepath.Join(w.dir, "encrypt-started"), 15*time.Second)
	d.KillGroup()
	w.killSleepers()
	w.set("slow-encrypt", false)
	d.assertNoLeaks("after SIGKILL mid-write")

	// A goroutine dump while the secret sits in the cache and a request
	// carrying it is in flight (held in gpg).
	d.Start()
	owner = d.Dial("")
	if v, err := owner.Get(ctx(t), "svc/s"); err != nil || string(v) != secret {
		t.Fatalf("after restart: %q %v", v, err)
	}
	_ = os.Remove(filepath.Join(w.dir, "encrypt-started"))
	w.set("slow-encrypt", true)
	go func() { _ = d.Dial("").Set(ctx(t), "svc/s4", []byte(secret+"-4")) }()
	awaitFile(t, filepath.Join(w.dir, "encrypt-started"), 15*time.Second)
	mark := len(d.Log())
	_ = d.Signal(syscall.SIGQUIT)
	if exited, _ := d.Wait(20 * time.Second); !exited {
		t.Fatal("no exit on SIGQUIT")
	}
	w.killSleepers()
	w.set("slow-encrypt", false)
	dump := d.Log()[mark:]
	if !strings.Contains(dump, "goroutine ") {
		t.Errorf("SIGQUIT printed no goroutine dump (%d bytes)", len(dump))
	}
	t.Logf("SIGQUIT dump: %d bytes, no secret in it", len(dump))
	d.assertNoLeaks("after a SIGQUIT dump")
	for _, c := range w.calls() {
		if strings.Contains(c, secret) {
			t.Fatalf("a gpg command line carries the secret: %q", c)
		}
	}
	d.Start()
	d.Stop()
	// checkLeaks runs once more when the test ends.
}
