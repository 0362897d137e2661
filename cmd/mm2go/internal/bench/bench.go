package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mm2go/mm2go/connect"
)

// Copier names, as they appear in the report.
const (
	CopierRaw   = "raw"   // the franz-go copy loop: the ceiling
	CopierMM2go = "mm2go" // a worker running MirrorSource, default settings
	// CopierMM2goEOS is the same worker copying exactly once (exactly_once:
	// true in its flow file), with Config.EOSInterval.
	CopierMM2goEOS = "mm2go-eos"
	CopierKcat     = "kcat" // kcat -C | kcat -P
	// CopierNone is the latency probe's floor: no copier, the probe reads
	// its records back from the source topic it writes. What the harness
	// and the fake brokers add on their own.
	CopierNone = "none"
)

// Scale run names (Config.Scale).
const (
	ScalePartitions = "partitions"
	ScaleTopics     = "topics"
	ScaleGroups     = "groups"
)

// Config is one benchmark run.
type Config struct {
	Records    int64 // records loaded on the source and copied by each copier
	Rounds     int   // copies by the raw loop and by mm2go each; kcat copies once
	Size       int   // value bytes per record
	Partitions int32 // partitions of the source topic

	LatencyLoads    []int         // offered loads of the latency phases, in percent of the raw copy's records/s
	LatencyDuration time.Duration // of each load

	// Kcat is the kcat (or kafkacat) binary; empty skips the kcat pipe.
	Kcat string
	// EOSInterval is the exactly-once copier's
	// transaction.boundary.interval.ms; 0 leaves mm2go's default.
	EOSInterval time.Duration

	Scale           []string // scale runs to do: ScalePartitions, ScaleTopics, ScaleGroups
	ScalePartitions int      // partitions of the partitions scale run
	ScaleTopics     int      // topics created at once in the topics scale run
	ScaleGroups     int      // consumer groups of the groups scale run
	GroupPartitions int      // partitions each group has committed offsets for
	// ScaleIdle is how long a scale run watches the worker after the copy,
	// with nothing left to copy, for its steady RSS and idle CPU.
	ScaleIdle time.Duration

	// Timeout bounds each phase: a copy, a latency warm-up or drain, a scale
	// run. A phase that takes longer fails the run.
	Timeout time.Duration
	// OutDir receives the flow files, the copiers' logs, CPU profiles and
	// the report files.
	OutDir string
	// Profile writes a CPU profile of each Go copier child during each copy
	// and latency phase, and CPU and heap profiles of the worker in each
	// scale run.
	Profile bool

	// Exe and Env start a copier child: Exe bench --role ... with Env added
	// to the environment.
	Exe string
	Env []string
	// NewWorker builds the worker of a flow file as mm2go worker does, for
	// mm2go in one process with the brokers (SingleProcessLatency).
	NewWorker func(flowFile string, log hclog.Logger) (*connect.Worker, []connect.ConnectorSpec, error)
	// Progress receives a line per phase and per second.
	Progress io.Writer
}

// Validate reports every problem of the config.
func (c *Config) Validate() error {
	var errs []error
	if c.Rounds < 1 || c.Rounds > 20 {
		errs = append(errs, fmt.Errorf("--rounds: %d is not between 1 and 20", c.Rounds))
	}
	if c.Records < 1 {
		errs = append(errs, fmt.Errorf("--records: %d is not a positive number", c.Records))
	}
	if err := c.ValidateLatency(); err != nil {
		errs = append(errs, err)
	}
	for _, s := range c.Scale {
		if s != ScalePartitions && s != ScaleTopics && s != ScaleGroups {
			errs = append(errs, fmt.Errorf("--scale: %q is not partitions, topics, groups or all", s))
		}
	}
	if c.ScalePartitions < 1 || c.ScaleTopics < 1 || c.ScaleGroups < 1 || c.GroupPartitions < 1 {
		errs = append(errs, errors.New("--scale-partitions, --scale-topics, --scale-groups and --scale-group-partitions must be positive"))
	}
	if c.ScaleIdle < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--scale-idle: %s is shorter than 100ms", c.ScaleIdle))
	}
	return errors.Join(errs...)
}

// ValidateLatency reports every problem of the settings a latency phase
// uses: record size, partitions, loads, their duration and the timeout.
func (c *Config) ValidateLatency() error {
	var errs []error
	if c.Size < 16 || c.Size > 900_000 {
		errs = append(errs, fmt.Errorf("--size: %d is not between 16 and 900000 bytes", c.Size))
	}
	if c.Partitions < 1 || c.Partitions > 10_000 {
		errs = append(errs, fmt.Errorf("--partitions: %d is not between 1 and 10000", c.Partitions))
	}
	if c.LatencyDuration < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--latency-duration: %s is shorter than 100ms", c.LatencyDuration))
	}
	if len(c.LatencyLoads) == 0 {
		errs = append(errs, errors.New("--latency-loads: at least one load is needed"))
	}
	for _, p := range c.LatencyLoads {
		if p < 1 || p > 100 {
			errs = append(errs, fmt.Errorf("--latency-loads: %d is not a percentage between 1 and 100", p))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout: %s is not positive", c.Timeout))
	}
	return errors.Join(errs...)
}

func (c *Config) scale(name string) bool {
	for _, s := range c.Scale {
		if s == name {
			return true
		}
	}
	return false
}

// Report is what a run measured; it is saved as bench.json.
type Report struct {
	Machine Machine         `json:"machine"`
	Command string          `json:"command"`
	Params  Params          `json:"params"`
	Started time.Time       `json:"started"`
	Seconds float64         `json:"seconds"` // the whole run
	Copies  []CopyResult    `json:"copies"`  // each copier's best round
	Rounds  []CopyResult    `json:"rounds"`  // every copy, in the order run
	Latency []LatencyResult `json:"latency"`
	Scale   []ScaleResult   `json:"scale"`
	Targets []TargetResult  `json:"targets"`
	Notes   []string        `json:"notes"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Kcat      string `json:"kcat"` // version line, or "" when kcat did not run
	// LoadAvgStart and LoadAvgEnd are the 1-minute load averages when the
	// run started and ended: above the CPU count, other work competed with
	// the run and its numbers are noisier.
	LoadAvgStart float64 `json:"load_avg_start"`
	LoadAvgEnd   float64 `json:"load_avg_end"`
}

// Params are the run's sizes.
type Params struct {
	Records         int64   `json:"records"`
	Rounds          int     `json:"rounds"`
	KcatRecords     int64   `json:"kcat_records"`
	Size            int     `json:"size"`
	Partitions      int32   `json:"partitions"`
	Bytes           int64   `json:"bytes"`
	LatencyLoads    []int   `json:"latency_loads"`
	LatencySeconds  float64 `json:"latency_seconds"`
	ScalePartitions int     `json:"scale_partitions"`
	ScaleTopics     int     `json:"scale_topics"`
	ScaleGroups     int     `json:"scale_groups"`
	GroupPartitions int     `json:"group_partitions"`
}

// CopyResult is one copier's copy of the loaded records to a fresh cluster.
type CopyResult struct {
	Copier  string `json:"copier"`
	Round   int    `json:"round"`
	Skipped string `json:"skipped,omitempty"` // why the copier did not run or did not finish
	Records int64  `json:"records"`           // on the target when the copy ended
	Bytes   int64  `json:"bytes"`             // value bytes of Records
	// StartupSeconds is from starting the copier to the first record on the
	// target; Seconds from there to the last one. Rates are over Seconds.
	StartupSeconds  float64 `json:"startup_seconds"`
	Seconds         float64 `json:"seconds"`
	RecordsPerSec   float64 `json:"records_per_sec"`
	MBPerSec        float64 `json:"mb_per_sec"`
	RatioToCeiling  float64 `json:"ratio_to_ceiling"`   // records/s over the raw copy's
	CPUSeconds      float64 `json:"cpu_seconds"`        // the copier process(es), whole life, rusage
	CPUSecondsPerGB float64 `json:"cpu_seconds_per_gb"` // CPUSeconds per 1e9 value bytes
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`     // VmHWM, summed over the copier's processes
	// BrokerCPUSeconds is the harness process's CPU time during Seconds:
	// both fake clusters plus the harness's end-offset polls.
	BrokerCPUSeconds float64 `json:"broker_cpu_seconds"`
	Profile          string  `json:"profile,omitempty"` // CPU profile file, with --profile
}

// ScaleResult is one scale run.
type ScaleResult struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Note      string `json:"note,omitempty"`
	Topics    int    `json:"topics"`
	// Partitions is the number of source partitions (per group, for groups).
	Partitions int `json:"partitions"`
	Groups     int `json:"groups,omitempty"`
	// Records is how many records the run copies.
	Records int64 `json:"records"`
	// DiscoveredSeconds is until every remote topic exists (topics run).
	DiscoveredSeconds float64 `json:"discovered_seconds,omitempty"`
	// CopiedSeconds is until every partition has its records on the target
	// (or, for groups, every group and partition has a checkpoint).
	CopiedSeconds float64 `json:"copied_seconds"`
	// PeakRSSBytes is the worker's peak RSS; SteadyRSSBytes its RSS and
	// IdleCPUPercent its CPU use over a few seconds after the copy, with
	// nothing left to copy.
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	SteadyRSSBytes int64   `json:"steady_rss_bytes"`
	IdleCPUPercent float64 `json:"idle_cpu_percent"`
	// CycleSeconds is how long one checkpoint cycle took once every group
	// was checkpointed (groups run): the slowest task's last cycle, read
	// from the worker's REST status after two more cycles.
	CycleSeconds float64 `json:"checkpoint_cycle_seconds,omitempty"`
}

// TargetResult says whether a performance target was met.
type TargetResult struct {
	Target string `json:"target"`
	Got    string `json:"got"`
	Status string `json:"status"` // met, missed, not measured
}

// Target statuses.
const (
	StatusMet         = "met"
	StatusMissed      = "missed"
	StatusNotMeasured = "not measured"
)

// harness is one run in progress.
type harness struct {
	cfg   Config
	rep   *Report
	start time.Time
	pool  *valuePool
	src   *cluster
}

const (
	benchTopic = "bench"
	// sourceAlias and targetAlias are the cluster aliases of the flow files
	// the mm2go worker runs; the default policy names remote topics
	// "source.<topic>".
	sourceAlias = "source"
	targetAlias = "target"
	stopGrace   = 45 * time.Second // the worker's default 30s shutdown timeout, and some
)

// Run runs the benchmark described by cfg. It returns the report so far
// with an error when a phase failed.
func Run(ctx context.Context, cfg Config, command string) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	h := &harness{cfg: cfg, start: time.Now(), pool: newValuePool(cfg.Size)}
	h.rep = &Report{
		Machine: Machine{CPUs: runtime.NumCPU(), CPUModel: cpuModel(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
			LoadAvgStart: loadAverage()},
		Command: command,
		Params: Params{Records: cfg.Records, Rounds: cfg.Rounds, KcatRecords: kcatRecords(cfg.Records), Size: cfg.Size, Partitions: cfg.Partitions, Bytes: cfg.Records * int64(cfg.Size),
			LatencyLoads: cfg.LatencyLoads, LatencySeconds: cfg.LatencyDuration.Seconds(),
			ScalePartitions: cfg.ScalePartitions, ScaleTopics: cfg.ScaleTopics, ScaleGroups: cfg.ScaleGroups, GroupPartitions: cfg.GroupPartitions},
		Started: h.start.UTC().Truncate(time.Second),
		Copies:  []CopyResult{}, Rounds: []CopyResult{}, Latency: []LatencyResult{}, Scale: []ScaleResult{}, Notes: []string{},
	}
	err := h.run(ctx)
	h.rep.Seconds = time.Since(h.start).Seconds()
	h.rep.Machine.LoadAvgEnd = loadAverage()
	h.rep.Targets = evaluateTargets(h.rep)
	h.rep.Notes = append(h.rep.Notes, standardNotes...)
	return h.rep, err
}

func (h *harness) run(ctx context.Context) error {
	var err error
	if h.src, err = newCluster("source"); err != nil {
		return err
	}
	defer h.src.close()
	if err := h.loadSource(ctx); err != nil {
		return err
	}
	// Rounds alternate the order (raw, mm2go, then mm2go, raw, ...) so that
	// neither copier always runs first or last; each copier's best round is
	// its result, since noise from a shared machine only ever slows a copy.
	for round := 1; round <= h.cfg.Rounds; round++ {
		// The three Go copiers take turns at being first and last.
		order := []string{CopierRaw, CopierMM2go, CopierMM2goEOS}
		for range (round - 1) % len(order) {
			order = append(order[1:], order[0])
		}
		if round == 1 {
			order = append(order, CopierKcat) // slow and only a reference: once
		}
		for _, name := range order {
			res, err := h.copy(ctx, name, round)
			if err != nil {
				return err
			}
			h.rep.Rounds = append(h.rep.Rounds, res)
		}
	}
	for _, name := range []string{CopierRaw, CopierMM2go, CopierMM2goEOS, CopierKcat} {
		var best CopyResult
		for _, r := range h.rep.Rounds {
			if r.Copier == name && (best.Copier == "" || r.RecordsPerSec > best.RecordsPerSec) {
				best = r
			}
		}
		h.rep.Copies = append(h.rep.Copies, best)
	}
	ceiling := h.rep.Copies[0].RecordsPerSec
	for _, c := range h.rep.Copies {
		if c.Skipped == "" && c.Seconds < 2 {
			h.rep.Notes = append(h.rep.Notes, fmt.Sprintf("The %s copy took %.2fs: too short for a precise records/s, and the latency loads derived from the raw copy may be off. Raise --records for ~10s copies.", c.Copier, c.Seconds))
		}
	}
	for _, cs := range [][]CopyResult{h.rep.Copies, h.rep.Rounds} {
		for i := range cs {
			if c := &cs[i]; c.Skipped == "" && ceiling > 0 {
				c.RatioToCeiling = c.RecordsPerSec / ceiling
			}
		}
	}
	// Each copier as its own process, as it runs in production, then in a
	// fresh process with the brokers and the probe (see
	// LatencyResult.InProcess).
	for _, name := range []string{CopierNone, CopierRaw, CopierMM2go} {
		res, err := h.latency(ctx, name, false, ceiling)
		if err != nil {
			return err
		}
		h.rep.Latency = append(h.rep.Latency, res...)
	}
	for _, name := range []string{CopierRaw, CopierMM2go} {
		res, err := h.singleProcessLatency(ctx, name, ceiling)
		if err != nil {
			return err
		}
		h.noteOverload(name, res)
		h.rep.Latency = append(h.rep.Latency, res...)
	}
	for _, s := range []string{ScalePartitions, ScaleTopics, ScaleGroups} {
		if !h.cfg.scale(s) {
			continue
		}
		res, err := h.scaleRun(ctx, s)
		if err != nil {
			return err
		}
		h.rep.Scale = append(h.rep.Scale, res)
	}
	return nil
}

// say writes a progress line, prefixed with the time since the start.
func (h *harness) say(format string, args ...any) {
	if h.cfg.Progress == nil {
		return
	}
	fmt.Fprintf(h.cfg.Progress, "[%6.1fs] %s\n", time.Since(h.start).Seconds(), fmt.Sprintf(format, args...))
}

func (h *harness) loadSource(ctx context.Context) error {
	h.say("source cluster %s: creating topic %s (%d partitions), loading %d records of %d bytes", h.src.addrs(), benchTopic, h.cfg.Partitions, h.cfg.Records, h.cfg.Size)
	if err := h.src.createTopics(ctx, h.cfg.Partitions, benchTopic); err != nil {
		return err
	}
	began := time.Now()
	lctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	err := h.src.load(lctx, benchTopic, h.cfg.Partitions, h.cfg.Records, h.pool, func(acked int64) {
		h.say("load: %d/%d records", acked, h.cfg.Records)
	})
	if err != nil {
		return err
	}
	h.say("load: %d records in %.1fs", h.cfg.Records, time.Since(began).Seconds())
	return nil
}

// childArgs returns the command line of an mm2go copier child.
func (h *harness) childArgs(role string, args ...string) []string {
	return append([]string{h.cfg.Exe, "bench", "--role", role}, args...)
}

// startCopier prepares a fresh target cluster for copier name copying the
// source topics, and starts the copier. It returns the copier and the target
// topics to watch. With Config.Profile, a Go copier writes a CPU profile
// (and, in scale runs, a heap profile) named after the copier and phase.
func (h *harness) startCopier(ctx context.Context, name, phase string, dst *cluster, topics []string) (*child, []string, error) {
	logPath := filepath.Join(h.cfg.OutDir, name+"-"+phase+".log")
	var prof []string
	if h.cfg.Profile && name != CopierKcat {
		prof = []string{"--cpuprofile", h.profilePath(name, phase, "cpu")}
		if strings.HasPrefix(phase, "scale") {
			prof = append(prof, "--memprofile", h.profilePath(name, phase, "heap"))
		}
	}
	switch name {
	case CopierRaw:
		if err := dst.createTopics(ctx, h.cfg.Partitions, topics...); err != nil {
			return nil, nil, err
		}
		args := append(h.childArgs("rawcopy", "--source", h.src.addrs(), "--target", dst.addrs(), "--topics", strings.Join(topics, ",")), prof...)
		ch, err := startChild(name, logPath, h.cfg.Env, args)
		return ch, topics, err
	case CopierMM2go, CopierMM2goEOS:
		var settings []string
		if name == CopierMM2goEOS && h.cfg.EOSInterval > 0 {
			settings = append(settings, fmt.Sprintf("transaction.boundary.interval.ms: %d", h.cfg.EOSInterval.Milliseconds()))
		}
		args := h.childArgs("worker")
		var httpAddr string
		if phase == phaseScaleGroups {
			// Group offset sync is on, as for a migration, so a cycle
			// both emits checkpoints and commits the groups on the target;
			// the REST status tells how long the cycles take.
			settings = append(settings, "sync.group.offsets.enabled: true")
			var err error
			if httpAddr, err = freeLoopbackAddr(); err != nil {
				return nil, nil, err
			}
			args = append(args, "--http-addr", httpAddr)
		}
		writeFlow := h.writeFlow
		if name == CopierMM2goEOS {
			writeFlow = h.writeEOSFlow
		}
		flow, err := writeFlow(phase, dst, topics, settings...)
		if err != nil {
			return nil, nil, err
		}
		ch, err := startChild(name, logPath, h.cfg.Env, append(append(args, "--config", flow), prof...))
		if ch != nil {
			ch.httpAddr = httpAddr
		}
		remote := make([]string, len(topics))
		for i, t := range topics {
			remote[i] = sourceAlias + "." + t
		}
		return ch, remote, err
	default: // kcat
		if err := dst.createTopics(ctx, h.cfg.Partitions, topics...); err != nil {
			return nil, nil, err
		}
		ch, err := startChild(name, logPath, nil,
			[]string{h.cfg.Kcat, "-C", "-b", h.src.addrs(), "-t", topics[0], "-o", "beginning", "-e", "-q", "-f", "%s\n",
				"-c", strconv.FormatInt(kcatRecords(h.cfg.Records), 10)},
			[]string{h.cfg.Kcat, "-P", "-b", dst.addrs(), "-t", topics[0]})
		if ch != nil {
			ch.signalExitOK = true
		}
		return ch, topics, err
	}
}

// profilePath is where a copier child writes a profile of kind cpu or heap.
func (h *harness) profilePath(name, phase, kind string) string {
	return filepath.Join(h.cfg.OutDir, fmt.Sprintf("%s-%s.%s.pprof", name, phase, kind))
}

// writeFlow writes the flow file of an mm2go child: the two clusters and
// one flow of the given topic patterns, with mm2go's default settings but
// for settings ("key: value" lines).
func (h *harness) writeFlow(phase string, dst *cluster, topics []string, settings ...string) (string, error) {
	return h.writeFlowFile(phase, dst, topics, "", settings...)
}

// writeEOSFlow is writeFlow for the exactly-once copier: the same flow file
// with "exactly_once: true".
func (h *harness) writeEOSFlow(phase string, dst *cluster, topics []string, settings ...string) (string, error) {
	return h.writeFlowFile(phase+"-eos", dst, topics, "exactly_once: true\n", settings...)
}

func (h *harness) writeFlowFile(phase string, dst *cluster, topics []string, top string, settings ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "clusters:\n  %s:\n    bootstrap_servers: [%q]\n  %s:\n    bootstrap_servers: [%q]\n",
		sourceAlias, h.src.addrs(), targetAlias, dst.addrs())
	b.WriteString(top)
	if len(settings) > 0 {
		b.WriteString("settings:\n")
		for _, s := range settings {
			b.WriteString("  " + s + "\n")
		}
	}
	fmt.Fprintf(&b, "flows:\n  - source: %s\n    target: %s\n    topics: [", sourceAlias, targetAlias)
	for i, t := range topics {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", t)
	}
	b.WriteString("]\n")
	path := filepath.Join(h.cfg.OutDir, "flows-"+phase+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("write flow file: %w", err)
	}
	return path, nil
}

// copy runs one copier over the loaded records, into a fresh target
// cluster, and measures it.
func (h *harness) copy(ctx context.Context, name string, round int) (CopyResult, error) {
	res := CopyResult{Copier: name, Round: round}
	if name == CopierKcat && h.cfg.Kcat == "" {
		res.Skipped = "kcat not found on PATH (or --kcat off)"
		h.say("copy %s: skipped: %s", name, res.Skipped)
		return res, nil
	}
	if name == CopierKcat {
		h.rep.Machine.Kcat = kcatVersion(h.cfg.Kcat)
	}
	dst, err := newCluster(fmt.Sprintf("target-%s-%d", name, round))
	if err != nil {
		return res, err
	}
	defer dst.close()
	total := h.cfg.Records
	if name == CopierKcat {
		total = kcatRecords(total)
	}
	h.say("copy %s (round %d): %d records, target cluster %s", name, round, total, dst.addrs())
	phase := fmt.Sprintf("copy-%d", round)
	ch, topics, err := h.startCopier(ctx, name, phase, dst, []string{benchTopic})
	if err != nil {
		return res, err
	}
	if h.cfg.Profile && name != CopierKcat {
		res.Profile = h.profilePath(name, phase, "cpu")
	}
	// The exactly-once copy counts what read_committed consumers see: the
	// records whose source offsets committed (the end offsets would count
	// records of open transactions, and the markers). Its time starts at
	// its first record on the target, as the others' does (see below).
	count := func(ctx context.Context) (copied, error) { return dst.endOffsets(ctx, topics...) }
	if name == CopierMM2goEOS {
		cw, err := newCommitWatch(dst, sourceAlias, []string{benchTopic})
		if err != nil {
			_, _ = ch.stop(stopGrace)
			return res, err
		}
		defer cw.close()
		count = cw.copied
	}
	var (
		firstAt, doneAt time.Time
		firstN          int64
		cpuAtFirst      time.Duration
		brokerCPU       time.Duration
		last            copied
		lastSay         = time.Now()
		deadline        = time.Now().Add(h.cfg.Timeout)
		watchErr        error
	)
	tick := time.NewTicker(20 * time.Millisecond)
	for doneAt.IsZero() {
		select {
		case <-ctx.Done():
			watchErr = ctx.Err()
		case <-tick.C:
		}
		if watchErr != nil {
			break
		}
		ch.sample()
		exited := !ch.running()
		if last, watchErr = count(ctx); watchErr != nil {
			break
		}
		now := time.Now()
		if firstAt.IsZero() && name == CopierMM2goEOS {
			// The exactly-once copy is timed, as the others, from its
			// first record on the target (in its first transaction, still
			// open), to the commit of its last.
			if e, err := dst.endOffsets(ctx, topics...); err == nil && e.records > 0 {
				firstAt, firstN, cpuAtFirst = now, last.records, selfCPU()
			}
		}
		if firstAt.IsZero() && last.records > 0 {
			firstAt, firstN, cpuAtFirst = now, last.records, selfCPU()
		}
		if last.records >= total {
			doneAt, brokerCPU = now, selfCPU()-cpuAtFirst
			break
		}
		if exited && (name != CopierKcat || now.Sub(ch.exitedAt()) > 2*time.Second) {
			// kcat -P has flushed when it exits; give the target's end
			// offsets a moment to show it.
			watchErr = fmt.Errorf("copier %s exited after %d of %d records", name, last.records, total)
			break
		}
		if now.After(deadline) {
			watchErr = fmt.Errorf("copier %s copied %d of %d records in %s (--timeout)", name, last.records, total, h.cfg.Timeout)
			break
		}
		if now.Sub(lastSay) >= time.Second {
			lastSay = now
			h.say("copy %s: %d/%d records on the target", name, last.records, total)
		}
	}
	tick.Stop()
	cpu, stopErr := ch.stop(stopGrace)
	res.Records, res.Bytes = last.records, last.records*int64(h.cfg.Size)
	res.CPUSeconds = cpu.Seconds()
	res.PeakRSSBytes = ch.peakRSS()
	if err := errors.Join(watchErr, stopErr); err != nil {
		if name == CopierKcat { // the comparison is optional; its failure is not the run's
			res.Skipped = err.Error()
			h.say("copy %s: %v", name, err)
			return res, nil
		}
		return res, err
	}
	if firstN >= total { // everything showed up between two polls
		firstAt, firstN = ch.started, 0
	}
	window := doneAt.Sub(firstAt)
	res.StartupSeconds = firstAt.Sub(ch.started).Seconds()
	res.Seconds = window.Seconds()
	res.RecordsPerSec = float64(total-firstN) / window.Seconds()
	res.MBPerSec = res.RecordsPerSec * float64(h.cfg.Size) / 1e6
	res.CPUSecondsPerGB = res.CPUSeconds / (float64(res.Bytes) / 1e9)
	res.BrokerCPUSeconds = brokerCPU.Seconds()
	h.say("copy %s (round %d): %d records in %.2fs after %.2fs start-up: %.0f records/s, %.1f MB/s, %.1f CPU s/GB, peak RSS %.0f MiB",
		name, round, total, res.Seconds, res.StartupSeconds, res.RecordsPerSec, res.MBPerSec, res.CPUSecondsPerGB, float64(res.PeakRSSBytes)/(1<<20))
	return res, nil
}

// latency measures one copier's end-to-end latency at each offered load,
// with the copier as its own process or inside the harness process.
func (h *harness) latency(ctx context.Context, name string, inProcess bool, ceiling float64) ([]LatencyResult, error) {
	if ceiling <= 0 {
		return nil, errors.New("latency: the raw copy measured no ceiling")
	}
	phase := "latency"
	if inProcess {
		phase = "latency-inprocess"
	}
	srcTopic := phase + "-" + name
	if err := h.src.createTopics(ctx, h.cfg.Partitions, srcTopic); err != nil {
		return nil, err
	}
	dst, topics := h.src, []string{srcTopic}
	stop := func() error { return nil }
	if name != CopierNone {
		var err error
		if dst, err = newCluster(phase + "-" + name); err != nil {
			return nil, err
		}
		defer dst.close()
		h.say("%s %s: starting the copier, target cluster %s", phase, name, dst.addrs())
		if inProcess {
			stop, topics, err = h.startInProcess(ctx, name, phase, dst, []string{srcTopic})
		} else {
			var ch *child
			ch, topics, err = h.startCopier(ctx, name, phase, dst, []string{srcTopic})
			if ch != nil {
				stop = func() error {
					_, err := ch.stop(stopGrace)
					return err
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	levels := make([]loadLevel, len(h.cfg.LatencyLoads))
	for i, p := range h.cfg.LatencyLoads {
		levels[i] = loadLevel{percent: p, rate: max(1, ceiling*float64(p)/100)}
	}
	lp := &latencyProbe{copier: name, inProcess: inProcess, src: h.src, dst: dst, srcTopic: srcTopic, dstTopic: topics[0],
		partitions: h.cfg.Partitions, pool: h.pool, levels: levels, dur: h.cfg.LatencyDuration,
		timeout: h.cfg.Timeout, say: h.say}
	res, err := lp.run(ctx)
	if err = errors.Join(err, stop()); err != nil {
		return nil, err
	}
	h.noteOverload(name, res)
	for _, r := range res {
		h.say("%s %s at %d%% (%.0f records/s): p50 %.1fms p99 %.1fms p99.9 %.1fms max %.1fms (%d samples, %d lost)",
			phase, name, r.LoadPercent, r.OfferedRate, r.P50Ms, r.P99Ms, r.P999Ms, r.MaxMs, r.Samples, r.Lost)
	}
	return res, nil
}

// kcatRecords is how many of the loaded records the kcat pipe copies: a
// quarter, since it is several times slower than the others and its
// records/s is what is compared.
func kcatRecords(records int64) int64 { return max(1, records/4) }

// kcatVersion returns kcat's version line ("Version 1.7.1 (..., librdkafka
// 2.0.2 ...)"), or its first line.
func kcatVersion(path string) string {
	out, _ := exec.Command(path, "-V").CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		if strings.HasPrefix(strings.ToLower(l), "version") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[0])
}

// startInProcess starts copier name (raw or mm2go) inside the harness
// process, copying topics to dst, and returns the function that stops it
// (gracefully, as its own process would stop) and the target topics.
func (h *harness) startInProcess(ctx context.Context, name, phase string, dst *cluster, topics []string) (stop func() error, dstTopics []string, err error) {
	var run func(context.Context) error
	switch name {
	case CopierRaw:
		if err := dst.createTopics(ctx, h.cfg.Partitions, topics...); err != nil {
			return nil, nil, err
		}
		cfg := RawCopyConfig{Source: h.src.kf.ListenAddrs(), Target: dst.kf.ListenAddrs(), Topics: topics}
		run = func(ctx context.Context) error { return RawCopy(ctx, cfg) }
		dstTopics = topics
	default:
		path, err := h.writeFlow(phase, dst, topics)
		if err != nil {
			return nil, nil, err
		}
		logf, err := os.Create(filepath.Join(h.cfg.OutDir, name+"-"+phase+".log"))
		if err != nil {
			return nil, nil, fmt.Errorf("create the worker's log: %w", err)
		}
		if h.cfg.NewWorker == nil {
			logf.Close()
			return nil, nil, errors.New("no worker constructor (Config.NewWorker) for mm2go in one process")
		}
		w, specs, err := h.cfg.NewWorker(path, hclog.New(&hclog.LoggerOptions{Name: "mm2go", Level: hclog.Warn, Output: logf}))
		if err != nil {
			logf.Close()
			return nil, nil, err
		}
		run = func(ctx context.Context) error {
			defer logf.Close()
			return w.Run(ctx, specs)
		}
		for _, t := range topics {
			dstTopics = append(dstTopics, sourceAlias+"."+t)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(cctx) }()
	return func() error {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s in the harness: %w", name, err)
		}
		return nil
	}, dstTopics, nil
}

// noteOverload adds a note for each latency row whose offered load the
// source could not take.
func (h *harness) noteOverload(name string, res []LatencyResult) {
	for _, r := range res {
		if r.SentRate < 0.9*r.OfferedRate {
			h.rep.Notes = append(h.rep.Notes, fmt.Sprintf("The latency probe offered %s (%s) %.0f records/s at %d%% but the source took only %.0f/s: the machine was saturated (brokers, probe and copier share its CPUs), so that row measures overload, not the copier.",
				name, r.where(), r.OfferedRate, r.LoadPercent, r.SentRate))
		}
	}
}

// singleProcessLatency runs the latency phases of copier name in a child
// process (bench --role latency, SingleProcessLatency): fresh brokers, the
// probe and the copier on one Go scheduler, away from the harness's heap of
// loaded records. It forwards the child's progress and returns its results.
func (h *harness) singleProcessLatency(ctx context.Context, name string, ceiling float64) ([]LatencyResult, error) {
	loads := make([]string, len(h.cfg.LatencyLoads))
	for i, p := range h.cfg.LatencyLoads {
		loads[i] = strconv.Itoa(p)
	}
	args := h.childArgs("latency", "--copier", name, "--ceiling", strconv.FormatFloat(ceiling, 'f', 1, 64),
		"--latency-loads", strings.Join(loads, ","), "--latency-duration", h.cfg.LatencyDuration.String(),
		"--partitions", strconv.Itoa(int(h.cfg.Partitions)), "--size", strconv.Itoa(h.cfg.Size),
		"--timeout", h.cfg.Timeout.String(), "--out", h.cfg.OutDir)
	h.say("latency %s: in one process with fresh brokers and the probe", name)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), h.cfg.Env...)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	progress, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the latency child: %w", err)
	}
	var lastLine string
	sc := bufio.NewScanner(progress)
	for sc.Scan() {
		lastLine = sc.Text()
		h.say("  %s", lastLine)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("latency %s in one process: %w (last output: %s)", name, err, lastLine)
	}
	var res []LatencyResult
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		return nil, fmt.Errorf("latency %s in one process: read its results: %w", name, err)
	}
	return res, nil
}

// SingleProcessLatency is the child side of singleProcessLatency (mm2go
// bench --role latency): in this process, a source and a target cluster,
// copier (raw or mm2go) and the probe, offering cfg.LatencyLoads percent of
// ceiling records/s. Progress goes to cfg.Progress.
func SingleProcessLatency(ctx context.Context, cfg Config, copier string, ceiling float64) ([]LatencyResult, error) {
	h := &harness{cfg: cfg, start: time.Now(), pool: newValuePool(cfg.Size), rep: &Report{}}
	var err error
	if h.src, err = newCluster("source"); err != nil {
		return nil, err
	}
	defer h.src.close()
	return h.latency(ctx, copier, true, ceiling)
}
