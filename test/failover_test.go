package test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

// consumeGroup joins group on c, reads topic from the group's committed
// offsets (from the start where it has none) and stops once stop says so or
// within passes; it commits the offsets of exactly the records it returns,
// and leaves the group. It returns the keys read, in the order read.
func consumeGroup(t testing.TB, c brokers, group, topic string, within time.Duration, stop func(read []string) bool, opts ...kgo.Opt) []string {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close() // leaves the group
	var (
		read []string
		done []*kgo.Record
	)
	deadline := time.Now().Add(within)
	for !stop(read) && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if stop(read) {
				return // not read: the commit stays before it
			}
			read = append(read, string(r.Key))
			done = append(done, r)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if len(done) > 0 {
		if err := cl.CommitRecords(ctx, done...); err != nil {
			t.Fatalf("commit what group %s read on %s: %v", group, topic, err)
		}
	}
	return read
}

// atLeast returns a stop condition: n records read.
func atLeast(n int) func([]string) bool { return func(read []string) bool { return len(read) >= n } }

// untilCount returns a stop condition for a failed-over consumer: want
// records read, then a grace poll that would catch any extra.
func untilCount(want int) func([]string) bool {
	var reached time.Time
	return func(read []string) bool {
		if len(read) < want {
			return false
		}
		if reached.IsZero() {
			reached = time.Now()
		}
		return time.Since(reached) > time.Second || len(read) > want
	}
}

// groupOffsets returns group's committed offsets on topic on c.
func groupOffsets(t testing.TB, c brokers, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	os, err := kadm.NewClient(client(t, c)).FetchOffsets(ctx, group)
	if err != nil {
		return nil
	}
	out := make(map[int32]int64)
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out
}

// exactTargetOffsets returns, for each partition where group has committed
// on srcTopic on src, where it must resume on dstTopic on dst: the copy of
// the first record at or after its committed offset.
func exactTargetOffsets(t testing.TB, src, dst brokers, group, srcTopic, dstTopic string) map[int32]int64 {
	t.Helper()
	out := make(map[int32]int64)
	for p, o := range groupOffsets(t, src, group, srcTopic) {
		out[p] = expectedTranslation(readPartition(t, src, srcTopic, p), readPartition(t, dst, dstTopic, p), o)
	}
	return out
}

// TestFailover_ConsumerResumesOnTargetExactly is the cut-over this project
// is for. A group consumes part of a transactional topic on the source
// (commit markers make source and target offsets differ) and commits; the
// worker copies the topic and syncs the group's offsets into the target;
// the consumer then moves to the target with the same group id and reads
// exactly the records it had not read: none skipped, none read twice.
//
// A second group measures the at-least-once window: it goes on consuming on
// the source after the worker stopped (the last sync), as a consumer does
// when the source fails after the last checkpoint, and then moves. It reads
// again exactly the records it consumed since the last sync, and skips none.
func TestFailover_ConsumerResumesOnTargetExactly(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx := context.Background()
	const parts, perPart = 3, 300
	if _, err := kadm.NewClient(client(t, a)).CreateTopic(ctx, parts, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	keys := produceTransactions(t, a, "orders", parts, perPart, 7)
	var all []string
	for p := range int32(parts) {
		all = append(all, keys[p]...)
	}

	billing := consumeGroup(t, a, "billing", "orders", 30*time.Second, atLeast(400))
	audit := consumeGroup(t, a, "audit", "orders", 30*time.Second, atLeast(250))
	if len(billing) != 400 || len(audit) != 250 {
		t.Fatalf("source consumers read %d and %d records, want 400 and 250", len(billing), len(audit))
	}

	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b}), OffsetFlushInterval: 200 * time.Millisecond},
		[]connect.ConnectorSpec{
			sourceSpec("A", "B", nil),
			checkpointSpec("A", "B", map[string]string{
				connectors.KeySyncGroupOffsetsEnabled: "true",
				connectors.KeySyncGroupOffsetsSeconds: "0.2",
			}),
		})
	waitFor(t, 60*time.Second, "A.orders copied", func() bool { return totalRecords(endOffsets(t, b, "A.orders")) == parts*perPart })
	for _, g := range []string{"billing", "audit"} {
		want := exactTargetOffsets(t, a, b, g, "orders", "A.orders")
		waitFor(t, 60*time.Second, "group "+g+" synced exactly", func() bool {
			got := groupOffsets(t, b, g, "A.orders")
			return maps.Equal(got, want)
		})
	}
	if err := rw.stop(); err != nil {
		t.Fatalf("worker Run: %v", err)
	}

	// The source fails after the last sync; audit read 200 more there.
	auditAfter := consumeGroup(t, a, "audit", "orders", 30*time.Second, atLeast(200))
	if len(auditAfter) != 200 {
		t.Fatalf("audit read %d more records on the source, want 200", len(auditAfter))
	}

	// billing on the target: exactly the rest.
	gotBilling := consumeGroup(t, b, "billing", "A.orders", 60*time.Second, untilCount(len(all)-len(billing)))
	skipped, reread := diffKeys(all, billing, gotBilling)
	t.Logf("billing: consumed %d records on the source, %d on the target; skipped %d, read twice %d", len(billing), len(gotBilling), len(skipped), len(reread))
	if len(skipped) > 0 || len(reread) > 0 || len(gotBilling) != len(all)-len(billing) {
		t.Errorf("billing after failover: %d records read, want %d; skipped %v, read twice %v",
			len(gotBilling), len(all)-len(billing), head(skipped), head(reread))
	}

	// audit on the target: the rest, plus again what it read after the last sync.
	consumedAudit := append(slices.Clone(audit), auditAfter...)
	gotAudit := consumeGroup(t, b, "audit", "A.orders", 60*time.Second, untilCount(len(all)-len(audit)))
	skipped, reread = diffKeys(all, consumedAudit, gotAudit)
	t.Logf("audit (moved %d records after the last sync): read %d again on the target, skipped %d; "+
		"an at-least-once consumer re-reads what it consumed since the last sync, %s", len(auditAfter), len(reread), len(skipped),
		"here one sync interval (0.2s) of consumption")
	if len(skipped) > 0 || len(reread) != len(auditAfter) || !sameSet(reread, auditAfter) {
		t.Errorf("audit after failover: skipped %v; read twice %d records, want exactly the %d it read after the last sync",
			head(skipped), len(reread), len(auditAfter))
	}
}

// diffKeys returns the keys of all that were neither consumed before nor
// read after (skipped), and the keys read after that had been consumed
// before or were read twice after (re-read).
func diffKeys(all, before, after []string) (skipped, reread []string) {
	seen := make(map[string]int)
	for _, k := range before {
		seen[k]++
	}
	for _, k := range after {
		if seen[k] > 0 {
			reread = append(reread, k)
		}
		seen[k]++
	}
	for _, k := range all {
		if seen[k] == 0 {
			skipped = append(skipped, k)
		}
	}
	return skipped, reread
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// head returns at most the first 10 items, for error messages.
func head(s []string) string {
	if len(s) > 10 {
		return strings.Join(s[:10], ",") + fmt.Sprintf(",... (%d)", len(s))
	}
	return strings.Join(s, ",")
}

// TestGroupSync_NeverTouchesActiveGroupOrRewinds runs group offset sync
// against two target groups that it must not change: one with an active
// member (it stays untouched and the skip is logged, with the group's state
// and member), and one whose target offsets are already past the
// translation (never rewound; the skip is logged). A third, idle group is
// synced, which shows the sync ran.
func TestGroupSync_NeverTouchesActiveGroupOrRewinds(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx := context.Background()
	if _, err := kadm.NewClient(client(t, a)).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceTransactions(t, a, "t", 1, 100, 10)
	for _, g := range []string{"active", "ahead", "idle"} {
		commitSource(t, a, g, "t", map[int32]int64{0: 50}, "")
	}
	logOpt, logs := capturingLogger(t)
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": a, "B": b}), OffsetFlushInterval: 200 * time.Millisecond}
	specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil)}
	rw := startWorker(t, cfg, specs)
	waitFor(t, 30*time.Second, "A.t copied", func() bool { return endOffsets(t, b, "A.t")[0] == 100 })
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}

	// On the target: "active" has a member that stays in the group and
	// commits nothing; "ahead" is at 95, past the translation of 50 (45).
	member, err := kgo.NewClient(kgo.SeedBrokers(b.ListenAddrs()...), kgo.ConsumerGroup("active"), kgo.ConsumeTopics("A.t"),
		kgo.DisableAutoCommit(), kgo.ClientID("failover-check"))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	admB := kadm.NewClient(client(t, b))
	waitFor(t, 30*time.Second, "the member in group active", func() bool {
		d, err := admB.DescribeGroups(ctx, "active")
		return err == nil && d["active"].State == "Stable" && len(d["active"].Members) == 1
	})
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "A.t", Partition: 0, At: 95, LeaderEpoch: -1})
	if err := admB.CommitAllOffsets(ctx, "ahead", os); err != nil {
		t.Fatal(err)
	}

	startWorker(t, cfg, []connect.ConnectorSpec{
		sourceSpec("A", "B", nil),
		checkpointSpec("A", "B", map[string]string{
			connectors.KeySyncGroupOffsetsEnabled: "true",
			connectors.KeySyncGroupOffsetsSeconds: "0.2",
		}),
	}, logOpt)
	want := expectedTranslation(readPartition(t, a, "t", 0), readPartition(t, b, "A.t", 0), 50)
	waitFor(t, 30*time.Second, "group idle synced", func() bool { return groupOffsets(t, b, "idle", "A.t")[0] == want })
	waitFor(t, 30*time.Second, "the skips logged", func() bool {
		return len(logs.lines("[INFO]", "the group is active on the target", "group=active", "Stable", "failover-check")) > 0 &&
			len(logs.lines("[INFO]", "at or past every translated offset", "group=ahead", fmt.Sprintf("A.t[0] at 95, translation %d", want))) > 0
	})
	// Several more sync cycles: still nothing written to either.
	time.Sleep(time.Second)
	for _, g := range []string{"active", "ahead"} {
		got, err := admB.FetchOffsets(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := got.Lookup("A.t", 0)
		switch {
		case g == "active" && ok && o.At >= 0:
			t.Errorf("group active (with a member) was given offset %d", o.At)
		case g == "ahead" && (!ok || o.At != 95):
			t.Errorf("group ahead moved from 95 to %+v", o)
		}
	}
	if n := len(logs.lines("[INFO]", "the group is active on the target", "group=active")); n != 1 {
		t.Errorf("the active group's skip was logged %d times at Info, want once (repeats go to Debug)", n)
	}
}
