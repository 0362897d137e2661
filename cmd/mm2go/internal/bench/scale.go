package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/flows"
	"github.com/mm2go/mm2go/offsets"
)

// classMirrorCheckpoint is MM2's name of the checkpoint connector, the
// class the groups scale run needs the worker to run.
const classMirrorCheckpoint = "MirrorCheckpointConnector"

func (h *harness) scaleRun(ctx context.Context, name string) (ScaleResult, error) {
	switch name {
	case ScalePartitions:
		return h.scalePartitions(ctx)
	case ScaleTopics:
		return h.scaleTopics(ctx)
	default:
		return h.scaleGroups(ctx)
	}
}

// scalePartitionRecords is how many records each partition of the
// partitions scale run holds: enough that every partition has data in
// flight in the worker's fetch and produce buffers at once.
const scalePartitionRecords = 10

// scalePartitions: one topic of ScalePartitions partitions with
// scalePartitionRecords records each; how long until the worker has copied
// every partition, and its RSS.
func (h *harness) scalePartitions(ctx context.Context) (ScaleResult, error) {
	n := h.cfg.ScalePartitions
	total := int64(n) * scalePartitionRecords
	res := ScaleResult{Name: ScalePartitions, Available: true, Topics: 1, Partitions: n, Records: total}
	topic := "scale-partitions"
	h.say("scale partitions: creating %s with %d partitions, %d records each", topic, n, scalePartitionRecords)
	if err := h.src.createTopics(ctx, int32(n), topic); err != nil {
		return res, err
	}
	lctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	if err := h.src.load(lctx, topic, int32(n), total, h.pool, func(int64) {}); err != nil {
		return res, err
	}
	dst, err := newCluster("scale-partitions")
	if err != nil {
		return res, err
	}
	defer dst.close()
	ch, topics, err := h.startCopier(ctx, CopierMM2go, "scale-partitions", dst, []string{topic})
	if err != nil {
		return res, err
	}
	err = h.watch(ctx, ch, "scale partitions", func() (bool, string, error) {
		c, err := dst.endOffsets(ctx, topics...)
		return c.records >= total, fmt.Sprintf("%d/%d partitions started, %d/%d records copied", c.nonEmpty, n, c.records, total), err
	})
	res.CopiedSeconds = time.Since(ch.started).Seconds()
	if err := h.finishScale(ctx, ch, &res, err); err != nil {
		return res, err
	}
	h.say("scale partitions: all %d partitions copied %.1fs after the worker started; peak RSS %.0f MiB, steady %.0f MiB, idle CPU %.0f%%",
		n, res.CopiedSeconds, mib(res.PeakRSSBytes), mib(res.SteadyRSSBytes), res.IdleCPUPercent)
	return res, nil
}

// scaleTopics: ScaleTopics topics created at once while the worker runs;
// how long until the worker has found them all and copied their records.
func (h *harness) scaleTopics(ctx context.Context) (ScaleResult, error) {
	n := h.cfg.ScaleTopics
	res := ScaleResult{Name: ScaleTopics, Available: true, Topics: n, Partitions: n, Records: int64(n)}
	dst, err := newCluster("scale-topics")
	if err != nil {
		return res, err
	}
	defer dst.close()
	ch, _, err := h.startCopier(ctx, CopierMM2go, "scale-topics", dst, []string{`scale-topics-.*`})
	if err != nil {
		return res, err
	}
	if err := h.finishScale(ctx, ch, &res, h.topicsAppear(ctx, ch, dst, n, &res)); err != nil {
		return res, err
	}
	h.say("scale topics: %d topics found %.1fs and copied %.1fs after they were created; peak RSS %.0f MiB",
		n, res.DiscoveredSeconds, res.CopiedSeconds, mib(res.PeakRSSBytes))
	return res, nil
}

// topicsAppear waits for the worker to start, creates n topics at once with
// one record each, and waits until the worker has copied them all, filling
// in the times of res.
func (h *harness) topicsAppear(ctx context.Context, ch *child, dst *cluster, n int, res *ScaleResult) error {
	// The worker is up once it has its offsets topic on the target.
	offsetsTopic := "mm2-offsets." + sourceAlias + ".internal"
	err := h.watch(ctx, ch, "scale topics: worker start-up", func() (bool, string, error) {
		c, err := dst.endOffsets(ctx, offsetsTopic)
		return c.partitions > 0, "waiting for " + offsetsTopic, err
	})
	if err != nil {
		return err
	}
	names := make([]string, n)
	remote := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("scale-topics-%05d", i)
		remote[i] = sourceAlias + "." + names[i]
	}
	h.say("scale topics: creating %d topics at once, one record each", n)
	created := time.Now()
	if err := h.src.createTopics(ctx, 1, names...); err != nil {
		return err
	}
	if err := h.src.produceOneEach(ctx, names, h.pool.next()); err != nil {
		return err
	}
	var discovered time.Duration
	err = h.watch(ctx, ch, "scale topics", func() (bool, string, error) {
		c, err := dst.endOffsets(ctx, remote...)
		if discovered == 0 && c.partitions >= n {
			discovered = time.Since(created)
		}
		return c.nonEmpty >= n, fmt.Sprintf("%d/%d remote topics created, %d copied", c.partitions, n, c.nonEmpty), err
	})
	res.DiscoveredSeconds, res.CopiedSeconds = discovered.Seconds(), time.Since(created).Seconds()
	return err
}

// scaleGroups: ScaleGroups groups with committed offsets on GroupPartitions
// partitions each; how long until the worker has written a checkpoint for
// every group and partition (one checkpoint cycle). It needs a worker whose
// flows run MM2's checkpoint connector.
func (h *harness) scaleGroups(ctx context.Context) (ScaleResult, error) {
	groups, parts := h.cfg.ScaleGroups, h.cfg.GroupPartitions
	const perPartition = 10
	res := ScaleResult{Name: ScaleGroups, Topics: 1, Partitions: parts, Groups: groups, Records: int64(parts * perPartition)}
	if ok, err := plansCheckpoints(); err != nil || !ok {
		res.Note = "not available: this build's flows do not run " + classMirrorCheckpoint + " (the checkpoint connector is not in connectors yet)"
		if err != nil {
			res.Note = "not available: " + err.Error()
		}
		h.say("scale groups: %s", res.Note)
		return res, nil
	}
	res.Available = true
	topic := "scale-groups"
	h.say("scale groups: %s with %d partitions, %d groups with committed offsets on each", topic, parts, groups)
	if err := h.src.createTopics(ctx, int32(parts), topic); err != nil {
		return res, err
	}
	lctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	if err := h.src.load(lctx, topic, int32(parts), int64(parts*perPartition), h.pool, func(int64) {}); err != nil {
		return res, err
	}
	if err := h.src.commitGroups(lctx, topic, parts, groups, perPartition/2); err != nil {
		return res, err
	}
	dst, err := newCluster("scale-groups")
	if err != nil {
		return res, err
	}
	defer dst.close()
	ch, _, err := h.startCopier(ctx, CopierMM2go, phaseScaleGroups, dst, []string{topic})
	if err != nil {
		return res, err
	}
	cps, err := newCheckpointReader(dst, sourceAlias+".checkpoints.internal")
	if err == nil {
		want := groups * parts
		err = h.watch(ctx, ch, "scale groups", func() (bool, string, error) {
			n := cps.poll(ctx)
			return n >= want, fmt.Sprintf("%d/%d group partitions checkpointed", n, want), nil
		})
		cps.close()
	}
	res.CopiedSeconds = time.Since(ch.started).Seconds()
	if err == nil {
		res.CycleSeconds, err = h.checkpointCycle(ctx, ch)
	}
	if err := h.finishScale(ctx, ch, &res, err); err != nil {
		return res, err
	}
	h.say("scale groups: %d groups x %d partitions checkpointed %.1fs after the worker started; a checkpoint cycle then took %.2fs; peak RSS %.0f MiB",
		groups, parts, res.CopiedSeconds, res.CycleSeconds, mib(res.PeakRSSBytes))
	return res, nil
}

// finishScale ends a scale run whose measurement returned err: unless it
// failed, it watches the idle worker for res's steady RSS and idle CPU; then
// it stops the worker and records its peak RSS. It returns err joined with
// the worker's stop error.
func (h *harness) finishScale(ctx context.Context, ch *child, res *ScaleResult, err error) error {
	if err == nil {
		res.SteadyRSSBytes, res.IdleCPUPercent = h.steady(ctx, ch)
	}
	_, stopErr := ch.stop(stopGrace)
	res.PeakRSSBytes = ch.peakRSS()
	return errors.Join(err, stopErr)
}

// plansCheckpoints reports whether a flow of this build runs MM2's
// checkpoint connector.
func plansCheckpoints() (bool, error) {
	f, err := flows.Parse([]byte("clusters:\n  a:\n    bootstrap_servers: [\"127.0.0.1:9092\"]\n  b:\n    bootstrap_servers: [\"127.0.0.1:9093\"]\nflows:\n  - source: a\n    target: b\n"), flows.FormatYAML)
	if err != nil {
		return false, fmt.Errorf("parse a probe flow: %w", err)
	}
	e, err := f.Expand()
	if err != nil {
		return false, fmt.Errorf("expand a probe flow: %w", err)
	}
	_, specs, err := e.Plan()
	if err != nil {
		return false, fmt.Errorf("plan a probe flow: %w", err)
	}
	for _, s := range specs {
		if s.Class == classMirrorCheckpoint {
			return true, nil
		}
	}
	return false, nil
}

// watch polls check every 250ms until it says done, the copier exits, or
// the phase times out, and shows check's status once a second.
func (h *harness) watch(ctx context.Context, ch *child, label string, check func() (bool, string, error)) error {
	deadline := time.Now().Add(h.cfg.Timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastSay := time.Now()
	for {
		ch.sample()
		done, status, err := check()
		switch {
		case err != nil:
			return fmt.Errorf("%s: %w", label, err)
		case done:
			return nil
		case !ch.running():
			return fmt.Errorf("%s: the worker exited (%s); see %s", label, status, ch.log.Name())
		case time.Now().After(deadline):
			return fmt.Errorf("%s: %s after %s (--timeout)", label, status, h.cfg.Timeout)
		}
		if time.Since(lastSay) >= time.Second {
			lastSay = time.Now()
			h.say("%s: %s", label, status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// steady watches an idle copier for Config.ScaleIdle and returns its RSS at the
// end and its CPU use over the period.
func (h *harness) steady(ctx context.Context, ch *child) (rss int64, cpuPercent float64) {
	pid := ch.cmds[0].Process.Pid
	cpu0, err := procCPU(pid)
	if err != nil {
		return 0, 0
	}
	began := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(h.cfg.ScaleIdle):
	}
	ch.sample()
	cpu1, err := procCPU(pid)
	if err != nil {
		return 0, 0
	}
	return ch.rss(), 100 * (cpu1 - cpu0).Seconds() / time.Since(began).Seconds()
}

// produceOneEach produces one record to partition 0 of each topic.
func (c *cluster) produceOneEach(ctx context.Context, topics []string, value []byte) error {
	cl, err := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(topics))
	for i, t := range topics {
		recs[i] = &kgo.Record{Topic: t, Value: value}
	}
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce to the new topics: %w", err)
	}
	return nil
}

// commitGroups commits offset at on every partition of topic for groups
// consumer groups named scale-group-NNNNN.
func (c *cluster) commitGroups(ctx context.Context, topic string, partitions, groups int, at int64) error {
	var offs kadm.Offsets
	for p := range int32(partitions) {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
	}
	for g := range groups {
		group := fmt.Sprintf("scale-group-%05d", g)
		resp, err := c.adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("commit offsets of group %s: %w", group, err)
		}
	}
	return nil
}

// checkpointReader reads MM2 checkpoints from the target and counts the
// distinct (group, topic, partition) it has seen.
type checkpointReader struct {
	cl   *kgo.Client
	seen map[string]bool
}

func newCheckpointReader(dst *cluster, topic string) (*checkpointReader, error) {
	cl, err := dst.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		return nil, err
	}
	return &checkpointReader{cl: cl, seen: make(map[string]bool)}, nil
}

// poll reads what arrived within 200ms and returns the count so far.
func (r *checkpointReader) poll(ctx context.Context) int {
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	r.cl.PollFetches(pctx).EachRecord(func(rec *kgo.Record) {
		if cp, err := offsets.DecodeCheckpoint(rec.Key, rec.Value); err == nil {
			r.seen[fmt.Sprintf("%s/%s/%d", cp.ConsumerGroupID, cp.Topic, cp.Partition)] = true
		}
	})
	return len(r.seen)
}

func (r *checkpointReader) close() { r.cl.Close() }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// phaseScaleGroups is the groups scale run's phase name (flow file, logs).
const phaseScaleGroups = "scale-groups"

// checkpointCycle waits until every task of the worker's checkpoint
// connector has finished two more cycles and returns the slowest task's
// last cycle, in seconds, as the worker's REST status reports it.
func (h *harness) checkpointCycle(ctx context.Context, ch *child) (float64, error) {
	var first int64 = -1
	var took float64
	err := h.watch(ctx, ch, "scale groups: checkpoint cycles", func() (bool, string, error) {
		cycles, last, err := checkpointCycles(ctx, ch.httpAddr)
		if err != nil {
			return false, "", err
		}
		if first < 0 {
			first = cycles
		}
		took = last
		return cycles >= first+2, fmt.Sprintf("%d checkpoint cycles since the groups were checkpointed, last %.2fs", cycles-first, last), nil
	})
	return took, err
}

// checkpointCycles reads the worker's REST status at addr and returns the
// fewest cycles any checkpoint task has finished and the longest last cycle.
func checkpointCycles(ctx context.Context, addr string) (cycles int64, last float64, err error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+addr+"/connectors?expand=status", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("read the worker's status: %w", err)
	}
	defer resp.Body.Close()
	var st map[string]struct {
		Status struct {
			Tasks []struct {
				Cycles    int64   `json:"cycles"`
				LastCycle float64 `json:"last_cycle_seconds"`
			} `json:"tasks"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, 0, fmt.Errorf("read the worker's status: %w", err)
	}
	cycles = -1
	for name, c := range st {
		// "A->B.MirrorCheckpointConnector" (older workers: "A->B/...").
		if !strings.HasSuffix(name, "."+classMirrorCheckpoint) && !strings.HasSuffix(name, "/"+classMirrorCheckpoint) {
			continue
		}
		for _, t := range c.Status.Tasks {
			if cycles < 0 || t.Cycles < cycles {
				cycles = t.Cycles
			}
			last = max(last, t.LastCycle)
		}
	}
	if cycles < 0 {
		return 0, 0, fmt.Errorf("the worker's status at %s lists no %s task", addr, classMirrorCheckpoint)
	}
	return cycles, last, nil
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago, for a child's --http-addr.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
