package test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/offsets"
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

// TestTakeover_TranslatesJavaCopiesWithOffsetSyncs takes a flow over from
// Java MM2: Java copied offsets 0-99 and wrote its offset syncs, mm2go copies
// the rest. A group whose committed offset is among Java's copies translates
// with MM2's offset syncs, MM2's way; one among mm2go's copies, exactly.
func TestTakeover_TranslatesJavaCopiesWithOffsetSyncs(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	ctx := context.Background()
	want := produceTopic(t, src, "t", 1, 200, "t")
	// What Java MM2 left: the first 100 records copied, their source
	// offset stored, and its offset syncs on the source.
	if _, err := kadm.NewClient(client(t, dst)).CreateTopic(ctx, 1, 1, nil, "A.t"); err != nil {
		t.Fatal(err)
	}
	var copied []*kgo.Record
	for _, r := range want[0][:100] {
		copied = append(copied, &kgo.Record{Topic: "A.t", Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
	}
	if err := client(t, dst).ProduceSync(ctx, copied...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(client(t, dst)).CreateTopic(ctx, 25, 1,
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, connect.OffsetsTopic("A")); err != nil {
		t.Fatal(err)
	}
	java := client(t, dst, kgo.DefaultProduceTopic(connect.OffsetsTopic("A")), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err := java.ProduceSync(ctx, &kgo.Record{Key: connect.MirrorSourceOffsetKey("MirrorSourceConnector", "A", "t", 0), Value: []byte(`{"offset":99}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, 1, 1,
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "mm2-offset-syncs.B.internal"); err != nil {
		t.Fatal(err)
	}
	var syncs []*kgo.Record
	for _, o := range []offsets.OffsetSync{{Topic: "t", UpstreamOffset: 0}, {Topic: "t", UpstreamOffset: 50, DownstreamOffset: 50}, {Topic: "t", UpstreamOffset: 99, DownstreamOffset: 99}} {
		k, _ := o.Key()
		v, _ := o.Value()
		syncs = append(syncs, &kgo.Record{Topic: "mm2-offset-syncs.B.internal", Key: k, Value: v})
	}
	if err := client(t, src).ProduceSync(ctx, syncs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}), OffsetFlushInterval: 200 * time.Millisecond},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	waitFor(t, 20*time.Second, "mm2go copied the rest", func() bool { return endOffsets(t, dst, "A.t")[0] == 200 })
	compareTopic(t, "A.t", want, consumeAll(t, dst, "A.t", 200, 10*time.Second))

	syncStore, err := offsets.LoadSyncStore(ctx, client(t, src).Opts(), "mm2-offset-syncs.B.internal")
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(client(t, src))
	for _, tc := range []struct {
		group     string
		committed int64
		target    int64
		exact     bool
		fromSyncs bool
	}{
		// First, so that the index has learned of mm2go's copies (at a
		// source offset commit) before the others are checked.
		{"mm2go-copied", 150, 150, true, false},
		{"at-a-sync", 50, 50, true, true},
		{"between-syncs", 70, 51, false, true}, // MM2's rule: the sync's downstream + 1
	} {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "t", Partition: 0, At: tc.committed, LeaderEpoch: -1})
		if _, err := adm.CommitOffsets(ctx, tc.group, os); err != nil {
			t.Fatal(err)
		}
		var ts []offsets.PartitionTranslation
		waitFor(t, 10*time.Second, "the index knows mm2go's copies", func() bool {
			ts, err = offsets.TranslateGroup(ctx, offsets.TranslateRequest{
				Source: client(t, src), Target: client(t, dst), SourceAlias: "A",
				RemoteTopic: func(a, t string) string { return a + "." + t }, Group: tc.group, Syncs: syncStore,
			})
			return err == nil && len(ts) == 1 && ts[0].Err == nil && ts[0].FromOffsetSyncs == tc.fromSyncs && ts[0].Exact == tc.exact
		})
		got := ts[0]
		if got.TargetOffset != tc.target || got.Exact != tc.exact || got.FromOffsetSyncs != tc.fromSyncs {
			t.Errorf("%s at %d: target %d exact %v from syncs %v; want %d %v %v", tc.group, tc.committed,
				got.TargetOffset, got.Exact, got.FromOffsetSyncs, tc.target, tc.exact, tc.fromSyncs)
		}
	}
}
