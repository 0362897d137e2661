package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/offsets"
)

// checkpointSpec is a MirrorCheckpoint connector spec for source->target,
// named as under MM2's dedicated driver, with short intervals.
func checkpointSpec(source, target string, props map[string]string) connect.ConnectorSpec {
	p := connect.Props{
		connectors.KeySourceAlias: source, connectors.KeyTargetAlias: target,
		connectors.KeyRefreshGroupsSeconds:   "0.2",
		connectors.KeyEmitCheckpointsSeconds: "0.2",
	}
	for k, v := range props {
		p[k] = v
	}
	return connect.ConnectorSpec{Name: connectors.ClassMirrorCheckpoint, Class: connectors.ClassMirrorCheckpoint, Source: source, Target: target, Props: p}
}

// logBuffer collects a worker's log lines for assertions while still
// writing them to the test output.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the lines that contain every one of subs.
func (b *logBuffer) lines(subs ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for line := range strings.SplitSeq(b.buf.String(), "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok && line != "" {
			out = append(out, line)
		}
	}
	return out
}

// capturingLogger returns a worker option that logs at Debug to the test
// output and to the returned buffer.
func capturingLogger(t testing.TB) (connect.Option, *logBuffer) {
	buf := &logBuffer{}
	l := hclog.New(&hclog.LoggerOptions{Name: "mm2go", Level: hclog.Debug, Output: io.MultiWriter(t.Output(), buf)})
	return connect.WithLogger(l), buf
}

// produceTransactions writes n records per partition of topic on c in
// transactions of txnSize records, so that every transaction's commit marker
// takes an offset on the source that the copy does not have: source and
// target offsets drift apart, which is what translation is for. Keys are
// "<p>-<i>", unique per record. It returns the keys per partition in order.
func produceTransactions(t testing.TB, c brokers, topic string, partitions int32, n, txnSize int) map[int32][]string {
	t.Helper()
	cl := client(t, c, kgo.TransactionalID("producer-"+topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := make(map[int32][]string)
	for start := 0; start < n; start += txnSize {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for p := range partitions {
			for i := start; i < min(start+txnSize, n); i++ {
				k := fmt.Sprintf("%d-%d", p, i)
				keys[p] = append(keys[p], k)
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(k), Value: []byte("value-" + k)})
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// readPartition returns the records of one partition of topic on c, in
// order, with their offsets, without transaction markers: a direct read, no
// group.
func readPartition(t testing.TB, c brokers, topic string, p int32) []*kgo.Record {
	t.Helper()
	end := endOffsets(t, c, topic)[p]
	cl := client(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().AtStart()}}), kgo.KeepControlRecords())
	var out []*kgo.Record
	next := int64(0)
	deadline := time.Now().Add(20 * time.Second)
	for next < end && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
		cancel()
	}
	if next < end {
		t.Fatalf("read %s[%d] up to offset %d, want %d", topic, p, next, end)
	}
	return out
}

// expectedTranslation returns where a group that committed offset committed
// on src's partition resumes on the copy: the target offset of the copy of
// the first source record at or after committed, or the target's end when
// there is none.
func expectedTranslation(src, dst []*kgo.Record, committed int64) int64 {
	for i, r := range src {
		if r.Offset >= committed {
			return dst[i].Offset
		}
	}
	if len(dst) == 0 {
		return 0
	}
	return dst[len(dst)-1].Offset + 1
}

// commitSource commits offsets of group on c as an admin commit with
// metadata.
func commitSource(t testing.TB, c brokers, group, topic string, offs map[int32]int64, metadata string) {
	t.Helper()
	var os kadm.Offsets
	for p, o := range offs {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1, Metadata: metadata})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kadm.NewClient(client(t, c)).CommitAllOffsets(ctx, group, os); err != nil {
		t.Fatalf("commit offsets of %s on the source: %v", group, err)
	}
}

// checkpointRecords reads every record of the checkpoints topic on c.
func checkpointRecords(t testing.TB, c brokers, topic string) []*kgo.Record {
	t.Helper()
	return readPartition(t, c, topic, 0)
}

// TestCheckpoint_EmitsExactMonotonicCheckpoints copies a transactional topic
// (every 10 records a commit marker takes a source offset the copy lacks)
// while a group commits further and further on the source, and checks the
// checkpoints topic on the target: MM2's layout (partition 0, keys and
// values that offsets.DecodeCheckpoint reads, target-side topic names, the
// source commit's metadata), translations that are exact (the copy of the
// record the group reads next), offsets that never go backwards, what
// offsets.ReadCheckpoints (RemoteClusterUtils.translateOffsets) returns, the
// Connect offsets MM2 writes for the connector, and the groups the filters
// leave out.
func TestCheckpoint_EmitsExactMonotonicCheckpoints(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx := context.Background()
	admA := kadm.NewClient(client(t, a))
	for _, topic := range []string{"t", "excluded"} {
		if _, err := admA.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	produceTransactions(t, a, "t", 2, 200, 10)
	produceTransactions(t, a, "excluded", 2, 10, 10)
	srcEnd := endOffsets(t, a, "t")
	// g1 starts in the middle of a transaction, on partition 0 only.
	commitSource(t, a, "g1", "t", map[int32]int64{0: 15}, "meta-1")
	// Left out: the default groups.exclude, and a group whose only commits
	// are on a topic the topic filter excludes.
	commitSource(t, a, "console-consumer-1", "t", map[int32]int64{0: 5}, "")
	commitSource(t, a, "other", "excluded", map[int32]int64{0: 5}, "")

	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b}), OffsetFlushInterval: 200 * time.Millisecond},
		[]connect.ConnectorSpec{
			sourceSpec("A", "B", map[string]string{"topics.exclude": "excluded"}),
			checkpointSpec("A", "B", map[string]string{"topics.exclude": "excluded"}),
		})
	waitFor(t, 30*time.Second, "A.t copied", func() bool {
		e := endOffsets(t, b, "A.t")
		return e[0] == 200 && e[1] == 200
	})
	srcRecs := map[int32][]*kgo.Record{0: readPartition(t, a, "t", 0), 1: readPartition(t, a, "t", 1)}
	dstRecs := map[int32][]*kgo.Record{0: readPartition(t, b, "A.t", 0), 1: readPartition(t, b, "A.t", 1)}
	cpTopic := "A.checkpoints.internal"
	latest := func() map[offsets.TopicPartition]offsets.Checkpoint {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		got, _, err := offsets.ReadCheckpoints(cctx, []kgo.Opt{kgo.SeedBrokers(b.ListenAddrs()...)}, cpTopic, "g1")
		if err != nil {
			return nil
		}
		return got
	}
	// The group moves on: partition 1 joins on a marker offset (10), and
	// the last commit is at the end of partition 0, past its last marker (a
	// group that read everything).
	steps := []map[int32]int64{{0: 15}, {0: 77}, {0: 121, 1: 10}, {0: srcEnd[0], 1: 54}}
	for i, step := range steps {
		meta := fmt.Sprintf("meta-%d", i+1)
		commitSource(t, a, "g1", "t", step, meta)
		waitFor(t, 30*time.Second, fmt.Sprintf("exact checkpoints of step %d", i), func() bool {
			got := latest()
			for p, o := range step {
				cp := got[offsets.TopicPartition{Topic: "A.t", Partition: p}]
				if cp.UpstreamOffset != o || cp.DownstreamOffset != expectedTranslation(srcRecs[p], dstRecs[p], o) || cp.Metadata != meta {
					return false
				}
			}
			return true
		})
	}
	final := latest()
	if len(final) != 2 {
		t.Fatalf("ReadCheckpoints(g1) = %+v, want 2 partitions", final)
	}
	for p, cp := range final {
		if cp.ConsumerGroupID != "g1" || cp.Topic != "A.t" || cp.Partition != p.Partition {
			t.Errorf("ReadCheckpoints(g1)[%v] = %+v", p, cp)
		}
	}
	if got := final[offsets.TopicPartition{Topic: "A.t", Partition: 0}].DownstreamOffset; got != 200 {
		t.Errorf("a group at the end of the source gets downstream %d, want the target's end 200", got)
	}

	// Every record of the topic: partition 0, decodable, target-side names,
	// only g1, never backwards, and never past the exact translation (a
	// checkpoint may be the lower bound while the index catches up, which
	// re-reads but never skips).
	recs := checkpointRecords(t, b, cpTopic)
	type tp struct {
		topic string
		p     int32
	}
	prev := make(map[tp]offsets.Checkpoint)
	for _, r := range recs {
		cp, err := offsets.DecodeCheckpoint(r.Key, r.Value)
		if err != nil {
			t.Fatalf("checkpoint at offset %d: %v", r.Offset, err)
		}
		if r.Partition != 0 || cp.ConsumerGroupID != "g1" || cp.Topic != "A.t" {
			t.Errorf("checkpoint at offset %d = %+v in partition %d; want only g1 on A.t, partition 0", r.Offset, cp, r.Partition)
		}
		if want := expectedTranslation(srcRecs[cp.Partition], dstRecs[cp.Partition], cp.UpstreamOffset); cp.DownstreamOffset > want {
			t.Errorf("checkpoint %+v: downstream %d is past the exact %d: a consumer would skip records", cp, cp.DownstreamOffset, want)
		}
		k := tp{cp.Topic, cp.Partition}
		if p, ok := prev[k]; ok && (cp.UpstreamOffset < p.UpstreamOffset || cp.DownstreamOffset <= p.DownstreamOffset) {
			t.Errorf("checkpoint %+v after %+v went backwards or repeated", cp, p)
		}
		prev[k] = cp
		if age := time.Since(r.Timestamp); age < 0 || age > time.Minute {
			t.Errorf("checkpoint at offset %d has timestamp %v", r.Offset, r.Timestamp)
		}
	}

	// MM2's Connect offsets for the connector: {"offset":0} under its key.
	key := connect.MirrorCheckpointOffsetKey(connectors.ClassMirrorCheckpoint, "g1", "A.t", 0)
	waitFor(t, 10*time.Second, "the checkpoint connector's source offset", func() bool {
		topic := connect.OffsetsTopic("A")
		for _, rs := range consumeAll(t, b, topic, int(totalRecords(endOffsets(t, b, topic))), 5*time.Second) {
			for _, r := range rs {
				if bytes.Equal(r.Key, key) && string(r.Value) == `{"offset":0}` {
					return true
				}
			}
		}
		return false
	})
}

// TestCheckpoint_ResumesWithoutGoingBack restarts the worker against the
// checkpoints topic the first one wrote: the second worker loads it and
// emits nothing until the group moves on, then only newer checkpoints.
func TestCheckpoint_ResumesWithoutGoingBack(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx := context.Background()
	if _, err := kadm.NewClient(client(t, a)).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceTransactions(t, a, "t", 1, 100, 10)
	commitSource(t, a, "g", "t", map[int32]int64{0: 50}, "")
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b}), OffsetFlushInterval: 200 * time.Millisecond}
	specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil), checkpointSpec("A", "B", nil)}
	cpTopic := "A.checkpoints.internal"

	rw := startWorker(t, cfg, specs)
	waitFor(t, 30*time.Second, "a checkpoint", func() bool { return endOffsets(t, b, cpTopic)[0] >= 1 })
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	first := endOffsets(t, b, cpTopic)[0]

	rw = startWorker(t, cfg, specs)
	// Several emit intervals with the group unchanged: nothing new.
	time.Sleep(time.Second)
	if n := endOffsets(t, b, cpTopic)[0]; n != first {
		t.Errorf("restarted worker wrote %d checkpoints for an unchanged group, want none", n-first)
	}
	commitSource(t, a, "g", "t", map[int32]int64{0: 90}, "")
	waitFor(t, 30*time.Second, "the newer checkpoint", func() bool { return endOffsets(t, b, cpTopic)[0] > first })
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	recs := checkpointRecords(t, b, cpTopic)
	for i := 1; i < len(recs); i++ {
		p, _ := offsets.DecodeCheckpoint(recs[i-1].Key, recs[i-1].Value)
		c, _ := offsets.DecodeCheckpoint(recs[i].Key, recs[i].Value)
		if c.DownstreamOffset <= p.DownstreamOffset || c.UpstreamOffset < p.UpstreamOffset {
			t.Errorf("checkpoint %d %+v does not move past %+v", i, c, p)
		}
	}
}

// TestCheckpoint_FollowsNewAndGoneGroups: a group that starts committing
// while the worker runs is found by the next group refresh and checkpointed
// (by a second task: tasks.max is 2); a group deleted on the source is
// dropped from the tasks' assignments, and the remaining group goes on
// being checkpointed.
func TestCheckpoint_FollowsNewAndGoneGroups(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx := context.Background()
	admA := kadm.NewClient(client(t, a))
	if _, err := admA.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceTransactions(t, a, "t", 1, 50, 10)
	commitSource(t, a, "g1", "t", map[int32]int64{0: 10}, "")
	logOpt, logs := capturingLogger(t)
	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b}), OffsetFlushInterval: 200 * time.Millisecond},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil), checkpointSpec("A", "B", map[string]string{"tasks.max": "2"})}, logOpt)
	opts := []kgo.Opt{kgo.SeedBrokers(b.ListenAddrs()...)}
	checkpointOf := func(group string) offsets.Checkpoint {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		got, _, _ := offsets.ReadCheckpoints(cctx, opts, "A.checkpoints.internal", group)
		return got[offsets.TopicPartition{Topic: "A.t", Partition: 0}]
	}
	waitFor(t, 30*time.Second, "g1's checkpoint", func() bool { return checkpointOf("g1").UpstreamOffset == 10 })

	commitSource(t, a, "g2", "t", map[int32]int64{0: 20}, "")
	waitFor(t, 30*time.Second, "g2's checkpoint", func() bool { return checkpointOf("g2").UpstreamOffset == 20 })
	// Task 1 checkpoints only the groups it was started with.
	if len(logs.lines("consumer groups changed", `added=["g2"]`)) == 0 || len(logs.lines("checkpointing groups", "task=1", "groups=1")) == 0 {
		t.Errorf("g2 was not found by a refresh and given to a second task")
	}

	// Task 0 starting with one group and its checkpoint, after g1 is gone,
	// is task 0 taking over g2.
	task0 := func() int {
		return len(logs.lines("checkpointing groups", "task=0", "groups=1", "loaded_checkpoints=1"))
	}
	before := task0()
	if _, err := admA.DeleteGroup(ctx, "g1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "g1 dropped", func() bool {
		return len(logs.lines("consumer groups changed", `removed=["g1"]`, "groups=1")) > 0
	})
	// Until the worker restarts the tasks, task 1 still has g2 and may
	// checkpoint it: wait for the new assignment before looking at g2.
	waitFor(t, 30*time.Second, "task 0 to take over g2 (with its last checkpoint) and task 1 to stop", func() bool {
		return task0() > before && len(logs.lines("task stopped", "MirrorCheckpointConnector", "task=1")) > 0
	})
	commitSource(t, a, "g2", "t", map[int32]int64{0: 30}, "")
	waitFor(t, 30*time.Second, "g2's next checkpoint", func() bool { return checkpointOf("g2").UpstreamOffset == 30 })
}

// TestCheckpoint_ConnectorStartErrors: a bad config and a replication factor
// the target cannot meet fail the checkpoint connector (and only it) with a
// message naming the key; a source that cannot list its groups at start or
// at a refresh is retried.
func TestCheckpoint_ConnectorStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  string
	}{
		{"nothing to do", map[string]string{connectors.KeyEmitCheckpointsEnabled: "false"}, "emit.checkpoints.enabled and sync.group.offsets.enabled are both off"},
		{"replication factor", map[string]string{connectors.KeyCheckpointsReplicationFactor: "3"}, "set checkpoints.topic.replication.factor to a factor the cluster can meet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newCluster(t, "A"), newCluster(t, "B")
			reg := connect.NewRegistry()
			connectors.Register(reg)
			w := connect.NewWorker(connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b})},
				connect.WithRegistry(reg), connect.WithLogger(testLogger(t)))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- w.Run(ctx, []connect.ConnectorSpec{sourceSpec("A", "B", nil), checkpointSpec("A", "B", tc.props)})
			}()
			waitFor(t, 30*time.Second, "the checkpoint connector to fail", func() bool {
				for _, s := range w.Status() {
					if s.Name == connectors.ClassMirrorCheckpoint && s.State == connect.StateFailed && strings.Contains(s.Error, tc.want) {
						return true
					}
				}
				return false
			})
			for _, s := range w.Status() {
				if s.Name == connectors.ClassMirrorSource && s.State != connect.StateRunning {
					t.Errorf("the source connector is %s, want it running", s.State)
				}
			}
			cancel()
			if err := <-done; err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error saying %q", err, tc.want)
			}
		})
	}

	t.Run("groups not listed", func(t *testing.T) {
		a, b := newCluster(t, "A"), newCluster(t, "B")
		if _, err := kadm.NewClient(client(t, a)).CreateTopic(context.Background(), 1, 1, nil, "t"); err != nil {
			t.Fatal(err)
		}
		produceTransactions(t, a, "t", 1, 20, 10)
		commitSource(t, a, "g", "t", map[int32]int64{0: 5}, "")
		refuseListGroups := func() {
			a.ControlKey(int16(kmsg.ListGroups), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				resp := kreq.ResponseKind().(*kmsg.ListGroupsResponse)
				resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				return resp, nil, true
			})
		}
		refuseListGroups() // the connector's start
		logOpt, logs := capturingLogger(t)
		startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b}),
			OffsetFlushInterval: 200 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond},
			[]connect.ConnectorSpec{sourceSpec("A", "B", nil), checkpointSpec("A", "B", nil)}, logOpt)
		waitFor(t, 30*time.Second, "the checkpoint after a retried start", func() bool { return endOffsets(t, b, "A.checkpoints.internal")[0] >= 1 })
		if len(logs.lines("connector start failed; retrying", "MirrorCheckpointConnector", "find consumer groups on A")) == 0 {
			t.Errorf("the failed start was not logged")
		}
		refuseListGroups() // the next refresh
		waitFor(t, 30*time.Second, "the failed refresh logged", func() bool {
			return len(logs.lines("[WARN]", "consumer group refresh failed; will retry", "CLUSTER_AUTHORIZATION_FAILED")) > 0
		})
		commitSource(t, a, "g", "t", map[int32]int64{0: 15}, "")
		waitFor(t, 30*time.Second, "checkpoints going on", func() bool { return endOffsets(t, b, "A.checkpoints.internal")[0] >= 2 })
	})
}

// TestCheckpoint_FollowsRewindGroupSyncDoesNot: an operator resets a group
// on the source to reprocess. The next checkpoint follows the rewind (as in
// MM2: consumers that fail over must reprocess too), while group offset sync
// leaves the target group where it was: it never rewinds a group on the
// target.
func TestCheckpoint_FollowsRewindGroupSyncDoesNot(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx := context.Background()
	if _, err := kadm.NewClient(client(t, a)).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceTransactions(t, a, "t", 1, 100, 10)
	commitSource(t, a, "g", "t", map[int32]int64{0: 80}, "")
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b}), OffsetFlushInterval: 200 * time.Millisecond}
	startWorker(t, cfg, []connect.ConnectorSpec{
		sourceSpec("A", "B", nil),
		checkpointSpec("A", "B", map[string]string{
			connectors.KeySyncGroupOffsetsEnabled: "true",
			connectors.KeySyncGroupOffsetsSeconds: "0.2",
		}),
	})
	cpTopic := "A.checkpoints.internal"
	lastCheckpoint := func() offsets.Checkpoint {
		if endOffsets(t, b, cpTopic)[0] == 0 {
			return offsets.Checkpoint{UpstreamOffset: -1}
		}
		recs := checkpointRecords(t, b, cpTopic)
		c, err := offsets.DecodeCheckpoint(recs[len(recs)-1].Key, recs[len(recs)-1].Value)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitFor(t, 30*time.Second, "A.t copied", func() bool { return endOffsets(t, b, "A.t")[0] > 0 && len(readPartition(t, b, "A.t", 0)) == 100 })
	src, dst := readPartition(t, a, "t", 0), readPartition(t, b, "A.t", 0)
	at80, at20 := expectedTranslation(src, dst, 80), expectedTranslation(src, dst, 20)
	waitFor(t, 30*time.Second, "the checkpoint and the target group at 80", func() bool {
		c := lastCheckpoint()
		return c.UpstreamOffset == 80 && c.DownstreamOffset == at80 && groupOffsets(t, b, "g", "A.t")[0] == at80
	})

	commitSource(t, a, "g", "t", map[int32]int64{0: 20}, "")
	waitFor(t, 30*time.Second, "the checkpoint following the rewind to 20", func() bool {
		c := lastCheckpoint()
		return c.UpstreamOffset == 20 && c.DownstreamOffset == at20
	})
	// Several sync intervals later the target group is still at 80.
	time.Sleep(time.Second)
	if got := groupOffsets(t, b, "g", "A.t")[0]; got != at80 {
		t.Errorf("target group g at %d after the rewind on the source, want it left at %d", got, at80)
	}
}
