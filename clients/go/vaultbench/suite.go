package vaultbench

// The suite behind `make bench`: it starts throwaway vaults and a Redis
// server, measures them side by side in one run, and writes a JSON report
// and a markdown table. The machine is assumed to be shared and noisy, so
// every comparison is made between neighbours measured in the same run and
// reported as a ratio; absolute numbers are recorded but not judged.
//
// The suite judges the daemon against its targets and prints PASS or MISS
// for each; a MISS never fails the command. A part that could not be
// measured at all (a process that would not start, a wrong answer) is an
// error: the report is still written, and the command then exits 1.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// SuiteOptions configure RunSuite.
type SuiteOptions struct {
	Root     string        // repository root: bench/ and clients/ live here
	Bin      string        // directory of jawn-vault and vault-exec
	Out      string        // JSON report; the markdown goes beside it as .md
	Duration time.Duration // each load run
	Runs     int           // samples per start-up or cache-miss measurement
	SDKGets  int           // gets per SDK and raw-socket measurement
	Progress io.Writer     // one line per step; nil for none
}

// Report is the suite's JSON output.
type Report struct {
	Started   time.Time     `json:"started"`
	Seconds   float64       `json:"seconds"`
	Machine   Machine       `json:"machine"`
	Duration  string        `json:"load_duration"`
	ValueSize int           `json:"value_size"`
	Hit       *HitSection   `json:"cache_hit"`
	Miss      *MissSection  `json:"cache_miss"`
	Python    *SDKSection   `json:"python_sdk"`
	Node      *SDKSection   `json:"node_sdk"`
	Exec      *ExecSection  `json:"vault_exec"`
	RSS       *RSSSection   `json:"rss"`
	Ready     *ReadySection `json:"ready"`
	Targets   []Target      `json:"targets"`
}

// Machine describes where the suite ran.
type Machine struct {
	NProc     int    `json:"nproc"`
	Model     string `json:"model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	LoadAvg   string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

// Section is what every part of the report has: why it was skipped, or
// why it failed.
type Section struct {
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (s *Section) fail(err error) {
	if err != nil {
		s.Error = err.Error()
	}
}

// ok reports whether the section has numbers to judge.
func (s *Section) ok() bool { return s.Error == "" && s.Skipped == "" }

// HitSection is the cache-hit load test beside Redis.
type HitSection struct {
	Section
	Paths          int              `json:"paths"`
	Vault          []Result         `json:"vault"`
	Redis          []Result         `json:"redis"`
	RedisBenchmark []RedisBenchmark `json:"redis_benchmark"`
	RedisVersion   string           `json:"redis_version,omitempty"`
	// RedisBenchmarkError says why redis-benchmark's numbers are missing;
	// they are a reference, not part of any target.
	RedisBenchmarkError string `json:"redis_benchmark_error,omitempty"`
	// CacheMisses and AuditRows are the vault's counters over the load
	// runs: misses should be 0, audit rows about the number of requests.
	CacheHits   uint64 `json:"cache_hits"`
	CacheMisses uint64 `json:"cache_misses"`
	AuditRows   uint64 `json:"audit_rows"`
	AuditFailed uint64 `json:"audit_failed"`
}

// RedisBenchmark is one redis-benchmark run, as its --csv reports it.
type RedisBenchmark struct {
	Conns    int     `json:"conns"`
	Requests int     `json:"requests"`
	RPS      float64 `json:"rps"`
	P50US    float64 `json:"p50_us"`
	P99US    float64 `json:"p99_us"`
}

// Sample summarises repeated timings of one operation.
type Sample struct {
	N        int     `json:"n"`
	MedianUS float64 `json:"median_us"`
	P90US    float64 `json:"p90_us"`
	MinUS    float64 `json:"min_us"`
}

// MissSection is the cache-miss get beside bare gpg and pass show.
type MissSection struct {
	Section
	Vault Sample `json:"vault_get"`
	GPG   Sample `json:"gpg_decrypt"`
	Pass  Sample `json:"pass_show"`
}

// Latency is what the SDK drivers print.
type Latency struct {
	P50US float64 `json:"p50_us"`
	P99US float64 `json:"p99_us"`
	N     int     `json:"n"`
}

// SDKSection is one SDK's get beside a raw-socket round trip in the same
// language.
type SDKSection struct {
	Section
	SDK Latency `json:"sdk"`
	Raw Latency `json:"raw"`
}

// ExecSection is vault-exec's start-up cost.
type ExecSection struct {
	Section
	Secrets    int     `json:"secrets"`
	VaultExec  Sample  `json:"vault_exec"`
	Direct     Sample  `json:"direct"`
	OverheadMS float64 `json:"overhead_ms"`
	// GoFloor is a Go program that only execs true (bench/goexec), when
	// built: what starting any Go program costs on this machine.
	GoFloor        *Sample `json:"go_floor,omitempty"`
	GoFloorMS      float64 `json:"go_floor_ms,omitempty"`       // GoFloor above exec true
	AboveGoFloorMS float64 `json:"above_go_floor_ms,omitempty"` // vault-exec above GoFloor
}

// RSSSection is the daemon's resident memory.
type RSSSection struct {
	Section
	IdleKiB    int `json:"idle_kib"`
	CachedKiB  int `json:"cached_kib"`
	PeakKiB    int `json:"peak_kib"`
	Secrets    int `json:"secrets"`
	CacheCount int `json:"cache_entries"`
}

// ReadySection is the time from exec to READY=1.
type ReadySection struct {
	Section
	RunsMS   []float64 `json:"runs_ms"`
	MedianMS float64   `json:"median_ms"`
}

// Target is one judged goal.
type Target struct {
	Name     string  `json:"name"`
	Measured string  `json:"measured"`
	Value    float64 `json:"value"`
	Goal     string  `json:"goal"`
	Result   string  `json:"result"` // PASS, MISS or n/a
}

const (
	valueSize = 64
	hitPaths  = 16
)

var connCounts = []int{1, 16, 64}

func suiteCmd(stdout, stderr io.Writer) *cobra.Command {
	var o SuiteOptions
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "Run the whole benchmark (make bench)",
		Long: `suite starts throwaway vaults (jawn-vault dev) and a Redis server, measures
them side by side and writes a JSON report to --out, the same table as
markdown beside it (.md) and to stdout. Run it from the repository root after
"make build"; "make bench" does both. See bench/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Progress = stderr
			rep, err := RunSuite(cmd.Context(), o)
			if rep == nil {
				return err
			}
			md := Markdown(rep)
			fmt.Fprint(stdout, md)
			if werr := writeReport(o.Out, rep, md); werr != nil {
				return werr
			}
			fmt.Fprintf(stderr, "vault-bench: wrote %s and %s\n", o.Out, mdPath(o.Out))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Root, "root", ".", "repository root (holds bench/ and clients/)")
	f.StringVar(&o.Bin, "bin", "", "directory of jawn-vault and vault-exec (default ROOT/bin)")
	f.StringVar(&o.Out, "out", "bench/results/latest.json", "JSON report; the markdown is written beside it as .md")
	f.DurationVar(&o.Duration, "duration", 5*time.Second, "each load run")
	f.IntVar(&o.Runs, "runs", 30, "samples per cache-miss and vault-exec measurement")
	f.IntVar(&o.SDKGets, "sdk-gets", 5000, "gets per SDK and raw-socket measurement")
	return cmd
}

func mdPath(out string) string { return strings.TrimSuffix(out, filepath.Ext(out)) + ".md" }

func writeReport(out string, rep *Report, md string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(mdPath(out), []byte(md), 0o644)
}

// ErrSuiteIncomplete is returned, with the report, when a part of the suite
// could not be measured.
var ErrSuiteIncomplete = errors.New("some measurements failed (see the error fields of the report)")

// RunSuite runs every measurement and returns the report. The report is
// nil only when nothing could run at all; a failed part is recorded in its
// section and makes the error ErrSuiteIncomplete.
func RunSuite(ctx context.Context, o SuiteOptions) (*Report, error) {
	if o.Root == "" {
		o.Root = "."
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	o.Root = root
	if o.Bin == "" {
		o.Bin = filepath.Join(root, "bin")
	}
	if o.Duration <= 0 || o.Runs < 3 || o.SDKGets < 10 {
		return nil, errors.New("need --duration > 0, --runs ≥ 3 and --sdk-gets ≥ 10")
	}
	vaultBin := filepath.Join(o.Bin, "jawn-vault")
	if _, err := os.Stat(vaultBin); err != nil {
		return nil, fmt.Errorf("%w\nhint: run `make build` first (or `make bench`)", err)
	}
	tmp, err := os.MkdirTemp("", "jvbench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	s := &suite{SuiteOptions: o, vaultBin: vaultBin, tmp: tmp}
	rep := &Report{
		Started: time.Now().UTC(), Duration: o.Duration.String(), ValueSize: valueSize, Machine: machineInfo(),
		Hit: &HitSection{Paths: hitPaths}, Miss: &MissSection{}, Python: &SDKSection{}, Node: &SDKSection{},
		Exec: &ExecSection{Secrets: 5}, RSS: &RSSSection{}, Ready: &ReadySection{},
	}
	start := time.Now()

	s.runHitGroup(ctx, rep)
	s.runMissGroup(ctx, rep)
	s.step("daemon RSS: idle and with 1,000 cached secrets")
	rep.RSS.fail(s.measureRSS(ctx, rep.RSS))

	rep.Machine.LoadEnd = loadAvg()
	rep.Seconds = time.Since(start).Round(time.Millisecond).Seconds()
	rep.Targets = judge(rep)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	for _, sec := range rep.sections() {
		if sec.Error != "" {
			return rep, ErrSuiteIncomplete
		}
	}
	return rep, nil
}

// sections lists every part of the report.
func (r *Report) sections() []*Section {
	return []*Section{&r.Hit.Section, &r.Miss.Section, &r.Python.Section, &r.Node.Section, &r.Exec.Section, &r.RSS.Section, &r.Ready.Section}
}

// suite holds what the measurements share.
type suite struct {
	SuiteOptions
	vaultBin string
	tmp      string // removed at the end; holds Redis, state dirs, sockets
}

func (s *suite) step(format string, args ...any) {
	if s.Progress != nil {
		fmt.Fprintf(s.Progress, "vault-bench: "+format+"\n", args...)
	}
}

// runHitGroup measures everything that needs the cache-hit vault: the load
// tests beside Redis, the SDKs and vault-exec. The vault and Redis are
// stopped before it returns.
func (s *suite) runHitGroup(ctx context.Context, rep *Report) {
	s.step("starting the cache-hit vault (pass store, real gpg)")
	// A long TTL so that no entry expires in the middle of a load run.
	v, err := s.startDev(ctx, "--cache-ttl", "1h")
	if err != nil {
		for _, sec := range []*Section{&rep.Hit.Section, &rep.Python.Section, &rep.Node.Section, &rep.Exec.Section} {
			sec.fail(fmt.Errorf("starting the vault: %w", err))
		}
		return
	}
	defer v.stop()
	paths, reader, err := seed(ctx, v, "bench/hit", hitPaths)
	if err != nil {
		for _, sec := range []*Section{&rep.Hit.Section, &rep.Python.Section, &rep.Node.Section, &rep.Exec.Section} {
			sec.fail(fmt.Errorf("seeding the vault: %w", err))
		}
		return
	}
	rep.Hit.fail(s.measureHit(ctx, v, paths, reader, rep.Hit))
	s.measureSDKs(ctx, v, paths[0], reader, rep)
	rep.Exec.fail(s.measureExec(ctx, v, paths[:rep.Exec.Secrets], reader, rep.Exec))
}

// runMissGroup measures the cache miss and the start-up time, with a vault
// whose cache is off.
func (s *suite) runMissGroup(ctx context.Context, rep *Report) {
	s.step("starting the cache-miss vault (--cache-ttl 0s)")
	v, err := s.startDev(ctx, "--cache-ttl", "0s")
	if err != nil {
		rep.Miss.fail(fmt.Errorf("starting the vault: %w", err))
		rep.Ready.fail(fmt.Errorf("starting a dev vault for its store: %w", err))
		return
	}
	defer v.stop()
	paths, reader, err := seed(ctx, v, "bench/miss", 1)
	if err != nil {
		rep.Miss.fail(fmt.Errorf("seeding the vault: %w", err))
	} else {
		s.step("cache miss: vault get, gpg --decrypt, pass show × %d each", s.Runs)
		rep.Miss.fail(s.measureMiss(ctx, v, paths[0], reader, rep.Miss))
	}
	s.step("start to READY=1, × 5")
	rep.Ready.fail(s.measureReady(ctx, v, rep.Ready))
}

func machineInfo() Machine {
	m := Machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvg: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
