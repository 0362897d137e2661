package test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestReplicate_CopiesEveryRecord replicates 3 topics x 4 partitions x 5,000
// records and compares every record on the target with the source, partition
// by partition, in order.
func TestReplicate_CopiesEveryRecord(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	adm := kadm.NewClient(client(t, src))
	topics := []string{"orders", "payments", "audit-log"}
	const parts, perPart = 4, 5000
	for _, tp := range topics {
		if _, err := adm.CreateTopic(context.Background(), parts, 1, map[string]*string{"retention.ms": kadm.StringPtr("604800000")}, tp); err != nil {
			t.Fatal(err)
		}
	}
	prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := make(map[string]map[int32][]*kgo.Record)
	for _, tp := range topics {
		want[tp] = produceRecords(t, prod, tp, parts, perPart, tp)
	}
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	for _, tp := range topics {
		got := consumeAll(t, dst, "A."+tp, parts*perPart, 60*time.Second)
		compareTopic(t, "A."+tp, want[tp], got)
	}
	// The remote topic carries the source topic's own configs.
	cfgs, err := kadm.NewClient(client(t, dst)).DescribeTopicConfigs(context.Background(), "A.orders")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cfgs.On("A.orders", nil); err != nil || !hasConfig(c.Configs, "retention.ms", "604800000") {
		t.Errorf("A.orders configs = %+v (err %v), want retention.ms=604800000", c.Configs, err)
	}
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	var acked int64
	for _, cs := range rw.w.Status() {
		for _, ts := range cs.Tasks {
			acked += ts.RecordsAcked
		}
	}
	if acked != int64(len(topics)*parts*perPart) {
		t.Errorf("status says %d records acknowledged, want %d", acked, len(topics)*parts*perPart)
	}
}

func hasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.MaybeValue() == value {
			return true
		}
	}
	return false
}

// TestReplicate_FindsNewTopicsAndPartitions creates a topic and adds a
// partition on the source while the worker runs; both appear on the target
// and are fully copied within two refresh intervals (1s here).
func TestReplicate_FindsNewTopicsAndPartitions(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	adm := kadm.NewClient(client(t, src))
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "first"); err != nil {
		t.Fatal(err)
	}
	prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := produceRecords(t, prod, "first", 2, 500, "first")
	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	compareTopic(t, "A.first", want, consumeAll(t, dst, "A.first", 1000, 30*time.Second))

	// A new topic.
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "second"); err != nil {
		t.Fatal(err)
	}
	want2 := produceRecords(t, prod, "second", 3, 300, "second")
	waitFor(t, 2*time.Second+500*time.Millisecond, "A.second copied within two refresh intervals", func() bool {
		return totalRecords(endOffsets(t, dst, "A.second")) == 900
	})
	compareTopic(t, "A.second", want2, consumeAll(t, dst, "A.second", 900, 10*time.Second))

	// A partition added to an existing topic.
	if _, err := adm.UpdatePartitions(ctx, 3, "first"); err != nil {
		t.Fatal(err)
	}
	prod = client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())) // sees the new partition
	more := produceRecords(t, prod, "first", 3, 200, "more")
	for p, rs := range more {
		want[p] = append(want[p], rs...)
	}
	waitFor(t, 2*time.Second+500*time.Millisecond, "new partition of A.first copied within two refresh intervals", func() bool {
		ends := endOffsets(t, dst, "A.first")
		return len(ends) == 3 && totalRecords(ends) == 1000+600
	})
	compareTopic(t, "A.first", want, consumeAll(t, dst, "A.first", 1600, 10*time.Second))
}

// TestReplicate_RestartResumes stops the worker mid-stream and starts it
// again: every record ends up on the target, and the only duplicates are
// records that were copied after the last source-offset commit.
func TestReplicate_RestartResumes(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	adm := kadm.NewClient(client(t, src))
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const perPart = 20000
	want := produceRecords(t, prod, "events", 4, perPart, "ev")
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})}
	specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil)}

	rw := startWorker(t, cfg, specs)
	waitFor(t, 30*time.Second, "some records copied", func() bool {
		n := totalRecords(endOffsets(t, dst, "A.events"))
		return n > 0
	})
	if err := rw.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	first := totalRecords(endOffsets(t, dst, "A.events"))
	t.Logf("first run copied %d of %d records before it was stopped", first, 4*perPart)

	startWorker(t, cfg, specs)
	waitFor(t, 60*time.Second, "all records copied after restart", func() bool {
		return totalRecords(endOffsets(t, dst, "A.events")) >= 4*perPart
	})
	got := consumeAll(t, dst, "A.events", 4*perPart, 30*time.Second)
	dups := 0
	for p, ws := range want {
		gs := got[p]
		// Every source record must be on the target in order; a graceful
		// stop commits what was acknowledged, so nothing is copied twice.
		if len(gs) != len(ws) {
			dups += len(gs) - len(ws)
		}
	}
	t.Logf("duplicates after a graceful stop and restart: %d", dups)
	if dups != 0 {
		t.Errorf("%d duplicates after a graceful stop, want 0", dups)
	}
	compareTopic(t, "A.events", want, got)
	if first >= 4*perPart {
		t.Logf("note: the first run finished before it was stopped")
	}
}

// TestReplicate_StopWithFullBuffer stops the worker while its producer's
// buffer is full and the target is slow, so that the runner is blocked
// handing records to the producer: a graceful stop must still commit every
// partition's acknowledged offset, and the restart copy nothing twice.
func TestReplicate_StopWithFullBuffer(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(context.Background(), 4, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	const perPart = 2000
	want := produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "events", 4, perPart, "ev")
	// Every produce to the target waits 20ms, and the producer holds 40
	// records at most: the runner spends its time blocked in Produce.
	var slow atomic.Bool
	slow.Store(true)
	dst.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		dst.KeepControl()
		if slow.Load() {
			time.Sleep(20 * time.Millisecond)
		}
		return nil, nil, false
	})
	clusters := clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})
	b := clusters["B"]
	b.ProducerOpts = []kgo.Opt{kgo.MaxBufferedRecords(40)}
	clusters["B"] = b
	cfg := connect.WorkerConfig{Clusters: clusters}
	specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil)}

	rw := startWorker(t, cfg, specs)
	waitFor(t, 30*time.Second, "records of every partition copied", func() bool {
		ends := endOffsets(t, dst, "A.events")
		for p := range int32(4) {
			if ends[p] == 0 {
				return false
			}
		}
		return true
	})
	if err := rw.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	stopped := endOffsets(t, dst, "A.events")
	t.Logf("copied before the stop: %v", stopped)

	slow.Store(false)
	startWorker(t, cfg, specs)
	waitFor(t, 60*time.Second, "all records copied after restart", func() bool {
		return totalRecords(endOffsets(t, dst, "A.events")) >= 4*perPart
	})
	got := consumeAll(t, dst, "A.events", 4*perPart, 30*time.Second)
	for p, ws := range want {
		if len(got[p]) != len(ws) {
			t.Errorf("A.events[%d]: %d records on the target, want %d (%d copied before the stop)", p, len(got[p]), len(ws), stopped[p])
		}
	}
	compareTopic(t, "A.events", want, got)
}
