package vaultbench

// Judging the report against the targets, and the markdown table.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Outcomes of a target.
const (
	Pass = "PASS"
	Miss = "MISS"
	NA   = "n/a" // not measured: skipped or failed
)

// judge compares the report with the targets of the issue.
func judge(r *Report) []Target {
	var ts []Target
	add := func(name, goal string, measured bool, value float64, pass bool, text string) {
		t := Target{Name: name, Goal: goal, Result: NA, Measured: text}
		if measured {
			t.Value = math.Round(value*1000) / 1000
			t.Result = Miss
			if pass {
				t.Result = Pass
			}
		}
		ts = append(ts, t)
	}

	v64, ok1 := byConns(r.Hit.Vault, 64)
	r64, ok2 := byConns(r.Hit.Redis, 64)
	ok := r.Hit.ok() && ok1 && ok2 && r64.RPS > 0
	ratio := safeDiv(v64.RPS, r64.RPS)
	hitText := fmt.Sprintf("%s vs %s req/s = %.2f×", thousands(v64.RPS), thousands(r64.RPS), ratio)
	if v64.ServerCPUUS > 0 && r64.ServerCPUUS > 0 {
		hitText += fmt.Sprintf(" (server CPU a request %.1f vs %.1f µs)", v64.ServerCPUUS, r64.ServerCPUUS)
	}
	add("cache-hit throughput, 64 conns (auth, grants, audit on)", "≥ 1.0× Redis GET, same client", ok, ratio, ratio >= 1.0,
		measuredText(ok, hitText, r.Hit.Section))

	v1, ok1 := byConns(r.Hit.Vault, 1)
	r1, ok2 := byConns(r.Hit.Redis, 1)
	ok = r.Hit.ok() && ok1 && ok2 && r1.P99US > 0
	ratio = safeDiv(v1.P99US, r1.P99US)
	add("cache-hit p99, 1 conn", "≤ 2× Redis's", ok, ratio, ratio <= 2.0,
		measuredText(ok, fmt.Sprintf("%s vs %s = %.2f×", fmtUS(v1.P99US), fmtUS(r1.P99US), ratio), r.Hit.Section))

	m := r.Miss
	ok = m.ok() && m.GPG.MedianUS > 0
	ratio = safeDiv(m.Vault.MedianUS, m.GPG.MedianUS)
	add("cache miss, median", "≤ 1.1× bare gpg --decrypt", ok, ratio, ratio <= 1.1,
		measuredText(ok, fmt.Sprintf("%s vs %s = %.2f× (pass show %s: vault %.1f× faster)",
			fmtUS(m.Vault.MedianUS), fmtUS(m.GPG.MedianUS), ratio, fmtUS(m.Pass.MedianUS), safeDiv(m.Pass.MedianUS, m.Vault.MedianUS)), m.Section))

	p := r.Python
	ok = p.ok() && p.Raw.P50US > 0
	ratio = safeDiv(p.SDK.P50US, p.Raw.P50US)
	add("Python SDK get p50", "≤ 2× raw-socket floor", ok, ratio, ratio <= 2.0,
		measuredText(ok, fmt.Sprintf("%s vs %s = %.2f×", fmtUS(p.SDK.P50US), fmtUS(p.Raw.P50US), ratio), p.Section))

	e := r.Exec
	execText := fmt.Sprintf("%.1f ms (%s vs %s for exec true)", e.OverheadMS, fmtUS(e.VaultExec.MedianUS), fmtUS(e.Direct.MedianUS))
	if e.GoFloor != nil {
		execText += fmt.Sprintf("; a Go program that only execs true adds %.1f ms, vault-exec %.1f ms more", e.GoFloorMS, e.AboveGoFloorMS)
	}
	add("vault-exec overhead, 5 secrets", "≤ 5 ms", e.ok(), e.OverheadMS, e.OverheadMS <= 5,
		measuredText(e.ok(), execText, e.Section))

	mib := float64(r.RSS.IdleKiB) / 1024
	add("idle RSS", "≤ 20 MiB", r.RSS.ok(), mib, mib <= 20,
		measuredText(r.RSS.ok(), fmt.Sprintf("%.1f MiB", mib), r.RSS.Section))

	add("start to READY=1, empty cache", "≤ 100 ms", r.Ready.ok(), r.Ready.MedianMS, r.Ready.MedianMS <= 100,
		measuredText(r.Ready.ok(), fmt.Sprintf("%.1f ms (median of %d)", r.Ready.MedianMS, len(r.Ready.RunsMS)), r.Ready.Section))
	return ts
}

func measuredText(ok bool, text string, s Section) string {
	switch {
	case ok:
		return text
	case s.Skipped != "":
		return "skipped: " + s.Skipped
	case s.Error != "":
		return "error (see below)"
	}
	return "not measured"
}

func byConns(rs []Result, n int) (Result, bool) {
	for _, r := range rs {
		if r.Conns == n {
			return r, true
		}
	}
	return Result{}, false
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Markdown renders the report as the table `make bench` prints.
func Markdown(r *Report) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	mc := r.Machine
	w("# Jawn Vault benchmark\n\n")
	w("%s · %d × %s · Linux %s · %s · load average %s at start, %s at end · %s per load run · %d-byte values · %.0f s in all\n\n",
		r.Started.Format("2006-01-02 15:04 MST"), mc.NProc, orDash(mc.Model), orDash(mc.Kernel), mc.GoVersion,
		orDash(mc.LoadAvg), orDash(mc.LoadEnd), r.Duration, r.ValueSize, r.Seconds)
	w("Shared, noisy machine: compare the ratios (neighbours measured in the same run), not the absolute numbers.\n\n")

	w("## Targets\n\n| target | measured | goal | result |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		w("| %s | %s | %s | %s |\n", t.Name, t.Measured, t.Goal, t.Result)
	}

	h := r.Hit
	w("\n## Cache hit: vault `get` beside Redis `GET`, same client (vaultbench.Run)\n\n")
	if h.ok() || len(h.Vault) > 0 {
		w("| conns | vault req/s | Redis req/s | vault / Redis | vault p50 / p99 / p99.9 | Redis p50 / p99 / p99.9 | redis-benchmark req/s, p50 / p99 |\n|---|---|---|---|---|---|---|\n")
		for _, v := range h.Vault {
			rd, _ := byConns(h.Redis, v.Conns)
			rb := "—"
			for _, x := range h.RedisBenchmark {
				if x.Conns == v.Conns {
					rb = fmt.Sprintf("%s, %s / %s", thousands(x.RPS), fmtUS(x.P50US), fmtUS(x.P99US))
				}
			}
			w("| %d | %s | %s | %.2f× | %s / %s / %s | %s / %s / %s | %s |\n", v.Conns, thousands(v.RPS), thousands(rd.RPS), safeDiv(v.RPS, rd.RPS),
				fmtUS(v.P50US), fmtUS(v.P99US), fmtUS(v.P999US), fmtUS(rd.P50US), fmtUS(rd.P99US), fmtUS(rd.P999US), rb)
		}
		var answered, failed uint64
		for _, v := range h.Vault {
			answered += v.Requests
			failed += v.Errors
		}
		w("\nOver these runs the vault answered %s gets (%d refused or wrong), had %s cache hits and %d misses, and committed %s audit rows (%d failed). %d paths, a read-only token; Redis: %s.\n",
			thousands(float64(answered)), failed, thousands(float64(h.CacheHits)), h.CacheMisses, thousands(float64(h.AuditRows)), h.AuditFailed, h.Paths, orDash(h.RedisVersion))
		if h.RedisBenchmarkError != "" {
			w("\nredis-benchmark: %s\n", h.RedisBenchmarkError)
		}
		if len(h.Vault) > 0 && h.Vault[0].ServerCPUUS > 0 {
			w("\nCPU time (user + system) per answered request, same runs — the load generator shares the machine's cores with the server:\n\n")
			w("| conns | vault daemon | Redis | vault / Redis | load generator, vault runs | load generator, Redis runs |\n|---|---|---|---|---|---|\n")
			for _, v := range h.Vault {
				rd, _ := byConns(h.Redis, v.Conns)
				w("| %d | %.1f µs | %.1f µs | %.2f× | %.1f µs | %.1f µs |\n", v.Conns, v.ServerCPUUS, rd.ServerCPUUS, safeDiv(v.ServerCPUUS, rd.ServerCPUUS), v.ClientCPUUS, rd.ClientCPUUS)
			}
		}
	}
	sectionNote(w, h.Section)

	m := r.Miss
	w("\n## Cache miss (cache off), %d runs each, interleaved\n\n", m.Vault.N)
	if m.ok() {
		w("| | median | p90 | min | median vs gpg |\n|---|---|---|---|---|\n")
		for _, row := range []struct {
			name string
			s    Sample
		}{{"vault `get`, --cache-ttl 0s", m.Vault}, {"`gpg --batch --quiet --decrypt`", m.GPG}, {"`pass show`", m.Pass}} {
			w("| %s | %s | %s | %s | %.2f× |\n", row.name, fmtUS(row.s.MedianUS), fmtUS(row.s.P90US), fmtUS(row.s.MinUS), safeDiv(row.s.MedianUS, m.GPG.MedianUS))
		}
	}
	sectionNote(w, m.Section)

	w("\n## SDK `get` beside a raw socket in the same language\n\n| | SDK p50 / p99 | raw socket p50 / p99 | p50 ratio | gets |\n|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		s    *SDKSection
	}{{"Python", r.Python}, {"Node", r.Node}} {
		if !row.s.ok() {
			w("| %s | %s | | | |\n", row.name, measuredText(false, "", row.s.Section))
			continue
		}
		w("| %s | %s / %s | %s / %s | %.2f× | %d |\n", row.name, fmtUS(row.s.SDK.P50US), fmtUS(row.s.SDK.P99US),
			fmtUS(row.s.Raw.P50US), fmtUS(row.s.Raw.P99US), safeDiv(row.s.SDK.P50US, row.s.Raw.P50US), row.s.SDK.N)
	}
	for _, s := range []*SDKSection{r.Python, r.Node} {
		sectionNote(w, Section{Error: s.Error}) // skips are in the table
	}

	e := r.Exec
	w("\n## vault-exec start-up\n\n")
	if e.ok() {
		w("| | median | p90 |\n|---|---|---|\n| `vault-exec` with %d `--map`, then `true` | %s | %s |\n| `true` | %s | %s |\n",
			e.Secrets, fmtUS(e.VaultExec.MedianUS), fmtUS(e.VaultExec.P90US), fmtUS(e.Direct.MedianUS), fmtUS(e.Direct.P90US))
		if f := e.GoFloor; f != nil {
			w("| `bench-goexec true` (a Go program that only execs) | %s | %s |\n", fmtUS(f.MedianUS), fmtUS(f.P90US))
		}
		w("\nAdded: %.1f ms.", e.OverheadMS)
		if e.GoFloor != nil {
			w(" Of that, %.1f ms is what starting any Go program costs here (bench-goexec) and %.1f ms is vault-exec's own work (connect, one pipelined fetch, environment).", e.GoFloorMS, e.AboveGoFloorMS)
		}
		w("\n")
	}
	sectionNote(w, e.Section)

	w("\n## Daemon\n\n")
	if r.RSS.ok() {
		w("| | |\n|---|---|\n| RSS idle (memory store) | %.1f MiB |\n| RSS with %s secrets cached | %.1f MiB (%d cache entries; peak %.1f MiB) |\n",
			float64(r.RSS.IdleKiB)/1024, thousands(float64(r.RSS.Secrets)), float64(r.RSS.CachedKiB)/1024, r.RSS.CacheCount, float64(r.RSS.PeakKiB)/1024)
	}
	sectionNote(w, r.RSS.Section)
	if r.Ready.ok() {
		runs := make([]string, len(r.Ready.RunsMS))
		for i, x := range r.Ready.RunsMS {
			runs[i] = strconv.FormatFloat(x, 'f', 1, 64)
		}
		w("\nStart to READY=1 (pass store, empty state directory): median %.1f ms; runs %s ms.\n", r.Ready.MedianMS, strings.Join(runs, ", "))
	}
	sectionNote(w, r.Ready.Section)
	return b.String()
}

func sectionNote(w func(string, ...any), s Section) {
	if s.Skipped != "" {
		w("\nSkipped: %s.\n", s.Skipped)
	}
	if s.Error != "" {
		w("\n**Error:** %s\n", strings.ReplaceAll(s.Error, "\n", " "))
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// fmtUS formats microseconds, as ms from 1 ms up.
func fmtUS(us float64) string {
	switch {
	case us >= 1000:
		return strconv.FormatFloat(us/1000, 'f', 2, 64) + " ms"
	case us >= 100:
		return strconv.FormatFloat(us, 'f', 0, 64) + " µs"
	default:
		return strconv.FormatFloat(us, 'f', 1, 64) + " µs"
	}
}

// thousands formats a count with commas: 52,118.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}
