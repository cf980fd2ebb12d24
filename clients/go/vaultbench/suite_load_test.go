package vaultbench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	for us := 1; us <= 100; us++ {
		h.Record(time.Duration(us) * time.Microsecond)
	}
	if h.Count() != 100 {
		t.Fatalf("Count = %d, want 100", h.Count())
	}
	// A quantile is the upper edge of its bucket: at or just above the
	// true value, within the 1% resolution.
	for _, c := range []struct{ q, want float64 }{{0.5, 50}, {0.9, 90}, {0.99, 99}, {1, 100}} {
		got := h.Quantile(c.q)
		if got < c.want || got > c.want*1.011+0.05 {
			t.Errorf("Quantile(%v) = %v, want %v within 1%%", c.q, got, c.want)
		}
	}

	// 99 fast and 1 slow: p99 is still fast (nearest rank), p99.9 is slow.
	h = NewHistogram()
	for range 99 {
		h.Record(10 * time.Microsecond)
	}
	h.Record(10 * time.Millisecond)
	if got := h.Quantile(0.99); got < 10 || got > 10.2 {
		t.Errorf("p99 = %v µs, want about 10", got)
	}
	if got := h.Quantile(0.999); got < 10000 || got > 10110 {
		t.Errorf("p99.9 = %v µs, want about 10000", got)
	}

	// Merge adds; the empty histogram answers 0; extremes do not panic.
	m := NewHistogram()
	if m.Quantile(0.5) != 0 {
		t.Errorf("empty Quantile = %v, want 0", m.Quantile(0.5))
	}
	m.Merge(h)
	m.Record(500 * time.Nanosecond)
	m.Record(3 * time.Hour)
	if m.Count() != 102 {
		t.Errorf("merged Count = %d, want 102", m.Count())
	}
	if got := m.Quantile(0); got != 1 {
		t.Errorf("Quantile(0) = %v, want 1 (the first bucket)", got)
	}
}

// serve accepts connections on a new Unix socket and runs answer on each.
func serve(t *testing.T, answer func(net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				answer(c)
			})
		}
	})
	return sock
}

type vaultRequest struct {
	ID     uint64 `json:"id"`
	Auth   string `json:"auth"`
	Method string `json:"method"`
	Params struct {
		Path string `json:"path"`
	} `json:"params"`
}

// fakeVault answers get lines with a value, under the id idFor returns. It
// reports a malformed request (wrong token, method or path) on bad.
func fakeVault(idFor func(uint64) uint64, bad chan<- string) func(net.Conn) {
	return func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var r vaultRequest
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Auth != "tok" || r.Method != "get" || !strings.HasPrefix(r.Params.Path, "a/") {
				select {
				case bad <- sc.Text():
				default:
				}
				return
			}
			if _, err := fmt.Fprintf(c, `{"id":%d,"result":{"value":"v-%s"}}`+"\n", idFor(r.ID), r.Params.Path); err != nil {
				return
			}
		}
	}
}

func TestRunVault(t *testing.T) {
	for _, c := range []struct {
		name  string
		idFor func(uint64) uint64
		ok    bool
	}{
		{"right ids", func(id uint64) uint64 { return id }, true},
		{"wrong ids", func(id uint64) uint64 { return id + 1 }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := make(chan string, 1)
			sock := serve(t, fakeVault(c.idFor, bad))
			res, err := Run(context.Background(), LoadOptions{
				Target: "vault", Socket: sock, Token: "tok", Paths: []string{"a/1", "a/2"},
				Conns: 3, Duration: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case line := <-bad:
				t.Fatalf("the client sent %q", line)
			default:
			}
			if res.Target != "vault" || res.Conns != 3 {
				t.Errorf("result names %s with %d conns", res.Target, res.Conns)
			}
			if c.ok && (res.Requests == 0 || res.Errors != 0 || res.RPS <= 0 || res.P50US <= 0) {
				t.Errorf("good answers: %+v, want requests and no errors", res)
			}
			// An answer to another request is not an answer: an error,
			// never a request.
			if !c.ok && (res.Requests != 0 || res.Errors == 0) {
				t.Errorf("wrong ids: %+v, want 0 requests and some errors", res)
			}
		})
	}
}

// fakeRedis answers GET with reply.
func fakeRedis(reply string) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			// *2, $3, GET, $n, key
			var lines [5]string
			for i := range lines {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				lines[i] = strings.TrimSuffix(l, "\r\n")
			}
			n, _ := strconv.Atoi(strings.TrimPrefix(lines[3], "$"))
			if lines[0] != "*2" || lines[2] != "GET" || n != len(lines[4]) {
				fmt.Fprintf(c, "-ERR bad request %q\r\n", lines)
				return
			}
			if _, err := c.Write([]byte(reply)); err != nil {
				return
			}
		}
	}
}

func TestRunRedis(t *testing.T) {
	for _, c := range []struct {
		name, reply string
		ok          bool
	}{
		{"bulk string", "$12\r\nhello\r\nworld\r\n", true}, // CRLF inside the value
		{"nil", "$-1\r\n", false},
		{"error", "-WRONGTYPE nope\r\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock := serve(t, fakeRedis(c.reply))
			res, err := Run(context.Background(), LoadOptions{
				Target: "redis", Socket: sock, Paths: []string{"k1", "key:2"}, Conns: 2, Duration: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.ok && (res.Requests == 0 || res.Errors != 0) {
				t.Errorf("%+v, want requests and no errors", res)
			}
			if !c.ok && (res.Requests != 0 || res.Errors == 0) {
				t.Errorf("%+v, want 0 requests and some errors", res)
			}
		})
	}
}

func TestRunRefusesNothingToDo(t *testing.T) {
	for _, o := range []LoadOptions{
		{Paths: []string{"a"}, Duration: time.Second},
		{Conns: 1, Duration: time.Second},
		{Conns: 1, Paths: []string{"a"}},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) = nil error", o)
		}
	}
	if _, err := Run(context.Background(), LoadOptions{Socket: filepath.Join(t.TempDir(), "none"), Conns: 1, Paths: []string{"a"}, Duration: time.Second}); err == nil {
		t.Error("Run with no server = nil error")
	}
}

func TestParseRedisBenchmarkCSV(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"GET","16077.17","0.587","0.056","0.231","1.591","7.359","156.031"
`
	b, err := parseRedisBenchmarkCSV([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if b.RPS != 16077.17 || b.P50US != 231 || b.P99US != 7359 {
		t.Errorf("parsed %+v", b)
	}
	if _, err := parseRedisBenchmarkCSV([]byte("GET: 12128.56 requests per second\n")); err == nil {
		t.Error("the -q format parsed as CSV")
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for ms := 10; ms >= 1; ms-- { // unsorted on purpose
		ds = append(ds, time.Duration(ms)*time.Millisecond)
	}
	got := summarize(ds)
	want := Sample{N: 10, MedianUS: 5500, P90US: 9000, MinUS: 1000}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if ds[0] != 10*time.Millisecond {
		t.Error("summarize sorted its argument")
	}
}

func TestJudge(t *testing.T) {
	r := &Report{
		Hit: &HitSection{
			Vault: []Result{{Conns: 1, P99US: 300}, {Conns: 64, RPS: 90}},
			Redis: []Result{{Conns: 1, P99US: 100}, {Conns: 64, RPS: 100}},
		},
		Miss:   &MissSection{Vault: Sample{MedianUS: 10500}, GPG: Sample{MedianUS: 10000}, Pass: Sample{MedianUS: 50000}},
		Python: &SDKSection{SDK: Latency{P50US: 90}, Raw: Latency{P50US: 50}},
		Node:   &SDKSection{Section: Section{Skipped: "sdk not built"}},
		Exec:   &ExecSection{Section: Section{Skipped: "vault-exec not built"}},
		RSS:    &RSSSection{IdleKiB: 21 * 1024},
		Ready:  &ReadySection{Section: Section{Error: "boom"}},
	}
	got := map[string]string{}
	for _, tg := range judge(r) {
		got[strings.SplitN(tg.Name, ",", 2)[0]] = tg.Result
	}
	want := map[string]string{
		"cache-hit throughput": Miss, // 0.9×
		"cache-hit p99":        Miss, // 3×
		"cache miss":           Pass, // 1.05×
		"Python SDK get p50":   Pass, // 1.8×
		"vault-exec overhead":  NA,
		"idle RSS":             Miss,
		"start to READY=1":     NA,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %s, want %s", name, got[name], w)
		}
	}
	if md := Markdown(r); !strings.Contains(md, "skipped: sdk not built") || !strings.Contains(md, "**Error:** boom") {
		t.Errorf("the markdown does not show the skip and the error:\n%s", md)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 52118.4: "52,118", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis, as /proc shows it.
	line := "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 311 0 0 0 157 43 0 0 20 0 3 0 100 0 0\n"
	d, ok := parseStatCPU(line)
	if !ok || d != 2*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 2s (157 + 43 ticks)", d, ok)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2", "4242 (x) S 1 4242 4242 0 -1 4194560 311 0 0 0 abc 43 0"} {
		if _, ok := parseStatCPU(bad); ok {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
	// This process's own line parses, and a gone pid is an error.
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := procCPU(1 << 30); err == nil {
		t.Fatal("procCPU of a pid that does not exist succeeded")
	}
}
