package inspect_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/inspect"
)

// TestStatus_ExactNumbers copies a plain partition and a transactional one,
// then stops the worker and writes more: the status counts exactly what was
// written and not copied, without the transaction markers, and dates the
// oldest uncopied record by its timestamp.
func TestStatus_ExactNumbers(t *testing.T) {
	e := newEnv(t, "", "")
	e.createTopic(t, "orders", 2)
	ctx := context.Background()
	plain := e.client(t, e.a, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	txn := e.client(t, e.a, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("tx"))
	produce(t, plain, "orders", 0, 10, time.Now(), "p0")
	writeTxn := func(n int, ts time.Time, tag string) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(t, txn, "orders", 1, n, ts, tag)
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	writeTxn(4, time.Now(), "t1") // offsets 0..3, marker 4
	writeTxn(4, time.Now(), "t2") // offsets 5..8, marker 9
	commit := func(group string, offs map[int32]int64) {
		var os kadm.Offsets
		for p, o := range offs {
			os.Add(kadm.Offset{Topic: "orders", Partition: p, At: o, LeaderEpoch: -1})
		}
		if err := kadm.NewClient(e.client(t, e.a)).CommitAllOffsets(ctx, group, os); err != nil {
			t.Fatal(err)
		}
	}
	commit("billing", map[int32]int64{0: 6, 1: 10})

	w := e.startWorker(t)
	in := e.inspector(t)
	sts := e.waitCaughtUp(t, in)
	st := sts[0]
	want := []struct {
		committed, end, targetEnd int64
	}{{9, 10, 10}, {8, 10, 8}}
	if len(st.Partitions) != 2 {
		t.Fatalf("partitions: %+v", st.Partitions)
	}
	for i, p := range st.Partitions {
		if p.Topic != "orders" || p.TargetTopic != "a.orders" || p.Partition != int32(i) || p.Committed != want[i].committed ||
			p.SourceEnd != want[i].end || p.TargetEnd != want[i].targetEnd || p.RecordsBehind != 0 || !p.RecordsBehindExact ||
			p.SecondsBehind != 0 || p.State != inspect.StateCaughtUp || p.LostRecords != 0 {
			t.Errorf("caught up, partition %d: %+v", i, p)
		}
	}
	if st.State != inspect.StateCaughtUp || st.Summary.CaughtUp != 2 || st.RPO != (inspect.RPO{}) {
		t.Errorf("caught up: state %s, summary %+v, rpo %+v", st.State, st.Summary, st.RPO)
	}

	// The checkpoints of billing arrive: checkpointed, not synced (group
	// offset sync is off), 4 records to read on the target.
	var g inspect.GroupStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := in.Status(ctx, inspect.StatusOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Groups) == 1 && st.Groups[0].State == inspect.GroupCheckpointed {
			g = st.Groups[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoints for billing: %+v", st.Groups)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if g.Group != "billing" || g.Synced || g.LagOnTarget != 4 || g.RPO != (inspect.RPO{}) || g.LastCheckpoint == nil || len(g.Partitions) != 2 {
		t.Fatalf("group: %+v", g)
	}
	for i, wantOff := range []struct{ src, down, lag int64 }{{6, 6, 4}, {10, 8, 0}} {
		p := g.Partitions[i]
		if p.SourceOffset != wantOff.src || p.Checkpoint == nil || p.Checkpoint.UpstreamOffset != wantOff.src ||
			p.Checkpoint.DownstreamOffset != wantOff.down || p.TranslatedOffset != wantOff.down || p.TargetOffset != -1 ||
			p.Synced || p.CheckpointBehind != 0 || p.LagOnTarget != wantOff.lag {
			t.Errorf("group partition %d: %+v %+v", i, p, p.Checkpoint)
		}
	}

	// Stopped: 5 more plain records, dated 30s ago, and a transaction of 3.
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-30 * time.Second).Truncate(time.Millisecond)
	produce(t, plain, "orders", 0, 5, old, "late")
	writeTxn(3, old.Add(time.Second), "t3") // offsets 10..12, marker 13
	commit("billing", map[int32]int64{0: 12})
	st, err := in.Status(ctx, inspect.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		behind int64
		ts     time.Time
	}{{5, old}, {3, old.Add(time.Second)}} {
		p := st.Partitions[i]
		if p.RecordsBehind != want.behind || !p.RecordsBehindExact || p.OldestUncopied == nil || p.OldestUncopied.Offset != 10 ||
			!p.OldestUncopied.Timestamp.Equal(want.ts) || p.State != inspect.StateBehind {
			t.Errorf("behind, partition %d: %+v %+v", i, p, p.OldestUncopied)
		}
		if age := st.Time.Sub(want.ts).Seconds(); p.SecondsBehind != age {
			t.Errorf("partition %d: %v seconds behind, want %v", i, p.SecondsBehind, age)
		}
	}
	if st.State != inspect.StateBehind || st.Summary.RecordsBehind != 8 || st.RPO.Records != 8 || st.RPO.Seconds != st.Partitions[0].SecondsBehind {
		t.Errorf("behind: state %s, summary %+v, rpo %+v", st.State, st.Summary, st.RPO)
	}
	g = st.Groups[0]
	if g.State != inspect.GroupBehind || g.RPO.Records != 6 || g.Partitions[0].CheckpointBehind != 6 || g.Partitions[0].TranslatedOffset != -1 {
		t.Errorf("group behind its checkpoint: %+v %+v", g, g.Partitions[0])
	}

	// The same look 10s later: the committed offsets have not moved.
	inspect.SetClock(in, func() time.Time { return time.Now().Add(10 * time.Second) })
	st, err = in.Status(ctx, inspect.StatusOptions{NoGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Partitions[0]; p.State != inspect.StateStalled || !strings.Contains(p.Reason, "the committed source offset has not moved for 1") {
		t.Errorf("stalled: %+v", p)
	}
	if st.Groups != nil || st.State != inspect.StateStalled {
		t.Errorf("stalled flow: state %s, groups %v", st.State, st.Groups)
	}
}

// TestStatus_TopicRecreated: the source topic was deleted and re-created
// while no worker ran: its offsets start over, below the committed one. The
// status counts the new topic's records as not copied and says why.
func TestStatus_TopicRecreated(t *testing.T) {
	e := newEnv(t, "", "")
	e.createTopic(t, "orders", 1)
	cl := e.client(t, e.a)
	produce(t, cl, "orders", 0, 5, time.Now(), "old")
	w := e.startWorker(t)
	in := e.inspector(t)
	e.waitCaughtUp(t, in)
	if err := w.stop(t); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	adm := kadm.NewClient(e.client(t, e.a))
	if _, err := adm.DeleteTopics(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	produce(t, e.client(t, e.a), "orders", 0, 2, time.Now(), "new") // a new client: cl knows the old topic id
	st, err := in.Status(ctx, inspect.StatusOptions{NoGroups: true})
	if err != nil {
		t.Fatal(err)
	}
	p := st.Partitions[0]
	if p.Committed != 4 || p.SourceEnd != 2 || p.RecordsBehind != 2 || p.OldestUncopied == nil || p.OldestUncopied.Offset != 0 ||
		!strings.Contains(p.Reason, "the committed source offset 4 is past the source's end 2: the topic was re-created") {
		t.Fatalf("re-created topic: %+v", p)
	}
}

// TestStatus_GroupSynced: with group offset sync on, the group's offsets on
// the target become the exact translation of its source offsets: synced.
// When the group moves on the source, it is behind until the next sync.
// The sync commits the group's offsets itself while the checkpoint records
// go through the task's producer (as in MM2), so the target offsets can
// move before the checkpoint lands: the test waits for both.
func TestStatus_GroupSynced(t *testing.T) {
	e := newEnv(t, "  sync.group.offsets.enabled: true\n  sync.group.offsets.interval.seconds: 1\n", "")
	e.createTopic(t, "orders", 1)
	produce(t, e.client(t, e.a), "orders", 0, 10, time.Now(), "x")
	ctx := context.Background()
	adm := kadm.NewClient(e.client(t, e.a))
	commit := func(at int64) {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: at, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, "billing", os); err != nil {
			t.Fatal(err)
		}
	}
	commit(7)
	e.startWorker(t)
	in := e.inspector(t)
	waitGroup := func(state string, cond func(inspect.GroupStatus) bool) inspect.GroupStatus {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err := in.Status(ctx, inspect.StatusOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Groups) == 1 && st.Groups[0].State == state && cond(st.Groups[0]) {
				return st.Groups[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("group never %s: %+v", state, st.Groups)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	g := waitGroup(inspect.GroupSynced, func(inspect.GroupStatus) bool { return true })
	p := g.Partitions[0]
	if !g.Synced || g.LagOnTarget != 3 || g.RPO != (inspect.RPO{}) || p.TargetOffset != 7 || p.TranslatedOffset != 7 || !p.Synced {
		t.Fatalf("synced group: %+v %+v", g, p)
	}
	// The group moves on the source; the next sync follows it.
	commit(9)
	g = waitGroup(inspect.GroupSynced, func(g inspect.GroupStatus) bool {
		p := g.Partitions[0]
		return p.SourceOffset == 9 && p.Checkpoint != nil && p.Checkpoint.UpstreamOffset == 9
	})
	if p := g.Partitions[0]; p.TargetOffset != 9 || p.TranslatedOffset != 9 || p.Checkpoint.DownstreamOffset != 9 || g.LagOnTarget != 1 || g.RPO != (inspect.RPO{}) {
		t.Fatalf("synced again: %+v %+v", g, p)
	}
}

// TestStatus_GroupLagFromEndReadAfterOffsets: a group's lag on the target
// counts from an end read after its offsets there. Records copied and the
// group's offset synced after the partitions were listed, but before the
// group's offsets were read, once showed the group past the target's end
// (lag 0).
func TestStatus_GroupLagFromEndReadAfterOffsets(t *testing.T) {
	e := newEnv(t, "", "")
	e.createTopic(t, "orders", 1)
	ctx := context.Background()
	commit := func(adm *kadm.Client, topic string, at int64) {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: at, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, "billing", os); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, e.client(t, e.a), "orders", 0, 10, time.Now(), "x")
	commit(kadm.NewClient(e.client(t, e.a)), "orders", 7)
	admB := kadm.NewClient(e.client(t, e.b))
	if _, err := admB.CreateTopic(ctx, 1, 1, nil, "a.orders"); err != nil {
		t.Fatal(err)
	}
	tcl := e.client(t, e.b)
	produce(t, tcl, "a.orders", 0, 5, time.Now(), "x")
	commit(admB, "a.orders", 5)

	// When the inspector asks b for the group's offsets, five more records
	// have landed and the group moved to 8 there.
	var once sync.Once
	e.b.ControlKey(int16(kmsg.OffsetFetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.b.KeepControl()
		once.Do(func() {
			e.b.SleepControl(func() {
				produce(t, tcl, "a.orders", 0, 5, time.Now(), "y")
				commit(admB, "a.orders", 8)
			})
		})
		return nil, nil, false
	})
	st, err := e.inspector(t).Status(ctx, inspect.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Groups) != 1 || len(st.Groups[0].Partitions) != 1 {
		t.Fatalf("groups: %+v", st.Groups)
	}
	g := st.Groups[0]
	if p := g.Partitions[0]; p.TargetOffset != 8 || p.LagOnTarget != 2 || g.LagOnTarget != 2 {
		t.Fatalf("the group at 8 on a target partition ending at 10: %+v %+v", g, p)
	}
}
