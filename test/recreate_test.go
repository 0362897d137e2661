package test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
)

// recreateTopic deletes topic on c and creates it again with partitions:
// the new topic has a new topic ID and starts at offset 0.
func recreateTopic(t testing.TB, c *kfake.Cluster, topic string, partitions int32) {
	t.Helper()
	if err := c.DeleteTopic(topic); err != nil {
		t.Fatalf("delete %s: %v", topic, err)
	}
	if err := c.CreateTopic(topic, partitions, nil); err != nil {
		t.Fatalf("create %s again: %v", topic, err)
	}
}

// appendRecords appends, partition by partition, the records of each of sets
// to want.
func appendRecords(want map[int32][]*kgo.Record, sets ...map[int32][]*kgo.Record) map[int32][]*kgo.Record {
	for _, s := range sets {
		for p, rs := range s {
			want[p] = append(want[p], rs...)
		}
	}
	return want
}

func countRecords(m map[int32][]*kgo.Record) int {
	n := 0
	for _, rs := range m {
		n += len(rs)
	}
	return n
}

// waitCopied waits until every partition of topic on the target holds at
// least as many records as want has for it, then reads the topic back (every
// record the target has, duplicates included) and compares it with want.
func waitCopied(t testing.TB, dst *kfake.Cluster, topic string, want map[int32][]*kgo.Record, within time.Duration) {
	t.Helper()
	var ends map[int32]int64
	waitFor(t, within, fmt.Sprintf("%d records on %s", countRecords(want), topic), func() bool {
		ends = endOffsets(t, dst, topic)
		for p, rs := range want {
			if ends[p] < int64(len(rs)) {
				return false
			}
		}
		return true
	})
	compareTopic(t, topic, want, consumeAll(t, dst, topic, int(totalRecords(ends)), 10*time.Second))
}

// unknownLosses sums the losses of unknown size that the worker's tasks
// reported.
func unknownLosses(w *connect.Worker) int64 {
	var n int64
	for _, cs := range w.Status() {
		for _, ts := range cs.Tasks {
			n += ts.UnknownLosses
		}
	}
	return n
}

// TestTopicRecreated_CopiesNewTopicFromStart deletes a replicated source
// topic and creates it again with fewer, as many or more partitions, while
// the worker runs (after the worker noticed the topic gone) or while it is
// stopped. Every record of the new topic reaches the target after the old
// topic's (nothing of the new topic is skipped because the old topic's
// offsets were higher), a restart then copies nothing twice (the new
// positions were committed), and what may have been lost is reported: while
// the worker ran it had copied the old topic to its end, so nothing; while
// it was stopped the old topic's end is not known, so each old partition is
// reported as a loss of unknown size from the first offset not copied.
func TestTopicRecreated_CopiesNewTopicFromStart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		oldP, newP int32
		running    bool
	}{
		{"equal/running", 2, 2, true},
		{"fewer/running", 3, 1, true},
		{"more/running", 1, 3, true},
		{"equal/stopped", 2, 2, false},
		{"fewer/stopped", 3, 1, false},
		{"more/stopped", 1, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := newCluster(t, "src"), newCluster(t, "dst")
			want := produceTopic(t, src, "re", tc.oldP, 100, "old")
			logOpt, logs := capturingLogger(t)
			cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
				OffsetFlushInterval: 200 * time.Millisecond}
			specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil)}
			rw := startWorker(t, cfg, specs, logOpt)
			waitCopied(t, dst, "A.re", want, 20*time.Second)
			if tc.running {
				if err := src.DeleteTopic("re"); err != nil {
					t.Fatal(err)
				}
				waitFor(t, 10*time.Second, "the connector noticed the topic gone", func() bool {
					return len(logs.lines("source partitions changed", "removed="+strconv.Itoa(int(tc.oldP)))) > 0
				})
				if err := src.CreateTopic("re", tc.newP, nil); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := rw.stop(); err != nil {
					t.Fatal(err)
				}
				recreateTopic(t, src, "re", tc.newP)
			}
			prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			fresh := produceRecords(t, prod, "re", tc.newP, 50, "new1")
			if !tc.running {
				rw = startWorker(t, cfg, specs, logOpt)
			}
			more := produceRecords(t, prod, "re", tc.newP, 60, "new2")
			appendRecords(want, fresh, more)
			waitCopied(t, dst, "A.re", want, 20*time.Second)

			if n := lostRecords(rw.w); n != 0 {
				t.Errorf("%d records reported lost, want 0: the old topic was copied to its end", n)
			}
			unknown := logs.lines("[ERROR]", "may have been lost", "topic=re", "first_lost_offset=100", "last_lost_offset=unknown")
			if tc.running {
				if len(unknown) != 0 || unknownLosses(rw.w) != 0 {
					t.Errorf("losses of unknown size reported while the worker ran (status: %d):\n%s", unknownLosses(rw.w), strings.Join(unknown, "\n"))
				}
			} else {
				if len(unknown) != int(tc.oldP) {
					t.Errorf("%d losses of unknown size logged, want one per old partition (%d):\n%s", len(unknown), tc.oldP, strings.Join(unknown, "\n"))
				}
				if n := unknownLosses(rw.w); n != int64(tc.oldP) {
					t.Errorf("status counts %d losses of unknown size, want %d", n, tc.oldP)
				}
			}

			// The new positions were committed: a restart copies only what is new.
			if err := rw.stop(); err != nil {
				t.Fatal(err)
			}
			last := produceRecords(t, prod, "re", tc.newP, 10, "new3")
			appendRecords(want, last)
			rw = startWorker(t, cfg, specs, logOpt)
			waitCopied(t, dst, "A.re", want, 20*time.Second)
			if n := lostRecords(rw.w) + unknownLosses(rw.w); n != 0 {
				t.Errorf("the restarted worker reported %d losses, want none", n)
			}
		})
	}
}

// TestTopicRecreated_Twice re-creates a topic twice while the worker runs,
// the second time before the worker noticed the first, and once more while
// it is stopped: each new topic is copied from its start.
func TestTopicRecreated_Twice(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	want := produceTopic(t, src, "re", 2, 100, "gen0")
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
		OffsetFlushInterval: 200 * time.Millisecond}
	specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil)}
	rw := startWorker(t, cfg, specs)
	waitCopied(t, dst, "A.re", want, 20*time.Second)
	// A new producer for each new topic: a client keeps the topic ID it
	// first saw.
	prod := func() *kgo.Client { return client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())) }

	recreateTopic(t, src, "re", 2)
	gen1 := produceRecords(t, prod(), "re", 2, 30, "gen1")
	waitCopied(t, dst, "A.re", appendRecords(want, gen1), 20*time.Second)
	recreateTopic(t, src, "re", 2)
	recreateTopic(t, src, "re", 2)
	gen2 := produceRecords(t, prod(), "re", 2, 40, "gen2")
	waitCopied(t, dst, "A.re", appendRecords(want, gen2), 20*time.Second)
	if n := lostRecords(rw.w) + unknownLosses(rw.w); n != 0 {
		t.Errorf("%d losses reported, want none: every topic was copied to its end before it was deleted", n)
	}
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	recreateTopic(t, src, "re", 2)
	gen3 := produceRecords(t, prod(), "re", 2, 20, "gen3")
	rw = startWorker(t, cfg, specs)
	waitCopied(t, dst, "A.re", appendRecords(want, gen3), 20*time.Second)
}

// TestTopicRecreated_ReportsExactLossWhileRunning deletes a source topic
// whose records the worker had seen but not yet copied (its fetches beyond
// offset 10 are refused): the 90 records past what was copied are reported
// lost with their exact offsets, and the new topic is copied from its start.
func TestTopicRecreated_ReportsExactLossWhileRunning(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	if err := src.CreateTopic("re", 1, nil); err != nil {
		t.Fatal(err)
	}
	// Two batches, so that a fetch from offset 0 that may hold one batch
	// returns the first 10 records and the high watermark 100.
	prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	all := produceRecords(t, prod, "re", 1, 10, "old")
	rest := produceRecords(t, prod, "re", 1, 90, "old-rest")
	refused := src.Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.Fetch}, Err: kerr.NotLeaderForPartition, Count: -1,
		When: func(req kmsg.Request) bool {
			for _, rt := range req.(*kmsg.FetchRequest).Topics {
				for _, rp := range rt.Partitions {
					if rp.FetchOffset >= 10 {
						return true
					}
				}
			}
			return false
		},
	})
	logOpt, logs := capturingLogger(t)
	clusters := clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})
	a := clusters["A"]
	a.ConsumerOpts = []kgo.Opt{kgo.FetchMaxPartitionBytes(100)}
	clusters["A"] = a
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusters, OffsetFlushInterval: 200 * time.Millisecond},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)}, logOpt)
	waitCopied(t, dst, "A.re", all, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := refused.Wait(ctx, 1); err != nil {
		t.Fatalf("no fetch past offset 10: %v", err)
	}
	recreateTopic(t, src, "re", 1)
	refused.Remove()
	fresh := produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "re", 1, 30, "new")
	waitCopied(t, dst, "A.re", appendRecords(all, fresh), 20*time.Second)
	if n := lostRecords(rw.w); n != int64(len(rest[0])) {
		t.Errorf("%d records reported lost, want %d", n, len(rest[0]))
	}
	if got := logs.lines("[ERROR]", "source records lost", "topic=re", "partition=0",
		"first_lost_offset=10", "last_lost_offset=99", "records=90"); len(got) != 1 {
		t.Errorf("want one ERROR line with the lost range 10-99, got %d", len(got))
	}
}

// TestTopicRecreated_JavaOffsetPastNewEnd takes over a partition whose
// offset Java MM2 stored (no topic ID) for a topic since re-created shorter:
// the worker copies the new topic from its start, says that records of the
// old one may be lost, and commits the new position, so that the next start
// copies nothing again.
func TestTopicRecreated_JavaOffsetPastNewEnd(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	ctx := context.Background()
	want := produceTopic(t, src, "t", 1, 50, "new")
	if _, err := kadm.NewClient(client(t, dst)).CreateTopic(ctx, 25, 1,
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, connect.OffsetsTopic("A")); err != nil {
		t.Fatal(err)
	}
	java := client(t, dst, kgo.DefaultProduceTopic(connect.OffsetsTopic("A")), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err := java.ProduceSync(ctx, &kgo.Record{Key: connect.MirrorSourceOffsetKey("MirrorSourceConnector", "A", "t", 0),
		Value: []byte(`{"offset":99}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	logOpt, logs := capturingLogger(t)
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
		OffsetFlushInterval: 200 * time.Millisecond}
	specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil)}
	rw := startWorker(t, cfg, specs, logOpt)
	waitCopied(t, dst, "A.t", want, 20*time.Second)
	if got := logs.lines("[ERROR]", "may have been lost", "topic=t", "first_lost_offset=100", "last_lost_offset=unknown"); len(got) != 1 {
		t.Errorf("want one ERROR line saying records from offset 100 on may have been lost, got %d", len(got))
	}
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	more := produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "t", 1, 5, "more")
	rw = startWorker(t, cfg, specs, logOpt)
	waitCopied(t, dst, "A.t", appendRecords(want, more), 20*time.Second)
	if n := unknownLosses(rw.w); n != 0 {
		t.Errorf("the second start reported %d losses of unknown size, want none", n)
	}
}

// TestTopicRecreated_FailOnDataLoss re-creates a topic while the worker is
// stopped, with on.data.loss=fail: the task fails naming the possible loss
// and copies nothing of the new topic, and the stored offset stays, so that
// the next start fails the same way until an operator acts.
func TestTopicRecreated_FailOnDataLoss(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	want := produceTopic(t, src, "re", 1, 100, "old")
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
		OffsetFlushInterval: 200 * time.Millisecond}
	specs := []connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{"on.data.loss": "fail"})}
	rw := startWorker(t, cfg, specs)
	waitCopied(t, dst, "A.re", want, 20*time.Second)
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	recreateTopic(t, src, "re", 1)
	produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "re", 1, 50, "new")
	for run := range 2 {
		rw = startWorkerNoCheck(t, cfg, specs)
		waitFor(t, 20*time.Second, "the task failed", func() bool {
			for _, cs := range rw.w.Status() {
				for _, ts := range cs.Tasks {
					if ts.State == connect.StateFailed && strings.Contains(ts.Error, "re-created") &&
						strings.Contains(ts.Error, "from offset 100 on may have been lost") {
						return true
					}
				}
			}
			return false
		})
		if err := rw.stop(); err == nil || !strings.Contains(err.Error(), "on.data.loss=fail") {
			t.Errorf("run %d: worker Run = %v, want the data-loss failure", run, err)
		}
		if n := endOffsets(t, dst, "A.re")[0]; n != 100 {
			t.Errorf("run %d: target has %d records, want the old topic's 100 only", run, n)
		}
	}
}

// TestTopicDeletedWhileStopped deletes a copied topic while the worker is
// stopped: the next start cannot tell a deleted topic from one it may no
// longer describe, so it counts nothing lost and keeps the stored offsets,
// but says at WARN where copying of the topic stopped, partition by
// partition; a topic still listed gets no such line.
func TestTopicDeletedWhileStopped(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	gone := produceTopic(t, src, "gone", 2, 40, "old")
	kept := produceTopic(t, src, "kept", 1, 10, "old")
	logOpt, logs := capturingLogger(t)
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
		OffsetFlushInterval: 200 * time.Millisecond}
	specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil)}
	rw := startWorker(t, cfg, specs, logOpt)
	waitCopied(t, dst, "A.gone", gone, 20*time.Second)
	waitCopied(t, dst, "A.kept", kept, 20*time.Second)
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	if err := src.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	rw = startWorker(t, cfg, specs, logOpt)
	waitFor(t, 10*time.Second, "a warning naming the deleted topic", func() bool {
		return len(logs.lines("[WARN]", "not on the source any more", "topic=gone", `next_offsets="0:40,1:40"`)) == 1
	})
	if got := logs.lines("not on the source any more", "topic=kept"); len(got) != 0 {
		t.Errorf("a topic still on the source was reported gone: %q", got)
	}
	if n := unknownLosses(rw.w); n != 0 {
		t.Errorf("%d losses of unknown size counted for a topic that may only be hidden, want 0", n)
	}
	more := produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "kept", 1, 5, "more")
	waitCopied(t, dst, "A.kept", appendRecords(kept, more), 20*time.Second)
}
