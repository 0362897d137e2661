package test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

func topicConfig(t *testing.T, c *kfake.Cluster, topic, key string) (string, bool) {
	t.Helper()
	rcs, err := kadm.NewClient(client(t, c)).DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		return "", false
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return "", false
	}
	for _, cfg := range rc.Configs {
		if cfg.Key == key && cfg.Source == kmsg.ConfigSourceDynamicTopicConfig {
			return cfg.MaybeValue(), true
		}
	}
	return "", false
}

func setTopicConfig(t *testing.T, c *kfake.Cluster, topic, key, value string) {
	t.Helper()
	resps, err := kadm.NewClient(client(t, c)).AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: kadm.StringPtr(value)}}, topic)
	if err == nil {
		var r kadm.AlterConfigsResponse
		if r, err = resps.On(topic, nil); err == nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatalf("set %s=%s on %s: %v", key, value, topic, err)
	}
}

// TestConfigSync_CopiesChangesNotExcluded changes topic configs on the
// source while the worker runs: a changed retention.ms reaches the target
// within two sync intervals; an excluded property does not (unless the flow
// carries min.insync.replicas); a property kept on the target is left as the
// operator set it there.
func TestConfigSync_CopiesChangesNotExcluded(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	produceTopic(t, src, "orders", 1, 10, "o")
	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{
			connectors.KeySyncConfigsSeconds: "1",
			connectors.KeySyncMinISR:         "true",
			connectors.KeyTargetKeep:         "segment\\.bytes",
		})})
	waitFor(t, 10*time.Second, "A.orders created", func() bool { return len(endOffsets(t, dst, "A.orders")) == 1 })
	setTopicConfig(t, dst, "A.orders", "segment.bytes", "2000000") // set by hand on the target

	setTopicConfig(t, src, "orders", "retention.ms", "3600000")
	setTopicConfig(t, src, "orders", "message.timestamp.type", "LogAppendTime") // excluded by MM2's defaults
	setTopicConfig(t, src, "orders", "min.insync.replicas", "1")
	setTopicConfig(t, src, "orders", "segment.bytes", "1000000")
	waitFor(t, 2*time.Second+500*time.Millisecond, "retention.ms synced within two intervals", func() bool {
		v, ok := topicConfig(t, dst, "A.orders", "retention.ms")
		return ok && v == "3600000"
	})
	waitFor(t, 3*time.Second, "min.insync.replicas carried", func() bool {
		v, ok := topicConfig(t, dst, "A.orders", "min.insync.replicas")
		return ok && v == "1"
	})
	if v, ok := topicConfig(t, dst, "A.orders", "message.timestamp.type"); ok {
		t.Errorf("excluded message.timestamp.type reached the target: %q", v)
	}
	if v, _ := topicConfig(t, dst, "A.orders", "segment.bytes"); v != "2000000" {
		t.Errorf("segment.bytes kept on the target = %q, want the hand-set 2000000", v)
	}
}

// deleteTopicConfig removes an override of topic on c.
func deleteTopicConfig(t *testing.T, c *kfake.Cluster, topic, key string) {
	t.Helper()
	resps, err := kadm.NewClient(client(t, c)).AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: key}}, topic)
	if err == nil {
		var r kadm.AlterConfigsResponse
		if r, err = resps.On(topic, nil); err == nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatalf("delete %s on %s: %v", key, topic, err)
	}
}

// TestConfigSync_RemovesWhatTheSourceRemoved: an override removed on the
// source is removed on the target too, and so is one set on the target by
// hand; a property kept on the target (config.properties.target.keep) or
// excluded from replication (config.properties.exclude) is left alone.
//
// kfake note: kfake describes a topic's property once per source (default,
// dynamic broker, topic) where a broker describes it once; mm2go takes the
// entry of the highest precedence either way.
func TestConfigSync_RemovesWhatTheSourceRemoved(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	produceTopic(t, src, "orders", 1, 10, "o")
	setTopicConfig(t, src, "orders", "retention.ms", "3600000")
	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{
			connectors.KeySyncConfigsSeconds: "1",
			connectors.KeyTargetKeep:         "segment\\.bytes",
		})})
	waitFor(t, 10*time.Second, "retention.ms on the target", func() bool {
		v, ok := topicConfig(t, dst, "A.orders", "retention.ms")
		return ok && v == "3600000"
	})
	setTopicConfig(t, dst, "A.orders", "segment.bytes", "2000000")             // kept
	setTopicConfig(t, dst, "A.orders", "message.timestamp.type", "CreateTime") // excluded by MM2's defaults
	setTopicConfig(t, dst, "A.orders", "max.message.bytes", "999999")          // set by hand, not kept

	deleteTopicConfig(t, src, "orders", "retention.ms")
	waitFor(t, 10*time.Second, "the removed and the hand-set overrides gone from the target", func() bool {
		_, retention := topicConfig(t, dst, "A.orders", "retention.ms")
		_, maxBytes := topicConfig(t, dst, "A.orders", "max.message.bytes")
		return !retention && !maxBytes
	})
	if v, _ := topicConfig(t, dst, "A.orders", "segment.bytes"); v != "2000000" {
		t.Errorf("kept segment.bytes = %q, want 2000000", v)
	}
	if v, _ := topicConfig(t, dst, "A.orders", "message.timestamp.type"); v != "CreateTime" {
		t.Errorf("excluded message.timestamp.type = %q, want it left as set on the target", v)
	}
}

// TestConfigSync_DefaultsFromSource: with use.defaults.from=source the
// remote topic gets the source topic's defaults as overrides, so it behaves
// as the source topic whatever the target's defaults.
func TestConfigSync_DefaultsFromSource(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	produceTopic(t, src, "orders", 1, 10, "o")
	var def string
	rcs, err := kadm.NewClient(client(t, src)).DescribeTopicConfigs(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On("orders", nil)
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && c.Source == kmsg.ConfigSourceDefaultConfig {
			def = c.MaybeValue()
		}
	}
	if def == "" {
		t.Fatal("kfake reports no default retention.ms")
	}
	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{
			connectors.KeySyncConfigsSeconds: "1",
			connectors.KeyUseDefaultsFrom:    "source",
		})})
	waitFor(t, 10*time.Second, "the source's default retention.ms set on the remote topic", func() bool {
		v, ok := topicConfig(t, dst, "A.orders", "retention.ms")
		return ok && v == def
	})
	if v, ok := topicConfig(t, dst, "A.orders", "message.timestamp.type"); ok {
		t.Errorf("excluded message.timestamp.type set on the target: %q", v)
	}
}

// TestACLSync_NeverWidens puts the matrix ALLOW/DENY x READ/WRITE/ALL x
// LITERAL/PREFIXED on the source and checks the target gets exactly the
// mapped ACLs and nothing wider.
func TestACLSync_NeverWidens(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	produceTopic(t, src, "orders", 1, 5, "o")
	ctx := context.Background()
	srcAdm := kadm.NewClient(client(t, src))
	type acl struct {
		allow   bool
		op      kadm.ACLOperation
		pattern kadm.ACLPattern
		name    string
	}
	var all []acl
	for _, allow := range []bool{true, false} {
		for _, op := range []kadm.ACLOperation{kadm.OpRead, kadm.OpWrite, kadm.OpAll} {
			all = append(all, acl{allow, op, kadm.ACLPatternLiteral, "orders"}, acl{allow, op, kadm.ACLPatternPrefixed, "ord"})
		}
	}
	for i, a := range all {
		principal := fmt.Sprintf("User:u%d", i)
		b := kadm.NewACLs().Topics(a.name).ResourcePatternType(a.pattern).Operations(a.op)
		if a.allow {
			b = b.Allow(principal).AllowHosts("*")
		} else {
			b = b.Deny(principal).DenyHosts("*")
		}
		res, err := srcAdm.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{connectors.KeySyncACLsSeconds: "1"})})
	var want []string
	for i, a := range all {
		op := a.op
		if a.allow && op == kadm.OpWrite {
			continue
		}
		if a.allow && op == kadm.OpAll {
			op = kadm.OpRead
		}
		perm := "ALLOW"
		if !a.allow {
			perm = "DENY"
		}
		want = append(want, fmt.Sprintf("User:u%d %s %s %s A.%s", i, perm, op, a.pattern, a.name))
	}
	slices.Sort(want)
	var got []string
	waitFor(t, 10*time.Second, "ACLs on the target", func() bool {
		res, err := kadm.NewClient(client(t, dst)).DescribeACLs(ctx, kadm.NewACLs().AnyResource().
			ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
		if err != nil {
			return false
		}
		got = got[:0]
		for _, r := range res {
			for _, d := range r.Described {
				perm := "ALLOW"
				if d.Permission == kmsg.ACLPermissionTypeDeny {
					perm = "DENY"
				}
				got = append(got, fmt.Sprintf("%s %s %s %s %s", d.Principal, perm, d.Operation, d.Pattern, d.Name))
			}
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	t.Logf("target ACLs:\n%s", strings.Join(got, "\n"))
}

// TestLossDetection_RetentionBeforeCopy deletes records on the source while
// no worker runs: the next worker reports the exact lost range and counts
// it, and copies the rest; with on.data.loss=fail the task fails instead.
func TestLossDetection_RetentionBeforeCopy(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			src, dst := newCluster(t, "src"), newCluster(t, "dst")
			want := produceTopic(t, src, "logs", 1, 100, "a")
			cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})}
			props := map[string]string{}
			if fail {
				props[connectors.KeyOnDataLoss] = "fail"
			}
			rw := startWorker(t, cfg, []connect.ConnectorSpec{sourceSpec("A", "B", props)})
			waitFor(t, 10*time.Second, "first 100 copied", func() bool { return endOffsets(t, dst, "A.logs")[0] == 100 })
			if err := rw.stop(); err != nil {
				t.Fatal(err)
			}
			more := produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "logs", 1, 100, "b")
			// Retention removes offsets 100..149 before they were copied.
			if err := src.DeleteRecords("logs", 0, 150); err != nil {
				t.Fatal(err)
			}
			rw2 := startWorkerNoCheck(t, cfg, []connect.ConnectorSpec{sourceSpec("A", "B", props)})
			if !fail {
				waitFor(t, 10*time.Second, "the retained records copied", func() bool { return endOffsets(t, dst, "A.logs")[0] == 150 })
				got := consumeAll(t, dst, "A.logs", 150, 10*time.Second)
				compareTopic(t, "A.logs", map[int32][]*kgo.Record{0: append(want[0], more[0][50:]...)}, got)
				if n := lostRecords(rw2.w); n != 50 {
					t.Errorf("status reports %d lost records, want 50", n)
				}
				if err := rw2.stop(); err != nil {
					t.Fatal(err)
				}
				return
			}
			waitFor(t, 10*time.Second, "the task failed", func() bool {
				for _, cs := range rw2.w.Status() {
					for _, ts := range cs.Tasks {
						if cs.Name == connectors.ClassMirrorSource && ts.State == connect.StateFailed &&
							strings.Contains(ts.Error, "offsets 100 to 149") {
							return true
						}
					}
				}
				return false
			})
			if n := endOffsets(t, dst, "A.logs")[0]; n != 100 {
				t.Errorf("target has %d records after a loss with on.data.loss=fail, want 100", n)
			}
			if err := rw2.stop(); err == nil || !strings.Contains(err.Error(), "on.data.loss=fail") {
				t.Errorf("worker Run = %v, want the data-loss failure", err)
			}
		})
	}
}

// lostRecords sums the records the worker's tasks reported lost.
func lostRecords(w *connect.Worker) int64 {
	var n int64
	for _, cs := range w.Status() {
		for _, ts := range cs.Tasks {
			n += ts.RecordsLost
		}
	}
	return n
}

// TestDeletedTopic_StopsCleanlyKeepsTarget deletes a replicated source topic:
// its copying stops without failing the task, and the remote topic stays.
func TestDeletedTopic_StopsCleanlyKeepsTarget(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	produceTopic(t, src, "short-lived", 2, 50, "s")
	keep := produceTopic(t, src, "keeper", 1, 50, "k")
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	waitFor(t, 10*time.Second, "both copied", func() bool {
		return totalRecords(endOffsets(t, dst, "A.short-lived")) == 100 && endOffsets(t, dst, "A.keeper")[0] == 50
	})
	if err := src.DeleteTopic("short-lived"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // two refresh intervals
	more := produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "keeper", 1, 20, "k2")
	waitFor(t, 10*time.Second, "the other topic still copied", func() bool { return endOffsets(t, dst, "A.keeper")[0] == 70 })
	compareTopic(t, "A.keeper", map[int32][]*kgo.Record{0: append(keep[0], more[0]...)}, consumeAll(t, dst, "A.keeper", 70, 10*time.Second))
	if n := totalRecords(endOffsets(t, dst, "A.short-lived")); n != 100 {
		t.Errorf("remote topic of the deleted source topic has %d records, want all 100 kept", n)
	}
	for _, cs := range rw.w.Status() {
		for _, ts := range cs.Tasks {
			if ts.State == connect.StateFailed {
				t.Errorf("%s task %d failed after a source topic was deleted: %s", cs.Name, ts.ID, ts.Error)
			}
		}
	}
}

// TestRemoteTopic_ReplicationFactorFromSource creates remote topics with
// their source topic's replication factor when the flow asks for it, and
// with replication.factor otherwise.
func TestRemoteTopic_ReplicationFactorFromSource(t *testing.T) {
	src := newCluster(t, "src", kfake.NumBrokers(3))
	dst := newCluster(t, "dst", kfake.NumBrokers(3))
	ctx := context.Background()
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(ctx, 2, 3, nil, "rf3"); err != nil {
		t.Fatal(err)
	}
	startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{
			sourceSpec("A", "B", map[string]string{connectors.KeyRFFromSource: "true", connectors.KeyReplicationFactor: "1"}),
		})
	var rf int
	waitFor(t, 10*time.Second, "A.rf3 created", func() bool {
		d, err := kadm.NewClient(client(t, dst)).ListTopics(ctx, "A.rf3")
		if err != nil || d["A.rf3"].Err != nil || len(d["A.rf3"].Partitions) != 2 {
			return false
		}
		rf = len(d["A.rf3"].Partitions[0].Replicas)
		return true
	})
	if rf != 3 {
		t.Errorf("A.rf3 has replication factor %d, want the source's 3", rf)
	}
}

// TestLossDetection_TopicRecreated deletes a replicated source topic and
// creates it again with more records than the old one had: the worker sees
// the new topic ID, copies the new topic from its start (nothing of it is
// skipped), and commits the new, lower offsets, so a restarted worker
// neither skips nor copies again.
func TestLossDetection_TopicRecreated(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	old := produceTopic(t, src, "re", 1, 100, "old")
	cfg := connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}),
		OffsetFlushInterval: 200 * time.Millisecond}
	specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil)}
	rw := startWorker(t, cfg, specs)
	waitFor(t, 10*time.Second, "the old topic copied", func() bool { return endOffsets(t, dst, "A.re")[0] == 100 })
	if err := src.DeleteTopic("re"); err != nil {
		t.Fatal(err)
	}
	if err := src.CreateTopic("re", 1, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // two refresh intervals: the worker sees the new topic ID
	fresh := produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "re", 1, 300, "new")
	waitFor(t, 10*time.Second, "the new topic copied", func() bool { return endOffsets(t, dst, "A.re")[0] == 400 })
	compareTopic(t, "A.re", map[int32][]*kgo.Record{0: append(old[0], fresh[0]...)}, consumeAll(t, dst, "A.re", 400, 10*time.Second))
	if n := lostRecords(rw.w); n != 0 {
		t.Errorf("%d records reported lost, want 0: the old topic was fully copied", n)
	}
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	// A new worker resumes after the new topic's last offset.
	more := produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "re", 1, 10, "more")
	startWorker(t, cfg, specs)
	waitFor(t, 10*time.Second, "the last records copied", func() bool { return endOffsets(t, dst, "A.re")[0] >= 410 })
	time.Sleep(500 * time.Millisecond)
	want := append(append(old[0], fresh[0]...), more[0]...)
	compareTopic(t, "A.re", map[int32][]*kgo.Record{0: want}, consumeAll(t, dst, "A.re", 410, 10*time.Second))
}
