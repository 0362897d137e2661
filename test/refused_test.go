package test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

// refusedRecords writes records from to from+n-1 to partition 0 of topic,
// record i with big(i) random bytes more in its value, and returns them in
// order.
func refusedRecords(t testing.TB, cl *kgo.Client, topic string, from, n int, big func(i int) int) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		v := []byte(fmt.Sprintf("%s-%d", topic, i))
		if size := big(i); size > 0 {
			pad := make([]byte, size)
			rand.Read(pad) // incompressible: the producer compresses batches
			v = append(v, pad...)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte(fmt.Sprintf("k%d", i)), Value: v,
			Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return recs
}

// blockedPartitions lists the blocked partitions of the worker's tasks.
func blockedPartitions(w *connect.Worker) []connect.BlockedPartition {
	var out []connect.BlockedPartition
	for _, cs := range w.Status() {
		for _, ts := range cs.Tasks {
			out = append(out, ts.BlockedPartitions...)
		}
	}
	return out
}

// TestRefusedRecord_StopsOnlyItsPartition: a record the target refuses
// stops its partition exactly at that record, in order, while the task's
// other topic goes on; status and the log name the partition, the offset
// and the broker's error; once the operator raises the target topic's
// max.message.bytes, the partition resumes by itself and the target holds
// every record once, in order.
func TestRefusedRecord_StopsOnlyItsPartition(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	srcCl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
	adm := kadm.NewClient(client(t, dst))
	ctx := context.Background()
	for _, topic := range []string{"big", "other"} {
		if _, err := kadm.NewClient(srcCl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	// The remote topic exists with a low max.message.bytes: the record at
	// offset 150 of "big" is too large for it.
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("4096")}, "A.big"); err != nil {
		t.Fatal(err)
	}
	bigAt := func(i int) int {
		if i == 150 {
			return 10_000
		}
		return 0
	}
	want := refusedRecords(t, srcCl, "big", 0, 300, bigAt)
	other := refusedRecords(t, srcCl, "other", 0, 100, bigAt)

	logOpt, logs := capturingLogger(t)
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
		RetryBackoffMax: time.Second, OffsetFlushInterval: 200 * time.Millisecond}
	// The target's operator owns max.message.bytes there: config sync must
	// not remove the override the source does not have.
	keep := map[string]string{connectors.KeyTargetKeep: "max.message.bytes"}
	rw := startWorker(t, cfg, []connect.ConnectorSpec{sourceSpec("A", "B", keep)}, logOpt)

	waitFor(t, 30*time.Second, "the partition to stop at the refused record", func() bool {
		bs := blockedPartitions(rw.w)
		return len(bs) == 1 && bs[0].Topic == "big" && bs[0].Partition == 0 && bs[0].Offset == 150 &&
			strings.Contains(bs[0].Error, "MESSAGE_TOO_LARGE") && bs[0].TargetTopic == "A.big"
	})
	// The other topic keeps flowing, also with records written after the
	// refusal.
	other = append(other, refusedRecords(t, srcCl, "other", 100, 100, func(int) int { return 0 })...)
	want = append(want, refusedRecords(t, srcCl, "big", 300, 50, func(int) int { return 0 })...)
	waitFor(t, 30*time.Second, "the other topic copied", func() bool { return endOffsets(t, dst, "A.other")[0] == 200 })
	compareTopic(t, "A.other", map[int32][]*kgo.Record{0: other}, consumeAll(t, dst, "A.other", 200, 10*time.Second))
	// Nothing after the refused record reached the target: exactly 0..149.
	time.Sleep(time.Second) // a few retries, which must not write anything
	if n := endOffsets(t, dst, "A.big")[0]; n != 150 {
		t.Fatalf("A.big has %d records while offset 150 is refused, want 150", n)
	}
	compareTopic(t, "A.big", map[int32][]*kgo.Record{0: want[:150]}, consumeAll(t, dst, "A.big", 150, 10*time.Second))
	if n := len(logs.lines("[ERROR]", "partition stopped at a record the target refused", "topic=big", "partition=0", "offset=150", "MESSAGE_TOO_LARGE")); n != 1 {
		t.Errorf("the block was logged at ERROR %d times, want once:\n%s", n, strings.Join(logs.lines("[ERROR]"), "\n"))
	}
	for _, cs := range rw.w.Status() {
		for _, ts := range cs.Tasks {
			if ts.State != connect.StateRunning {
				t.Errorf("%s task %d is %s, want RUNNING while one partition is blocked", cs.Name, ts.ID, ts.State)
			}
		}
	}

	// The operator raises max.message.bytes: the partition resumes by
	// itself, from the refused record, in order, without duplicates.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("1048588")}}, "A.big"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the refused record and the rest copied", func() bool { return endOffsets(t, dst, "A.big")[0] >= 350 })
	compareTopic(t, "A.big", map[int32][]*kgo.Record{0: want}, consumeAll(t, dst, "A.big", 350, 10*time.Second))
	waitFor(t, 10*time.Second, "the block cleared", func() bool { return len(blockedPartitions(rw.w)) == 0 })
	if len(logs.lines("partition resumed", "topic=big", "offset=150")) == 0 {
		t.Errorf("no log line says the partition resumed")
	}
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	if n := endOffsets(t, dst, "A.big")[0]; n != 350 {
		t.Errorf("A.big has %d records, want 350", n)
	}
}

// TestLargeRecords_SentInOrder: records larger than the producer's batches
// (producer.batch.size) but within producer.max.request.size are sent on
// their own, in order with the records around them; a record larger than
// producer.max.request.size stops its partition there, and a worker
// restarted with a larger limit copies it and the rest once, in order.
func TestLargeRecords_SentInOrder(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	srcCl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
	ctx := context.Background()
	for _, topic := range []string{"mixed", "other"} {
		if _, err := kadm.NewClient(srcCl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	// Every 10th record is 20 KB: more than the producer's 8 KiB batches.
	// Record 205 is 200 KB: more than producer.max.request.size (64 KiB).
	size := func(i int) int {
		switch {
		case i == 205:
			return 200_000
		case i%10 == 3:
			return 20_000
		}
		return 0
	}
	want := refusedRecords(t, srcCl, "mixed", 0, 300, size)
	other := refusedRecords(t, srcCl, "other", 0, 100, func(int) int { return 0 })
	clusters := clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})
	b := clusters["B"]
	b.ProducerOpts = []kgo.Opt{kgo.ProducerBatchMaxBytes(8 << 10)}
	b.MaxRequestSize = 64 << 10
	clusters["B"] = b
	cfg := connect.WorkerConfig{Clusters: clusters, RetryBackoffMax: time.Second, OffsetFlushInterval: 200 * time.Millisecond}
	rw := startWorker(t, cfg, []connect.ConnectorSpec{sourceSpec("A", "B", nil)})

	waitFor(t, 30*time.Second, "the partition to stop at the record above producer.max.request.size", func() bool {
		bs := blockedPartitions(rw.w)
		return len(bs) == 1 && bs[0].Topic == "mixed" && bs[0].Offset == 205 && strings.Contains(bs[0].Error, "producer.max.request.size")
	})
	waitFor(t, 30*time.Second, "the other topic copied", func() bool { return endOffsets(t, dst, "A.other")[0] == 100 })
	compareTopic(t, "A.other", map[int32][]*kgo.Record{0: other}, consumeAll(t, dst, "A.other", 100, 10*time.Second))
	compareTopic(t, "A.mixed", map[int32][]*kgo.Record{0: want[:205]}, consumeAll(t, dst, "A.mixed", 205, 10*time.Second))
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}

	b.MaxRequestSize = 1 << 20
	clusters["B"] = b
	rw = startWorker(t, connect.WorkerConfig{Clusters: clusters, OffsetFlushInterval: 200 * time.Millisecond},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	waitFor(t, 30*time.Second, "the rest copied", func() bool { return endOffsets(t, dst, "A.mixed")[0] >= 300 })
	compareTopic(t, "A.mixed", map[int32][]*kgo.Record{0: want}, consumeAll(t, dst, "A.mixed", 300, 10*time.Second))
	if bs := blockedPartitions(rw.w); len(bs) != 0 {
		t.Errorf("blocked partitions after the limit was raised: %+v", bs)
	}
}
