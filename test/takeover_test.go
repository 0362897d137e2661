package test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestTakeover_ResumesFromJavaMM2Offsets writes source offsets to the Connect
// offsets topic the way Java MM2 does (its exact key bytes, murmur2 key
// partitioning over 25 partitions, last value wins, a tombstone deletes) and
// checks that mm2go resumes each partition right after the stored offset.
func TestTakeover_ResumesFromJavaMM2Offsets(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	ctx := context.Background()
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, 3, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	want := produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "t", 3, 1000, "t")

	// The Connect offsets topic as Java MM2's worker creates it.
	if _, err := kadm.NewClient(client(t, dst)).CreateTopic(ctx, 25, 1,
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, connect.OffsetsTopic("A")); err != nil {
		t.Fatal(err)
	}
	java := client(t, dst, kgo.DefaultProduceTopic(connect.OffsetsTopic("A")), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	key := func(p int32) []byte {
		return []byte(`["MirrorSourceConnector",{"cluster":"A","partition":` + string(rune('0'+p)) + `,"topic":"t"}]`)
	}
	recs := []*kgo.Record{
		{Key: key(0), Value: []byte(`{"offset":99}`)},
		{Key: key(0), Value: []byte(`{"offset":499}`)}, // last value wins
		{Key: key(1), Value: []byte(`{"offset":249}`)},
		{Key: key(2), Value: []byte(`{"offset":10}`)},
		{Key: key(2), Value: nil}, // deleted: partition 2 starts at the beginning
		{Key: []byte(`["SomeOtherConnector",{"x":1}]`), Value: []byte(`{"position":"abc"}`)},
	}
	if err := java.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	expect := map[int32][]*kgo.Record{0: want[0][500:], 1: want[1][250:], 2: want[2]}
	waitFor(t, 30*time.Second, "the remaining records copied", func() bool {
		ends := endOffsets(t, dst, "A.t")
		return ends[0] == 500 && ends[1] == 750 && ends[2] == 1000
	})
	compareTopic(t, "A.t", expect, consumeAll(t, dst, "A.t", 500+750+1000, 10*time.Second))
}
