package test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/offsets"
)

// produceWithAborts writes n records per partition of topic on c in
// transactions of txnSize records, aborting every abortEvery-th
// transaction. It returns the keys of the committed records per partition,
// in order, and of the aborted ones.
func produceWithAborts(t testing.TB, c brokers, topic string, partitions int32, n, txnSize, abortEvery int, tag string) (committed map[int32][]string, aborted []string) {
	t.Helper()
	cl := client(t, c, kgo.TransactionalID("producer-"+topic+"-"+tag), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	committed = make(map[int32][]string)
	for txn, start := 0, 0; start < n; txn, start = txn+1, start+txnSize {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		abort := abortEvery > 0 && txn%abortEvery == abortEvery-1
		var recs []*kgo.Record
		for p := range partitions {
			for i := start; i < min(start+txnSize, n); i++ {
				k := fmt.Sprintf("%s-%d-%d", tag, p, i)
				if abort {
					aborted = append(aborted, k)
				} else {
					committed[p] = append(committed[p], k)
				}
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(k), Value: []byte("value-" + k)})
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(!abort)); err != nil {
			t.Fatal(err)
		}
	}
	return committed, aborted
}

// readCommittedPartition reads partition p of topic on c as a
// read_committed consumer sees it: no records of aborted transactions, no
// markers.
func readCommittedPartition(t testing.TB, c brokers, topic string, p int32) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	if err := kread.ReadToEnd(ctx, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, topic, []int32{p}, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	}); err != nil && !errors.Is(err, kread.ErrTopicNotFound) {
		t.Fatalf("read %s[%d] read_committed: %v", topic, p, err)
	}
	return out
}

func keysOf(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Key)
	}
	return out
}

// eosWorkerConfig is a worker config for A->B (fake clusters) that copies
// exactly once.
func eosWorkerConfig(a, b *kfake.Cluster) connect.WorkerConfig {
	return connect.WorkerConfig{
		Clusters:            clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b}),
		OffsetFlushInterval: 200 * time.Millisecond,
		RetryBackoffMax:     300 * time.Millisecond,
		Herders:             map[string]connect.HerderConfig{"A->B": {ExactlyOnce: true}},
	}
}

// TestExactlyOnce_TransactionalSourceToTransactionalTarget copies a source
// topic written in transactions, a third of them aborted, to a target
// written in transactions, one of which the target makes abort half way
// (a record refused once). read_committed consumers of the target see each
// committed source record exactly once, in order, and no aborted source
// record ever reaches the target, not even for read_uncommitted consumers,
// which see the target's aborted copies. Consumer groups translated and
// synced over the target's transaction markers and aborted copies resume
// exactly: a group moved to the target reads what it had not read on the
// source, once.
func TestExactlyOnce_TransactionalSourceToTransactionalTarget(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx := context.Background()
	const parts = 3
	if _, err := kadm.NewClient(client(t, a)).CreateTopic(ctx, parts, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	committed, aborted := produceWithAborts(t, a, "orders", parts, 300, 10, 3, "one")
	readCommitted := kgo.FetchIsolationLevel(kgo.ReadCommitted())
	billing := consumeGroup(t, a, "billing", "orders", 30*time.Second, atLeast(250), readCommitted)
	if len(billing) != 250 {
		t.Fatalf("billing read %d records on the source, want 250", len(billing))
	}

	logOpt, logs := capturingLogger(t)
	rw := startWorker(t, eosWorkerConfig(a, b), []connect.ConnectorSpec{
		sourceSpec("A", "B", nil),
		checkpointSpec("A", "B", map[string]string{
			connectors.KeySyncGroupOffsetsEnabled: "true",
			connectors.KeySyncGroupOffsetsSeconds: "0.2",
		}),
	}, logOpt)
	count := func(c brokers, topic string) int {
		n := 0
		for p := range int32(parts) {
			n += len(readCommittedPartition(t, c, topic, p))
		}
		return n
	}
	want := 0
	for _, ks := range committed {
		want += len(ks)
	}
	waitFor(t, 60*time.Second, "A.orders copied", func() bool { return count(b, "A.orders") == want })

	// The target refuses the next batch of A.orders[1] once: that
	// transaction aborts, and the task copies it again.
	fault := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "A.orders", Partitions: []int32{1}, Err: kerr.InvalidRecord})
	more, moreAborted := produceWithAborts(t, a, "orders", parts, 200, 10, 3, "two")
	aborted = append(aborted, moreAborted...)
	for p, ks := range more {
		committed[p] = append(committed[p], ks...)
		want += len(ks)
	}
	waitFor(t, 60*time.Second, "the new records copied", func() bool { return count(b, "A.orders") == want })
	if fault.Hits() == 0 {
		t.Fatal("the target never refused a batch")
	}
	want2 := exactTargetOffsetsCommitted(t, a, b, "billing", "orders", "A.orders")
	waitFor(t, 60*time.Second, "billing synced to where it resumes on the target", func() bool {
		return maps.Equal(groupOffsets(t, b, "billing", "A.orders"), want2)
	})
	if err := rw.stop(); err != nil {
		t.Fatalf("worker Run: %v", err)
	}

	// Each committed source record once, in order, for read_committed.
	abortedSet := make(map[string]bool, len(aborted))
	for _, k := range aborted {
		abortedSet[k] = true
	}
	var targetAborted int
	for p := range int32(parts) {
		got := keysOf(readCommittedPartition(t, b, "A.orders", p))
		if !slices.Equal(got, committed[p]) {
			t.Errorf("A.orders[%d]: read_committed sees %d records, want the %d committed on the source, once each, in order", p, len(got), len(committed[p]))
		}
		all := readPartition(t, b, "A.orders", p)
		for _, r := range all {
			if abortedSet[string(r.Key)] {
				t.Errorf("A.orders[%d]: record %s of an aborted source transaction is on the target", p, r.Key)
				break
			}
		}
		targetAborted += len(all) - len(got)
	}
	if targetAborted == 0 {
		t.Errorf("read_uncommitted sees no aborted copy on the target; the refused batch should have aborted a transaction")
	}
	t.Logf("%d copies in the target's aborted transactions, seen only by read_uncommitted consumers", targetAborted)
	if n := len(logs.lines("transaction aborted")); n == 0 {
		t.Errorf("no aborted transaction logged")
	}

	// billing moves to the target: exactly what it had not read.
	var all []string
	for p := range int32(parts) {
		all = append(all, committed[p]...)
	}
	gotBilling := consumeGroup(t, b, "billing", "A.orders", 60*time.Second, untilCount(len(all)-len(billing)), readCommitted)
	skipped, reread := diffKeys(all, billing, gotBilling)
	if len(skipped) > 0 || len(reread) > 0 {
		t.Errorf("billing on the target: skipped %v, read twice %v", head(skipped), head(reread))
	}

	// The translation index, read read_committed, translates every offset
	// of the source exactly, over the target's markers and aborted copies.
	ix, err := offsets.LoadIndex(ctx, []kgo.Opt{kgo.SeedBrokers(b.ListenAddrs()...)}, offsets.IndexTopic("A"))
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(parts) {
		src, dst := readCommittedPartition(t, a, "orders", p), readCommittedPartition(t, b, "A.orders", p)
		for o := int64(0); o <= src[len(src)-1].Offset; o += 7 {
			tr, err := ix.TranslateCommitted("orders", p, o)
			if want := expectedTranslation(src, dst, o); err != nil || tr.Downstream != want {
				t.Errorf("translate orders[%d] offset %d: %d (%v), want %d", p, o, tr.Downstream, err, want)
				break
			}
		}
	}
}

// exactTargetOffsetsCommitted is exactTargetOffsets over what read_committed
// consumers see on both sides.
func exactTargetOffsetsCommitted(t testing.TB, src, dst brokers, group, srcTopic, dstTopic string) map[int32]int64 {
	t.Helper()
	out := make(map[int32]int64)
	for p, o := range groupOffsets(t, src, group, srcTopic) {
		out[p] = expectedTranslation(readCommittedPartition(t, src, srcTopic, p), readCommittedPartition(t, dst, dstTopic, p), o)
	}
	return out
}

// TestExactlyOnce_CaughtUpCommitsAtOnce: with transactions of 20s
// (transaction.boundary.interval.ms), a task that has copied everything its
// source had commits its transaction at once, not at the interval, so
// read_committed consumers see the records within moments; later records
// too.
func TestExactlyOnce_CaughtUpCommitsAtOnce(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	if _, err := kadm.NewClient(client(t, a)).CreateTopic(context.Background(), 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	prod := client(t, a, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceRecords(t, prod, "t", 2, 100, "first")
	rw := startWorker(t, eosWorkerConfig(a, b), []connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{connect.KeyTransactionInterval: "20000"})})
	visible := func(n int) func() bool {
		return func() bool {
			return len(readCommittedPartition(t, b, "A.t", 0))+len(readCommittedPartition(t, b, "A.t", 1)) >= n
		}
	}
	waitFor(t, 10*time.Second, "the first records visible to read_committed consumers", visible(200))
	produceRecords(t, prod, "t", 2, 50, "second")
	waitFor(t, 5*time.Second, "the next records visible to read_committed consumers", visible(300))
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
}
