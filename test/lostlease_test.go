package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
	"github.com/mm2go/mm2go/connect/group"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/offsets"
	"github.com/mm2go/mm2go/test/internal/harness"
)

// TestMirrorSource_LostLeaseCopiesNothingTwice runs MirrorSource in a worker
// alone in its group on the target B, and cuts the worker off from the
// group's coordinator (its group requests get no answer, as when B is
// away longer than the lease) after it copied records it has not committed.
// The task stops with its commit refused. Once the coordinator answers, the
// worker is given the task back and commits what it had copied, with the
// offset index entries of that range: the copy holds every record once,
// and the index translates every source offset exactly (without the index
// entries, offsets inside the carried range would translate past records).
func TestMirrorSource_LostLeaseCopiesNothingTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a lease to end and the group to settle again")
	}
	t.Parallel()
	ctx := context.Background()
	src := newCluster(t, "A")
	dst := newCluster(t, "B", kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
	prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(prod).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produce := func(from, n int) {
		t.Helper()
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: "t", Key: fmt.Appendf(nil, "k%d", from+i), Value: fmt.Appendf(nil, "v%d", from+i)}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := connect.WorkerConfig{
		Clusters:            clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
		OffsetFlushInterval: time.Hour, // only a run's first acks are committed (soon)
		WorkerID:            "w1",
	}
	reg := connect.NewRegistry()
	connectors.Register(reg)
	w := connect.NewWorker(cfg, connect.WithLogger(testLogger(t)), connect.WithRegistry(reg))
	run := connecttest.RunGroup(t, w, connect.GroupConfig{
		ID: "lease", Cluster: "B", Fingerprint: group.Fingerprint{Hash: "f"}, ConfigTopicReplication: 1,
		// A join sent into the cut waits for the rebalance timeout (and
		// kgo's overhead) for its answer.
		SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second, HeartbeatInterval: 300 * time.Millisecond,
	}, sourceSpec("A", "B", nil))
	committed := func() int64 {
		c, err := harness.CommittedOffsets(ctx, brokerOpts(dst), "A")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := c["t"][0]; ok {
			return o
		}
		return -1
	}
	copied := func() int64 { return endOffsets(t, dst, "A.t")[0] }

	produce(0, 100)
	waitFor(t, 60*time.Second, "the first 100 records committed", func() bool { return committed() == 99 })
	produce(100, 100)
	waitFor(t, 30*time.Second, "200 records on B", func() bool { return copied() == 200 })

	heal := connecttest.CutGroupRequests(dst)
	waitFor(t, 30*time.Second, "the task stopped: the worker lost its lease", func() bool {
		for _, cs := range w.Status() {
			if cs.Name == connectors.ClassMirrorSource && len(cs.Tasks) > 0 && cs.Tasks[0].State == connect.StateRunning {
				return false
			}
		}
		return true
	})
	if got := committed(); got != 99 {
		t.Fatalf("committed %d after the worker lost its lease, want 99 (its last commit)", got)
	}
	produce(200, 100)
	heal()
	waitFor(t, 60*time.Second, "300 records on B", func() bool { return copied() >= 300 })
	if err := run.Stop(); err != nil {
		t.Errorf("RunGroup: %v", err)
	}

	copy := readTopicRecords(t, dst, "A.t")
	if len(copy) != 300 {
		t.Fatalf("%d records on B, want 300: what the task copied before it lost its lease was copied again", len(copy))
	}
	for i, r := range copy {
		if want := fmt.Sprintf("v%d", i); string(r.Value) != want {
			t.Fatalf("record %d on B is %s, want %s", i, r.Value, want)
		}
	}
	idx, err := offsets.LoadIndex(ctx, brokerOpts(dst), offsets.IndexTopic("A"))
	if err != nil {
		t.Fatal(err)
	}
	for u := int64(0); u < 300; u++ {
		tr, err := idx.Translate("t", 0, u)
		if err != nil || !tr.Exact || tr.Upstream != u || tr.Downstream != u {
			t.Fatalf("Translate(t-0, %d) = %+v, %v; want exactly %d", u, tr, err, u)
		}
	}
	if got := committed(); got != 299 {
		t.Errorf("committed %d at the end, want 299", got)
	}
}
