package test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/test/internal/harness"
)

// groupSettings are the settings of the worker-group tests: three source
// tasks, frequent commits, and a 6s session (the brokers' minimum) so that
// a killed worker's units move within seconds.
func groupSettings() map[string]string {
	s := harness.DefaultSettings()
	s["tasks.max"] = "3"
	s["session.timeout.ms"] = "6000"
	s["heartbeat.interval.ms"] = "1000"
	s["emit.checkpoints.interval.seconds"] = "1"
	return s
}

// TestGroup_WorkersShareTheWork runs mm2go worker processes on one flow
// file, a producer writing all along: two started at once (by accident),
// then a third. In the steady state nothing is copied twice. One is killed
// with SIGKILL and another started: every record is on the target, and the
// only duplicates are records the killed worker copied after its last
// commit. A worker started with another version of the file runs nothing
// and says why, while the others carry on.
func TestGroup_WorkersShareTheWork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mm2go worker processes")
	}
	ctx := context.Background()
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	const parts = 6
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, parts, 1, nil, "grp"); err != nil {
		t.Fatal(err)
	}
	prod := harness.StartProducer(client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())),
		harness.ProducerConfig{Topic: "grp", Partitions: parts, Tag: "g", Rate: 3000})
	dir := t.TempDir()
	ff := harness.FlowFile{Source: strings.Join(src.ListenAddrs(), ","), Target: strings.Join(dst.ListenAddrs(), ","),
		Topics: []string{"grp"}, Settings: groupSettings()}
	config := ff.Write(t, filepath.Join(dir, "flows.yaml"))

	start := func() *harness.Worker { return harness.StartWorker(t, config, "--http-addr", "127.0.0.1:0") }
	w1, w2 := start(), start() // started by accident: they must share, not both copy
	for _, w := range []*harness.Worker{w1, w2} {
		w.WaitLog("task started", 60*time.Second)
	}
	w3 := start()
	w3.WaitLog("task started", 60*time.Second)
	progress(t, dst, "A.grp", parts, 30*time.Second)

	// Steady state: nothing copied twice.
	steady := compareNow(t, src, dst)
	if _, _, _, d, o, f, c := steady.Totals(); d != 0 || o != 0 || f != 0 || c != 0 {
		t.Fatalf("steady state with three workers:\n%s", steady)
	}
	t.Logf("steady state: %s", steady.Summary())

	// A worker with another version of the file waits and says why.
	other := ff
	other.Settings = maps.Clone(ff.Settings)
	other.Settings["emit.checkpoints.interval.seconds"] = "2"
	odd := harness.StartWorker(t, other.Write(t, filepath.Join(dir, "other.yaml")))
	odd.WaitLog("this worker's flow file differs from the group's", 60*time.Second)
	progress(t, dst, "A.grp", parts, 30*time.Second) // the others carry on
	if strings.Contains(odd.Log(), "task started") || strings.Contains(odd.Log(), "connector started") {
		t.Fatalf("a worker with another flow file ran units:\n%s", odd.Log())
	}
	if err := odd.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}

	// SIGKILL one; its units move after the session timeout.
	killed := time.Now()
	w1.Kill()
	// What the killed worker left: copied, and committed. Its units move
	// only after the session timeout, seconds from now.
	atKill := endOffsets(t, dst, "A.grp")
	committed := committedGrp(t, dst)
	w4 := start()
	t.Logf("after SIGKILL (session timeout 6s): the killed worker's partitions copied again after %v", stallTime(t, dst, killed))

	// A graceful leave.
	atLeave := endOffsets(t, dst, "A.grp")
	left := time.Now()
	w2.Signal(syscall.SIGTERM)
	t.Logf("after SIGTERM: the stopped worker's partitions copied again after %v", stallTime(t, dst, left))
	progressPast(t, dst, "A.grp", atLeave, 60*time.Second)
	if err := w2.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}

	acked, err := prod.Stop(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srcEnds := endOffsets(t, src, "grp")
	waitFor(t, 90*time.Second, "every record copied and committed", func() bool {
		c := committedGrp(t, dst)
		for p := range int32(parts) {
			if c[p]+1 < srcEnds[p] {
				return false
			}
		}
		return true
	})
	for _, w := range []*harness.Worker{w3, w4} {
		if err := w.Stop(time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	rep := compareNow(t, src, dst)
	t.Logf("%d records produced; %s", acked, rep.Summary())
	if !rep.Clean() {
		t.Fatalf("copy is not clean:\n%s", rep)
	}
	// The only duplicates are the killed worker's uncommitted window: per
	// partition, what was on the target at the kill past the committed
	// offset.
	for _, pr := range rep.Parts {
		_, d, _, _, _ := pr.Counts()
		bound := max(0, atKill[pr.Partition]-(committed[pr.Partition]+1))
		if d > bound {
			t.Errorf("partition %d: %d duplicates, more than the killed worker's uncommitted window of %d records\n%s", pr.Partition, d, bound, rep)
		}
	}
}

// compareNow compares what the target holds of topic grp with the source.
func compareNow(t *testing.T, src, dst brokers) *harness.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The copy first: the source, read after it, holds every record it
	// copies (and more while the producer runs: missing, not foreign).
	got, err := harness.ReadTopic(ctx, brokerOpts(dst), "A.grp")
	if err != nil {
		t.Fatal(err)
	}
	want, err := harness.ReadTopic(ctx, brokerOpts(src), "grp")
	if err != nil {
		t.Fatal(err)
	}
	return harness.Compare(want, got)
}

// committedGrp returns the committed source offsets of topic grp.
func committedGrp(t *testing.T, dst brokers) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := harness.CommittedOffsets(ctx, brokerOpts(dst), "A")
	if err != nil {
		t.Fatal(err)
	}
	return c["grp"]
}

// progress waits until every partition of topic on c grew.
func progress(t *testing.T, c brokers, topic string, parts int, within time.Duration) {
	t.Helper()
	before := endOffsets(t, c, topic)
	for p := range int32(parts) {
		if _, ok := before[p]; !ok {
			before[p] = 0
		}
	}
	progressPast(t, c, topic, before, within)
}

// progressPast waits until every partition of topic on c is past from, and
// returns when it saw that.
func progressPast(t *testing.T, c brokers, topic string, from map[int32]int64, within time.Duration) time.Time {
	t.Helper()
	waitFor(t, within, fmt.Sprintf("every partition of %s copied past %v", topic, from), func() bool {
		now := endOffsets(t, c, topic)
		for p, off := range from {
			if now[p] <= off {
				return false
			}
		}
		return true
	})
	return time.Now()
}

func brokerOpts(c brokers) []kgo.Opt { return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)} }

// stallTime measures how long the partitions of A.grp that a worker
// stopped at event stood still: from event, every 50ms, the longest time a
// partition went without a new record, until every partition grew in the
// last 300ms at least 2s after event. With records arriving at 500/s per
// partition a partition otherwise never stands still for more than a few
// hundred milliseconds, so this is the time from event to the first record
// the new owner copied.
func stallTime(t *testing.T, dst brokers, event time.Time) time.Duration {
	t.Helper()
	last := endOffsets(t, dst, "A.grp")
	grew := make(map[int32]time.Time, len(last))
	for p := range last {
		grew[p] = event
	}
	var longest time.Duration
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		now := time.Now()
		ends := endOffsets(t, dst, "A.grp")
		recent := true
		for p, off := range ends {
			if off > last[p] {
				longest = max(longest, now.Sub(grew[p]))
				grew[p], last[p] = now, off
			}
			if now.Sub(grew[p]) > 300*time.Millisecond {
				recent = false
			}
		}
		if recent && now.Sub(event) > 2*time.Second {
			return longest.Round(50 * time.Millisecond)
		}
	}
	t.Fatalf("A.grp did not copy every partition again within 90s of the event")
	return 0
}

// TestGroup_CutOffWorkerStopsCommittingFirst cuts one of two workers off
// from the group's coordinator (its heartbeats and rejoins get no answer;
// it still reaches the source and the target) while a producer runs. It
// must stop committing before its tasks go to the other worker: in the
// offsets topic, the committed offsets of every source partition only grow
// (two owners committing at once would interleave a lower offset), and
// nothing is lost.
func TestGroup_CutOffWorkerStopsCommittingFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mm2go worker processes")
	}
	ctx := context.Background()
	src, dst, grp := newCluster(t, "src"), newCluster(t, "dst"), newCluster(t, "grp")
	const parts = 6
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, parts, 1, nil, "grp"); err != nil {
		t.Fatal(err)
	}
	prod := harness.StartProducer(client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())),
		harness.ProducerConfig{Topic: "grp", Partitions: parts, Tag: "g", Rate: 3000})
	var b strings.Builder
	fmt.Fprintf(&b, "clusters:\n  A: {bootstrap_servers: [%q]}\n  B: {bootstrap_servers: [%q]}\n  G: {bootstrap_servers: [%q]}\nsettings:\n",
		src.ListenAddrs()[0], dst.ListenAddrs()[0], grp.ListenAddrs()[0])
	settings := groupSettings()
	settings["mm2go.group.cluster"] = "G" // the group's cluster is G alone
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(&b, "  %s: %q\n", k, settings[k])
	}
	b.WriteString("flows:\n  - {source: A, target: B, topics: [grp]}\n")
	config := filepath.Join(t.TempDir(), "flows.yaml")
	if err := os.WriteFile(config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	w1 := harness.StartWorker(t, config, "--http-addr", "127.0.0.1:0")
	w1.WaitLog("task started", 60*time.Second)
	w2 := harness.StartWorker(t, config, "--http-addr", "127.0.0.1:0")
	w2.WaitLog("task started", 60*time.Second)
	progress(t, dst, "A.grp", parts, 30*time.Second)

	// w1's member id, from the group's description: its metadata names
	// its worker id.
	victim := logField(t, w1.Log(), "worker_id=")
	groupID := logField(t, w1.Log(), "group=")
	var memberID string
	waitFor(t, 30*time.Second, "w1 in the group's description", func() bool {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{groupID}
		resp, err := req.RequestWith(ctx, client(t, grp))
		if err != nil || len(resp.Groups) != 1 {
			return false
		}
		for _, m := range resp.Groups[0].Members {
			if strings.Contains(string(m.ProtocolMetadata), victim) {
				memberID = m.MemberID
			}
		}
		return memberID != ""
	})
	// A black hole for w1's group requests only.
	cutOff := time.Now()
	drop := func(req kmsg.Request) (kmsg.Response, error, bool) {
		var id string
		switch r := req.(type) {
		case *kmsg.HeartbeatRequest:
			id = r.MemberID
		case *kmsg.SyncGroupRequest:
			id = r.MemberID
		case *kmsg.JoinGroupRequest:
			id = r.MemberID
			for _, p := range r.Protocols {
				if strings.Contains(string(p.Metadata), victim) {
					id = memberID
				}
			}
		}
		grp.KeepControl()
		return nil, nil, id == memberID
	}
	for _, key := range []int16{kmsg.Heartbeat.Int16(), kmsg.JoinGroup.Int16(), kmsg.SyncGroup.Int16()} {
		grp.ControlKey(key, drop)
	}
	w1.WaitLog("lost group membership", 30*time.Second)
	t.Logf("w1 fenced itself %v after its group requests were cut off", time.Since(cutOff).Round(100*time.Millisecond))
	// w2 takes every task once the coordinator evicted w1.
	waitFor(t, 60*time.Second, "w2 runs every source task", func() bool {
		return strings.Count(w2.Log(), "task started: connector=MirrorSourceConnector") >= 3
	})
	progress(t, dst, "A.grp", parts, 30*time.Second)

	if _, err := prod.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	srcEnds := endOffsets(t, src, "grp")
	waitFor(t, 90*time.Second, "every record copied and committed", func() bool {
		c := committedGrp(t, dst)
		for p := range int32(parts) {
			if c[p]+1 < srcEnds[p] {
				return false
			}
		}
		return true
	})
	w1.Kill()
	if err := w2.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	rep := compareNow(t, src, dst)
	t.Logf("%s", rep.Summary())
	if !rep.Clean() {
		t.Fatalf("copy is not clean:\n%s", rep)
	}
	// Every commit of a partition is at or past the one before it.
	recs := readOffsetsTopic(t, dst)
	last := make(map[string]int64)
	for _, r := range recs {
		off, ok, err := connect.ParseOffsetValue(r.Value)
		if err != nil || !ok {
			continue
		}
		if prev, seen := last[string(r.Key)]; seen && off < prev {
			t.Errorf("source offset of %s committed back from %d to %d (offsets topic %d/%d): two owners committed", r.Key, prev, off, r.Partition, r.Offset)
		}
		last[string(r.Key)] = off
	}
}

// logField returns the value after the first "name" in a worker's log.
func logField(t *testing.T, log, name string) string {
	t.Helper()
	i := strings.Index(log, name)
	if i < 0 {
		t.Fatalf("no %s in the worker's log:\n%s", name, log)
	}
	v := log[i+len(name):]
	if j := strings.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	return v
}

// readOffsetsTopic reads the Connect offsets topic of flows from A, in
// order per partition.
func readOffsetsTopic(t *testing.T, dst brokers) []*kgo.Record {
	t.Helper()
	ends := endOffsets(t, dst, connect.OffsetsTopic("A"))
	start := make(map[int32]kgo.Offset)
	for p, e := range ends {
		if e > 0 {
			start[p] = kgo.NewOffset().AtStart()
		}
	}
	cl := client(t, dst, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{connect.OffsetsTopic("A"): start}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(start) > 0 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if r.Offset == ends[r.Partition]-1 {
				delete(start, r.Partition)
			}
		})
	}
	if len(start) > 0 {
		t.Fatalf("offsets topic not read to its end: %v", ctx.Err())
	}
	return out
}
