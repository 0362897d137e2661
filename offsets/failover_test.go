package offsets

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// writeCheckpoints writes checkpoint records, with the given timestamps, to
// A.checkpoints.internal on B.
func (e *translateEnv) writeCheckpoints(t *testing.T, at time.Time, cps ...Checkpoint) {
	t.Helper()
	for _, cp := range cps {
		k, err := cp.Key()
		if err != nil {
			t.Fatal(err)
		}
		v, err := cp.Value()
		if err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Topic: DefaultCheckpointsTopic("A"), Key: k, Value: v, Timestamp: at}
		if err := e.tgt.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTranslateGroup_FromTarget(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(e.tgt).CreateTopic(ctx, 1, 1, nil, DefaultCheckpointsTopic("A")); err != nil {
		t.Fatal(err)
	}
	old, recent := time.UnixMilli(1_700_000_000_000), time.UnixMilli(1_700_000_060_000)
	cp := func(group, topic string, p int32, up, down int64) Checkpoint {
		return Checkpoint{ConsumerGroupID: group, Topic: topic, Partition: p, UpstreamOffset: up, DownstreamOffset: down, Metadata: group + "-m"}
	}
	e.writeCheckpoints(t, old,
		cp("g", "A.t", 0, 30, 30),
		cp("g", "A.t", 0, 50, 45), // a lower bound, written when the index knew less
		cp("g", "A.tx", 0, 18, 15),
		cp("g", "A.late", 0, 5, 3), // from MM2's syncs: the index has nothing at or before 5
		cp("g", "A.t", 1, 7, 7),    // the index knows nothing of t[1]
		cp("g", "X.other", 0, 9, 9),
		cp("ahead", "A.t", 0, 85, 80),
	)
	e.writeCheckpoints(t, recent, cp("g", "A.t", 0, 50, 45))

	// The source is not asked: no client for it at all.
	req := e.request("g")
	req.Source, req.FromTarget = nil, true
	got, err := TranslateGroup(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		src, tgt         string
		p                int32
		from, to         int64
		exact, fromCp    bool
		behind, notOnTgt int64
		at               time.Time
	}
	want := []row{
		{"late", "A.late", 0, 5, 3, false, true, 0, 0, old},
		// Re-translated with today's index: exact, where the checkpoint
		// was a lower bound. The newest checkpoint's time.
		{"t", "A.t", 0, 50, 50, true, false, 10, 0, recent},
		{"t", "A.t", 1, 7, 7, false, true, -1, 0, old},
		// Read past the last marker: the target holds nothing after the
		// last record, so the translation is exact, and the one offset in
		// between (the marker) is not on the target.
		{"tx", "A.tx", 0, 18, 15, true, false, 0, 1, old},
		{"", "X.other", 0, 9, 9, false, true, -1, 0, old},
	}
	if len(got) != len(want) {
		t.Fatalf("TranslateGroup(g, FromTarget) = %+v, want %d partitions", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.SourceTopic != w.src || g.TargetTopic != w.tgt || g.Partition != w.p || g.SourceOffset != w.from ||
			g.TargetOffset != w.to || g.Exact != w.exact || g.FromCheckpoint != w.fromCp || g.IndexBehind != w.behind ||
			g.NotOnTarget != w.notOnTgt || !g.CheckpointTime.Equal(w.at) || g.Basis != BasisCheckpoints || g.Lag != -1 ||
			g.Metadata != "g-m" || g.Err != nil {
			t.Errorf("partition %d = %+v\nwant %+v", i, g, w)
		}
	}

	// Ahead of the index with records on the target it does not know: the
	// lower bound, inexact, up to 10 records read again.
	req.Group = "ahead"
	got, err = TranslateGroup(ctx, req)
	if err != nil || len(got) != 1 || got[0].TargetOffset != 80 || got[0].Exact || got[0].IndexBehind != 10 || got[0].NotOnTarget != 0 {
		t.Fatalf("TranslateGroup(ahead, FromTarget) = %+v, %v; want 80, inexact, 10 behind", got, err)
	}

	// A loaded store is used as is.
	store, err := LoadCheckpointStore(ctx, e.tgt.Opts(), DefaultCheckpointsTopic("A"))
	if err != nil {
		t.Fatal(err)
	}
	if gs := store.Groups(); len(gs) != 2 || gs[0] != "ahead" || gs[1] != "g" || !store.Newest().Equal(recent) || store.Stats().Records != 8 {
		t.Fatalf("store: groups %v, newest %v, stats %+v", gs, store.Newest(), store.Stats())
	}
	req.Checkpoints, req.CheckpointsTopic, req.Group = store, "not.read", "g"
	if got, err := TranslateGroup(ctx, req); err != nil || len(got) != 5 {
		t.Fatalf("TranslateGroup with a loaded store = %+v, %v", got, err)
	}
}

func TestTranslateGroup_FromTargetErrors(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := e.request("g")
	req.Source, req.FromTarget = nil, true

	// No checkpoint connector has written to B.
	if _, err := TranslateGroup(ctx, req); !errors.Is(err, ErrTopicNotFound) ||
		err.Error() != "translate group g from the target: read checkpoints from A.checkpoints.internal: A.checkpoints.internal: topic not found" {
		t.Errorf("no checkpoints topic: %v", err)
	}
	// The topic exists, the group has no checkpoint yet (or only a
	// tombstone).
	if _, err := kadm.NewClient(e.tgt).CreateTopic(ctx, 1, 1, nil, DefaultCheckpointsTopic("A")); err != nil {
		t.Fatal(err)
	}
	e.writeCheckpoints(t, time.Now(), Checkpoint{ConsumerGroupID: "other", Topic: "A.t", Partition: 0, UpstreamOffset: 1, DownstreamOffset: 1})
	gone := Checkpoint{ConsumerGroupID: "g", Topic: "A.t", Partition: 0, UpstreamOffset: 1, DownstreamOffset: 1}
	e.writeCheckpoints(t, time.Now(), gone)
	k, _ := gone.Key()
	if err := e.tgt.ProduceSync(ctx, &kgo.Record{Topic: DefaultCheckpointsTopic("A"), Key: k}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := TranslateGroup(ctx, req); !errors.Is(err, ErrNoCheckpoints) ||
		err.Error() != "translate group g from the target: no checkpoints of the group in A.checkpoints.internal" {
		t.Errorf("no checkpoint of the group: %v", err)
	}
	// Without FromTarget a Source is still required.
	req.FromTarget = false
	if _, err := TranslateGroup(ctx, req); err == nil || err.Error() != "translate group: Source not set" {
		t.Errorf("no source, not from target: %v", err)
	}
	// The target's end offsets cannot be listed.
	req.FromTarget, req.Group = true, "other"
	e.b.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.b.KeepControl()
		return nil, errors.New("connection dropped"), true
	})
	store, err := LoadCheckpointStore(ctx, e.tgt.Opts(), DefaultCheckpointsTopic("A"))
	if err == nil {
		t.Fatalf("LoadCheckpointStore with ListOffsets failing = %v", store)
	}
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	defer scancel()
	req.Index, req.Checkpoints = NewIndex(), &CheckpointStore{topic: "x", groups: map[string]map[TopicPartition]TimedCheckpoint{
		"other": {{"A.t", 0}: {Checkpoint: Checkpoint{ConsumerGroupID: "other", Topic: "A.t", UpstreamOffset: 1, DownstreamOffset: 1}}},
	}}
	if _, err := TranslateGroup(sctx, req); err == nil || !strings.Contains(err.Error(), "translate group other: list end offsets on the target: ") {
		t.Errorf("target end offsets unlisted: %v", err)
	}
}

func TestTranslateGroup_PastSourceEndAndIndexBehind(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.commit(t, e.src, "g",
		kadm.Offset{Topic: "t", Partition: 0, At: 150, LeaderEpoch: -1}, // t[0] ends at 100
		kadm.Offset{Topic: "tx", Partition: 0, At: 18, LeaderEpoch: -1},
	)
	began := time.Now()
	got, err := TranslateGroup(ctx, e.request("g"))
	if err != nil || len(got) != 2 {
		t.Fatalf("TranslateGroup = %+v, %v", got, err)
	}
	if p := got[0]; !p.PastSourceEnd || p.Exact || p.TargetOffset != 80 || p.IndexBehind != 10 || p.Basis != BasisSourceCommits {
		t.Errorf("offset past the source's end: %+v; want flagged, inexact, 80, 10 behind", p)
	}
	if p := got[1]; p.PastSourceEnd || !p.Exact || p.IndexBehind != 0 {
		t.Errorf("tx[0]: %+v", p)
	}
	// Past the end, the source is not read for markers that cannot exist.
	if took := time.Since(began); took >= markerCheckTimeout {
		t.Errorf("TranslateGroup took %v: it waited for records past the end", took)
	}
}

func TestProbeCluster(t *testing.T) {
	e := newTranslateEnv(t)
	ctx := context.Background()
	if err := ProbeCluster(ctx, e.src, time.Second); err != nil {
		t.Fatalf("ProbeCluster of a live cluster: %v", err)
	}
	// A port nothing listens on: refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dead := fakeClientAt(t, []string{addr})
	began := time.Now()
	err = ProbeCluster(ctx, dead, 0)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") || time.Since(began) >= DefaultProbeTimeout {
		t.Errorf("ProbeCluster of a closed port = %v after %v; want ErrUnreachable saying connection refused, at once", err, time.Since(began))
	}
	// A broker that never answers: the timeout.
	e.a.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.a.KeepControl()
		return nil, nil, true
	})
	silent := fakeClientAt(t, e.a.ListenAddrs())
	if err := ProbeCluster(ctx, silent, 300*time.Millisecond); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "no broker answered within 300ms") {
		t.Errorf("ProbeCluster of a silent broker = %v", err)
	}
	// The caller's ctx ends first: its error, not ErrUnreachable.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := ProbeCluster(cctx, silent, time.Second); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Errorf("ProbeCluster with a cancelled ctx = %v", err)
	}
}

func TestIndex_TranslateBack(t *testing.T) {
	ix := NewIndex()
	for _, e := range []IndexEntry{
		{Topic: "t", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 9},
		// 10 is a transaction marker.
		{Topic: "t", Partition: 0, Upstream: 11, Downstream: 10, PrevUpstream: 9, PrevDownstream: 9, LastUpstream: 20},
		// 21..29 were removed by compaction before the copy.
		{Topic: "t", Partition: 0, Upstream: 30, Downstream: 20, PrevUpstream: 20, PrevDownstream: 19, LastUpstream: 40},
		// A task copied 0..99 to 0..99 but committed only up to 50 before it
		// died; the next one copied again from 51, at 100.
		{Topic: "dup", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 50},
		{Topic: "dup", Partition: 0, Upstream: 51, Downstream: 100, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 200},
		// The target held 5 records before the first copy.
		{Topic: "late", Partition: 0, Upstream: 100, Downstream: 5, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 110},
	} {
		if err := ix.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		topic     string
		committed int64
		up        int64
		exact     bool
		wantErr   error
	}{
		{"first record", "t", 0, 0, true, nil},
		{"inside a run", "t", 5, 5, true, nil},
		{"first record after a marker", "t", 10, 11, true, nil},
		{"last of a run", "t", 19, 20, true, nil},
		{"first record after a compacted gap", "t", 20, 30, true, nil},
		{"last known record", "t", 30, 40, true, nil},
		{"read everything known", "t", 31, 41, true, nil},
		{"read records the index does not know", "t", 35, 41, false, nil},
		{"first copy, known part", "dup", 30, 30, true, nil},
		{"first copy, right after its last commit", "dup", 51, 51, true, nil},
		{"first copy, past its last commit", "dup", 80, 51, false, nil},
		{"second copy, its start", "dup", 100, 51, true, nil},
		{"second copy", "dup", 120, 71, true, nil},
		{"behind the first copy", "late", 3, 0, false, ErrNoTranslation},
		{"the first copy", "late", 5, 100, true, nil},
		{"unknown partition", "other", 3, 0, false, ErrNoTranslation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ix.TranslateBack(tc.topic, 0, tc.committed)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("TranslateBack(%s, %d) = %+v, %v; want %v", tc.topic, tc.committed, got, err, tc.wantErr)
				}
				return
			}
			if want := (Translation{Upstream: tc.up, Downstream: tc.committed, Exact: tc.exact}); err != nil || got != want {
				t.Fatalf("TranslateBack(%s, %d) = %+v, %v; want %+v", tc.topic, tc.committed, got, err, want)
			}
		})
	}
}

func TestTranslateGroupBack(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(e.tgt).CreateTopic(ctx, 1, 1, nil, "local"); err != nil {
		t.Fatal(err)
	}
	// Groups that consumed the copies on B after a failover.
	e.commit(t, e.tgt, "back",
		kadm.Offset{Topic: "A.t", Partition: 0, At: 50, LeaderEpoch: -1, Metadata: "m"},
		kadm.Offset{Topic: "A.tx", Partition: 0, At: 15, LeaderEpoch: -1}, // read all 15 copies
		kadm.Offset{Topic: "local", Partition: 0, At: 0, LeaderEpoch: -1},
	)
	e.commit(t, e.tgt, "past", kadm.Offset{Topic: "A.t", Partition: 0, At: 85, LeaderEpoch: -1})
	req := TranslateBackRequest{FlowSource: e.src, FlowTarget: e.tgt, SourceAlias: "A", RemoteTopic: dotRemote, Group: "back"}
	got, err := TranslateGroupBack(ctx, req)
	if err != nil || len(got) != 3 {
		t.Fatalf("TranslateGroupBack(back) = %+v, %v", got, err)
	}
	if p := got[0]; p.SourceTopic != "A.t" || p.TargetTopic != "t" || p.SourceOffset != 50 || p.TargetOffset != 50 || !p.Exact ||
		p.Basis != BasisTargetCommits || p.Metadata != "m" || p.IndexBehind != 10 || p.Lag != -1 || p.Err != nil {
		t.Errorf("A.t[0]: %+v", p)
	}
	// After the copy of the last record (16): 17, the last commit marker.
	if p := got[1]; p.SourceTopic != "A.tx" || p.TargetTopic != "tx" || p.TargetOffset != 17 || !p.Exact || p.IndexBehind != 0 {
		t.Errorf("A.tx[0]: %+v", p)
	}
	if p := got[2]; p.SourceTopic != "local" || !errors.Is(p.Err, ErrNotReplicated) || p.TargetOffset != -1 ||
		!strings.Contains(p.Err.Error(), "not a copy of a topic of A that the index knows") {
		t.Errorf("local[0]: %+v", p)
	}
	// The commit goes to the flow's source, into the original topics.
	res, err := CommitTranslated(ctx, e.src, "back", got)
	if err != nil || res.Count(Committed) != 2 || res.Count(SkippedUntranslated) != 1 {
		t.Fatalf("CommitTranslated on A = %+v, %v", res, err)
	}
	offs, err := kadm.NewClient(e.src).FetchOffsets(ctx, "back")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("t", 0); o.At != 50 || o.Metadata != "m" {
		t.Errorf("back on A: t[0] at %+v", o)
	}
	if o, _ := offs.Lookup("tx", 0); o.At != 17 {
		t.Errorf("back on A: tx[0] at %+v", o)
	}

	req.Group = "past"
	if got, err := TranslateGroupBack(ctx, req); err != nil || len(got) != 1 || got[0].TargetOffset != 80 || got[0].Exact {
		t.Errorf("TranslateGroupBack(past) = %+v, %v; want 80, inexact", got, err)
	}
	req.Group = "nobody"
	if _, err := TranslateGroupBack(ctx, req); !errors.Is(err, ErrGroupNotFoundOnTarget) ||
		err.Error() != "translate group nobody back: no committed offsets on the flow's target cluster" {
		t.Errorf("unknown group: %v", err)
	}
	if _, err := TranslateGroupBack(ctx, TranslateBackRequest{}); err == nil ||
		err.Error() != "translate group back: FlowSource, FlowTarget, SourceAlias, RemoteTopic, Group not set" {
		t.Errorf("empty request: %v", err)
	}
	req.Group, req.IndexTopic = "back", "missing.index"
	if _, err := TranslateGroupBack(ctx, req); !errors.Is(err, ErrIndexNotFound) {
		t.Errorf("missing index: %v", err)
	}

	// The flow's target cannot list end offsets, then refuses the fetch of
	// the group's offsets.
	req.IndexTopic, req.Index = "", NewIndex()
	if err := req.Index.Add(IndexEntry{Topic: "t", Partition: 0, PrevUpstream: -1, PrevDownstream: -1}); err != nil {
		t.Fatal(err)
	}
	e.b.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.b.KeepControl()
		return nil, errors.New("connection dropped"), true
	})
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	defer scancel()
	if _, err := TranslateGroupBack(sctx, req); err == nil || !strings.Contains(err.Error(), "translate group back back: list end offsets on the flow's target: ") {
		t.Errorf("end offsets unlisted: %v", err)
	}
	e.b.ControlKey(int16(kmsg.OffsetFetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.OffsetFetchRequest)
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil, true
	})
	if _, err := TranslateGroupBack(ctx, req); !errors.Is(err, kerr.GroupAuthorizationFailed) ||
		!strings.Contains(err.Error(), "translate group back back: fetch committed offsets from the flow's target: ") {
		t.Errorf("offset fetch refused: %v", err)
	}
}
