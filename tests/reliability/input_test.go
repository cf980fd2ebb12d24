package reliability

import (
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/jamditis/jawn-vault/clients/go/vault"
	"github.com/jamditis/jawn-vault/vaultd/wire"
)

// TestMegabyteLineWithoutNewline: a 1 MiB line with no newline is answered
// line_too_long (id null) and its connection is closed; the daemon stops
// reading at the limit, so its memory barely moves even after many such
// lines, and the next client is served.
func TestMegabyteLineWithoutNewline(t *testing.T) {
	d := start(t, opts{})
	d.mustServe("warm-up")
	const secret = "SENTINEL-longline-5c1e"
	d.plant([]byte(secret))
	line := `{"id":1,"method":"set","params":{"path":"svc/x","value":"` + secret + strings.Repeat("A", 1<<20)

	hit := func() {
		r := d.Raw()
		// The daemon stops reading and closes; our write then fails with
		// EPIPE or ECONNRESET, which is the point.
		go func() { _, _ = r.Conn.Write([]byte(line)) }()
		a := r.Answer()
		if a.Error == nil || a.Error.Code != wire.CodeLineTooLong || string(a.ID) != "null" {
			t.Fatalf("1 MiB line: %+v %+v", a.ID, a.Error)
		}
		if strings.Contains(a.Error.Message, secret) {
			t.Fatal("line_too_long echoes the request")
		}
		if !r.Closed() {
			t.Fatal("connection left open after line_too_long")
		}
		r.Conn.Close()
	}
	const rounds, parallel = 20, 5
	burst := func() {
		for range rounds {
			hit()
		}
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(hit)
		}
		wg.Wait()
	}
	settle := func() int64 {
		// Give the Go runtime a moment to return freed spans; what is
		// measured is retained memory, not a timing.
		time.Sleep(500 * time.Millisecond)
		return procStatusKB(t, d.PID(), "VmRSS")
	}
	start := settle()
	// The first bursts grow the heap to its working size (line buffers
	// of up to 64 KiB per connection, goroutine stacks); what must not
	// happen is growth that follows the input.
	burst()
	burst()
	before := settle()
	for range 3 {
		burst()
	}
	after := settle()
	n := 3 * (rounds + parallel)
	t.Logf("VmRSS at start %d kB, after two warm-up bursts of %d 1 MiB lines %d kB, after %d more %d kB (delta %+d kB)",
		start, rounds+parallel, before, n, after, after-before)
	if after-before >= 2048 {
		t.Errorf("RSS grew by %d kB over %d over-long lines (%d MiB sent); want < 2048 kB: the daemon buffers past the limit", after-before, n, n)
	}
	d.mustServe("after the long lines")
}

// TestMalformedInputIsBadRequestAndNeverEchoed: every malformed line gets
// bad_request on a connection that stays usable; a planted sentinel never
// comes back in the answer, the daemon's log or the audit log. 100,000
// nested brackets (under a raised --max-line) are refused the same way,
// without exhausting the stack.
func TestMalformedInputIsBadRequestAndNeverEchoed(t *testing.T) {
	d := start(t, opts{args: []string{"--max-line", "300000"}})
	const s = "SENTINEL-badreq-77aa"
	d.plant([]byte(s))
	deep := 100000
	cases := map[string]string{
		"invalid UTF-8 (0xff)":              `{"id":1,"method":"get","params":{"path":"` + s + "\xff" + `"}}`,
		"invalid UTF-8 (overlong /)":        `{"id":1,"method":"get","params":{"path":"` + s + "\xc0\xaf" + `"}}`,
		"invalid UTF-8 (surrogate)":         `{"id":1,"method":"get","params":{"path":"` + s + "\xed\xa0\x80" + `"}}`,
		"invalid UTF-8 (cut rune at end)":   `{"id":1,"method":"health","x":"` + s + `"}` + "\xe2\x82",
		"invalid UTF-8 outside strings":     "{\xfe\"id\":1,\"method\":\"health\",\"" + s + "\":1}",
		"truncated JSON":                    `{"id":1,"method":"get","params":{"path":"` + s,
		"truncated after a key":             `{"id":1,"` + s + `":`,
		"top-level array":                   `["` + s + `"]`,
		"top-level number":                  `12345` + strings.Repeat("9", 20),
		"top-level string":                  `"` + s + `"`,
		"top-level null":                    `null`,
		"top-level true":                    `true`,
		"two objects":                       `{"id":1,"method":"health"}{"id":2,"method":"` + s + `"}`,
		"trailing garbage":                  `{"id":1,"method":"health"} ` + s,
		"NUL after the object":              `{"id":1,"method":"health"}` + "\x00" + s,
		"id is an object":                   `{"id":{"x":"` + s + `"},"method":"health"}`,
		"id is an array":                    `{"id":["` + s + `"],"method":"health"}`,
		"id is true":                        `{"id":true,"method":"health","auth":"` + s + `"}`,
		"id too long":                       `{"id":"` + s + strings.Repeat("i", 200) + `","method":"health"}`,
		"id missing":                        `{"method":"get","params":{"path":"` + s + `"}}`,
		"method is a number":                `{"id":1,"method":12,"params":{"path":"` + s + `"}}`,
		"method missing":                    `{"id":1,"params":{"path":"` + s + `"}}`,
		"auth is a number":                  `{"id":1,"method":"get","auth":7,"params":{"path":"` + s + `"}}`,
		"params is an array":                `{"id":1,"method":"get","params":["` + s + `"]}`,
		"params is a string":                `{"id":1,"method":"get","params":"` + s + `"}`,
		"path is a number":                  `{"id":1,"method":"get","params":{"path":7,"q":"` + s + `"}}`,
		"path is an object":                 `{"id":1,"method":"get","params":{"path":{"` + s + `":1}}}`,
		"value is a number":                 `{"id":1,"method":"set","params":{"path":"svc/a","value":7}}`,
		"value_b64 is not base64":           `{"id":1,"method":"set","params":{"path":"svc/a","value_b64":"` + s + `!!"}}`,
		"value and value_b64":               `{"id":1,"method":"set","params":{"path":"svc/a","value":"` + s + `","value_b64":"YQ=="}}`,
		"unknown top-level field":           `{"id":1,"method":"health","` + s + `":1}`,
		"field name in another case":        `{"id":1,"METHOD":"health","x":"` + s + `"}`,
		"params field in another case":      `{"id":1,"method":"get","params":{"PATH":"` + s + `"}}`,
		"unknown params field":              `{"id":1,"method":"get","params":{"path":"svc/a","` + s + `":1}}`,
		"unknown field in a grant":          `{"id":1,"method":"token.create","params":{"name":"x","grants":[{"pattern":"**","level":"read","` + s + `":1}]}}`,
		"grant field in another case":       `{"id":1,"method":"token.create","params":{"name":"y","grants":[{"PATTERN":"**","level":"read","x":"` + s + `"}]}}`,
		"bad escape":                        `{"id":1,"method":"get","params":{"path":"\q` + s + `"}}`,
		"100,000 nested arrays":             strings.Repeat("[", deep) + s + strings.Repeat("]", deep),
		"100,000 nested arrays in params":   `{"id":1,"method":"get","params":{"path":"svc/a","x":` + strings.Repeat("[", deep) + `"` + s + `"` + strings.Repeat("]", deep) + `}}`,
		"20,000 nested objects in params":   `{"id":1,"method":"get","params":` + strings.Repeat(`{"a":`, deep/5) + `"` + s + `"` + strings.Repeat("}", deep/5) + `}`,
		"100,000 open brackets, never shut": `{"id":1,"method":"get","params":{"path":"svc/a","x":` + strings.Repeat("[", deep) + s,
	}
	good := d.Dial("")
	r := d.Raw()
	for name, line := range cases {
		if len(line) > 300000 {
			t.Fatalf("%s: test line of %d bytes exceeds the raised limit", name, len(line))
		}
		r.Send(line + "\n")
		raw := r.AnswerLine()
		a, err := wire.ParseResponse(raw)
		if err != nil {
			t.Fatalf("%s: unparseable answer %q", name, tail(string(raw), 200))
		}
		if a.Error == nil || a.Error.Code != wire.CodeBadRequest {
			t.Errorf("%s: answer %+v, want bad_request", name, a.Error)
		}
		if strings.Contains(string(raw), s) {
			t.Errorf("%s: the answer echoes the request: %s", name, tail(string(raw), 300))
		}
		if _, err := good.Health(ctx(t)); err != nil {
			t.Fatalf("%s: another client was not served: %v", name, err)
		}
	}
	// The same connection still works after all of that.
	r.Send(`{"id":"still","method":"health"}` + "\n")
	if a := r.Answer(); a.Error != nil || string(a.ID) != `"still"` {
		t.Fatalf("health after bad input: %+v", a)
	}
	if strings.Contains(d.Log(), s) {
		t.Error("the daemon log echoes request bytes")
	}
	rows := d.auditRows(wire.AuditQueryParams{})
	bad := 0
	for _, row := range rows {
		if strings.Contains(mustJSON(row), s) {
			t.Errorf("the audit log echoes request bytes: %+v", row)
		}
		if row.Code == string(wire.CodeBadRequest) {
			bad++
		}
	}
	if bad != len(cases) {
		t.Errorf("%d bad_request audit rows for %d malformed lines", bad, len(cases))
	}
}

// TestSlowlorisIsCutOffAndStarvesNoOne: a client that trickles a request a
// byte at a time is disconnected once --read-timeout has passed since its
// line started, and fifty of them at once neither fill the daemon nor
// delay real clients; the connections they held are released.
func TestSlowlorisIsCutOffAndStarvesNoOne(t *testing.T) {
	d := start(t, opts{args: []string{"--read-timeout", "1s"}})
	d.insert("svc/token", []byte("v"))
	good := d.Dial("")
	if _, err := good.Get(ctx(t), "svc/token"); err != nil {
		t.Fatal(err)
	}
	baseConns := d.status().Connections

	// trickle sends a started line one byte per interval until the daemon
	// closes the connection, and returns how long that took.
	trickle := func(every time.Duration) (time.Duration, error) {
		c, err := net.Dial("unix", d.Socket)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		payload := []byte(`{"id":1,"method":"get","params":{"path":"svc/token"` + strings.Repeat(" ", 1000))
		started := time.Now()
		closed := make(chan struct{})
		go func() {
			// The daemon says nothing; it just closes. A read returns then.
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			var b [64]byte
			_, _ = c.Read(b[:])
			close(closed)
		}()
		for _, ch := range payload {
			if _, err := c.Write([]byte{ch}); err != nil {
				break
			}
			select {
			case <-closed:
				return time.Since(started), nil
			case <-time.After(every):
			}
			if time.Since(started) > 20*time.Second {
				return 0, errors.New("still connected after 20 s of trickling")
			}
		}
		select {
		case <-closed:
			return time.Since(started), nil
		case <-time.After(20 * time.Second):
			return 0, errors.New("not closed")
		}
	}

	one, err := trickle(300 * time.Millisecond)
	if err != nil {
		t.Fatalf("a single slowloris: %v", err)
	}
	t.Logf("a single slowloris (1 byte / 300 ms, read timeout 1 s) was cut off after %s", one.Round(time.Millisecond))

	// A client that starts a line and then goes silent is cut off too.
	silent := d.Raw()
	silent.Send(`{"id":1,"method":"hea`)
	if !silent.Closed() {
		t.Fatal("a half-sent line was kept open past the read timeout")
	}

	const n = 50
	var wg sync.WaitGroup
	var failures atomic.Int32
	var longest atomic.Int64
	for range n {
		wg.Go(func() {
			took, err := trickle(200 * time.Millisecond)
			if err != nil {
				failures.Add(1)
				return
			}
			for {
				cur := longest.Load()
				if int64(took) <= cur || longest.CompareAndSwap(cur, int64(took)) {
					break
				}
			}
		})
	}
	// Meanwhile, real clients get their answers, new and existing.
	served := 0
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if v, err := good.Get(ctx(t), "svc/token"); err != nil || string(v) != "v" {
			t.Fatalf("an existing client was not served during the slowloris: %q %v", v, err)
		}
		fresh, err := vault.Dial(ctx(t), vault.Options{Socket: d.Socket})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fresh.Health(ctx(t)); err != nil {
			t.Fatalf("a new client was not served during the slowloris: %v", err)
		}
		fresh.Close()
		served += 2
	}
	wg.Wait()
	if f := failures.Load(); f > 0 {
		t.Fatalf("%d of %d slowloris connections were not cut off", f, n)
	}
	t.Logf("%d slowloris clients all cut off, the last after %s; %d real requests served meanwhile",
		n, time.Duration(longest.Load()).Round(time.Millisecond), served)

	// Their slots are released: the open-connection count returns to what
	// it was (the daemon notices closes asynchronously).
	deadline = time.Now().Add(10 * time.Second)
	for {
		c := d.status().Connections
		// status itself is one connection.
		if c <= baseConns {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon still counts %d connections (was %d): slowloris slots not released", c, baseConns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIdleClientThenMultiReadRequest: a keep-alive client that has been
// idle for longer than --read-timeout (but well within --idle-timeout)
// sends a request that reaches the daemon in more than one read (here a
// 20 KB set, bigger than the line reader's first buffer). The read timeout
// must count from the request's first byte, not from when the daemon began
// waiting, so the request is answered.
func TestIdleClientThenMultiReadRequest(t *testing.T) {
	d := start(t, opts{args: []string{"--read-timeout", "1s", "--idle-timeout", "1m"}})
	r := d.Raw()
	r.Send(`{"id":0,"method":"health"}` + "\n")
	if a := r.Answer(); a.Error != nil {
		t.Fatal(a.Error)
	}
	// Idle for longer than the read timeout: a keep-alive connection.
	time.Sleep(1500 * time.Millisecond)
	value := strings.Repeat("v", 20<<10)
	r.Send(`{"id":1,"method":"set","params":{"path":"svc/big","value":"` + value + `"}}` + "\n")
	_ = r.Conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := r.R.ReadBytes('\n')
	if err != nil {
		t.Fatalf("the daemon dropped a keep-alive client's request that came in several reads: %v (got %q)", err, line)
	}
	if a, err := wire.ParseResponse(line[:len(line)-1]); err != nil || a.Error != nil {
		t.Fatalf("answer %q %v", line, err)
	}
	// Same with a small request split in two writes.
	time.Sleep(1500 * time.Millisecond)
	r.Send(`{"id":2,"method":`)
	time.Sleep(100 * time.Millisecond)
	r.Send(`"health"}` + "\n")
	_ = r.Conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if line, err := r.R.ReadBytes('\n'); err != nil {
		t.Fatalf("a split request after an idle spell was dropped: %v (got %q)", err, line)
	}
}
