package test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/offsets"
)

// readTopicRecords reads every record of topic on c (all partitions, from
// the log start to the current end, transaction markers skipped, aborted
// records included). A missing topic fails the test.
func readTopicRecords(t testing.TB, c *kfake.Cluster, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	if err := kread.ReadToEnd(ctx, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, topic, nil, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return out
}

// topicExists reports whether c has topic.
func topicExists(t testing.TB, c *kfake.Cluster, topic string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td, err := kadm.NewClient(client(t, c)).ListTopics(ctx)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	return td.Has(topic)
}

// mm2Syncs replays MM2's offset-sync decision (spec §6.5) over the
// acknowledged records of one partition, one slice per task lifetime, and
// returns the syncs MM2 sends at once (delayed syncs left out: when they are
// promoted depends on commit timing).
func mm2Syncs(lifetimes [][][2]int64, lagMax int64) [][2]int64 {
	var out [][2]int64
	for _, acks := range lifetimes {
		prevU, prevD, lastSyncD := int64(-1), int64(-1), int64(-1)
		for _, a := range acks {
			u, d := a[0], a[1]
			if lastSyncD == -1 || d-(lastSyncD+1) >= lagMax || u-prevU != 1 || d < prevD {
				lastSyncD = d
				out = append(out, a)
			}
			prevU, prevD = u, d
		}
	}
	return out
}

// isSubsequence reports whether every element of sub appears in seq, in order.
func isSubsequence(sub, seq [][2]int64) bool {
	i := 0
	for _, s := range seq {
		if i < len(sub) && s == sub[i] {
			i++
		}
	}
	return i == len(sub)
}

// TestOffsetSyncs_MM2Format copies two partitions in two task lifetimes and
// reads the offset-syncs topic back: MM2's name on the right cluster, one
// compacted partition, MM2's key and value bytes, and the syncs MM2's rules
// call for (first record of each lifetime, every offset.lag.max target
// offsets), each a true (upstream, downstream) pair, the last one being the
// partition's last record (the delayed sync promoted at the final commit).
func TestOffsetSyncs_MM2Format(t *testing.T) {
	// Spec §1.4 bytes of the first sync of partition 1: key topic "t",
	// partition 1; value upstream 0, downstream 0.
	const firstSync = "00 01 74 00 00 00 01  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00"
	for _, tc := range []struct {
		location string
		topic    string
		onTarget bool
	}{
		{"source", "mm2-offset-syncs.B.internal", false},
		{"target", "mm2-offset-syncs.A.internal", true},
	} {
		t.Run(tc.location, func(t *testing.T) {
			src, dst := newCluster(t, "src"), newCluster(t, "dst")
			ctx := context.Background()
			if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, 2, 1, nil, "t"); err != nil {
				t.Fatal(err)
			}
			prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			cfg := connect.WorkerConfig{
				Clusters:            clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
				OffsetFlushInterval: 200 * time.Millisecond,
			}
			specs := []connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{
				connectors.KeyOffsetSyncsTopicLocation: tc.location,
				connectors.KeyOffsetLagMax:             "100",
			})}
			// Two lifetimes: 250 records per partition, a restart, 50 more.
			for i, n := range []int{250, 50} {
				produceRecords(t, prod, "t", 2, n, fmt.Sprintf("run%d", i))
				rw := startWorker(t, cfg, specs)
				want := int64(250 * 2)
				if i == 1 {
					want = 300 * 2
				}
				waitFor(t, 30*time.Second, "records copied", func() bool { return totalRecords(endOffsets(t, dst, "A.t")) == want })
				if err := rw.stop(); err != nil {
					t.Fatal(err)
				}
			}

			syncsOn, other := src, dst
			if tc.onTarget {
				syncsOn, other = dst, src
			}
			if topicExists(t, other, tc.topic) {
				t.Errorf("%s exists on the other cluster too", tc.topic)
			}
			td, err := kadm.NewClient(client(t, syncsOn)).ListTopics(ctx, tc.topic)
			if err != nil || !td.Has(tc.topic) {
				t.Fatalf("offset-syncs topic %s not on the %s cluster: %v", tc.topic, tc.location, err)
			}
			if n := len(td[tc.topic].Partitions); n != 1 {
				t.Errorf("%s has %d partitions, want 1", tc.topic, n)
			}
			cfgs, err := kadm.NewClient(client(t, syncsOn)).DescribeTopicConfigs(ctx, tc.topic)
			if c, cerr := cfgs.On(tc.topic, nil); err != nil || cerr != nil || !hasConfig(c.Configs, "cleanup.policy", "compact") {
				t.Errorf("%s configs: %+v (%v, %v), want cleanup.policy=compact", tc.topic, c.Configs, err, cerr)
			}

			sources := recordsByOffset(readTopicRecords(t, src, "t"))
			copies := recordsByOffset(readTopicRecords(t, dst, "A.t"))
			syncRecs := readTopicRecords(t, syncsOn, tc.topic)
			byPart := make(map[int32][][2]int64)
			for _, s := range syncRecs {
				if s.Partition != 0 {
					t.Fatalf("offset sync in partition %d, want 0", s.Partition)
				}
				sync, err := offsets.DecodeOffsetSync(s.Key, s.Value)
				if err != nil {
					t.Fatalf("decode offset sync % x / % x: %v", s.Key, s.Value, err)
				}
				k, _ := sync.Key()
				v, _ := sync.Value()
				if !bytes.Equal(k, s.Key) || !bytes.Equal(v, s.Value) {
					t.Fatalf("offset sync %+v: bytes % x / % x are not MM2's % x / % x", sync, s.Key, s.Value, k, v)
				}
				if sync.Topic != "t" {
					t.Fatalf("offset sync for topic %q, want the source name t", sync.Topic)
				}
				byPart[sync.Partition] = append(byPart[sync.Partition], [2]int64{sync.UpstreamOffset, sync.DownstreamOffset})
			}
			var got string
			for _, r := range syncRecs {
				if bytes.Equal(r.Key, []byte{0, 1, 't', 0, 0, 0, 1}) {
					got = hex.EncodeToString(slices.Concat(r.Key, r.Value))
					break
				}
			}
			if want := strings.ReplaceAll(firstSync, " ", ""); got != want {
				t.Errorf("first sync of t-1 = %s, want %s", got, want)
			}
			for p := range int32(2) {
				syncs := byPart[p]
				t.Logf("t-%d: %d syncs: %v", p, len(syncs), syncs)
				// Each sync is a true pair: the copy at the downstream offset
				// is the record at the upstream offset.
				for _, s := range syncs {
					w, g := sources[p][s[0]], copies[p][s[1]]
					if w == nil || g == nil {
						t.Fatalf("t-%d: sync %v: no record at one end (source %v, copy %v)", p, s, w, g)
					}
					if d := sameRecord(w, g); d != "" {
						t.Fatalf("t-%d: sync %v: the copy is not that record: %s", p, s, d)
					}
				}
				lifetimes := [][][2]int64{pairs(0, 250), pairs(250, 300)}
				want := mm2Syncs(lifetimes, 100)
				if !slices.Equal(want, [][2]int64{{0, 0}, {101, 101}, {202, 202}, {250, 250}}) {
					t.Fatalf("MM2 replay = %v", want) // the replay itself
				}
				if !isSubsequence(want, syncs) {
					t.Errorf("t-%d: syncs %v miss MM2's %v", p, syncs, want)
				}
				if len(syncs) == 0 || syncs[len(syncs)-1] != [2]int64{299, 299} {
					t.Errorf("t-%d: last sync %v, want the last record 299 -> 299", p, syncs[max(len(syncs)-1, 0):])
				}
				if !slices.IsSortedFunc(syncs, func(a, b [2]int64) int { return int(a[1] - b[1]) }) {
					t.Errorf("t-%d: syncs out of order: %v", p, syncs)
				}
			}
			// The index is written too.
			if !topicExists(t, dst, offsets.IndexTopic("A")) {
				t.Errorf("index topic %s missing on the target", offsets.IndexTopic("A"))
			}
		})
	}
}

// recordsByOffset maps records by partition and offset.
func recordsByOffset(recs []*kgo.Record) map[int32]map[int64]*kgo.Record {
	out := make(map[int32]map[int64]*kgo.Record)
	for _, r := range recs {
		if out[r.Partition] == nil {
			out[r.Partition] = make(map[int64]*kgo.Record)
		}
		out[r.Partition][r.Offset] = r
	}
	return out
}

// pairs returns (u, u) for u in [from, to).
func pairs(from, to int64) [][2]int64 {
	var out [][2]int64
	for u := from; u < to; u++ {
		out = append(out, [2]int64{u, u})
	}
	return out
}

// TestOffsetSyncs_Disabled checks emit.offset-syncs.enabled=false: no
// offset-syncs topic anywhere, while mm2go's own index still translates.
func TestOffsetSyncs_Disabled(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	ctx := context.Background()
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "t", 1, 100, "x")
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{connectors.KeyEmitOffsetSyncs: "false"})})
	waitFor(t, 30*time.Second, "records copied", func() bool { return totalRecords(endOffsets(t, dst, "A.t")) == 100 })
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*kfake.Cluster{src, dst} {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		td, err := kadm.NewClient(client(t, c)).ListTopics(lctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range td.Names() {
			if strings.HasPrefix(name, "mm2-offset-syncs") {
				t.Errorf("offset-syncs topic %s exists with emit.offset-syncs.enabled=false", name)
			}
		}
	}
	idx, err := offsets.LoadIndex(ctx, []kgo.Opt{kgo.SeedBrokers(dst.ListenAddrs()...)}, offsets.IndexTopic("A"))
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := idx.Translate("t", 0, 99); err != nil || tr != (offsets.Translation{Upstream: 99, Downstream: 99, Exact: true}) {
		t.Fatalf("Translate(t-0, 99) = %+v, %v; want 99 exact", tr, err)
	}
}
