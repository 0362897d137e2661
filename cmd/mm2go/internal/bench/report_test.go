package bench

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	s := make([]time.Duration, 1000)
	for i := range s {
		s[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{7}, 0.999, 7},
		{"p50", s, 0.50, 500 * time.Millisecond},
		{"p99", s, 0.99, 990 * time.Millisecond},
		{"p999", s, 0.999, 999 * time.Millisecond},
		{"max", s, 1, 1000 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(tc.in, tc.q); got != tc.want {
				t.Fatalf("quantile(%d samples, %v) = %v, want %v", len(tc.in), tc.q, got, tc.want)
			}
		})
	}
}

func sampleReport() *Report {
	return &Report{
		Machine: Machine{CPUs: 2, CPUModel: "cpu & co", GoVersion: "go1.26"},
		Params:  Params{Records: 1000, Size: 1024, Partitions: 4},
		Copies: []CopyResult{
			{Copier: CopierRaw, Round: 1, Records: 1000, RecordsPerSec: 1000, MBPerSec: 1.0, RatioToCeiling: 1},
			{Copier: CopierMM2go, Round: 1, Records: 1000, RecordsPerSec: 960, MBPerSec: 0.98, RatioToCeiling: 0.96},
			{Copier: CopierKcat, Skipped: "kcat not found on PATH"},
		},
		Latency: []LatencyResult{
			{Copier: CopierMM2go, LoadPercent: 10, P50Ms: 3, P99Ms: 30, P999Ms: 40, MaxMs: 41, Samples: 100},
			{Copier: CopierMM2go, LoadPercent: 50, P50Ms: 0.4, P99Ms: 2, P999Ms: 3, MaxMs: 3, Samples: 500},
		},
		Scale: []ScaleResult{{Name: ScalePartitions, Available: true, Partitions: 10_000, PeakRSSBytes: 200 << 20},
			{Name: ScaleGroups, Available: true, Groups: 2000, Partitions: 50, CopiedSeconds: 4, CycleSeconds: 0.75}},
	}
}

func TestEvaluateTargets(t *testing.T) {
	got := evaluateTargets(sampleReport())
	want := []string{StatusMet, StatusNotMeasured, StatusMissed, StatusMet, StatusMet, StatusNotMeasured}
	if len(got) != len(want) {
		t.Fatalf("evaluateTargets: %d targets, want %d: %+v", len(got), len(want), got)
	}
	for i, tg := range got {
		if tg.Status != want[i] {
			t.Errorf("target %q: status %q (%s), want %q", tg.Target, tg.Status, tg.Got, want[i])
		}
	}
	r := sampleReport()
	r.Scale[0].Partitions = 100
	if tg := evaluateTargets(r)[3]; tg.Status != StatusNotMeasured {
		t.Errorf("RSS target with 100 partitions: %q, want %q", tg.Status, StatusNotMeasured)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*ScaleResult)
		want  string
		inGot string
	}{
		{"slow", func(s *ScaleResult) { s.CycleSeconds = 6.5 }, StatusMissed, "6.50 s"},
		{"small", func(s *ScaleResult) { s.Groups = 10 }, StatusNotMeasured, "10 groups"},
		{"no cycle", func(s *ScaleResult) { s.CycleSeconds = 0 }, StatusNotMeasured, "no cycle"},
	} {
		r := sampleReport()
		tc.edit(&r.Scale[1])
		if tg := evaluateTargets(r)[4]; tg.Status != tc.want || !strings.Contains(tg.Got, tc.inGot) {
			t.Errorf("cycle target, %s: %q (%s), want %q with %q", tc.name, tg.Status, tg.Got, tc.want, tc.inGot)
		}
	}
	// Exactly-once is judged against mm2go at least once: 80% of it.
	for _, tc := range []struct {
		rate float64
		want string
	}{{800, StatusMet}, {700, StatusMissed}} {
		r := sampleReport()
		r.Copies = append(r.Copies, CopyResult{Copier: CopierMM2goEOS, Round: 1, Records: 1000, RecordsPerSec: tc.rate})
		if tg := evaluateTargets(r)[5]; tg.Status != tc.want || !strings.Contains(tg.Got, fmt.Sprintf("%.0f vs 960 records/s", tc.rate)) {
			t.Errorf("exactly-once target at %.0f records/s: %q (%s), want %q", tc.rate, tg.Status, tg.Got, tc.want)
		}
	}
	// The latency target is judged on mm2go as its own process and names
	// the other rows at 10%.
	r = sampleReport()
	r.Latency = append(r.Latency,
		LatencyResult{Copier: CopierNone, LoadPercent: 10, P50Ms: 0.5, P99Ms: 2, P999Ms: 3, MaxMs: 4, Samples: 100},
		LatencyResult{Copier: CopierRaw, LoadPercent: 10, P50Ms: 9, P99Ms: 80, P999Ms: 90, MaxMs: 95, Samples: 100},
		LatencyResult{Copier: CopierMM2go, InProcess: true, LoadPercent: 10, P50Ms: 2, P99Ms: 12, P999Ms: 20, MaxMs: 22, Samples: 100})
	if tg := evaluateTargets(r)[2]; tg.Status != StatusMissed ||
		tg.Got != "30.0 ms (p50 3.0, p99.9 40.0); 12.0 ms in one process with the brokers, raw loop 80.0 ms, no copier 2.0 ms" {
		t.Errorf("latency target with every row: %q (%s)", tg.Status, tg.Got)
	}
	r.Latency[0].P99Ms = 24
	if tg := evaluateTargets(r)[2]; tg.Status != StatusMet {
		t.Errorf("latency target with mm2go at 24 ms: %q (%s)", tg.Status, tg.Got)
	}
	r.Latency = nil
	if tg := evaluateTargets(r)[2]; tg.Status != StatusNotMeasured {
		t.Errorf("latency target without latency rows: %q (%s)", tg.Status, tg.Got)
	}
}

// TestReportOutputs checks that the SVG is well-formed XML (names are
// escaped) and that the tables hold every copier.
func TestReportOutputs(t *testing.T) {
	r := sampleReport()
	r.Targets = evaluateTargets(r)
	var svg strings.Builder
	r.WriteSVG(&svg)
	dec := xml.NewDecoder(strings.NewReader(svg.String()))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("bench.svg is not well-formed: %v\n%s", err, svg.String())
		}
	}
	var text, md strings.Builder
	r.WriteText(&text)
	r.WriteMarkdown(&md)
	for _, out := range []string{text.String(), md.String()} {
		for _, want := range []string{"raw", "mm2go", "kcat not found on PATH", "p99", "10000 partitions", "cycle s", "0.75", "own process"} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q:\n%s", want, out)
			}
		}
	}
}

func TestProcMemory(t *testing.T) {
	peak, cur, err := procMemory(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if peak < cur || cur < 1<<20 {
		t.Errorf("procMemory(self) = peak %d, current %d bytes", peak, cur)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Errorf("procCPU(self): %v", err)
	}
}

// TestCheckpointCycles reads checkpoint cycles from a worker's REST status,
// and says what is wrong when it cannot.
func TestCheckpointCycles(t *testing.T) {
	body := `{"source->target/MirrorSourceConnector": {"status": {"tasks": [{"id": 0, "records_acked": 5}]}},
		"source->target/MirrorCheckpointConnector": {"status": {"tasks": [
			{"id": 0, "cycles": 7, "last_cycle_seconds": 0.25}, {"id": 1, "cycles": 6, "last_cycle_seconds": 0.5}]}}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/connectors" || r.URL.Query().Get("expand") != "status" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	cycles, last, err := checkpointCycles(ctx, addr)
	if err != nil || cycles != 6 || last != 0.5 {
		t.Errorf("checkpointCycles = %d, %v, %v; want the fewest cycles (6) and the longest last cycle (0.5)", cycles, last, err)
	}
	body = `{"source->target/MirrorSourceConnector": {"status": {"tasks": []}}}`
	if _, _, err := checkpointCycles(ctx, addr); err == nil || !strings.Contains(err.Error(), "lists no MirrorCheckpointConnector task") {
		t.Errorf("no checkpoint task: %v", err)
	}
	body = `not json`
	if _, _, err := checkpointCycles(ctx, addr); err == nil || !strings.HasPrefix(err.Error(), "read the worker's status: ") {
		t.Errorf("bad JSON: %v", err)
	}
	srv.Close()
	if _, _, err := checkpointCycles(ctx, addr); err == nil {
		t.Error("no worker: no error")
	}
}

// TestSingleProcessLatency_NoWorker: mm2go in one process needs the
// worker constructor that mm2go bench passes in.
func TestSingleProcessLatency_NoWorker(t *testing.T) {
	cfg := Config{Size: 64, Partitions: 1, LatencyLoads: []int{10}, LatencyDuration: time.Second, Timeout: 10 * time.Second, OutDir: t.TempDir()}
	_, err := SingleProcessLatency(context.Background(), cfg, CopierMM2go, 100)
	if err == nil || !strings.Contains(err.Error(), "no worker constructor") {
		t.Fatalf("SingleProcessLatency without NewWorker: %v", err)
	}
}
