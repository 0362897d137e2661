package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
	"github.com/mm2go/mm2go/connectors"
)

// brokers is a cluster the helpers can reach: an in-process *kfake.Cluster,
// or a broker running as its own process (brokerProcess).
type brokers interface{ ListenAddrs() []string }

// newCluster starts an in-process fake Kafka cluster with its own cluster id.
func newCluster(t testing.TB, id string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.ClusterID(id), kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("start fake cluster %s: %v", id, err)
	}
	t.Cleanup(c.Close)
	return c
}

// virtualOpts holds, for each cluster on a kfake.VirtualNetwork, the
// options that reach it (connecttest.VirtualOpts): tests on synctest's fake
// clock run their clusters there, and every client the helpers and the
// worker make of such a cluster gets them.
var virtualOpts sync.Map // *kfake.Cluster -> []kgo.Opt

// newVirtualCluster starts a fake cluster with its own cluster id on vn,
// listening on port, for a test in a synctest bubble; clusterConfigs,
// client and seedOpts reach it through vn.
func newVirtualCluster(t testing.TB, vn *kfake.VirtualNetwork, id string, port int, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c := newCluster(t, id, append([]kfake.Opt{kfake.Ports(port), kfake.ListenFn(vn.Listen)}, opts...)...)
	virtualOpts.Store(c, connecttest.VirtualOpts(vn))
	t.Cleanup(func() { virtualOpts.Delete(c) })
	return c
}

// seedOpts are the options that reach c: its seed brokers, and those of
// its virtual network when it is on one.
func seedOpts(c brokers) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	if k, ok := c.(*kfake.Cluster); ok {
		if vo, ok := virtualOpts.Load(k); ok {
			opts = append(opts, vo.([]kgo.Opt)...)
		}
	}
	return opts
}

// testLogger logs to the test output (shown on failure or with -v).
func testLogger(t testing.TB) hclog.Logger {
	level := hclog.Info
	if os.Getenv("MM2GO_TEST_DEBUG") != "" {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: "mm2go", Level: level, Output: t.Output()})
}

// client returns a client of c with opts; closed at cleanup.
func client(t testing.TB, c brokers, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(seedOpts(c), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// runningWorker is a worker running in a goroutine.
type runningWorker struct {
	w      *connect.Worker
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// stop cancels the worker and waits for Run to return; it returns Run's error.
func (rw *runningWorker) stop() error {
	rw.once.Do(func() {
		rw.cancel()
		select {
		case rw.err = <-rw.done:
		case <-time.After(60 * time.Second):
			rw.err = fmt.Errorf("worker did not stop within 60s")
		}
	})
	return rw.err
}

// startWorker runs a worker for specs with clusters by alias; the test fails
// at cleanup if Run returned an error.
func startWorker(t testing.TB, cfg connect.WorkerConfig, specs []connect.ConnectorSpec, opts ...connect.Option) *runningWorker {
	t.Helper()
	rw := launchWorker(t, cfg, specs, opts...)
	t.Cleanup(func() {
		if err := rw.stop(); err != nil {
			t.Errorf("worker Run: %v", err)
		}
	})
	return rw
}

// startWorkerNoCheck is startWorker for tests that expect Run to fail: the
// test stops the worker and checks the error itself.
func startWorkerNoCheck(t testing.TB, cfg connect.WorkerConfig, specs []connect.ConnectorSpec, opts ...connect.Option) *runningWorker {
	t.Helper()
	rw := launchWorker(t, cfg, specs, opts...)
	t.Cleanup(func() { _ = rw.stop() })
	return rw
}

// launchWorker runs a worker in a goroutine with the test logger and
// mm2go's connectors.
func launchWorker(t testing.TB, cfg connect.WorkerConfig, specs []connect.ConnectorSpec, opts ...connect.Option) *runningWorker {
	reg := connect.NewRegistry()
	connectors.Register(reg)
	opts = append([]connect.Option{connect.WithLogger(testLogger(t)), connect.WithRegistry(reg)}, opts...)
	w := connect.NewWorker(cfg, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	rw := &runningWorker{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { rw.done <- w.Run(ctx, specs) }()
	return rw
}

// clusterConfigs builds WorkerConfig clusters for fake clusters by alias.
func clusterConfigs(cs map[string]*kfake.Cluster) map[string]connect.ClusterConfig {
	out := make(map[string]connect.ClusterConfig, len(cs))
	for alias, c := range cs {
		out[alias] = connect.ClusterConfig{Alias: alias, Opts: seedOpts(c)}
	}
	return out
}

// sourceSpec is a MirrorSource connector spec for source->target with props.
func sourceSpec(source, target string, props map[string]string) connect.ConnectorSpec {
	p := connect.Props{
		connectors.KeySourceAlias: source, connectors.KeyTargetAlias: target,
		connectors.KeyRefreshTopicsSeconds: "1",
	}
	for k, v := range props {
		p[k] = v
	}
	return connect.ConnectorSpec{Name: connectors.ClassMirrorSource, Class: connectors.ClassMirrorSource, Source: source, Target: target, Props: p}
}

// produceRecords writes n records per partition to topic on cl (see
// makeRecords) and returns what it wrote per partition, in order.
func produceRecords(t testing.TB, cl *kgo.Client, topic string, partitions int32, n int, seed string) map[int32][]*kgo.Record {
	t.Helper()
	out, all := makeRecords(topic, partitions, n, seed)
	for chunk := range slices.Chunk(all, 2000) {
		if err := cl.ProduceSync(context.Background(), chunk...).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	return out
}

// makeRecords builds n records per partition of topic: keyed, with headers
// and timestamps, every 7th a tombstone, every 11th without a key. It returns
// them per partition and all together, partition after partition.
func makeRecords(topic string, partitions int32, n int, seed string) (map[int32][]*kgo.Record, []*kgo.Record) {
	out := make(map[int32][]*kgo.Record)
	base := time.UnixMilli(1_700_000_000_000)
	all := make([]*kgo.Record, 0, int(partitions)*n)
	for p := range partitions {
		for i := range n {
			r := &kgo.Record{
				Topic:     topic,
				Partition: p,
				Key:       []byte(fmt.Sprintf("%s-key-%d-%d", seed, p, i)),
				Value:     []byte(fmt.Sprintf("%s-value-%d-%d-%s", seed, p, i, bytes.Repeat([]byte{'x'}, i%64))),
				Headers:   []kgo.RecordHeader{{Key: "h1", Value: []byte(strconv.Itoa(i))}, {Key: "trace", Value: nil}},
				Timestamp: base.Add(time.Duration(i) * time.Millisecond),
			}
			if i%7 == 3 {
				r.Value = nil
			}
			if i%11 == 5 {
				r.Key = nil
			}
			all = append(all, r)
			out[p] = append(out[p], r)
		}
	}
	return out, all
}

// consumeAll reads every record of topic on c, per partition in order, until
// it has want records in total or the deadline passes.
func consumeAll(t testing.TB, c brokers, topic string, want int, within time.Duration) map[int32][]*kgo.Record {
	t.Helper()
	cl := client(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	out := make(map[int32][]*kgo.Record)
	got := 0
	deadline := time.Now().Add(within)
	for got < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], r)
			got++
		})
	}
	return out
}

// waitFor polls cond every 100ms until it holds or within passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", within, what)
}

// endOffsets returns the end offset of every partition of topic on c.
func endOffsets(t testing.TB, c brokers, topic string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(client(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil
	}
	out := make(map[int32]int64)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

// totalRecords sums end offsets (no compaction or transactions in these tests).
func totalRecords(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// sameRecord reports how got differs from want in what replication keeps:
// key, value (nil stays nil), headers, timestamp; "" when equal.
func sameRecord(want, got *kgo.Record) string {
	switch {
	case !bytes.Equal(want.Key, got.Key) || (want.Key == nil) != (got.Key == nil):
		return fmt.Sprintf("key %q, want %q", got.Key, want.Key)
	case !bytes.Equal(want.Value, got.Value) || (want.Value == nil) != (got.Value == nil):
		return fmt.Sprintf("value %q, want %q", got.Value, want.Value)
	case !want.Timestamp.Equal(got.Timestamp):
		return fmt.Sprintf("timestamp %v, want %v", got.Timestamp, want.Timestamp)
	case len(want.Headers) != len(got.Headers):
		return fmt.Sprintf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i := range want.Headers {
		if want.Headers[i].Key != got.Headers[i].Key || !bytes.Equal(want.Headers[i].Value, got.Headers[i].Value) {
			return fmt.Sprintf("header %d = %q:%q, want %q:%q", i, got.Headers[i].Key, got.Headers[i].Value, want.Headers[i].Key, want.Headers[i].Value)
		}
	}
	return ""
}

// compareTopic fails the test unless got holds exactly want, partition by
// partition, in order.
func compareTopic(t testing.TB, topic string, want, got map[int32][]*kgo.Record) {
	t.Helper()
	for p, ws := range want {
		gs := got[p]
		if len(gs) != len(ws) {
			t.Errorf("%s[%d]: %d records on the target, want %d", topic, p, len(gs), len(ws))
			continue
		}
		for i := range ws {
			if d := sameRecord(ws[i], gs[i]); d != "" {
				t.Errorf("%s[%d] record %d: %s", topic, p, i, d)
				break
			}
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s[%d]: unexpected partition on the target", topic, p)
		}
	}
}
