package test

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/offsets"
)

// Every replication policy can name topics for an offsets.Client.
var _ offsets.TopicNamer = policy.ReplicationPolicy(nil)

// heartbeatSpec is a MirrorHeartbeat connector spec for source->target,
// named as under MM2's dedicated driver.
func heartbeatSpec(source, target string, props map[string]string) connect.ConnectorSpec {
	p := connect.Props{connectors.KeySourceAlias: source, connectors.KeyTargetAlias: target}
	for k, v := range props {
		p[k] = v
	}
	return connect.ConnectorSpec{Name: connectors.ClassMirrorHeartbeat, Class: connectors.ClassMirrorHeartbeat, Source: source, Target: target, Props: p}
}

// heartbeatRecords reads partition 0 of topic on c and decodes every record
// as a heartbeat, failing the test on anything that is not one.
func heartbeatRecords(t *testing.T, c *kfake.Cluster, topic string) ([]*kgo.Record, []offsets.Heartbeat) {
	t.Helper()
	n := endOffsets(t, c, topic)[0]
	recs := consumeAll(t, c, topic, int(n), 10*time.Second)[0]
	if int64(len(recs)) < n {
		t.Fatalf("%s: read %d records, want %d", topic, len(recs), n)
	}
	hbs := make([]offsets.Heartbeat, len(recs))
	for i, r := range recs {
		h, err := offsets.DecodeHeartbeat(r.Key, r.Value)
		if err != nil {
			t.Fatalf("%s offset %d: %v", topic, r.Offset, err)
		}
		hbs[i] = h
	}
	return recs, hbs
}

// TestHeartbeat_Chain runs flows A->B and B->C with heartbeats, plus the
// heartbeat-only herder B->A that MM2 runs for a pair whose flow is off
// (spec §6.1), so that A has a heartbeats topic to replicate. B then holds
// its own heartbeats (A,B) and A.heartbeats; C holds heartbeats (B,C),
// B.heartbeats and B.A.heartbeats, from which an offsets.Client on C finds
// upstream clusters A and B, two hops to A and one to B.
//
// It runs on synctest's fake clock, its clusters on a kfake.VirtualNetwork:
// on the wall clock a heartbeat the loaded runner polls late comes less than
// an interval before the next one, which keeps the fixed schedule.
func TestHeartbeat_Chain(t *testing.T) { synctest.Test(t, testHeartbeatChain) }

func testHeartbeatChain(t *testing.T) {
	var vn kfake.VirtualNetwork
	a, b, c := newVirtualCluster(t, &vn, "A", 9401), newVirtualCluster(t, &vn, "B", 9402), newVirtualCluster(t, &vn, "C", 9403)
	fast := map[string]string{connectors.KeyEmitHeartbeatsSeconds: "0.2"}
	rw := startWorker(t, connect.WorkerConfig{
		Clusters:            clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b, "C": c}),
		OffsetFlushInterval: 200 * time.Millisecond,
	}, []connect.ConnectorSpec{
		heartbeatSpec("B", "A", fast),
		sourceSpec("A", "B", nil), heartbeatSpec("A", "B", fast),
		sourceSpec("B", "C", nil), heartbeatSpec("B", "C", fast),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// B's own heartbeats: (A,B), MM2's bytes, a record timestamp equal to the
	// heartbeat's, no headers, 200ms apart.
	waitFor(t, 30*time.Second, "5 heartbeats on B", func() bool { return endOffsets(t, b, "heartbeats")[0] >= 5 })
	recs, hbs := heartbeatRecords(t, b, "heartbeats")
	for i, r := range recs {
		h := hbs[i]
		if h.SourceClusterAlias != "A" || h.TargetClusterAlias != "B" {
			t.Errorf("heartbeats[%d] on B is (%s,%s), want (A,B)", i, h.SourceClusterAlias, h.TargetClusterAlias)
		}
		if !bytes.Equal(r.Key, []byte{0, 1, 'A', 0, 1, 'B'}) || len(r.Value) != 10 || r.Value[0] != 0 || r.Value[1] != 0 {
			t.Errorf("heartbeats[%d] on B: key % x value % x, want spec §1.2's layout", i, r.Key, r.Value)
		}
		if r.Timestamp.UnixMilli() != h.Timestamp || len(r.Headers) != 0 {
			t.Errorf("heartbeats[%d] on B: record timestamp %d, %d headers; want %d and none", i, r.Timestamp.UnixMilli(), len(r.Headers), h.Timestamp)
		}
		if i > 0 {
			if gap := h.Timestamp - hbs[i-1].Timestamp; gap != 200 {
				t.Errorf("heartbeats[%d] on B came %dms after the one before, want 200ms (the interval)", i, gap)
			}
		}
	}
	adm := kadm.NewClient(client(t, b))
	details, err := adm.ListTopics(ctx, "heartbeats")
	if err != nil || len(details["heartbeats"].Partitions) != 1 {
		t.Errorf("heartbeats on B: %+v, %v; want 1 partition", details["heartbeats"], err)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "heartbeats")
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := cfgs.On("heartbeats", nil); err != nil || !hasConfig(rc.Configs, "cleanup.policy", "compact") {
		t.Errorf("heartbeats on B configs = %+v (err %v), want cleanup.policy=compact", rc.Configs, err)
	}

	// A's heartbeats (B,A) on B as A.heartbeats, byte for byte.
	waitFor(t, 30*time.Second, "A.heartbeats on B", func() bool { return endOffsets(t, b, "A.heartbeats")[0] >= 3 })
	copies, copied := heartbeatRecords(t, b, "A.heartbeats")
	originals, _ := heartbeatRecords(t, a, "heartbeats")
	if len(originals) < len(copies) {
		t.Fatalf("A.heartbeats on B has %d records, heartbeats on A only %d", len(copies), len(originals))
	}
	for i, r := range copies {
		if d := sameRecord(originals[i], r); d != "" || r.Partition != 0 || r.Offset != originals[i].Offset {
			t.Errorf("A.heartbeats[%d] on B: %s (partition %d offset %d)", i, d, r.Partition, r.Offset)
		}
		if h := copied[i]; h.SourceClusterAlias != "B" || h.TargetClusterAlias != "A" {
			t.Errorf("A.heartbeats[%d] on B is (%s,%s), want (B,A)", i, h.SourceClusterAlias, h.TargetClusterAlias)
		}
	}

	// Two hops on: C.
	for topic, want := range map[string][2]string{"heartbeats": {"B", "C"}, "B.heartbeats": {"A", "B"}, "B.A.heartbeats": {"B", "A"}} {
		waitFor(t, 30*time.Second, topic+" on C", func() bool { return endOffsets(t, c, topic)[0] >= 1 })
		_, hbs := heartbeatRecords(t, c, topic)
		if h := hbs[0]; h.SourceClusterAlias != want[0] || h.TargetClusterAlias != want[1] {
			t.Errorf("%s on C holds (%s,%s), want (%s,%s)", topic, h.SourceClusterAlias, h.TargetClusterAlias, want[0], want[1])
		}
	}

	mc, err := offsets.NewClient(policy.Default{}, seedOpts(c)...)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	if got, err := mc.HeartbeatTopics(ctx); err != nil || !reflect.DeepEqual(got, []string{"B.A.heartbeats", "B.heartbeats", "heartbeats"}) {
		t.Errorf("HeartbeatTopics on C = %q, %v", got, err)
	}
	if got, err := mc.UpstreamClusters(ctx); err != nil || !reflect.DeepEqual(got, []string{"A", "B"}) {
		t.Errorf("UpstreamClusters on C = %q, %v; want [A B]", got, err)
	}
	if got, err := mc.RemoteTopics(ctx, "B"); err != nil || !reflect.DeepEqual(got, []string{"B.A.heartbeats", "B.heartbeats"}) {
		t.Errorf("RemoteTopics(B) on C = %q, %v", got, err)
	}
	for alias, want := range map[string]int{"A": 2, "B": 1, "C": -1} {
		if got, err := mc.ReplicationHops(ctx, alias); err != nil || got != want {
			t.Errorf("ReplicationHops(%s) on C = %d, %v; want %d", alias, got, err, want)
		}
	}
	latest, stats, err := mc.LatestHeartbeats(ctx)
	if err != nil || stats.Skipped != 0 || len(latest) != 3 {
		t.Fatalf("LatestHeartbeats on C = %+v, %+v, %v; want 3 pairs", latest, stats, err)
	}
	now := time.Now().UnixMilli()
	for i, want := range []struct{ topic, source, target string }{
		{"B.A.heartbeats", "B", "A"}, {"B.heartbeats", "A", "B"}, {"heartbeats", "B", "C"},
	} {
		l := latest[i]
		if l.Topic != want.topic || l.SourceClusterAlias != want.source || l.TargetClusterAlias != want.target {
			t.Errorf("LatestHeartbeats[%d] = %+v, want (%s,%s) in %s", i, l, want.source, want.target, want.topic)
		}
		if age := now - l.Timestamp; age < 0 || age > 30_000 {
			t.Errorf("LatestHeartbeats[%d]: newest heartbeat is %dms old", i, age)
		}
	}
	// Replication over both hops is alive: the newest (B,A) heartbeat on C
	// moves on.
	first := latest[0].Timestamp
	waitFor(t, 10*time.Second, "a newer (B,A) heartbeat on C", func() bool {
		l, _, err := mc.LatestHeartbeats(ctx)
		return err == nil && len(l) == 3 && l[0].Timestamp > first
	})

	// The heartbeat connector's Connect offset, as MM2 writes it: key
	// ["MirrorHeartbeatConnector",{"sourceClusterAlias":"A","targetClusterAlias":"B"}]
	// in partition 0 (murmur2, spec §3), value {"offset":0}, written once.
	key := connect.MirrorHeartbeatOffsetKey(connectors.ClassMirrorHeartbeat, "A", "B")
	offsetRecords := func() []*kgo.Record {
		var out []*kgo.Record
		topic := connect.OffsetsTopic("A")
		all := consumeAll(t, b, topic, int(totalRecords(endOffsets(t, b, topic))), 10*time.Second)
		for _, rs := range all {
			for _, r := range rs {
				if bytes.Equal(r.Key, key) {
					out = append(out, r)
				}
			}
		}
		return out
	}
	waitFor(t, 10*time.Second, "the heartbeat connector's source offset on B", func() bool { return len(offsetRecords()) > 0 })
	if err := rw.stop(); err != nil {
		t.Fatalf("worker Run: %v", err)
	}
	got := offsetRecords()
	if len(got) != 1 || got[0].Partition != 0 || string(got[0].Value) != `{"offset":0}` {
		for _, r := range got {
			t.Logf("partition %d value %s", r.Partition, r.Value)
		}
		t.Errorf("%s holds %d records for %s, want one {\"offset\":0} in partition 0", connect.OffsetsTopic("A"), len(got), key)
	}
	for _, cs := range rw.w.Status() {
		if cs.Name != connectors.ClassMirrorHeartbeat {
			continue
		}
		if len(cs.Tasks) != 1 || cs.Tasks[0].RecordsAcked == 0 || cs.Tasks[0].Error != "" {
			t.Errorf("heartbeat connector %s->%s: tasks %+v, want one that sent heartbeats", cs.Source, cs.Target, cs.Tasks)
		}
	}
}

// TestHeartbeat_Disabled: with emit.heartbeats.enabled=false the connector
// runs with no task; as in MM2 it still creates the heartbeats topic, which
// stays empty.
func TestHeartbeat_Disabled(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b})},
		[]connect.ConnectorSpec{heartbeatSpec("A", "B", map[string]string{
			connectors.KeyEmitHeartbeatsEnabled: "false", connectors.KeyEmitHeartbeatsSeconds: "0.1",
		})})
	waitFor(t, 30*time.Second, "the connector to run", func() bool {
		st := rw.w.Status()
		return len(st) == 1 && st[0].State == connect.StateRunning
	})
	waitFor(t, 10*time.Second, "heartbeats on B", func() bool { _, ok := endOffsets(t, b, "heartbeats")[0]; return ok })
	time.Sleep(time.Second) // ten intervals
	if n := endOffsets(t, b, "heartbeats")[0]; n != 0 {
		t.Errorf("heartbeats on B has %d records, want none", n)
	}
	if st := rw.w.Status(); len(st[0].Tasks) != 0 {
		t.Errorf("disabled heartbeat connector has tasks %+v, want none", st[0].Tasks)
	}
}

// TestHeartbeat_BadConfig: a bad interval and a replication factor the
// target cannot meet each fail their connector with a message that names the
// key; the worker reports both.
func TestHeartbeat_BadConfig(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	badInterval := heartbeatSpec("A", "B", map[string]string{connectors.KeyEmitHeartbeatsSeconds: "soon"})
	badInterval.Name = "hb-interval"
	badRF := heartbeatSpec("A", "B", map[string]string{connectors.KeyHeartbeatsReplicationFactor: "3"})
	badRF.Name = "hb-rf"

	reg := connect.NewRegistry()
	connectors.Register(reg)
	w := connect.NewWorker(connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b})},
		connect.WithLogger(testLogger(t)), connect.WithRegistry(reg))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, []connect.ConnectorSpec{badInterval, badRF}) }()
	var err error
	select {
	case err = <-done: // every connector failed, so Run ends by itself
	case <-time.After(60 * time.Second):
		cancel()
		<-done
		t.Fatal("Run did not return after both connectors failed")
	}
	for _, want := range []string{
		`connector hb-interval (A->B): start connector: config: emit.heartbeats.interval.seconds: "soon" is not a number of seconds`,
		"connector hb-rf (A->B): start connector: create topic heartbeats on B with replication factor 3: ",
		"(set heartbeats.topic.replication.factor to a factor the cluster can meet, or -1 for the broker default)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run error = %v, want it to contain %q", err, want)
		}
	}
	for _, cs := range w.Status() {
		if cs.State != connect.StateFailed || cs.Error == "" {
			t.Errorf("connector %s: state %s error %q, want FAILED with the cause", cs.Name, cs.State, cs.Error)
		}
	}
}
