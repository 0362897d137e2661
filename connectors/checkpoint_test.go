package connectors

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/offsets"
)

func TestParseCheckpointConfig(t *testing.T) {
	base := func(kv ...string) connect.Props {
		p := connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B"}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	type want struct {
		topic                string
		rf                   int16
		refresh, emit, syncI time.Duration
	}
	tests := []struct {
		name    string
		props   connect.Props
		want    want
		wantErr string
	}{
		{name: "defaults", props: base(),
			want: want{"A.checkpoints.internal", -1, 5 * time.Second, 5 * time.Second, 0}},
		{name: "sync on, fractions", props: base(KeySyncGroupOffsetsEnabled, "true", KeySyncGroupOffsetsSeconds, "0.2",
			KeyEmitCheckpointsSeconds, "1.5", KeyRefreshGroupsSeconds, "60", KeyCheckpointsReplicationFactor, "3"),
			want: want{"A.checkpoints.internal", 3, time.Minute, 1500 * time.Millisecond, 200 * time.Millisecond}},
		{name: "refresh off", props: base(KeyRefreshGroupsEnabled, "false"),
			want: want{"A.checkpoints.internal", -1, 0, 5 * time.Second, 0}},
		{name: "emission off, sync on", props: base(KeyEmitCheckpointsEnabled, "false", KeySyncGroupOffsetsEnabled, "true"),
			want: want{"A.checkpoints.internal", -1, 5 * time.Second, 0, 5 * time.Second}},
		{name: "negative interval disables", props: base(KeyRefreshGroupsSeconds, "-1"),
			want: want{"A.checkpoints.internal", -1, 0, 5 * time.Second, 0}},
		{name: "separator", props: base("replication.policy.separator", "_"),
			want: want{"A_checkpoints_internal", -1, 5 * time.Second, 5 * time.Second, 0}},
		{name: "pre-3.1 internal names", props: base("replication.policy.separator", "_", "replication.policy.internal.topic.separator.enabled", "false"),
			want: want{"A.checkpoints.internal", -1, 5 * time.Second, 5 * time.Second, 0}},

		{name: "no source", props: connect.Props{KeyTargetAlias: "B"}, wantErr: "source.cluster.alias and target.cluster.alias are required"},
		{name: "both off", props: base(KeyEmitCheckpointsEnabled, "false"), wantErr: "emit.checkpoints.enabled and sync.group.offsets.enabled are both off"},
		{name: "both off by intervals", props: base(KeyEmitCheckpointsSeconds, "-1", KeySyncGroupOffsetsEnabled, "true", KeySyncGroupOffsetsSeconds, "-5"),
			wantErr: "both off"},
		{name: "zero interval", props: base(KeyEmitCheckpointsSeconds, "0"), wantErr: `emit.checkpoints.interval.seconds: "0" is no interval`},
		{name: "zero refresh", props: base(KeyRefreshGroupsSeconds, "0"), wantErr: "refresh.groups.interval.seconds"},
		{name: "interval not a number", props: base(KeySyncGroupOffsetsSeconds, "soon"), wantErr: `"soon" is not a number of seconds`},
		{name: "bool", props: base(KeySyncGroupOffsetsEnabled, "yes"), wantErr: `sync.group.offsets.enabled: "yes" is not true or false`},
		{name: "factor zero", props: base(KeyCheckpointsReplicationFactor, "0"), wantErr: "checkpoints.topic.replication.factor: 0 is not a replication factor"},
		{name: "factor not a number", props: base(KeyCheckpointsReplicationFactor, "x"), wantErr: `"x" is not an integer`},
		{name: "unknown policy", props: base("replication.policy.class", "com.example.Custom"), wantErr: "unsupported policy class"},
		{name: "bad group filter", props: base("groups", "(?=x)"), wantErr: "groups"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCheckpointConfig(tc.props)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseCheckpointConfig error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := want{got.CheckpointsTopic, got.ReplicationFactor, got.RefreshGroupsInterval, got.EmitInterval, got.SyncInterval}
			if g != tc.want || got.IndexTopic != "mm2go-offset-index.A.internal" || got.SourceAlias != "A" || got.TargetAlias != "B" {
				t.Fatalf("ParseCheckpointConfig = %+v, want %+v", got, tc.want)
			}
			if !got.Groups.ShouldReplicateGroup("app") || got.Groups.ShouldReplicateGroup("console-consumer-1") ||
				!got.Topics.ShouldReplicateTopic("t") || got.Topics.ShouldReplicateTopic("x.internal") {
				t.Fatalf("default filters not applied")
			}
		})
	}
}

func TestChunkGroups(t *testing.T) {
	g := []string{"a", "b", "c", "d", "e"}
	tests := []struct {
		groups []string
		n      int
		want   [][]string
	}{
		{g, 2, [][]string{{"a", "b", "c"}, {"d", "e"}}},
		{g, 3, [][]string{{"a", "b"}, {"c", "d"}, {"e"}}},
		{g, 5, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}},
		{g, 9, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}},
		{g, 1, [][]string{g}},
		{nil, 4, nil},
		{g, 0, nil},
	}
	for _, tc := range tests {
		got := chunkGroups(tc.groups, tc.n)
		if len(got) != len(tc.want) {
			t.Fatalf("chunkGroups(%v, %d) = %v, want %v", tc.groups, tc.n, got, tc.want)
		}
		for i := range got {
			if !slices.Equal(got[i], tc.want[i]) {
				t.Fatalf("chunkGroups(%v, %d) = %v, want %v", tc.groups, tc.n, got, tc.want)
			}
		}
		if len(got) > 1 {
			got[0] = append(got[0], "x") // chunks must not share backing arrays
			if got[1][0] == "x" {
				t.Fatalf("chunk 0 grew into chunk 1")
			}
		}
	}
}

func TestAssignedGroups_RoundTrip(t *testing.T) {
	if got := joinGroups([]string{"a", "b,c", `d\e`, ""}); got != `a,b\,c,d\\e,` {
		t.Fatalf("joinGroups = %q", got)
	}
	rapid.Check(t, func(t *rapid.T) {
		groups := rapid.SliceOfN(rapid.StringMatching(`[a-z,\\ .-]{1,6}`), 1, 8).Draw(t, "groups")
		got, err := splitGroups(joinGroups(groups))
		if err != nil || !slices.Equal(got, groups) {
			t.Fatalf("splitGroups(joinGroups(%q)) = %q, %v", groups, got, err)
		}
	})
	if got, err := splitGroups(""); err != nil || got != nil {
		t.Fatalf(`splitGroups("") = %q, %v; want none`, got, err)
	}
	if _, err := splitGroups(`a,b\`); err == nil || !strings.Contains(err.Error(), "task.assigned.groups") {
		t.Fatalf("splitGroups with a dangling escape: %v", err)
	}
}

func TestDiffSorted(t *testing.T) {
	added, removed := diffSorted([]string{"a", "b", "d"}, []string{"b", "c", "d", "e"})
	if !slices.Equal(added, []string{"c", "e"}) || !slices.Equal(removed, []string{"a"}) {
		t.Fatalf("diffSorted = %v, %v", added, removed)
	}
}

func TestMirrorCheckpoint_TaskConfigs(t *testing.T) {
	props := connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B"}
	m := &MirrorCheckpoint{cc: &connect.ConnectorContext{Props: props}, groups: []string{"a", "b,c", "d"}}
	got, err := m.TaskConfigs(2)
	if err != nil || len(got) != 2 {
		t.Fatalf("TaskConfigs(2) = %v, %v", got, err)
	}
	for i, want := range [][]string{{"a", "b,c"}, {"d"}} {
		groups, err := splitGroups(got[i][KeyAssignedGroups])
		if err != nil || !slices.Equal(groups, want) || got[i][KeyTaskIndex] != []string{"0", "1"}[i] || got[i][KeySourceAlias] != "A" {
			t.Errorf("task %d config %v: groups %q, %v; want %q", i, got[i], groups, err, want)
		}
	}
	if _, ok := props[KeyAssignedGroups]; ok {
		t.Errorf("TaskConfigs changed the connector's props")
	}
	m.groups = nil
	if got, err := m.TaskConfigs(2); err != nil || len(got) != 0 {
		t.Errorf("TaskConfigs without groups = %v, %v; want no tasks", got, err)
	}
	if _, ok := m.NewTask().(*MirrorCheckpointTask); !ok {
		t.Errorf("NewTask is not a MirrorCheckpointTask")
	}
	for range 2 { // idempotent, and nothing started
		if err := m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// cpCluster starts a one-broker fake cluster with topics t and excluded,
// and returns it with a client of it.
func cpCluster(t *testing.T) (*kfake.Cluster, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ClusterID("cp"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for _, topic := range []string{"t", "excluded"} {
		if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	return c, cl
}

func commitGroup(t *testing.T, cl *kgo.Client, group, topic string, p int32, at int64) {
	t.Helper()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(context.Background(), group, os); err != nil {
		t.Fatal(err)
	}
}

func TestFindGroups(t *testing.T) {
	c, cl := cpCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	commitGroup(t, cl, "g2", "t", 1, 7)
	commitGroup(t, cl, "g1", "t", 0, 5)
	commitGroup(t, cl, "console-consumer-9", "t", 0, 5) // excluded by the default groups.exclude
	commitGroup(t, cl, "elsewhere", "excluded", 0, 5)   // commits only on an excluded topic
	commitGroup(t, cl, "", "t", 0, 5)                   // no consumer can use an empty group id
	f, err := policy.FiltersFromProps(map[string]string{"topics.exclude": "excluded"})
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	got, err := findGroups(ctx, adm, f.Groups, f.Topics)
	if err != nil || !slices.Equal(got, []string{"g1", "g2"}) {
		t.Fatalf("findGroups = %v, %v; want [g1 g2]", got, err)
	}
	none, err := policy.NewGroupFilter("nothing-matches", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := findGroups(ctx, adm, none, f.Topics); err != nil || got != nil {
		t.Fatalf("findGroups with no group accepted = %v, %v", got, err)
	}

	c.ControlKey(int16(kmsg.OffsetFetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.OffsetFetchRequest)
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil, true
	})
	if _, err := findGroups(ctx, adm, f.Groups, f.Topics); err == nil || !strings.Contains(err.Error(), "fetch offsets of group g1") {
		t.Fatalf("findGroups with offsets refused: %v", err)
	}
	c.ControlKey(int16(kmsg.ListGroups), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		resp := kreq.ResponseKind().(*kmsg.ListGroupsResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil, true
	})
	if _, err := findGroups(ctx, adm, f.Groups, f.Topics); err == nil || !strings.HasPrefix(err.Error(), "list groups: ") {
		t.Fatalf("findGroups with listing refused: %v", err)
	}
}

// testTask returns a checkpoint task ready for checkpoints(), with groups
// and a partition handle per key.
func testTask(t *testing.T, groups ...string) (*MirrorCheckpointTask, map[string]*connect.SourcePartition) {
	t.Helper()
	cfg, err := ParseCheckpointConfig(connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B"})
	if err != nil {
		t.Fatal(err)
	}
	handles := make(map[string]*connect.SourcePartition)
	task := &MirrorCheckpointTask{
		cfg: cfg, log: hclog.NewNullLogger(), groups: groups, connector: ClassMirrorCheckpoint,
		emitted:  make(map[checkpointKey]offsets.Checkpoint),
		report:   func(time.Duration) {},
		groupsFn: func(time.Time, []connect.GroupCheckpoint) {},
		partition: func(key []byte) *connect.SourcePartition {
			if handles[string(key)] == nil {
				handles[string(key)] = &connect.SourcePartition{}
			}
			return handles[string(key)]
		},
	}
	return task, handles
}

func TestMirrorCheckpointTask_Checkpoints(t *testing.T) {
	task, handles := testTask(t, "g", strings.Repeat("x", 40000))
	pt := func(p int32, up, down int64, exact bool, meta string) offsets.PartitionTranslation {
		return offsets.PartitionTranslation{Group: "g", SourceTopic: "t", TargetTopic: "A.t", Partition: p,
			SourceOffset: up, TargetOffset: down, Exact: exact, Metadata: meta}
	}
	began := time.UnixMilli(1_700_000_000_000)
	type cp struct {
		p        int32
		up, down int64
	}
	steps := []struct {
		name string
		in   []offsets.PartitionTranslation
		want []cp
	}{
		{"first checkpoints, lower bound included", []offsets.PartitionTranslation{pt(0, 10, 8, true, "m"), pt(1, 20, 15, false, "")}, []cp{{0, 10, 8}, {1, 20, 15}}},
		{"unchanged", []offsets.PartitionTranslation{pt(0, 10, 8, true, "m"), pt(1, 20, 15, false, "")}, nil},
		{"the lower bound becomes exact", []offsets.PartitionTranslation{pt(0, 10, 8, true, "m"), pt(1, 20, 18, true, "")}, []cp{{1, 20, 18}}},
		{"upstream moves within a gap: same target offset", []offsets.PartitionTranslation{pt(0, 11, 8, true, "m")}, nil},
		{"moves on", []offsets.PartitionTranslation{pt(0, 30, 27, true, "m2")}, []cp{{0, 30, 27}}},
		{"the group was reset back on the source: the checkpoint follows the rewind", []offsets.PartitionTranslation{pt(0, 5, 3, true, "")}, []cp{{0, 5, 3}}},
		{"after the rewind it moves on from there", []offsets.PartitionTranslation{pt(0, 6, 4, true, "")}, []cp{{0, 6, 4}}},
		{"and catches up past its last checkpoint", []offsets.PartitionTranslation{pt(0, 31, 28, true, "")}, []cp{{0, 31, 28}}},
		{"the group moves on but the translation is lower (a lower bound): never backwards", []offsets.PartitionTranslation{pt(0, 33, 27, false, "")}, nil},
		{"the group stays but the translation is lower: never backwards", []offsets.PartitionTranslation{pt(0, 31, 26, false, "")}, nil},
		{"untranslated is skipped", []offsets.PartitionTranslation{{Group: "g", TargetTopic: "A.t", Partition: 2, TargetOffset: -1, Err: offsets.ErrNoTranslation}}, nil},
	}
	for _, st := range steps {
		recs := task.checkpoints(map[string][]offsets.PartitionTranslation{"g": st.in}, began)
		if len(recs) != len(st.want) {
			t.Fatalf("%s: %d checkpoints, want %d", st.name, len(recs), len(st.want))
		}
		for i, w := range st.want {
			r := recs[i]
			c, err := offsets.DecodeCheckpoint(r.Record.Key, r.Record.Value)
			if err != nil || c.ConsumerGroupID != "g" || c.Topic != "A.t" || c.Partition != w.p || c.UpstreamOffset != w.up || c.DownstreamOffset != w.down {
				t.Errorf("%s: checkpoint %d = %+v, %v; want %+v", st.name, i, c, err, w)
			}
			key := connect.MirrorCheckpointOffsetKey(ClassMirrorCheckpoint, "g", "A.t", w.p)
			if r.Record.Topic != "A.checkpoints.internal" || r.Record.Partition != 0 || !r.Record.Timestamp.Equal(began) ||
				r.Offset != 0 || r.Partition != handles[string(key)] {
				t.Errorf("%s: record %d: topic %s[%d] at %v, offset %d; want partition 0 of the checkpoints topic, the cycle's start, offset 0 under %s",
					st.name, i, r.Record.Topic, r.Record.Partition, r.Record.Timestamp, r.Offset, key)
			}
		}
	}
	// A group name too long for MM2's STRING is skipped, not fatal.
	long := strings.Repeat("x", 40000)
	recs := task.checkpoints(map[string][]offsets.PartitionTranslation{long: {{Group: long, TargetTopic: "A.t", TargetOffset: 1, Exact: true}}}, began)
	if len(recs) != 0 {
		t.Fatalf("checkpoint of a 40000-byte group name: %d records", len(recs))
	}
}

// TestMirrorCheckpointTask_GroupStates checks what a cycle reports per
// group: records consumed past each partition's latest checkpoint, and the
// partitions with no checkpoint.
func TestMirrorCheckpointTask_GroupStates(t *testing.T) {
	task, _ := testTask(t, "g", "h", "gone")
	pt := func(g string, p int32, up, down int64, err error) offsets.PartitionTranslation {
		return offsets.PartitionTranslation{Group: g, SourceTopic: "t", TargetTopic: "A.t", Partition: p,
			SourceOffset: up, TargetOffset: down, Exact: err == nil, Err: err}
	}
	began := time.UnixMilli(1_700_000_000_000)
	byGroup := map[string][]offsets.PartitionTranslation{
		"g": {pt("g", 0, 10, 10, nil), pt("g", 1, 20, 20, nil)},
		"h": {pt("h", 0, 7, -1, offsets.ErrNoTranslation)},
	}
	task.checkpoints(byGroup, began)
	got := task.groupStates(byGroup)
	want := []connect.GroupCheckpoint{{Group: "g", UpToDate: true}, {Group: "h", Untranslated: 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("after the first cycle: %+v, want %+v", got, want)
	}
	// g reads on: partition 0 to a target offset the index cannot place
	// higher (no new checkpoint: 5 records of lag), partition 1 to one it
	// can; a group reset back on the source is no lag. h becomes
	// translatable.
	byGroup = map[string][]offsets.PartitionTranslation{
		"g": {pt("g", 0, 15, 10, nil), pt("g", 1, 25, 25, nil), pt("g", 2, 3, -1, offsets.ErrNoTranslation)},
		"h": {pt("h", 0, 7, 7, nil)},
	}
	task.checkpoints(byGroup, began.Add(time.Second))
	byGroup["g"] = append(byGroup["g"], pt("g", 3, 1, 1, nil))
	task.emitted[checkpointKey{"g", "A.t", 3}] = offsets.Checkpoint{UpstreamOffset: 9} // reset back from 9 to 1
	got = task.groupStates(byGroup)
	want = []connect.GroupCheckpoint{{Group: "g", LagRecords: 5, Untranslated: 1}, {Group: "h", UpToDate: true}}
	if !slices.Equal(got, want) {
		t.Fatalf("after the second cycle: %+v, want %+v", got, want)
	}
}

func TestLoadCheckpoints(t *testing.T) {
	c, cl := cpCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	if got, err := loadCheckpoints(ctx, opts, "A.checkpoints.internal", []string{"g"}); err != nil || len(got) != 0 {
		t.Fatalf("loadCheckpoints of a missing topic = %v, %v", got, err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "A.checkpoints.internal"); err != nil {
		t.Fatal(err)
	}
	rec := func(c offsets.Checkpoint, tombstone bool) *kgo.Record {
		k, _ := c.Key()
		v, _ := c.Value()
		if tombstone {
			v = nil
		}
		return &kgo.Record{Topic: "A.checkpoints.internal", Key: k, Value: v}
	}
	g0 := offsets.Checkpoint{ConsumerGroupID: "g", Topic: "A.t", Partition: 0, UpstreamOffset: 10, DownstreamOffset: 8}
	g0b := offsets.Checkpoint{ConsumerGroupID: "g", Topic: "A.t", Partition: 0, UpstreamOffset: 20, DownstreamOffset: 17, Metadata: "m"}
	g1 := offsets.Checkpoint{ConsumerGroupID: "g", Topic: "A.t", Partition: 1, UpstreamOffset: 5, DownstreamOffset: 5}
	other := offsets.Checkpoint{ConsumerGroupID: "other", Topic: "A.t", Partition: 0, UpstreamOffset: 1, DownstreamOffset: 1}
	recs := []*kgo.Record{rec(g0, false), rec(g1, false), rec(other, false), rec(g0b, false), rec(g1, true),
		{Topic: "A.checkpoints.internal", Key: []byte{0}, Value: []byte{1}}}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got, err := loadCheckpoints(ctx, opts, "A.checkpoints.internal", []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[checkpointKey{"g", "A.t", 0}] != g0b {
		t.Fatalf("loadCheckpoints = %+v, want only the last of g's partition 0 (partition 1 deleted, other group skipped)", got)
	}
	c.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, errors.New("connection dropped"), true
	})
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	if _, err := loadCheckpoints(sctx, opts, "A.checkpoints.internal", []string{"g"}); err == nil ||
		!strings.HasPrefix(err.Error(), "load checkpoints from A.checkpoints.internal: ") {
		t.Fatalf("loadCheckpoints when the target fails: %v", err)
	}
}

func TestMirrorCheckpointTask_StartConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		props connect.Props
		want  string
	}{
		{connect.Props{KeySourceAlias: "A"}, "config: source.cluster.alias and target.cluster.alias are required"},
		{connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B", KeyAssignedGroups: `g\`}, "task.assigned.groups"},
	} {
		task := &MirrorCheckpointTask{}
		err := task.Start(context.Background(), &connect.TaskContext{Props: tc.props, Logger: hclog.NewNullLogger()})
		if err == nil || !strings.Contains(err.Error(), tc.want) || connect.IsRetriable(err) {
			t.Errorf("Start(%v) = %v, want a fatal error containing %q", tc.props, err, tc.want)
		}
		if err := task.Stop(context.Background()); err != nil {
			t.Errorf("Stop after a failed Start: %v", err)
		}
	}
}

// TestMirrorCheckpointTask_Poll: Poll hands over a batch as soon as the
// loop has one, and otherwise returns nothing after consumer.poll.timeout.ms
// at most, or at once when ctx ends.
func TestMirrorCheckpointTask_Poll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := ParseCheckpointConfig(connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B", KeyPollTimeout: "700"})
		if err != nil {
			t.Fatal(err)
		}
		task := &MirrorCheckpointTask{cfg: cfg, batches: make(chan []connect.SourceRecord)}
		batch := []connect.SourceRecord{{Record: &kgo.Record{Value: []byte("x")}}}
		time.AfterFunc(300*time.Millisecond, func() { task.batches <- batch })
		began := time.Now()
		recs, err := task.Poll(context.Background())
		if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Record.Value, []byte("x")) || time.Since(began) != 300*time.Millisecond {
			t.Fatalf("Poll = %v, %v after %v; want the batch after 300ms", recs, err, time.Since(began))
		}
		began = time.Now()
		if recs, err := task.Poll(context.Background()); recs != nil || err != nil || time.Since(began) != 700*time.Millisecond {
			t.Fatalf("idle Poll = %v, %v after %v; want nothing after consumer.poll.timeout.ms (700ms)", recs, err, time.Since(began))
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		began = time.Now()
		if recs, err := task.Poll(ctx); recs != nil || err != nil || time.Since(began) != 100*time.Millisecond {
			t.Fatalf("cancelled Poll = %v, %v after %v", recs, err, time.Since(began))
		}
	})
}

func TestAdvance(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		next, now, want time.Time
	}{
		{t0, t0, t0.Add(5 * time.Second)},
		{t0, t0.Add(time.Second), t0.Add(5 * time.Second)},
		{t0, t0.Add(12 * time.Second), t0.Add(17 * time.Second)}, // fell behind: no burst
	} {
		if got := advance(tc.next, 5*time.Second, tc.now); !got.Equal(tc.want) {
			t.Errorf("advance(%v, 5s, %v) = %v, want %v", tc.next, tc.now, got, tc.want)
		}
	}
}

// taskClusters returns a source cluster with topic t (20 records) on which
// group g committed offset 10, a target cluster whose offset index says the
// 20 records were copied one for one, and a task wired to both, with its log
// in buf.
func taskClusters(t *testing.T, props connect.Props) (src, tgt *kfake.Cluster, task *MirrorCheckpointTask, buf *lockedBuffer) {
	t.Helper()
	ctx := context.Background()
	src, scl := cpCluster(t)
	tgt, tcl := cpCluster(t)
	recs := make([]*kgo.Record, 20)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "t"}
	}
	if err := scl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	commitGroup(t, scl, "g", "t", 0, 10)
	adm := kadm.NewClient(tcl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, offsets.IndexTopic("A")); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "A.t"); err != nil {
		t.Fatal(err)
	}
	e := offsets.IndexEntry{Topic: "t", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 19}
	k, _ := e.Key()
	if err := tcl.ProduceSync(ctx, &kgo.Record{Topic: offsets.IndexTopic("A"), Key: k, Value: e.Value()}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	task, _ = testTask(t, "g")
	cfg, err := ParseCheckpointConfig(props)
	if err != nil {
		t.Fatal(err)
	}
	buf = &lockedBuffer{}
	task.cfg, task.log = cfg, hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: buf})
	task.src = kadm.NewClient(scl)
	task.tgt = tcl
	if task.tail, err = offsets.NewIndexTail(tcl.Opts(), cfg.IndexTopic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(task.tail.Close)
	task.syncer = newGroupSyncer(tcl, task.log)
	task.batches = make(chan []connect.SourceRecord)
	return src, tgt, task, buf
}

func TestMirrorCheckpointTask_Translate(t *testing.T) {
	src, tgt, task, buf := taskClusters(t, connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	task.groups = []string{"g", "never-committed"}
	got, err := task.translate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := offsets.PartitionTranslation{Group: "g", SourceTopic: "t", TargetTopic: "A.t", Partition: 0, SourceOffset: 10, TargetOffset: 10, Exact: true, Lag: -1}
	if len(got) != 1 || len(got["g"]) != 1 || got["g"][0] != want {
		t.Fatalf("translate = %+v, want g: %+v", got, want)
	}

	// A group whose offsets the source refuses is skipped with a warning.
	src.ControlKey(int16(kmsg.OffsetFetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.OffsetFetchRequest)
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil, true
	})
	task.groups = []string{"g"}
	if got, err := task.translate(ctx); err != nil || len(got) != 0 {
		t.Fatalf("translate with g refused = %+v, %v; want nothing", got, err)
	}
	if logged := buf.take(); !strings.Contains(logged, "[WARN]  cannot fetch committed offsets of group; skipping it this cycle: group=g cluster=A") {
		t.Fatalf("no warning for the refused group:\n%s", logged)
	}

	// The index cannot be read: the cycle fails.
	tgt.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		tgt.KeepControl()
		return nil, errors.New("connection dropped"), true
	})
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	if _, err := task.translate(sctx); err == nil || !strings.HasPrefix(err.Error(), "read offset index mm2go-offset-index.A.internal on B: ") {
		t.Fatalf("translate without the index: %v", err)
	}
}

// TestMirrorCheckpointTask_Loop runs the task's loop: it emits the
// checkpoint, syncs the target group, and logs a failed cycle and goes on.
func TestMirrorCheckpointTask_Loop(t *testing.T) {
	src, tgt, task, buf := taskClusters(t, connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B",
		KeyEmitCheckpointsSeconds: "0.1", KeySyncGroupOffsetsEnabled: "true", KeySyncGroupOffsetsSeconds: "0.1"})
	var cycles atomic.Int64
	task.report = func(d time.Duration) {
		if d > 0 {
			cycles.Add(1)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		task.loop(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case recs := <-task.batches:
		c, err := offsets.DecodeCheckpoint(recs[0].Record.Key, recs[0].Record.Value)
		if err != nil || len(recs) != 1 || c.UpstreamOffset != 10 || c.DownstreamOffset != 10 || c.Topic != "A.t" {
			t.Fatalf("loop emitted %d records, first %+v, %v", len(recs), c, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("loop emitted no checkpoint")
	}
	adm := kadm.NewClient(task.tgt)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if o, err := adm.FetchOffsets(context.Background(), "g"); err == nil {
			if r, ok := o.Lookup("A.t", 0); ok && r.At == 10 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("loop did not sync group g to the target")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Each cycle is reported to the worker and logged at Debug; a cycle that
	// a busy machine makes slower than the 100ms interval is a warning
	// instead, so wait for one that is not.
	var logged strings.Builder
	for deadline := time.Now().Add(10 * time.Second); cycles.Load() == 0 ||
		!strings.Contains(logged.String(), "[DEBUG] checkpoint cycle: groups=1 partitions=1 checkpoints_emitted="); {
		if time.Now().After(deadline) {
			t.Fatalf("no cycle reported (%d) and logged at Debug:\n%s", cycles.Load(), logged.String())
		}
		time.Sleep(50 * time.Millisecond)
		logged.WriteString(buf.take())
	}
	// A cycle slower than its interval is a warning.
	var slow atomic.Bool
	slow.Store(true)
	src.ControlKey(int16(kmsg.OffsetFetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		src.KeepControl()
		if slow.Load() {
			time.Sleep(150 * time.Millisecond)
		}
		return nil, nil, false
	})
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(buf.take(), "[WARN]  checkpoint cycle took longer than its interval"); {
		if time.Now().After(deadline) {
			t.Fatal("no warning for a slow cycle")
		}
		time.Sleep(100 * time.Millisecond)
	}
	slow.Store(false)
	refuseListOffsets(tgt)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(buf.take(), "[WARN]  checkpoint cycle failed; will retry"); {
		if time.Now().After(deadline) {
			t.Fatal("no warning for a failed cycle")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// refuseListOffsets makes c answer every ListOffsets partition with
// TOPIC_AUTHORIZATION_FAILED.
func refuseListOffsets(c *kfake.Cluster) {
	c.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		lreq := req.(*kmsg.ListOffsetsRequest)
		resp := lreq.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range lreq.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}
