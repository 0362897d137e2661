package offsets

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dotNamer reads names as MM2's DefaultReplicationPolicy does with the "."
// separator (spec §4.1). offsets may not import connectors/policy, so the
// tests carry this small copy; test/heartbeat_test.go runs Client with the
// real policy.
type dotNamer struct{}

func (dotNamer) split(t string) (string, string, bool) {
	src, rest, ok := strings.Cut(t, ".")
	if !ok || strings.Trim(rest, ".") == "" {
		return "", "", false
	}
	return src, rest, true
}

func (n dotNamer) TopicSource(t string) (string, bool) {
	src, _, ok := n.split(t)
	return src, ok
}

func (n dotNamer) UpstreamTopic(t string) (string, bool) {
	_, up, ok := n.split(t)
	return up, ok
}

func (n dotNamer) IsHeartbeatsTopic(t string) bool {
	for {
		up, ok := n.UpstreamTopic(t)
		if !ok {
			return t == "heartbeats"
		}
		t = up
	}
}

func (dotNamer) IsCheckpointsTopic(t string) bool {
	return strings.HasSuffix(t, ".checkpoints.internal")
}

func (dotNamer) IsInternalTopic(t string) bool {
	return strings.HasSuffix(t, ".internal") || strings.HasSuffix(t, "-internal") ||
		strings.HasPrefix(t, "__") || strings.HasPrefix(t, ".")
}

// loopNamer is a policy that cannot stop cycles, like Identity without
// heartbeats handling: every topic comes from "X" and is its own upstream.
type loopNamer struct{ dotNamer }

func (loopNamer) TopicSource(string) (string, bool)     { return "X", true }
func (loopNamer) UpstreamTopic(t string) (string, bool) { return t, true }
func (loopNamer) IsHeartbeatsTopic(t string) bool       { return strings.HasSuffix(t, "heartbeats") }

func TestClient_Names(t *testing.T) {
	topics := []string{
		"t", "A.t", "B.A.t", "B.", "A..", ".t",
		"heartbeats", "B.heartbeats", "B.A.heartbeats", "D.A.heartbeats", "heartbeats.A",
		"A.checkpoints.internal", "B.A.checkpoints.internal", "mm2-offsets.A.internal", "__consumer_offsets", "x-internal",
	}
	n := dotNamer{}
	if got, want := heartbeatTopics(n, topics), []string{"B.A.heartbeats", "B.heartbeats", "D.A.heartbeats", "heartbeats"}; !reflect.DeepEqual(got, want) {
		t.Errorf("heartbeatTopics = %q, want %q", got, want)
	}
	if got, want := upstreamClusters(n, topics), []string{"A", "B", "D"}; !reflect.DeepEqual(got, want) {
		t.Errorf("upstreamClusters = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		source string
		want   []string
	}{
		{"", []string{"A.t", "B.A.heartbeats", "B.A.t", "B.heartbeats", "D.A.heartbeats", "heartbeats.A"}},
		{"B", []string{"B.A.heartbeats", "B.A.t", "B.heartbeats"}},
		{"A", []string{"A.t"}},
		{"heartbeats", []string{"heartbeats.A"}},
		{"C", nil},
	} {
		if got := remoteTopics(n, topics, tc.source); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("remoteTopics(%q) = %q, want %q", tc.source, got, tc.want)
		}
	}
	for _, tc := range []struct {
		upstream string
		want     int
	}{
		{"A", 2}, {"B", 1}, {"D", 1}, {"C", -1}, {"", -1}, {"heartbeats", -1},
	} {
		if got := replicationHops(n, topics, tc.upstream); got != tc.want {
			t.Errorf("replicationHops(%q) = %d, want %d", tc.upstream, got, tc.want)
		}
	}
	// A one-hop heartbeats topic sorted before a longer one through the same
	// cluster must not cut the longer walk short: C.B.A.heartbeats gives C, B
	// and A although B.heartbeats gave B first.
	if got, want := upstreamClusters(n, []string{"B.heartbeats", "C.B.A.heartbeats"}), []string{"A", "B", "C"}; !reflect.DeepEqual(got, want) {
		t.Errorf("upstreamClusters = %q, want %q", got, want)
	}
	if got := replicationHops(n, []string{"B.heartbeats", "C.B.A.heartbeats"}, "A"); got != 3 {
		t.Errorf("replicationHops(A) over C.B.A.heartbeats = %d, want 3", got)
	}
	// With names that loop, the walks stop.
	loop := []string{"heartbeats", "x.heartbeats"}
	if got, want := upstreamClusters(loopNamer{}, loop), []string{"X"}; !reflect.DeepEqual(got, want) {
		t.Errorf("upstreamClusters(loop) = %q, want %q", got, want)
	}
	if got := replicationHops(loopNamer{}, loop, "Y"); got != -1 {
		t.Errorf("replicationHops(loop, Y) = %d, want -1", got)
	}
	if got := replicationHops(loopNamer{}, loop, "X"); got != 1 {
		t.Errorf("replicationHops(loop, X) = %d, want 1", got)
	}
}

// clientCluster starts a one-broker fake cluster with topics (name ->
// partitions) and returns it with a producer that picks partitions by hand.
func clientCluster(t *testing.T, topics map[string]int32) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ClusterID("offsets-client"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	for name, n := range topics {
		if _, err := adm.CreateTopic(context.Background(), n, 1, nil, name); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	return c, cl
}

func clientProduce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func hbRecord(t *testing.T, topic string, partition int32, h Heartbeat) *kgo.Record {
	t.Helper()
	k, err := h.Key()
	if err != nil {
		t.Fatal(err)
	}
	v, err := h.Value()
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Partition: partition, Key: k, Value: v, Timestamp: time.UnixMilli(h.Timestamp)}
}

func cpRecord(t *testing.T, topic string, partition int32, c Checkpoint) *kgo.Record {
	t.Helper()
	k, err := c.Key()
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Value()
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Partition: partition, Key: k, Value: v}
}

func newClientForTest(t *testing.T, c *kfake.Cluster, namer TopicNamer) *Client {
	t.Helper()
	mc, err := NewClient(namer, kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mc.Close)
	return mc
}

func TestClient_Topics(t *testing.T) {
	c, _ := clientCluster(t, map[string]int32{
		"heartbeats": 1, "B.heartbeats": 1, "B.A.heartbeats": 1,
		"t": 3, "A.t": 3, "B.A.t": 1, "A.checkpoints.internal": 1, "B.checkpoints.internal": 1, "mm2-offsets.B.internal": 25,
	})
	mc := newClientForTest(t, c, dotNamer{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		call func() (any, error)
		want any
	}{
		{"HeartbeatTopics", func() (any, error) { return mc.HeartbeatTopics(ctx) }, []string{"B.A.heartbeats", "B.heartbeats", "heartbeats"}},
		{"CheckpointTopics", func() (any, error) { return mc.CheckpointTopics(ctx) }, []string{"A.checkpoints.internal", "B.checkpoints.internal"}},
		{"UpstreamClusters", func() (any, error) { return mc.UpstreamClusters(ctx) }, []string{"A", "B"}},
		{"RemoteTopics all", func() (any, error) { return mc.RemoteTopics(ctx, "") }, []string{"A.t", "B.A.heartbeats", "B.A.t", "B.heartbeats"}},
		{"RemoteTopics A", func() (any, error) { return mc.RemoteTopics(ctx, "A") }, []string{"A.t"}},
		{"ReplicationHops A", func() (any, error) { return mc.ReplicationHops(ctx, "A") }, 2},
		{"ReplicationHops B", func() (any, error) { return mc.ReplicationHops(ctx, "B") }, 1},
		{"ReplicationHops C", func() (any, error) { return mc.ReplicationHops(ctx, "C") }, -1},
	} {
		got, err := tc.call()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestClient_LatestHeartbeats(t *testing.T) {
	c, cl := clientCluster(t, map[string]int32{"heartbeats": 1, "B.heartbeats": 2, "B.A.heartbeats": 1, "t": 1})
	ab := Heartbeat{SourceClusterAlias: "A", TargetClusterAlias: "B"}
	at := func(h Heartbeat, ts int64) Heartbeat { h.Timestamp = ts; return h }
	cb := Heartbeat{SourceClusterAlias: "C", TargetClusterAlias: "B"}
	cbKey, _ := cb.Key()
	clientProduce(t, cl,
		hbRecord(t, "heartbeats", 0, Heartbeat{SourceClusterAlias: "B", TargetClusterAlias: "C", Timestamp: 1000}),
		hbRecord(t, "heartbeats", 0, Heartbeat{SourceClusterAlias: "B", TargetClusterAlias: "C", Timestamp: 2000}),
		&kgo.Record{Topic: "heartbeats", Partition: 0, Key: []byte{0x00}, Value: []byte{0x00, 0x00}}, // corrupt
		hbRecord(t, "B.heartbeats", 0, at(ab, 300)),
		hbRecord(t, "B.heartbeats", 0, at(ab, 500)),
		hbRecord(t, "B.heartbeats", 0, at(ab, 400)), // older than the newest: kept out
		hbRecord(t, "B.heartbeats", 0, at(cb, 50)),
		&kgo.Record{Topic: "B.heartbeats", Partition: 0, Key: cbKey}, // tombstone removes (C,B)
		hbRecord(t, "B.heartbeats", 1, at(ab, 9999)),                 // MM2 uses partition 0 only
		hbRecord(t, "B.A.heartbeats", 0, Heartbeat{SourceClusterAlias: "B", TargetClusterAlias: "A", Timestamp: 7}),
		hbRecord(t, "t", 0, at(ab, 8888)), // not a heartbeats topic
	)
	mc := newClientForTest(t, c, dotNamer{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, stats, err := mc.LatestHeartbeats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []LatestHeartbeat{
		{Topic: "B.A.heartbeats", Heartbeat: Heartbeat{SourceClusterAlias: "B", TargetClusterAlias: "A", Timestamp: 7}},
		{Topic: "B.heartbeats", Heartbeat: at(ab, 500)},
		{Topic: "heartbeats", Heartbeat: Heartbeat{SourceClusterAlias: "B", TargetClusterAlias: "C", Timestamp: 2000}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LatestHeartbeats = %+v, want %+v", got, want)
	}
	if want := (ReadStats{Records: 9, Skipped: 1}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
}

// failListOffsets makes the cluster answer every ListOffsets partition with
// code, so that reading a topic fails (or, with UnknownTopicOrPartition,
// finds it gone).
func failListOffsets(c *kfake.Cluster, code int16) {
	c.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		lreq := req.(*kmsg.ListOffsetsRequest)
		resp := lreq.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range lreq.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

func TestClient_LatestHeartbeatsReadErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("topic gone since listing", func(t *testing.T) {
		c, cl := clientCluster(t, map[string]int32{"heartbeats": 1})
		clientProduce(t, cl, hbRecord(t, "heartbeats", 0, Heartbeat{SourceClusterAlias: "A", TargetClusterAlias: "B", Timestamp: 1}))
		mc := newClientForTest(t, c, dotNamer{})
		failListOffsets(c, kerr.UnknownTopicOrPartition.Code)
		got, stats, err := mc.LatestHeartbeats(ctx)
		if err != nil || len(got) != 0 || stats != (ReadStats{}) {
			t.Fatalf("LatestHeartbeats = %v, %+v, %v; want nothing and no error", got, stats, err)
		}
	})
	t.Run("read fails", func(t *testing.T) {
		c, _ := clientCluster(t, map[string]int32{"heartbeats": 1})
		mc := newClientForTest(t, c, dotNamer{})
		failListOffsets(c, kerr.TopicAuthorizationFailed.Code)
		_, _, err := mc.LatestHeartbeats(ctx)
		if !errors.Is(err, kerr.TopicAuthorizationFailed) || !strings.HasPrefix(err.Error(), "read heartbeats from heartbeats: ") {
			t.Fatalf("LatestHeartbeats error = %v, want read heartbeats from heartbeats: ... TOPIC_AUTHORIZATION_FAILED", err)
		}
	})
}

func TestClient_Unreachable(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	addrs := c.ListenAddrs()
	c.Close()
	mc, err := NewClient(dotNamer{}, kgo.SeedBrokers(addrs...), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	defer mc.Close() // Close is idempotent
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	calls := map[string]func() error{
		"HeartbeatTopics":  func() error { _, err := mc.HeartbeatTopics(ctx); return err },
		"CheckpointTopics": func() error { _, err := mc.CheckpointTopics(ctx); return err },
		"UpstreamClusters": func() error { _, err := mc.UpstreamClusters(ctx); return err },
		"RemoteTopics":     func() error { _, err := mc.RemoteTopics(ctx, ""); return err },
		"ReplicationHops":  func() error { _, err := mc.ReplicationHops(ctx, "A"); return err },
		"LatestHeartbeats": func() error { _, _, err := mc.LatestHeartbeats(ctx); return err },
	}
	for name, call := range calls {
		err := call()
		if err == nil || !strings.HasPrefix(err.Error(), "list topics: ") {
			t.Errorf("%s on a closed cluster: error %v, want list topics: ...", name, err)
		}
	}
}

func TestNewClient_Errors(t *testing.T) {
	if _, err := NewClient(nil); err == nil || err.Error() != "new offsets client: namer is nil" {
		t.Errorf("NewClient(nil) error = %v", err)
	}
	if _, err := NewClient(dotNamer{}, kgo.ClientID(strings.Repeat("x", 257))); err == nil || !strings.HasPrefix(err.Error(), "new offsets client: ") {
		t.Errorf("NewClient with a 257-byte client id: error = %v, want new offsets client: ...", err)
	}
}

func TestReadCheckpoints(t *testing.T) {
	const topic = "A.checkpoints.internal"
	c, cl := clientCluster(t, map[string]int32{topic: 2})
	cp := func(group, tp string, p int32, up, down int64, meta string) Checkpoint {
		return Checkpoint{ConsumerGroupID: group, Topic: tp, Partition: p, UpstreamOffset: up, DownstreamOffset: down, Metadata: meta}
	}
	tomb, _ := cp("g1", "A.t", 1, 0, 0, "").Key()
	badVersion := cpRecord(t, topic, 0, cp("g1", "A.t", 2, 1, 1, ""))
	badVersion.Value[1] = 1 // version 1
	clientProduce(t, cl,
		cpRecord(t, topic, 0, cp("g1", "A.t", 0, 100, 90, "")),
		cpRecord(t, topic, 0, cp("g1", "A.t", 1, 50, 40, "m")),
		cpRecord(t, topic, 0, cp("g2", "A.t", 0, 7, 7, "")),
		cpRecord(t, topic, 0, cp("g1", "A.t", 0, 80, 70, "rewound")), // last wins, even lower
		&kgo.Record{Topic: topic, Partition: 0, Key: tomb},           // removes g1 A.t-1
		&kgo.Record{Topic: topic, Partition: 0, Key: []byte("junk"), Value: []byte("junk")},
		badVersion,
		cpRecord(t, topic, 0, cp("g1", "A.u", 3, 5, 4, "")),
		cpRecord(t, topic, 1, cp("g1", "A.v", 0, 1, 1, "")), // partition 1 is not read
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	got, stats, err := ReadCheckpoints(ctx, opts, topic, "g1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[TopicPartition]Checkpoint{
		{"A.t", 0}: cp("g1", "A.t", 0, 80, 70, "rewound"),
		{"A.u", 3}: cp("g1", "A.u", 3, 5, 4, ""),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadCheckpoints(g1) = %+v, want %+v", got, want)
	}
	if want := (ReadStats{Records: 8, Skipped: 2}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	if got, _, err := ReadCheckpoints(ctx, opts, topic, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("ReadCheckpoints(nobody) = %v, %v; want an empty map", got, err)
	}

	_, _, err = ReadCheckpoints(ctx, opts, "B.checkpoints.internal", "g1")
	if !errors.Is(err, ErrTopicNotFound) || !strings.HasPrefix(err.Error(), "read checkpoints of group g1 from B.checkpoints.internal: ") {
		t.Errorf("ReadCheckpoints of a missing topic: error %v, want one wrapping ErrTopicNotFound", err)
	}
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if _, _, err := ReadCheckpoints(short, opts, topic, "g1"); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadCheckpoints with a cancelled ctx: error %v, want context.Canceled", err)
	}
}
