package main

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mm2go/mm2go/cmd/mm2go/internal/bench"
)

// init makes the test binary serve as the copier child of `mm2go bench`:
// the harness re-executes its own program (this test binary, under go test)
// with benchChildEnv set and `bench --role ...` as arguments.
func init() {
	if os.Getenv(benchChildEnv) == "" || len(os.Args) < 2 || os.Args[1] != "bench" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// TestBench_EndToEnd runs a tiny benchmark, scale runs included, and checks
// the saved report: every field present, every copier copied every record,
// and the numbers are sane.
func TestBench_EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts copier processes and fake clusters for several seconds")
	}
	out := t.TempDir()
	code, stdout, stderr := runCmd(t, context.Background(), "bench",
		"--records", "2000", "--partitions", "2", "--size", "256", "--rounds", "1",
		"--latency-duration", "500ms",
		"--scale", "partitions,groups", "--scale-partitions", "20", "--scale-groups", "3", "--scale-group-partitions", "2", "--scale-idle", "300ms",
		"--timeout", "60s", "--out", out)
	if code != exitOK {
		t.Fatalf("bench: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"throughput", "raw", "mm2go", "p99 ms", "targets", "scale"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("bench output lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"bench.json", "bench.md", "bench.svg", "flows-copy-1.yaml", "mm2go-copy-1.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("bench did not write %s: %v", f, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Every field of the report is in the JSON (none is omitted when zero
	// except the documented ones).
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("bench.json: %v", err)
	}
	for _, k := range []string{"machine", "command", "params", "started", "seconds", "copies", "rounds", "latency", "scale", "targets", "notes"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("bench.json lacks %q", k)
		}
	}
	copy0 := fields["copies"].([]any)[0].(map[string]any)
	for _, k := range []string{"copier", "round", "records", "bytes", "startup_seconds", "seconds", "records_per_sec", "mb_per_sec",
		"ratio_to_ceiling", "cpu_seconds", "cpu_seconds_per_gb", "peak_rss_bytes", "broker_cpu_seconds"} {
		if _, ok := copy0[k]; !ok {
			t.Errorf("bench.json copies[0] lacks %q", k)
		}
	}
	lat0 := fields["latency"].([]any)[0].(map[string]any)
	for _, k := range []string{"copier", "load_percent", "offered_rate", "sent_rate", "samples", "lost", "p50_ms", "p99_ms", "p999_ms", "max_ms"} {
		if _, ok := lat0[k]; !ok {
			t.Errorf("bench.json latency[0] lacks %q", k)
		}
	}

	var rep bench.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("bench.json: %v", err)
	}
	if rep.Machine.CPUs < 1 || rep.Machine.GoVersion == "" || rep.Params.Records != 2000 || rep.Params.Partitions != 2 {
		t.Errorf("machine or params: %+v %+v", rep.Machine, rep.Params)
	}
	if len(rep.Copies) != 4 {
		t.Fatalf("copies: %+v, want raw, mm2go, mm2go-eos and kcat", rep.Copies)
	}
	if rep.Copies[2].Copier != bench.CopierMM2goEOS {
		t.Errorf("copies[2] is %q, want %s", rep.Copies[2].Copier, bench.CopierMM2goEOS)
	}
	for _, c := range rep.Copies[:3] {
		if c.Skipped != "" || c.Records != 2000 || c.Bytes != 2000*256 {
			t.Errorf("%s copied %d records (%d bytes), skipped %q: want all 2000", c.Copier, c.Records, c.Bytes, c.Skipped)
		}
		if c.RecordsPerSec <= 0 || c.MBPerSec <= 0 || c.CPUSeconds <= 0 || c.CPUSecondsPerGB <= 0 || c.RatioToCeiling <= 0 {
			t.Errorf("%s: rates, CPU or ratio not positive: %+v", c.Copier, c)
		}
		// A Go copier's RSS is tens of MiB; the harness holds the clusters'
		// data and must not be counted in it.
		if c.PeakRSSBytes < 1<<20 || c.PeakRSSBytes > 2<<30 {
			t.Errorf("%s: peak RSS %d bytes is not plausible", c.Copier, c.PeakRSSBytes)
		}
	}
	// The kcat pipe runs where kcat is installed (CI installs it), and is
	// skipped with a reason elsewhere.
	kcat, _ := findKcat("auto")
	switch k := rep.Copies[3]; {
	case k.Copier != bench.CopierKcat:
		t.Errorf("copies[3] is %q, want kcat", k.Copier)
	case kcat == "" && k.Skipped == "":
		t.Errorf("kcat is not installed but its copy is not skipped: %+v", k)
	case kcat != "" && (k.Skipped != "" || k.Records != 500 || k.RecordsPerSec <= 0 || k.PeakRSSBytes <= 0):
		t.Errorf("kcat copy: %+v, want 500 records (a quarter) copied", k)
	}
	if rep.Copies[0].RatioToCeiling != 1 {
		t.Errorf("raw ratio to the ceiling = %v, want 1", rep.Copies[0].RatioToCeiling)
	}
	if len(rep.Latency) != 10 || rep.Latency[0].Copier != bench.CopierNone || rep.Latency[0].InProcess ||
		rep.Latency[8].Copier != bench.CopierMM2go || !rep.Latency[8].InProcess {
		t.Fatalf("latency: %+v, want the floor (none), raw and mm2go, then raw and mm2go in the harness, each at 10%% and 50%%", rep.Latency)
	}
	for _, l := range rep.Latency {
		if l.Samples == 0 || l.Lost != 0 || l.P50Ms <= 0 || l.P50Ms > l.P99Ms || l.P99Ms > l.P999Ms || l.P999Ms > l.MaxMs {
			t.Errorf("latency %s at %d%%: %+v", l.Copier, l.LoadPercent, l)
		}
	}
	if len(rep.Scale) != 2 || rep.Scale[0].Name != bench.ScalePartitions || rep.Scale[1].Name != bench.ScaleGroups {
		t.Fatalf("scale: %+v, want partitions and groups", rep.Scale)
	}
	if s := rep.Scale[0]; !s.Available || s.Partitions != 20 || s.CopiedSeconds <= 0 || s.PeakRSSBytes <= 0 {
		t.Errorf("scale partitions: %+v", s)
	}
	if s := rep.Scale[1]; s.Available && (s.CopiedSeconds <= 0 || s.CycleSeconds <= 0 || s.Groups != 3) || !s.Available && !strings.Contains(s.Note, "not available") {
		t.Errorf("scale groups: %+v", s)
	}
	if len(rep.Targets) != 6 {
		t.Errorf("targets: %+v, want 6", rep.Targets)
	}
	for _, tg := range rep.Targets {
		if tg.Status != bench.StatusMet && tg.Status != bench.StatusMissed && tg.Status != bench.StatusNotMeasured {
			t.Errorf("target %q: status %q", tg.Target, tg.Status)
		}
	}
	if svg, err := os.ReadFile(filepath.Join(out, "bench.svg")); err != nil || !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), "mm2go") {
		t.Errorf("bench.svg is not an SVG plot of the run: %v", err)
	}
}

func TestBench_BadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--no-such-flag"},
		{"bench", "--records", "0"},
		{"bench", "--size", "8"},
		{"bench", "--partitions", "-1"},
		{"bench", "--latency-loads", "10,x"},
		{"bench", "--latency-loads", "200"},
		{"bench", "--scale", "everything"},
		{"bench", "--kcat", "/no/such/kcat"},
		{"bench", "--rounds", "0"},
		{"bench", "--timeout", "0s"},
		{"bench", "--scale-idle", "1ms"},
		{"bench", "extra-argument"},
		{"bench", "--role", "nonsense"},
		{"bench", "--role", "rawcopy"},
		{"bench", "--role", "worker"},
		{"bench", "--role", "latency"},
		{"bench", "--role", "latency", "--copier", "kcat", "--ceiling", "1000", "--out", os.TempDir()},
		{"bench", "--role", "latency", "--copier", "raw", "--ceiling", "1000", "--out", os.TempDir(), "--latency-loads", "0"},
	} {
		code, _, errOut := runCmd(t, context.Background(), args...)
		if code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want %d and a message", args, code, errOut, exitUsage)
		}
	}
}
