package offsets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestIndex_TranslateCommitted(t *testing.T) {
	ix := NewIndex()
	for _, e := range []IndexEntry{
		{Topic: "t", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 9},
		// 10 is a transaction marker: the next run starts at 11.
		{Topic: "t", Partition: 0, Upstream: 11, Downstream: 10, PrevUpstream: 9, PrevDownstream: 9, LastUpstream: 20},
		// Records 21..29 were removed by compaction before the copy.
		{Topic: "t", Partition: 0, Upstream: 30, Downstream: 20, PrevUpstream: 20, PrevDownstream: 19, LastUpstream: 40},
		// Copied only from 100 on (a start at the end).
		{Topic: "late", Partition: 0, Upstream: 100, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 110},
	} {
		if err := ix.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		topic     string
		committed int64
		want      Translation
		wantErr   error
	}{
		{"first record", "t", 0, Translation{Upstream: 0, Downstream: 0, Exact: true}, nil},
		{"inside a run", "t", 5, Translation{Upstream: 5, Downstream: 5, Exact: true}, nil},
		{"on a marker: the next record", "t", 10, Translation{Upstream: 11, Downstream: 10, Exact: true}, nil},
		{"in a compacted gap", "t", 25, Translation{Upstream: 30, Downstream: 20, Exact: true}, nil},
		{"last known record", "t", 40, Translation{Upstream: 40, Downstream: 30, Exact: true}, nil},
		{"read everything known", "t", 41, Translation{Upstream: 41, Downstream: 31, Exact: true}, nil},
		{"past what the index knows: lower bound", "t", 45, Translation{Upstream: 41, Downstream: 31, Exact: false}, nil},
		{"behind the first copied record", "late", 50, Translation{}, ErrNoTranslation},
		{"partition not copied", "other", 5, Translation{}, ErrNoTranslation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ix.TranslateCommitted(tc.topic, 0, tc.committed)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("TranslateCommitted(%s, %d) error = %v, want %v", tc.topic, tc.committed, err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("TranslateCommitted(%s, %d) = %+v, want %+v", tc.topic, tc.committed, got, tc.want)
			}
		})
	}
}

// translateEnv is a source cluster A and a target cluster B with:
//
//   - t (2 partitions) on A, 100 records each; A.t on B with 90 records in
//     partition 0 and none in 1. The index knows partition 0 up to source
//     offset 79 (copied 1:1) and nothing of partition 1.
//   - tx (1 partition) on A: 3 transactions of 5 records, so offsets 5, 11
//     and 17 are commit markers and the end is 18; A.tx on B holds the 15
//     records, and the index knows all of them.
//   - late (1 partition) on A: 20 records, copied from offset 10 on.
type translateEnv struct {
	a, b     *kfake.Cluster
	src, tgt *kgo.Client
}

func newTranslateEnv(t *testing.T) *translateEnv {
	t.Helper()
	e := &translateEnv{a: newFake(t, "A"), b: newFake(t, "B")}
	e.src, e.tgt = fakeClient(t, e.a), fakeClient(t, e.b)
	ctx := context.Background()
	for _, c := range []struct {
		cl     *kgo.Client
		topic  string
		parts  int32
		counts []int
	}{
		{e.src, "t", 2, []int{100, 100}}, {e.src, "late", 1, []int{20}},
		{e.tgt, "A.t", 2, []int{90, 0}}, {e.tgt, "A.tx", 1, []int{15}}, {e.tgt, "A.late", 1, []int{10}},
		{e.tgt, IndexTopic("A"), 1, nil}, {e.src, "tx", 1, nil},
	} {
		if _, err := kadm.NewClient(c.cl).CreateTopic(ctx, c.parts, 1, nil, c.topic); err != nil {
			t.Fatal(err)
		}
		for p, n := range c.counts {
			recs := make([]*kgo.Record, n)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: c.topic, Partition: int32(p), Value: []byte(fmt.Sprint(i))}
			}
			if err := c.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	txn := fakeClient(t, e.a, kgo.TransactionalID("tx"))
	for i := range 3 {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 5 {
			if err := txn.ProduceSync(ctx, &kgo.Record{Topic: "tx", Value: []byte(fmt.Sprint(i*5 + j))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	e.writeIndex(t,
		IndexEntry{Topic: "t", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 79},
		IndexEntry{Topic: "tx", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 4},
		IndexEntry{Topic: "tx", Partition: 0, Upstream: 6, Downstream: 5, PrevUpstream: 4, PrevDownstream: 4, LastUpstream: 10},
		IndexEntry{Topic: "tx", Partition: 0, Upstream: 12, Downstream: 10, PrevUpstream: 10, PrevDownstream: 9, LastUpstream: 16},
		IndexEntry{Topic: "late", Partition: 0, Upstream: 10, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 19},
	)
	return e
}

func newFake(t *testing.T, id string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.ClusterID(id)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func fakeClient(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (e *translateEnv) writeIndex(t *testing.T, entries ...IndexEntry) {
	t.Helper()
	for _, ie := range entries {
		k, err := ie.Key()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.tgt.ProduceSync(context.Background(), &kgo.Record{Topic: IndexTopic("A"), Key: k, Value: ie.Value()}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *translateEnv) commit(t *testing.T, cl *kgo.Client, group string, offs ...kadm.Offset) {
	t.Helper()
	var os kadm.Offsets
	for _, o := range offs {
		os.Add(o)
	}
	if err := kadm.NewClient(cl).CommitAllOffsets(context.Background(), group, os); err != nil {
		t.Fatal(err)
	}
}

func (e *translateEnv) request(group string) TranslateRequest {
	return TranslateRequest{Source: e.src, Target: e.tgt, SourceAlias: "A", RemoteTopic: dotRemote, Group: group}
}

func dotRemote(alias, topic string) string { return alias + "." + topic }

func TestTranslateGroup(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.commit(t, e.src, "g",
		kadm.Offset{Topic: "t", Partition: 0, At: 50, LeaderEpoch: -1, Metadata: "m0"},
		kadm.Offset{Topic: "t", Partition: 1, At: 20, LeaderEpoch: -1},
		kadm.Offset{Topic: "tx", Partition: 0, At: 18, LeaderEpoch: -1}, // past the last marker: read everything
		kadm.Offset{Topic: "late", Partition: 0, At: 5, LeaderEpoch: -1},
	)
	e.commit(t, e.src, "ahead", kadm.Offset{Topic: "t", Partition: 0, At: 85, LeaderEpoch: -1})

	got, err := TranslateGroup(ctx, e.request("g"))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		src, tgt string
		p        int32
		from, to int64
		exact    bool
		lag      int64
		meta     string
		errIs    error
		errHas   string
	}
	want := []row{
		{"late", "A.late", 0, 5, -1, false, 0, "", ErrNoTranslation, "no translation known"},
		// Index knows up to 79 (target offset 79); the target holds 10
		// more, counted 1:1: reached 90 of 100.
		{"t", "A.t", 0, 50, 50, true, 10, "m0", nil, ""},
		{"t", "A.t", 1, 20, -1, false, -1, "", ErrNotReplicated, "knows no copied record"},
		{"tx", "A.tx", 0, 18, 15, true, 0, "", nil, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("TranslateGroup(g) = %+v, want %d partitions", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Group != "g" || g.SourceTopic != w.src || g.TargetTopic != w.tgt || g.Partition != w.p || g.SourceOffset != w.from ||
			g.TargetOffset != w.to || g.Exact != w.exact || g.Lag != w.lag || g.Metadata != w.meta {
			t.Errorf("partition %d = %+v, want %+v", i, g, w)
		}
		var te *TranslateError
		switch {
		case w.errIs == nil && g.Err != nil:
			t.Errorf("partition %d: unexpected error %v", i, g.Err)
		case w.errIs != nil && (!errors.Is(g.Err, w.errIs) || !errors.As(g.Err, &te) || !strings.Contains(g.Err.Error(), w.errHas)):
			t.Errorf("partition %d: error %v, want a *TranslateError wrapping %v and saying %q", i, g.Err, w.errIs, w.errHas)
		case te != nil && (te.Group != "g" || te.Topic != w.src || te.Offset != w.from):
			t.Errorf("partition %d: %+v", i, te)
		}
	}

	// Ahead of the index with records in between: the lower bound, inexact.
	got, err = TranslateGroup(ctx, e.request("ahead"))
	if err != nil || len(got) != 1 || got[0].TargetOffset != 80 || got[0].Exact || got[0].Err != nil {
		t.Fatalf("TranslateGroup(ahead) = %+v, %v; want target 80, not exact", got, err)
	}

	// A preloaded index is used as is: an empty one translates nothing.
	req := e.request("g")
	req.Index = NewIndex()
	got, err = TranslateGroup(ctx, req)
	if err != nil || got[1].Err == nil || !errors.Is(got[1].Err, ErrNotReplicated) {
		t.Fatalf("TranslateGroup with an empty index = %+v, %v", got, err)
	}
}

func TestTranslateGroup_Errors(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.commit(t, e.src, "g", kadm.Offset{Topic: "t", Partition: 0, At: 50, LeaderEpoch: -1})

	if _, err := TranslateGroup(ctx, TranslateRequest{}); err == nil ||
		err.Error() != "translate group: Source, Target, SourceAlias, RemoteTopic, Group not set" {
		t.Errorf("empty request: %v", err)
	}
	if _, err := TranslateGroup(ctx, e.request("nobody")); !errors.Is(err, ErrGroupNotFound) ||
		err.Error() != "translate group nobody: no committed offsets on the source cluster" {
		t.Errorf("unknown group: %v", err)
	}
	req := e.request("g")
	req.IndexTopic = "missing.index"
	if _, err := TranslateGroup(ctx, req); !errors.Is(err, ErrIndexNotFound) || !strings.Contains(err.Error(), "missing.index") {
		t.Errorf("missing index topic: %v", err)
	}

	// The source cannot be read: neither the check for markers after an
	// inexact translation (ahead), nor the one for markers among the
	// uncopied offsets (g, for its lag).
	e.commit(t, e.src, "ahead", kadm.Offset{Topic: "t", Partition: 0, At: 85, LeaderEpoch: -1})
	refuseFetches(e.a, true)
	for _, g := range []string{"ahead", "g"} {
		if _, err := TranslateGroup(ctx, e.request(g)); !errors.Is(err, kerr.TopicAuthorizationFailed) ||
			!strings.HasPrefix(err.Error(), "translate group "+g+": read t[0] on the source: ") {
			t.Errorf("source unreadable, group %s: %v", g, err)
		}
	}

	// The source refuses to list the group's offsets.
	e.a.ControlKey(int16(kmsg.OffsetFetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.OffsetFetchRequest)
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group = g.Group
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil, true
	})
	if _, err := TranslateGroup(ctx, e.request("g")); err == nil || !strings.Contains(err.Error(), "fetch committed offsets from the source") {
		t.Errorf("offset fetch refused: %v", err)
	}

	// End offsets cannot be listed on either side.
	// (The target first: a failing source fails the call before the target
	// is asked.)
	for _, side := range []struct {
		c    *kfake.Cluster
		want string
	}{{e.b, "list end offsets on the target"}, {e.a, "list end offsets on the source"}} {
		side.c.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
			side.c.KeepControl()
			return nil, errors.New("connection dropped"), true
		})
		sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
		req := e.request("g")
		req.Index = NewIndex()
		_, err := TranslateGroup(sctx, req)
		scancel()
		if err == nil || !strings.Contains(err.Error(), side.want) {
			t.Errorf("ListOffsets fails: %v, want %q", err, side.want)
		}
	}
}

func TestOpenIndex_Errors(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := OpenIndex(ctx, e.tgt, "nope"); !errors.Is(err, ErrIndexNotFound) || err.Error() != "nope: offset index topic not found" {
		t.Errorf("OpenIndex(nope) = %v", err)
	}
	ix, err := OpenIndex(ctx, e.tgt, IndexTopic("A"))
	if err != nil || ix.Len() != 5 {
		t.Fatalf("OpenIndex = %v runs, %v; want 5 runs", ix, err)
	}
	// Metadata requests that name the index topic say access is denied.
	e.b.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		e.b.KeepControl()
		req := kreq.(*kmsg.MetadataRequest)
		if len(req.Topics) != 1 || req.Topics[0].Topic == nil || *req.Topics[0].Topic != IndexTopic("A") {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		st := kmsg.NewMetadataResponseTopic()
		st.Topic = req.Topics[0].Topic
		st.ErrorCode = kerr.TopicAuthorizationFailed.Code
		resp.Topics = append(resp.Topics, st)
		return resp, nil, true
	})
	// A new client: e.tgt has the topic's metadata cached.
	if _, err := OpenIndex(ctx, fakeClientAt(t, e.b.ListenAddrs()), IndexTopic("A")); !errors.Is(err, kerr.TopicAuthorizationFailed) ||
		!strings.HasPrefix(err.Error(), "look up offset index topic mm2go-offset-index.A.internal: ") {
		t.Errorf("OpenIndex without access = %v", err)
	}

	addrs := e.b.ListenAddrs()
	e.b.Close()
	cl := fakeClientAt(t, addrs, kgo.RetryTimeout(time.Second))
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	if _, err := OpenIndex(sctx, cl, IndexTopic("A")); err == nil || !strings.HasPrefix(err.Error(), "look up offset index topic") {
		t.Errorf("OpenIndex on a closed cluster = %v", err)
	}
}

func fakeClientAt(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestOnlyMarkers(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := e.src.Opts()
	for _, tc := range []struct {
		from, to int64
		want     bool
	}{
		{17, 18, true},  // the last commit marker
		{5, 6, true},    // a marker in the middle
		{4, 6, false},   // a record, then a marker
		{16, 18, false}, // the last record and its marker
		{9, 9, true},    // nothing in between
	} {
		got, err := onlyMarkers(ctx, opts, "tx", 0, tc.from, tc.to)
		if err != nil || got != tc.want {
			t.Errorf("onlyMarkers(tx, %d, %d) = %v, %v; want %v", tc.from, tc.to, got, err, tc.want)
		}
	}
	if _, err := onlyMarkers(ctx, append(opts, kgo.ClientID(strings.Repeat("x", 257))), "tx", 0, 17, 18); err == nil || !strings.HasPrefix(err.Error(), "new client: ") {
		t.Errorf("onlyMarkers with bad options: %v", err)
	}
	refuseFetches(e.a, false)
	if _, err := onlyMarkers(ctx, opts, "tx", 0, 17, 18); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("onlyMarkers when the fetch is refused: %v", err)
	}
	dctx, dcancel := context.WithCancel(ctx)
	dcancel()
	if _, err := onlyMarkers(dctx, opts, "tx", 0, 17, 18); !errors.Is(err, context.Canceled) {
		t.Errorf("onlyMarkers with a cancelled context: %v", err)
	}
}

func TestCommitTranslated(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := func(topic string, p int32, to int64, meta string, err error) PartitionTranslation {
		return PartitionTranslation{Group: "g", SourceTopic: topic, TargetTopic: "A." + topic, Partition: p,
			SourceOffset: to, TargetOffset: to, Exact: true, Lag: 0, Metadata: meta, Err: err}
	}
	ts := []PartitionTranslation{
		tr("t", 0, 50, "m0", nil),
		tr("t", 1, 70, "", nil),                           // the target group is already at 80
		tr("tx", 0, -1, "", errors.New("not replicated")), // untranslated
		{Group: "g", SourceTopic: "late", TargetTopic: "A.late", Partition: 0, SourceOffset: 12, TargetOffset: 2, Metadata: "lower"}, // inexact is committed too
	}
	e.commit(t, e.tgt, "g", kadm.Offset{Topic: "A.t", Partition: 1, At: 80, LeaderEpoch: -1})
	res, err := CommitTranslated(ctx, e.tgt, "g", ts)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := []struct {
		st   CommitStatus
		prev int64
	}{{Committed, -1}, {SkippedNotBehind, 80}, {SkippedUntranslated, -1}, {Committed, -1}}
	if res.Group != "g" || len(res.Partitions) != len(wantStatus) {
		t.Fatalf("CommitTranslated = %+v", res)
	}
	for i, w := range wantStatus {
		if p := res.Partitions[i]; p.Status != w.st || p.Previous != w.prev || p.CommitErr != nil {
			t.Errorf("partition %d: %v (previous %d, %v), want %v (previous %d)", i, p.Status, p.Previous, p.CommitErr, w.st, w.prev)
		}
	}
	if res.Count(Committed) != 2 || res.Count(SkippedNotBehind) != 1 || res.Count(SkippedUntranslated) != 1 || res.Count(CommitFailed) != 0 {
		t.Errorf("counts: %+v", res)
	}
	fetched, err := kadm.NewClient(e.tgt).FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []kadm.Offset{
		{Topic: "A.t", Partition: 0, At: 50, LeaderEpoch: -1, Metadata: "m0"},
		{Topic: "A.t", Partition: 1, At: 80, LeaderEpoch: -1},
		{Topic: "A.late", Partition: 0, At: 2, LeaderEpoch: -1, Metadata: "lower"},
	} {
		o, ok := fetched.Lookup(w.Topic, w.Partition)
		if !ok || o.At != w.At || o.Metadata != w.Metadata || o.LeaderEpoch != -1 {
			t.Errorf("target offset of %s[%d] = %+v, want %d with metadata %q and no leader epoch", w.Topic, w.Partition, o.Offset, w.At, w.Metadata)
		}
	}
	if _, ok := fetched.Lookup("A.tx", 0); ok {
		t.Errorf("untranslated A.tx[0] was committed")
	}

	// Run again: nothing is behind any more, nothing is written.
	res, err = CommitTranslated(ctx, e.tgt, "g", ts)
	if err != nil || res.Count(Committed) != 0 || res.Count(SkippedNotBehind) != 3 {
		t.Errorf("second CommitTranslated = %+v, %v; want everything skipped", res, err)
	}
	for _, s := range []CommitStatus{Committed, SkippedNotBehind, SkippedUntranslated, CommitFailed, CommitStatus(9)} {
		if s.String() == "" {
			t.Errorf("CommitStatus(%d) has no name", int(s))
		}
	}

	// A partition the target does not have fails; the others go through.
	res, err = CommitTranslated(ctx, e.tgt, "h", []PartitionTranslation{tr("t", 0, 10, "", nil), {Group: "h", TargetTopic: "A.nope", TargetOffset: 3}})
	if err == nil || !errors.Is(err, kerr.UnknownTopicOrPartition) || !strings.Contains(err.Error(), "commit A.nope[0] at 3") ||
		res.Partitions[0].Status != Committed || res.Partitions[1].Status != CommitFailed {
		t.Errorf("commit with a missing topic = %+v, %v", res, err)
	}
}

// joinGroup joins a consumer to group on c, consuming topic, and waits
// until the group is stable with it.
func joinGroup(t *testing.T, c *kfake.Cluster, group, topic string) *kgo.Client {
	t.Helper()
	m := fakeClient(t, c, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(), kgo.ClientID("member-1"))
	adm := kadm.NewClient(fakeClient(t, c))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		d, err := adm.DescribeGroups(context.Background(), group)
		if err == nil && d[group].State == "Stable" && len(d[group].Members) == 1 {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("group %s did not become stable", group)
	return nil
}

func TestCommitTranslated_ActiveGroup(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := []PartitionTranslation{{Group: "busy", SourceTopic: "t", TargetTopic: "A.t", Partition: 0, SourceOffset: 50, TargetOffset: 50, Exact: true}}
	joinGroup(t, e.b, "busy", "A.t")

	res, err := CommitTranslated(ctx, e.tgt, "busy", ts)
	var active *ActiveGroupError
	if !errors.As(err, &active) || active.Group != "busy" || active.State != "Stable" || len(active.Members) != 1 ||
		active.Members[0].ClientID != "member-1" || active.Err != nil || len(res.Partitions) != 0 {
		t.Fatalf("CommitTranslated on an active group = %+v, %v", res, err)
	}
	msg := err.Error()
	for _, want := range []string{"group busy is active on the target", "state Stable, 1 member(s): ", "(client member-1 from ", "stop its consumers"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if o, _ := kadm.NewClient(e.tgt).FetchOffsets(ctx, "busy"); len(o) != 0 {
		t.Errorf("active group got offsets %v", o)
	}

	// The group becomes active between the check and the commit: here the
	// describe is answered as if the group were empty, and the broker
	// refuses the admin commit (generation -1, no member id) as Kafka does.
	e.b.ControlKey(int16(kmsg.DescribeGroups), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.DescribeGroupsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.State = g, "Empty"
			resp.Groups = append(resp.Groups, dg)
		}
		return resp, nil, true
	})
	res, err = CommitTranslated(ctx, e.tgt, "busy", ts)
	if !errors.As(err, &active) || !errors.Is(err, kerr.UnknownMemberID) || res.Partitions[0].Status != CommitFailed ||
		!strings.Contains(err.Error(), "became active while committing") {
		t.Fatalf("CommitTranslated racing a join = %+v, %v; want an *ActiveGroupError wrapping UNKNOWN_MEMBER_ID", res, err)
	}
	if o, _ := kadm.NewClient(e.tgt).FetchOffsets(ctx, "busy"); len(o) != 0 {
		t.Errorf("active group got offsets %v", o)
	}
}

// TestCommitTranslated_ConsumerProtocolGroup checks a KIP-848 group, which
// Kafka 4 hides from DescribeGroups: it is found through ListGroups and
// ConsumerGroupDescribe.
func TestCommitTranslated_ConsumerProtocolGroup(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fakeClient(t, e.b, kgo.ConsumerGroup("next-gen"), kgo.ConsumeTopics("A.t"), kgo.DisableAutoCommit(),
		kgo.ClientID("member-848"), kgo.ServerSideBalancer())
	adm := kadm.NewClient(e.tgt)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if d, err := adm.DescribeConsumerGroups(ctx, "next-gen"); err == nil && len(d["next-gen"].Members) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the KIP-848 member did not join")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Answer DescribeGroups as Kafka 4 does for a consumer group.
	e.b.ControlKey(int16(kmsg.DescribeGroups), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		e.b.KeepControl()
		req := kreq.(*kmsg.DescribeGroupsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.State, dg.ErrorCode = g, "Dead", kerr.GroupIDNotFound.Code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp, nil, true
	})
	ts := []PartitionTranslation{{Group: "next-gen", TargetTopic: "A.t", Partition: 0, TargetOffset: 50, Exact: true}}
	_, err := CommitTranslated(ctx, e.tgt, "next-gen", ts)
	var active *ActiveGroupError
	if !errors.As(err, &active) || len(active.Members) != 1 || active.Members[0].ClientID != "member-848" || active.Err != nil {
		t.Fatalf("CommitTranslated on an active KIP-848 group = %v", err)
	}
	// A group that does not exist anywhere is not active.
	if _, err := CommitTranslated(ctx, e.tgt, "fresh", ts); err != nil {
		t.Errorf("CommitTranslated on a new group: %v", err)
	}
}

// TestCommitTranslatedGroups commits many groups at once: each group gets
// what CommitTranslated would give it, an active group or a failed partition
// stays with its group, and the batch takes one describe, one list and one
// offset fetch, and a commit only for groups that have offsets to move.
func TestCommitTranslatedGroups(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	joinGroup(t, e.b, "busy", "A.t")
	e.commit(t, e.tgt, "ahead", kadm.Offset{Topic: "A.t", Partition: 0, At: 80, LeaderEpoch: -1})
	var requests [kmsg.MaxKey + 1]atomic.Int64
	for _, k := range []kmsg.Key{kmsg.DescribeGroups, kmsg.ListGroups, kmsg.OffsetFetch, kmsg.OffsetCommit} {
		e.b.ControlKey(int16(k), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			e.b.KeepControl()
			requests[kreq.Key()].Add(1)
			return nil, nil, false // observe only
		})
	}
	at := func(group, topic string, to int64) PartitionTranslation {
		return PartitionTranslation{Group: group, SourceTopic: strings.TrimPrefix(topic, "A."), TargetTopic: topic, Partition: 0,
			SourceOffset: to, TargetOffset: to, Exact: true}
	}
	byGroup := map[string][]PartitionTranslation{
		"busy":    {at("busy", "A.t", 50)},
		"ahead":   {at("ahead", "A.t", 70)},
		"partial": {at("partial", "A.t", 10), at("partial", "A.nope", 3)},
	}
	const fresh = 20
	for i := range fresh {
		g := fmt.Sprintf("fresh-%02d", i)
		byGroup[g] = []PartitionTranslation{at(g, "A.t", int64(i+1))}
	}
	done := CommitTranslatedGroups(ctx, e.tgt, byGroup)
	if len(done) != len(byGroup) {
		t.Fatalf("%d results for %d groups", len(done), len(byGroup))
	}
	var active *ActiveGroupError
	if gc := done["busy"]; !errors.As(gc.Err, &active) || active.Group != "busy" || len(active.Members) != 1 {
		t.Errorf("busy: %+v", gc)
	}
	if gc := done["ahead"]; gc.Err != nil || gc.Count(SkippedNotBehind) != 1 || gc.Partitions[0].Previous != 80 {
		t.Errorf("ahead: %+v", gc)
	}
	if gc := done["partial"]; !errors.Is(gc.Err, kerr.UnknownTopicOrPartition) || gc.Count(Committed) != 1 || gc.Count(CommitFailed) != 1 {
		t.Errorf("partial: %+v", gc)
	}
	adm := kadm.NewClient(e.tgt)
	for i := range fresh {
		g := fmt.Sprintf("fresh-%02d", i)
		if gc := done[g]; gc.Err != nil || gc.Group != g || gc.Count(Committed) != 1 {
			t.Errorf("%s: %+v", g, gc)
		}
		o, err := adm.FetchOffsets(ctx, g)
		if r, _ := o.Lookup("A.t", 0); err != nil || r.At != int64(i+1) {
			t.Errorf("target offset of %s = %d, %v; want %d", g, r.At, err, i+1)
		}
	}
	if o, _ := adm.FetchOffsets(ctx, "busy"); len(o) != 0 {
		t.Errorf("active group got offsets %v", o)
	}
	// The fetches just above went through the same broker: count before them.
	want := map[kmsg.Key]int64{kmsg.DescribeGroups: 1, kmsg.ListGroups: 1, kmsg.OffsetFetch: 1 + fresh + 1, kmsg.OffsetCommit: fresh + 1}
	for k, n := range want {
		if got := requests[k].Load(); got != n {
			t.Errorf("%d %s requests, want %d", got, kmsg.NameForKey(int16(k)), n)
		}
	}
	if got := CommitTranslatedGroups(ctx, e.tgt, nil); len(got) != 0 {
		t.Errorf("no groups: %v", got)
	}
}

func TestCommitTranslated_Errors(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := []PartitionTranslation{{Group: "g", TargetTopic: "A.t", Partition: 0, TargetOffset: 50, Exact: true}}
	refuse := func(key kmsg.Key, respond func(kmsg.Request) kmsg.Response) {
		e.b.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
			return respond(req), nil, true
		})
	}
	refuse(kmsg.DescribeGroups, func(kreq kmsg.Request) kmsg.Response {
		req := kreq.(*kmsg.DescribeGroupsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.ErrorCode = req.Groups[0], kerr.InvalidGroupID.Code
		resp.Groups = append(resp.Groups, dg)
		return resp
	})
	if _, err := CommitTranslated(ctx, e.tgt, "g", ts); !errors.Is(err, kerr.InvalidGroupID) ||
		!strings.HasPrefix(err.Error(), "describe group g on the target: ") {
		t.Errorf("describe answers with an error: %v", err)
	}
	refuse(kmsg.DescribeGroups, func(kreq kmsg.Request) kmsg.Response {
		req := kreq.(*kmsg.DescribeGroupsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.ErrorCode = req.Groups[0], kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, dg)
		return resp
	})
	if _, err := CommitTranslated(ctx, e.tgt, "g", ts); !errors.Is(err, kerr.GroupAuthorizationFailed) ||
		!strings.HasPrefix(err.Error(), "describe group g on the target: ") {
		t.Errorf("describe refused: %v", err)
	}
	refuse(kmsg.OffsetFetch, func(kreq kmsg.Request) kmsg.Response {
		req := kreq.(*kmsg.OffsetFetchRequest)
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp
	})
	if _, err := CommitTranslated(ctx, e.tgt, "g", ts); err == nil || !strings.Contains(err.Error(), "fetch its offsets on the target") {
		t.Errorf("offset fetch fails: %v", err)
	}
	e.b.ControlKey(int16(kmsg.OffsetCommit), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.b.KeepControl()
		return nil, errors.New("connection dropped"), true
	})
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	defer scancel()
	res, err := CommitTranslated(sctx, e.tgt, "g", ts)
	if err == nil || !strings.HasPrefix(err.Error(), "commit offsets of group g on the target: ") || res.Partitions[0].Status != CommitFailed {
		t.Errorf("commit request fails: %+v, %v", res, err)
	}
}

func TestActiveGroupError_Message(t *testing.T) {
	e := &ActiveGroupError{Group: "g", State: "PreparingRebalance", Members: []GroupMember{
		{MemberID: "m1", ClientID: "c1", ClientHost: "/10.0.0.1"}, {MemberID: "m2", ClientID: "c2", ClientHost: "/10.0.0.2"},
	}}
	want := "group g is active on the target (state PreparingRebalance, 2 member(s): m1 (client c1 from /10.0.0.1), " +
		"m2 (client c2 from /10.0.0.2)); stop its consumers on the target before committing offsets"
	if e.Error() != want || e.Unwrap() != nil {
		t.Errorf("Error() = %q\nwant      %q", e.Error(), want)
	}
	e.Cluster, e.Members = "A", e.Members[:1]
	want = "group g is active on A (state PreparingRebalance, 1 member(s): m1 (client c1 from /10.0.0.1)); stop its consumers on A first"
	if e.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", e.Error(), want)
	}
	r := &ActiveGroupError{Group: "g", Err: kerr.RebalanceInProgress}
	if !errors.Is(r, kerr.RebalanceInProgress) || !strings.Contains(r.Error(), "REBALANCE_IN_PROGRESS") {
		t.Errorf("rejected commit: %v", r)
	}
	te := &TranslateError{Group: "g", Topic: "t", Partition: 3, Offset: 7, Err: ErrNoTranslation}
	if te.Error() != "translate group g offset 7 of t[3]: no translation known" || !errors.Is(te, ErrNoTranslation) {
		t.Errorf("TranslateError = %q", te.Error())
	}
}

func TestIndexTail(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tail, err := NewIndexTail(e.tgt.Opts(), IndexTopic("A"))
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	if err := tail.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tail.Index().Len(); n != 5 {
		t.Fatalf("after the first CatchUp the index has %d runs, want 5", n)
	}
	if tr, _ := tail.Index().TranslateCommitted("t", 0, 95); tr.Exact {
		t.Fatalf("offset 95 of t[0] is exact before the index knows it")
	}
	// The run grows, a marker ends it, a new run starts; an undecodable
	// record is skipped.
	e.writeIndex(t, IndexEntry{Topic: "t", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 89})
	if err := e.tgt.ProduceSync(ctx, &kgo.Record{Topic: IndexTopic("A"), Key: []byte{1}, Value: []byte{2}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.writeIndex(t, IndexEntry{Topic: "t", Partition: 0, Upstream: 91, Downstream: 90, PrevUpstream: 89, PrevDownstream: 89, LastUpstream: 99})
	if err := tail.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := tail.Index().TranslateCommitted("t", 0, 95); err != nil || got != (Translation{Upstream: 95, Downstream: 94, Exact: true}) {
		t.Fatalf("after the second CatchUp: %+v, %v", got, err)
	}
	if n, s := tail.Index().Len(), tail.Index().Skipped(); n != 6 || s != 1 {
		t.Errorf("index has %d runs and skipped %d records, want 6 and 1", n, s)
	}
	// Nothing new: returns at once.
	if err := tail.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}

	// A topic that does not exist yet is an empty index, then fills.
	later, err := NewIndexTail(e.tgt.Opts(), IndexTopic("Z"))
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	if err := later.CatchUp(ctx); err != nil || later.Index().Len() != 0 {
		t.Fatalf("CatchUp on a missing topic: %d runs, %v", later.Index().Len(), err)
	}
	if _, err := kadm.NewClient(e.tgt).CreateTopic(ctx, 1, 1, nil, IndexTopic("Z")); err != nil {
		t.Fatal(err)
	}
	k, _ := IndexEntry{Topic: "z", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 3}.Key()
	v := IndexEntry{Topic: "z", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 3}.Value()
	if err := e.tgt.ProduceSync(ctx, &kgo.Record{Topic: IndexTopic("Z"), Key: k, Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for later.Index().Len() == 0 && time.Now().Before(deadline) {
		if err := later.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := later.Index().Len(); n != 1 {
		t.Fatalf("CatchUp once the topic exists: %d runs, want 1", n)
	}

	// Errors: the end offsets cannot be listed; the read runs out of time.
	failListOffsets(e.b, kerr.TopicAuthorizationFailed.Code)
	if err := tail.CatchUp(ctx); !errors.Is(err, kerr.TopicAuthorizationFailed) || !strings.HasPrefix(err.Error(), "list end offsets of mm2go-offset-index.A.internal: ") {
		t.Errorf("CatchUp with end offsets refused: %v", err)
	}
}

func TestIndexTail_Errors(t *testing.T) {
	if _, err := NewIndexTail([]kgo.Opt{kgo.ClientID(strings.Repeat("x", 257))}, "x"); err == nil || !strings.HasPrefix(err.Error(), "new offset index c") {
		t.Errorf("NewIndexTail with bad options: %v", err)
	}
	e := newTranslateEnv(t)
	tail, err := NewIndexTail(e.tgt.Opts(), IndexTopic("A"))
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	// Every fetch is refused: the read fails and says which partition.
	refuseFetches(e.b, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tail.CatchUp(ctx); !errors.Is(err, kerr.TopicAuthorizationFailed) || !strings.Contains(err.Error(), "fetch mm2go-offset-index.A.internal[0]") {
		t.Errorf("CatchUp with fetches refused: %v", err)
	}
}

func TestIndexTail_ReadTimesOut(t *testing.T) {
	e := newTranslateEnv(t)
	tail, err := NewIndexTail(e.tgt.Opts(), IndexTopic("A"))
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	// Fetches are never answered: the read ends with ctx.
	e.b.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.b.KeepControl()
		return nil, nil, true
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := tail.CatchUp(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "read mm2go-offset-index.A.internal to its end: ") {
		t.Errorf("CatchUp that runs out of time: %v", err)
	}
}

func TestTranslateGroup_PartitionCases(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Only "no offset" commits (-1): nothing to translate.
	e.commit(t, e.src, "reset", kadm.Offset{Topic: "t", Partition: 0, At: -1, LeaderEpoch: -1})
	if _, err := TranslateGroup(ctx, e.request("reset")); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("group with only -1 commits: %v", err)
	}
	// The source answers one partition's offset with an error: that
	// partition carries it, the others are translated.
	e.commit(t, e.src, "g", kadm.Offset{Topic: "t", Partition: 0, At: 50, LeaderEpoch: -1}, kadm.Offset{Topic: "t", Partition: 1, At: 5, LeaderEpoch: -1})
	details, err := kadm.NewClient(e.src).ListTopics(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	e.a.ControlKey(int16(kmsg.OffsetFetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.OffsetFetchRequest)
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group = req.Groups[0].Group
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic, rt.TopicID = "t", details["t"].ID
		for p, code := range []int16{0, kerr.UnstableOffsetCommit.Code} {
			rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			rp.Partition, rp.Offset, rp.ErrorCode = int32(p), 50, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		rg.Topics = append(rg.Topics, rt)
		resp.Groups = append(resp.Groups, rg)
		return resp, nil, true
	})
	got, err := TranslateGroup(ctx, e.request("g"))
	if err != nil || len(got) != 2 || got[0].Err != nil || got[0].TargetOffset != 50 ||
		!errors.Is(got[1].Err, kerr.UnstableOffsetCommit) || got[1].TargetOffset != -1 {
		t.Fatalf("TranslateGroup with a partition error = %+v, %v", got, err)
	}
}

func TestOnlyMarkers_GivesUp(t *testing.T) {
	e := newTranslateEnv(t)
	defer func(d time.Duration) { markerCheckTimeout = d }(markerCheckTimeout)
	markerCheckTimeout = 300 * time.Millisecond
	// Fetches are never answered, as when the range was emptied at the very
	// end of the partition: no answer within the timeout means "not only
	// markers", which costs the exact flag and nothing else.
	e.a.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.a.KeepControl()
		return nil, nil, true
	})
	got, err := onlyMarkers(context.Background(), e.src.Opts(), "tx", 0, 17, 18)
	if err != nil || got {
		t.Fatalf("onlyMarkers without an answer = %v, %v; want false, nil", got, err)
	}
}

func TestIndexTail_DeletedRecords(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The first 3 of the 5 entries are deleted before the tail reads them.
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: IndexTopic("A"), Partition: 0, At: 3})
	resp, err := kadm.NewClient(e.tgt).DeleteRecords(ctx, os)
	if err != nil || resp.Error() != nil {
		t.Fatalf("delete records: %v, %v", err, resp.Error())
	}
	tail, err := NewIndexTail(e.tgt.Opts(), IndexTopic("A"))
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	if err := tail.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tail.Index().Len(); n != 2 {
		t.Fatalf("index after reading past deleted records has %d runs, want 2", n)
	}
}

// refuseFetches makes c answer fetches with TOPIC_AUTHORIZATION_FAILED for
// every partition asked for: once, or with keep until the test ends.
func refuseFetches(c *kfake.Cluster, keep bool) {
	c.ControlKey(int16(kmsg.Fetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		if keep {
			c.KeepControl()
		}
		req := kreq.(*kmsg.FetchRequest)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}
