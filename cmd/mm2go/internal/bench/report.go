package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// standardNotes go with every report: how to read the numbers.
var standardNotes = []string{
	"Both fake clusters (franz-go's kfake) run inside the harness process; kfake serves each cluster's requests on one goroutine, so on a small machine the brokers, not the copiers, often bound throughput. Compare copiers within one run only.",
	"Each copier copies the same records into a fresh target cluster. Records/s counts from the first record on the target to the last; start-up (process start to first record) is reported apart.",
	"CPU seconds are the copier processes' user+system time over their whole life (rusage at exit); broker CPU is the harness process's CPU time during the copy (both clusters and the end-offset polls).",
	"Peak RSS is VmHWM from /proc, sampled while the copier runs: rusage's ru_maxrss of a child reports the parent's high-water mark on Linux when the child is started with vfork, as Go starts children.",
	"Each copier's best round counts: noise from other work on a shared machine only ever slows a copy.",
	"Latency is from the harness's producer handing a record to its client (linger 0) on the source to the harness's consumer on the target seeing it, at fixed offered loads in percent of the raw copy's records/s; the raw loop runs franz-go's default producer linger (10ms), mm2go its own default (1ms). The none rows are the floor: the probe reads its records back from the source topic, with no copier in between. Each copier runs once as its own process (as deployed) and once in one fresh process with new brokers and the probe (one process): on a machine with few cores the operating system's scheduling of the busy harness and copier processes adds tens of milliseconds to every copier's tail, the raw loop's too; the one-process rows leave that out. The latency target is judged on mm2go as its own process.",
}

// evaluateTargets checks the report against the performance targets.
func evaluateTargets(r *Report) []TargetResult {
	copies := make(map[string]CopyResult)
	for _, c := range r.Copies {
		if c.Skipped == "" && c.RecordsPerSec > 0 {
			copies[c.Copier] = c
		}
	}
	var out []TargetResult
	add := func(target, got string, measured, met bool) {
		st := StatusNotMeasured
		if measured {
			st = StatusMissed
			if met {
				st = StatusMet
			}
		}
		out = append(out, TargetResult{Target: target, Got: got, Status: st})
	}
	raw, okRaw := copies[CopierRaw]
	mm, okMM := copies[CopierMM2go]
	if okRaw && okMM {
		ratio := mm.RecordsPerSec / raw.RecordsPerSec
		add("mm2go throughput >= 95% of the raw copy loop", fmt.Sprintf("%.1f%% (%.0f vs %.0f records/s)", 100*ratio, mm.RecordsPerSec, raw.RecordsPerSec), true, ratio >= 0.95)
	} else {
		add("mm2go throughput >= 95% of the raw copy loop", "a copy did not finish", false, false)
	}
	if kc, ok := copies[CopierKcat]; ok && okMM {
		ratio := mm.RecordsPerSec / kc.RecordsPerSec
		add("mm2go throughput > 2x a kcat pipe", fmt.Sprintf("%.2fx (%.0f vs %.0f records/s)", ratio, mm.RecordsPerSec, kc.RecordsPerSec), true, ratio > 2)
	} else {
		add("mm2go throughput > 2x a kcat pipe", "kcat did not run", false, false)
	}
	// The target is judged on mm2go as its own process, as it is
	// deployed; the one-process row and the raw loop's go beside it.
	at10 := func(copier string, inProcess bool) (LatencyResult, bool) {
		i := slices.IndexFunc(r.Latency, func(l LatencyResult) bool {
			return l.Copier == copier && l.InProcess == inProcess && l.LoadPercent == 10
		})
		if i < 0 {
			return LatencyResult{}, false
		}
		return r.Latency[i], true
	}
	const latencyTarget = "mm2go p99 <= 25 ms at 10% of the ceiling"
	if own, ok := at10(CopierMM2go, false); ok {
		got := fmt.Sprintf("%.1f ms (p50 %.1f, p99.9 %.1f)", own.P99Ms, own.P50Ms, own.P999Ms)
		var beside []string
		if in, ok := at10(CopierMM2go, true); ok {
			beside = append(beside, fmt.Sprintf("%.1f ms in one process with the brokers", in.P99Ms))
		}
		if raw, ok := at10(CopierRaw, false); ok {
			beside = append(beside, fmt.Sprintf("raw loop %.1f ms", raw.P99Ms))
		}
		if none, ok := at10(CopierNone, false); ok {
			beside = append(beside, fmt.Sprintf("no copier %.1f ms", none.P99Ms))
		}
		if len(beside) > 0 {
			got += "; " + strings.Join(beside, ", ")
		}
		add(latencyTarget, got, true, own.P99Ms <= 25)
	} else {
		add(latencyTarget, "no latency phase at 10%", false, false)
	}
	i := slices.IndexFunc(r.Scale, func(s ScaleResult) bool { return s.Name == ScalePartitions })
	switch {
	case i < 0:
		add("mm2go RSS <= 256 MiB with 10,000 partitions", "not run (--scale partitions)", false, false)
	case r.Scale[i].Partitions < 10_000:
		add("mm2go RSS <= 256 MiB with 10,000 partitions", fmt.Sprintf("ran with %d partitions only", r.Scale[i].Partitions), false, false)
	default:
		s := r.Scale[i]
		add("mm2go RSS <= 256 MiB with 10,000 partitions", fmt.Sprintf("%.0f MiB peak, %.0f MiB steady", mib(s.PeakRSSBytes), mib(s.SteadyRSSBytes)), true, s.PeakRSSBytes <= 256<<20)
	}
	const cycleTarget = "checkpoint cycle for 2,000 groups x 50 partitions < 5 s"
	i = slices.IndexFunc(r.Scale, func(s ScaleResult) bool { return s.Name == ScaleGroups })
	switch {
	case i < 0:
		add(cycleTarget, "not run (--scale groups)", false, false)
	case !r.Scale[i].Available || r.Scale[i].CycleSeconds <= 0:
		add(cycleTarget, "no cycle measured", false, false)
	case r.Scale[i].Groups < 2000 || r.Scale[i].Partitions < 50:
		add(cycleTarget, fmt.Sprintf("ran with %d groups x %d partitions only", r.Scale[i].Groups, r.Scale[i].Partitions), false, false)
	default:
		s := r.Scale[i]
		add(cycleTarget, fmt.Sprintf("%.2f s (checkpoints and group offset sync)", s.CycleSeconds), true, s.CycleSeconds < 5)
	}
	const eosTarget = "mm2go exactly-once throughput >= 80% of at-least-once"
	if eos, ok := copies[CopierMM2goEOS]; ok && okMM {
		ratio := eos.RecordsPerSec / mm.RecordsPerSec
		add(eosTarget, fmt.Sprintf("%.1f%% (%.0f vs %.0f records/s; %.1f vs %.1f CPU s/GB)", 100*ratio, eos.RecordsPerSec, mm.RecordsPerSec,
			eos.CPUSecondsPerGB, mm.CPUSecondsPerGB), true, ratio >= 0.8)
	} else {
		add(eosTarget, "a copy did not finish", false, false)
	}
	return out
}

// table is rows of cells with a header, rendered as aligned text or as a
// Markdown table.
type table struct {
	header []string
	rows   [][]string
	right  []bool // right-aligned columns
}

func (t *table) text(w io.Writer, indent string) {
	widths := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, row := range append([][]string{t.header}, t.rows...) {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len(c))
			if t.right[i] {
				b.WriteString(pad + c)
			} else if i < len(row)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

func (t *table) markdown(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(t.header, " | ")+" |")
	seps := make([]string, len(t.header))
	for i := range seps {
		seps[i] = "---"
		if t.right[i] {
			seps[i] = "---:"
		}
	}
	fmt.Fprintln(w, "|"+strings.Join(seps, "|")+"|")
	for _, row := range t.rows {
		fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
	}
}

func copyTable(copies []CopyResult) *table {
	t := &table{header: []string{"copier", "round", "records/s", "MB/s", "vs raw", "start-up s", "copy s", "CPU s", "CPU s/GB", "peak RSS MiB", "broker CPU s"},
		right: []bool{false, true, true, true, true, true, true, true, true, true, true}}
	for _, c := range copies {
		if c.Skipped != "" {
			t.rows = append(t.rows, []string{c.Copier, "-", "skipped", "-", "-", "-", "-", "-", "-", "-", "-"})
			continue
		}
		t.rows = append(t.rows, []string{c.Copier, fmt.Sprint(c.Round), fmt.Sprintf("%.0f", c.RecordsPerSec), fmt.Sprintf("%.1f", c.MBPerSec),
			fmt.Sprintf("%.1f%%", 100*c.RatioToCeiling), fmt.Sprintf("%.2f", c.StartupSeconds), fmt.Sprintf("%.2f", c.Seconds),
			fmt.Sprintf("%.2f", c.CPUSeconds), fmt.Sprintf("%.1f", c.CPUSecondsPerGB), fmt.Sprintf("%.0f", mib(c.PeakRSSBytes)),
			fmt.Sprintf("%.2f", c.BrokerCPUSeconds)})
	}
	return t
}

func (r *Report) latencyTable() *table {
	t := &table{header: []string{"copier", "runs", "load", "records/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "samples", "lost"},
		right: []bool{false, false, true, true, true, true, true, true, true, true}}
	for _, l := range r.Latency {
		t.rows = append(t.rows, []string{l.Copier, l.where(), fmt.Sprintf("%d%%", l.LoadPercent), fmt.Sprintf("%.0f", l.SentRate),
			fmt.Sprintf("%.1f", l.P50Ms), fmt.Sprintf("%.1f", l.P99Ms), fmt.Sprintf("%.1f", l.P999Ms), fmt.Sprintf("%.1f", l.MaxMs),
			fmt.Sprint(l.Samples), fmt.Sprint(l.Lost)})
	}
	return t
}

func (r *Report) scaleTable() *table {
	t := &table{header: []string{"run", "size", "found s", "copied s", "cycle s", "peak RSS MiB", "steady RSS MiB", "idle CPU %"},
		right: []bool{false, false, true, true, true, true, true, true}}
	for _, s := range r.Scale {
		var size string
		switch s.Name {
		case ScalePartitions:
			size = fmt.Sprintf("%d partitions, %d records", s.Partitions, s.Records)
		case ScaleTopics:
			size = fmt.Sprintf("%d topics created at once", s.Topics)
		default:
			size = fmt.Sprintf("%d groups x %d partitions", s.Groups, s.Partitions)
		}
		if !s.Available {
			t.rows = append(t.rows, []string{s.Name, size, s.Note, "", "", "", "", ""})
			continue
		}
		found := "-"
		if s.DiscoveredSeconds > 0 {
			found = fmt.Sprintf("%.1f", s.DiscoveredSeconds)
		}
		cycle := "-"
		if s.CycleSeconds > 0 {
			cycle = fmt.Sprintf("%.2f", s.CycleSeconds)
		}
		t.rows = append(t.rows, []string{s.Name, size, found, fmt.Sprintf("%.1f", s.CopiedSeconds), cycle, fmt.Sprintf("%.0f", mib(s.PeakRSSBytes)),
			fmt.Sprintf("%.0f", mib(s.SteadyRSSBytes)), fmt.Sprintf("%.1f", s.IdleCPUPercent)})
	}
	return t
}

func (r *Report) targetTable() *table {
	t := &table{header: []string{"target", "result", "status"}, right: []bool{false, false, false}}
	for _, g := range r.Targets {
		t.rows = append(t.rows, []string{g.Target, g.Got, g.Status})
	}
	return t
}

func (r *Report) summary() string {
	p := r.Params
	return fmt.Sprintf("%d records x %d bytes over %d partitions (%.1f MB); %d CPUs (%s), %s; load average %.1f -> %.1f",
		p.Records, p.Size, p.Partitions, float64(p.Bytes)/1e6, r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)
}

// WriteText prints the report as tables.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "mm2go bench: %s\n\nthroughput (each copier's best round)\n", r.summary())
	copyTable(r.Copies).text(w, "  ")
	for _, c := range r.Copies {
		if c.Skipped != "" {
			fmt.Fprintf(w, "  %s skipped: %s\n", c.Copier, c.Skipped)
		}
	}
	fmt.Fprintln(w, "\nend-to-end latency (produce on the source -> visible on the target)")
	r.latencyTable().text(w, "  ")
	if len(r.Scale) > 0 {
		fmt.Fprintln(w, "\nscale")
		r.scaleTable().text(w, "  ")
	}
	fmt.Fprintln(w, "\ntargets")
	r.targetTable().text(w, "  ")
	var notes []string // this run's own; the standard ones are in bench.md
	for _, n := range r.Notes {
		if !slices.Contains(standardNotes, n) {
			notes = append(notes, n)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes")
		for _, n := range notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
}

// WriteMarkdown writes the report's tables as Markdown.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "%s\n\n`%s`\n\n### Throughput (each copier's best round)\n\n", r.summary(), r.Command)
	copyTable(r.Copies).markdown(w)
	for _, c := range r.Copies {
		if c.Skipped != "" {
			fmt.Fprintf(w, "\n%s skipped: %s\n", c.Copier, c.Skipped)
		}
	}
	fmt.Fprint(w, "\nEvery round, in the order run:\n\n")
	copyTable(r.Rounds).markdown(w)
	fmt.Fprint(w, "\n### End-to-end latency\n\n")
	r.latencyTable().markdown(w)
	if len(r.Scale) > 0 {
		fmt.Fprint(w, "\n### Scale\n\n")
		r.scaleTable().markdown(w)
	}
	fmt.Fprint(w, "\n### Targets\n\n")
	r.targetTable().markdown(w)
	fmt.Fprint(w, "\n### Notes\n\n")
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

// Save writes bench.json, bench.md and bench.svg into dir and returns their
// paths.
func (r *Report) Save(dir string) ([]string, error) {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	var md, svg strings.Builder
	r.WriteMarkdown(&md)
	r.WriteSVG(&svg)
	files := []struct {
		name string
		data []byte
	}{{"bench.json", append(js, '\n')}, {"bench.md", []byte(md.String())}, {"bench.svg", []byte(svg.String())}}
	var paths []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return paths, fmt.Errorf("write %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
