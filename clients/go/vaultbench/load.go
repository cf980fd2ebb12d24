// Package vaultbench is vault-bench: a load generator that drives the
// Jawn Vault daemon, or Redis, with the same client code, and the suite
// behind `make bench` that measures the daemon beside its references in one
// run.
//
// The load generator keeps N connections busy for a duration, one request
// in flight per connection (no pipelining), and counts only answers it
// received and checked: the right id and a result for the vault, a bulk
// string for Redis. Latencies go into a log-linear histogram with about 1%
// resolution, so percentiles cost no sorting and no per-request memory.
package vaultbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"time"
)

// LoadOptions configure one load run.
type LoadOptions struct {
	Target   string // "vault" or "redis"
	Socket   string
	Token    string
	Paths    []string // requests cycle through these
	Conns    int
	Duration time.Duration
}

// Result is one run's outcome, as vault-bench --json prints it.
type Result struct {
	Target   string  `json:"target"`
	Conns    int     `json:"conns"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	RPS      float64 `json:"rps"`
	P50US    float64 `json:"p50_us"`
	P99US    float64 `json:"p99_us"`
	P999US   float64 `json:"p999_us"`
	// ServerCPUUS and ClientCPUUS are CPU time (user + system) per
	// answered request, of the server process and of the load generator,
	// when the suite measured them: unlike requests/s, they hardly move
	// when the machine is busy, and they show where the two cores went.
	ServerCPUUS float64 `json:"server_cpu_us,omitempty"`
	ClientCPUUS float64 `json:"client_cpu_us,omitempty"`
}

// Run drives the target and returns the merged result.
func Run(ctx context.Context, o LoadOptions) (Result, error) {
	if o.Conns <= 0 || len(o.Paths) == 0 || o.Duration <= 0 {
		return Result{}, errors.New("need at least one connection, one path and a duration")
	}
	conns := make([]net.Conn, o.Conns)
	for i := range conns {
		c, err := net.Dial("unix", o.Socket)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return Result{}, fmt.Errorf("connecting to %s: %w", o.Socket, err)
		}
		conns[i] = c
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	hists := make([]*Histogram, o.Conns)
	errs := make([]uint64, o.Conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range conns {
		hists[i] = NewHistogram()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
			defer stop()
			errs[i] = drive(ctx, o, c, hists[i])
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := NewHistogram()
	var nerr uint64
	for i := range hists {
		total.Merge(hists[i])
		nerr += errs[i]
	}
	return Result{
		Target: o.Target, Conns: o.Conns, Requests: total.Count(), Errors: nerr,
		RPS:   float64(total.Count()) / elapsed.Seconds(),
		P50US: total.Quantile(0.5), P99US: total.Quantile(0.99), P999US: total.Quantile(0.999),
	}, nil
}

// drive runs one connection until ctx ends and returns its error count.
func drive(ctx context.Context, o LoadOptions, c net.Conn, h *Histogram) uint64 {
	br := bufio.NewReaderSize(c, 64<<10)
	var errs uint64
	var req []byte
	for n := uint64(1); ctx.Err() == nil; n++ {
		path := o.Paths[int(n)%len(o.Paths)]
		if o.Target == "redis" {
			req = appendRedisGet(req[:0], path)
		} else {
			req = appendVaultGet(req[:0], n, o.Token, path)
		}
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			return errs + countIfLive(ctx)
		}
		var ok bool
		var err error
		if o.Target == "redis" {
			ok, err = readRedisBulk(br)
		} else {
			ok, err = readVaultAnswer(br, n)
		}
		if err != nil {
			return errs + countIfLive(ctx)
		}
		if !ok {
			errs++
			continue
		}
		h.Record(time.Since(t0))
	}
	return errs
}

func countIfLive(ctx context.Context) uint64 {
	if ctx.Err() != nil {
		return 0 // cut off by the end of the run, not a failure
	}
	return 1
}

func appendVaultGet(dst []byte, id uint64, token, path string) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	if token != "" {
		dst = append(dst, `,"auth":"`...)
		dst = append(dst, token...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"method":"get","params":{"path":`...)
	dst = strconv.AppendQuote(dst, path)
	return append(dst, "}}\n"...)
}

// readVaultAnswer reads one answer line and checks it answers request id
// with a value.
func readVaultAnswer(br *bufio.Reader, id uint64) (bool, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	var want [32]byte
	prefix := strconv.AppendUint(append(want[:0], `{"id":`...), id, 10)
	prefix = append(prefix, `,"result":{"value`...)
	return bytes.HasPrefix(line, prefix), nil
}

func appendRedisGet(dst []byte, key string) []byte {
	dst = append(dst, "*2\r\n$3\r\nGET\r\n$"...)
	dst = strconv.AppendInt(dst, int64(len(key)), 10)
	dst = append(dst, "\r\n"...)
	dst = append(dst, key...)
	return append(dst, "\r\n"...)
}

// readRedisBulk reads one RESP reply and checks it is a non-nil bulk string.
func readRedisBulk(br *bufio.Reader) (bool, error) {
	head, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	if len(head) < 3 || head[0] != '$' {
		return false, nil // an error reply or something unexpected
	}
	n, err := strconv.Atoi(string(head[1 : len(head)-2]))
	if err != nil || n < 0 {
		return false, nil
	}
	if _, err := br.Discard(n + 2); err != nil {
		return false, err
	}
	return true, nil
}

// Histogram is a log-linear latency histogram: buckets of about 1% width
// from 1 µs to about an hour.
type Histogram struct {
	counts []uint64
	n      uint64
}

const histGrowth = 1.01

var histBuckets = int(math.Log(3.6e9)/math.Log(histGrowth)) + 2

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{counts: make([]uint64, histBuckets)} }

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	us := float64(d.Nanoseconds()) / 1e3
	i := 0
	if us > 1 {
		i = int(math.Log(us)/math.Log(histGrowth)) + 1
	}
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i]++
	h.n++
}

// Merge adds o's counts.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Count is the number of recorded latencies.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the q-quantile in microseconds (the bucket's upper edge).
func (h *Histogram) Quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == 0 {
				return 1
			}
			return math.Round(math.Pow(histGrowth, float64(i))*10) / 10
		}
	}
	return math.Inf(1)
}
