package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mm2go/mm2go/cmd/mm2go/internal/bench"
	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/flows"
)

// benchChildEnv is set in the environment of the copier children that
// `mm2go bench` starts (`mm2go bench --role ...`); a test binary that
// re-executes itself as the child dispatches on it.
const benchChildEnv = "MM2GO_BENCH_CHILD"

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--role" || strings.HasPrefix(args[0], "--role=")) {
		return runBenchChild(ctx, args, stdout, stderr)
	}
	fs := newFlagSet("bench", "bench [--records N] [--size BYTES] [--partitions N] [--scale partitions,topics,groups|all] [flags]", stdout)
	records := fs.Int64("records", 1_000_000, "records loaded on the source and copied by each copier (kcat copies a quarter)")
	rounds := fs.Int("rounds", 4, "copies by the raw loop and by mm2go each, in alternating order (raw first in odd rounds, mm2go in even ones); the best counts")
	size := fs.Int("size", 1024, "value bytes per record")
	partitions := fs.Int("partitions", 16, "partitions of the source topic")
	latencyLoads := fs.String("latency-loads", "10,50", "offered loads of the latency phases, in percent of the raw copy's records/s")
	latencyDur := fs.Duration("latency-duration", 5*time.Second, "how long each latency load is offered")
	eosInterval := fs.Duration("eos-interval", 0, "transaction.boundary.interval.ms of the exactly-once copier (mm2go-eos); 0 keeps mm2go's default")
	kcat := fs.String("kcat", "auto", "kcat binary for the kcat -C | kcat -P comparison: auto (kcat or kafkacat on PATH), off, or a path")
	scale := fs.String("scale", "", "scale runs to add, comma separated: partitions, topics, groups, or all")
	scaleParts := fs.Int("scale-partitions", 10_000, "partitions of the partitions scale run")
	scaleTopics := fs.Int("scale-topics", 1_000, "topics created at once in the topics scale run")
	scaleGroups := fs.Int("scale-groups", 2_000, "consumer groups of the groups scale run")
	groupParts := fs.Int("scale-group-partitions", 50, "partitions each group of the groups scale run has offsets on")
	scaleIdle := fs.Duration("scale-idle", 5*time.Second, "how long a scale run watches the idle worker after the copy, for its steady RSS and idle CPU")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on each phase (a copy, a latency drain, a scale run)")
	out := fs.String("out", "", "directory for bench.json, bench.md, bench.svg, flow files, copier logs and profiles (default: a new temporary directory)")
	profile := fs.Bool("profile", false, "write CPU profiles of the raw and mm2go copiers in every phase, and heap profiles of the worker in scale runs, into --out (<copier>-<phase>.cpu.pprof, .heap.pprof)")
	jsonOut := fs.Bool("json", false, "print the report as JSON instead of tables")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	usageErr := func(err error) int {
		fmt.Fprintf(stderr, "mm2go bench: %v\n", err)
		return exitUsage
	}
	cfg := bench.Config{
		Records: *records, Rounds: *rounds, Size: *size, Partitions: int32(min(*partitions, 1<<20)),
		LatencyDuration: *latencyDur, EOSInterval: *eosInterval,
		ScalePartitions: *scaleParts, ScaleTopics: *scaleTopics, ScaleGroups: *scaleGroups, GroupPartitions: *groupParts,
		ScaleIdle: *scaleIdle,
		Timeout:   *timeout, OutDir: *out, Profile: *profile, Progress: stderr,
		Env: []string{benchChildEnv + "=1"},
	}
	var errs []error
	cfg.LatencyLoads, errs = parseLoads(*latencyLoads)
	switch *scale {
	case "":
	case "all":
		cfg.Scale = []string{bench.ScalePartitions, bench.ScaleTopics, bench.ScaleGroups}
	default:
		for s := range strings.SplitSeq(*scale, ",") {
			cfg.Scale = append(cfg.Scale, strings.TrimSpace(s))
		}
	}
	var err error
	if cfg.Kcat, err = findKcat(*kcat); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageErr(err)
	}
	if cfg.Exe, err = os.Executable(); err != nil {
		fmt.Fprintf(stderr, "mm2go bench: find this program to start the copiers: %v\n", err)
		return exitFailure
	}
	if cfg.OutDir == "" {
		if cfg.OutDir, err = os.MkdirTemp("", "mm2go-bench-"); err != nil {
			fmt.Fprintf(stderr, "mm2go bench: %v\n", err)
			return exitFailure
		}
	}
	rep, runErr := bench.Run(ctx, cfg, strings.Join(append([]string{"mm2go", "bench"}, args...), " "))
	if rep == nil { // the config was refused
		return usageErr(runErr)
	}
	if *jsonOut {
		_ = writeJSON(stdout, rep)
	} else {
		fmt.Fprintln(stdout)
		rep.WriteText(stdout)
	}
	paths, err := rep.Save(cfg.OutDir)
	if err != nil {
		fmt.Fprintf(stderr, "mm2go bench: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "mm2go bench: saved %s (logs, flow files and profiles in %s)\n", strings.Join(paths, ", "), cfg.OutDir)
	if runErr != nil {
		fmt.Fprintf(stderr, "mm2go bench: %v\n", runErr)
		return exitFailure
	}
	return exitOK
}

// flowFileWorker builds the worker of the flow file at path, as mm2go
// worker does.
func flowFileWorker(path string, log hclog.Logger) (*connect.Worker, []connect.ConnectorSpec, error) {
	f, err := flows.Load(path)
	if err == nil {
		err = f.Check()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("flow file %s: %w", path, err)
	}
	return newWorker(f, log)
}

// parseLoads parses --latency-loads: percentages, comma separated.
func parseLoads(s string) ([]int, []error) {
	var loads []int
	var errs []error
	for p := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			errs = append(errs, fmt.Errorf("--latency-loads: %q is not a number", p))
			continue
		}
		loads = append(loads, n)
	}
	return loads, errs
}

// findKcat resolves --kcat: "off" is none, "auto" is kcat or kafkacat on
// PATH if there is one, anything else must be an executable.
func findKcat(flag string) (string, error) {
	switch flag {
	case "off":
		return "", nil
	case "auto":
		for _, name := range []string{"kcat", "kafkacat"} {
			if p, err := exec.LookPath(name); err == nil {
				return p, nil
			}
		}
		return "", nil
	}
	p, err := exec.LookPath(flag)
	if err != nil {
		return "", fmt.Errorf("--kcat: %w", err)
	}
	return p, nil
}

// runBenchChild runs one child of the harness: `bench --role rawcopy` (the
// raw franz-go copy loop) or `bench --role worker` (an mm2go worker, as
// `mm2go worker` runs it), until ctx is cancelled (SIGTERM from the
// harness); or `bench --role latency`, a single-process latency phase that
// prints its results as JSON on stdout and exits.
func runBenchChild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", "bench --role rawcopy|worker|latency [flags] (started by mm2go bench)", stderr)
	role := fs.String("role", "", "rawcopy, worker or latency")
	copier := fs.String("copier", "", "latency: the copier to measure, raw or mm2go")
	ceiling := fs.Float64("ceiling", 0, "latency: the raw copy's records/s, which the loads are percentages of")
	loads := fs.String("latency-loads", "10,50", "latency: offered loads, in percent of --ceiling")
	latencyDur := fs.Duration("latency-duration", 5*time.Second, "latency: how long each load is offered")
	partitions := fs.Int("partitions", 16, "latency: partitions of the source topic")
	size := fs.Int("size", 1024, "latency: value bytes per record")
	timeout := fs.Duration("timeout", 5*time.Minute, "latency: bound on the warm-up and on the drain")
	out := fs.String("out", "", "latency: directory for the flow file and the worker's log")
	config := fs.String("config", "", "worker: the flow file")
	httpAddr := fs.String("http-addr", "", "worker: serve the REST status paths and metrics on this address, as mm2go worker --http-addr does")
	source := fs.String("source", "", "rawcopy: source bootstrap addresses, comma separated")
	target := fs.String("target", "", "rawcopy: target bootstrap addresses, comma separated")
	topics := fs.String("topics", "", "rawcopy: topics to copy, comma separated")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the copier to this file")
	memprofile := fs.String("memprofile", "", "write a heap profile to this file each time the heap reaches a new high (10% above the last), so that it shows what was live near the peak")
	var lf logFlags
	lf.register(fs)
	lf.level = "warn"
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	var copyFn func(context.Context) error
	switch *role {
	case "rawcopy":
		if *source == "" || *target == "" || *topics == "" {
			fmt.Fprintln(stderr, "mm2go bench --role rawcopy: --source, --target and --topics are required")
			return exitUsage
		}
		cfg := bench.RawCopyConfig{Source: strings.Split(*source, ","), Target: strings.Split(*target, ","), Topics: strings.Split(*topics, ",")}
		copyFn = func(ctx context.Context) error { return bench.RawCopy(ctx, cfg) }
	case "worker":
		if *config == "" {
			fmt.Fprintln(stderr, "mm2go bench --role worker: --config is required")
			return exitUsage
		}
		log, err := lf.logger(stderr)
		if err != nil {
			fmt.Fprintf(stderr, "mm2go bench: %v\n", err)
			return exitUsage
		}
		f, code := loadFlowFile(*config, stderr, "bench")
		if f == nil {
			return code
		}
		w, specs, err := newWorker(f, log)
		if err != nil {
			fmt.Fprintf(stderr, "mm2go bench: %v\n", err)
			return exitUsage
		}
		if *httpAddr != "" {
			stop, err := serveStatus(w, *httpAddr, log)
			if err != nil {
				fmt.Fprintf(stderr, "mm2go bench: --http-addr: %v\n", err)
				return exitUsage
			}
			defer stop()
		}
		copyFn = func(ctx context.Context) error { return w.Run(ctx, specs) }
	case "latency":
		lds, errs := parseLoads(*loads)
		if *copier != bench.CopierRaw && *copier != bench.CopierMM2go {
			errs = append(errs, fmt.Errorf("--copier: %q is not raw or mm2go", *copier))
		}
		if *ceiling <= 0 || *out == "" {
			errs = append(errs, errors.New("--ceiling and --out are required"))
		}
		cfg := bench.Config{Size: *size, Partitions: int32(min(*partitions, 1<<20)),
			LatencyLoads: lds, LatencyDuration: *latencyDur, Timeout: *timeout, OutDir: *out, Progress: stderr,
			NewWorker: flowFileWorker}
		if err := cfg.ValidateLatency(); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintf(stderr, "mm2go bench --role latency: %v\n", err)
			return exitUsage
		}
		copyFn = func(ctx context.Context) error {
			res, err := bench.SingleProcessLatency(ctx, cfg, *copier, *ceiling)
			if err != nil {
				return err
			}
			return json.NewEncoder(stdout).Encode(res)
		}
	default:
		fmt.Fprintf(stderr, "mm2go bench: --role: %q is not rawcopy, worker or latency\n", *role)
		return exitUsage
	}
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "mm2go bench: --cpuprofile: %v\n", err)
			return exitUsage
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			fmt.Fprintf(stderr, "mm2go bench: --cpuprofile: %v\n", err)
			return exitFailure
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	if *memprofile != "" {
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		go heapHighs(mctx, *memprofile)
	}
	if err := copyFn(ctx); err != nil {
		fmt.Fprintf(stderr, "mm2go bench --role %s: %v\n", *role, err)
		return exitFailure
	}
	return exitOK
}

// heapHighs writes a heap profile to path whenever the heap has grown 10%
// past the last profile's, until ctx is done. The profile's in-use figures
// are those of the last garbage collection, so the last file written shows
// what was live near the copier's peak.
func heapHighs(ctx context.Context, path string) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var high uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc <= high+high/10 {
			continue
		}
		high = ms.HeapAlloc
		f, err := os.Create(path)
		if err != nil {
			return
		}
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
}
