package inspect_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/flows"
	"github.com/mm2go/mm2go/inspect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is two fake clusters a and b and a flow file with the flow a->b.
type env struct {
	a, b *kfake.Cluster
	file *flows.File
	flow *inspect.Flow
}

// newEnv starts the clusters; extra is appended to the flow file (YAML),
// clusterProps are the properties of cluster b.
func newEnv(t testing.TB, settings string, targetProps string) *env {
	t.Helper()
	e := &env{}
	var err error
	for _, c := range []struct {
		dst **kfake.Cluster
		id  string
	}{{&e.a, "a"}, {&e.b, "b"}} {
		if *c.dst, err = kfake.NewCluster(kfake.ClusterID(c.id), kfake.NumBrokers(1)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup((*c.dst).Close)
	}
	yaml := "clusters:\n" +
		"  a:\n    bootstrap_servers: [" + strings.Join(e.a.ListenAddrs(), ",") + "]\n" +
		"  b:\n    bootstrap_servers: [" + strings.Join(e.b.ListenAddrs(), ",") + "]\n" + targetProps +
		"settings:\n  refresh.topics.interval.seconds: 1\n  refresh.groups.interval.seconds: 1\n" +
		"  emit.checkpoints.interval.seconds: 1\n  offset.flush.interval.ms: 200\n" + settings +
		"flows:\n  - source: a\n    target: b\n"
	if e.file, err = flows.Parse([]byte(yaml), flows.FormatYAML); err != nil {
		t.Fatal(err)
	}
	if err := e.file.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.flow, err = inspect.FlowFromFile(e.file, "a", "b"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) client(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (e *env) inspector(t testing.TB) *inspect.Inspector {
	t.Helper()
	in, err := inspect.New(e.flow)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return in
}

func (e *env) createTopic(t testing.TB, topic string, partitions int32) {
	t.Helper()
	if _, err := kadm.NewClient(e.client(t, e.a)).CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// worker is a worker running the flow file in a goroutine, with its REST
// API on a test server.
type worker struct {
	w       *connect.Worker
	url     string
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func (e *env) startWorker(t *testing.T) *worker {
	t.Helper()
	x, err := e.file.Expand()
	if err != nil {
		t.Fatal(err)
	}
	cfg, specs, err := x.Plan()
	if err != nil {
		t.Fatal(err)
	}
	reg := connect.NewRegistry()
	connectors.Register(reg)
	log := hclog.New(&hclog.LoggerOptions{Name: "mm2go", Level: hclog.Info, Output: t.Output()})
	w := &worker{w: connect.NewWorker(cfg, connect.WithRegistry(reg), connect.WithLogger(log)), done: make(chan error, 1)}
	srv := httptest.NewServer(w.w.Handler("test"))
	w.url = srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- w.w.Run(ctx, specs) }()
	t.Cleanup(func() {
		w.stop(t)
		srv.Close()
	})
	return w
}

// stop stops the worker and returns Run's error.
func (w *worker) stop(t *testing.T) error {
	t.Helper()
	if w.stopped {
		return nil
	}
	w.stopped = true
	w.cancel()
	select {
	case err := <-w.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("worker did not stop within 60s")
		return nil
	}
}

// waitCaughtUp waits until the flow's copy is caught up.
func (e *env) waitCaughtUp(t *testing.T, in *inspect.Inspector) []*inspect.FlowStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sts, err := inspect.WaitCaughtUp(ctx, []*inspect.Inspector{in}, inspect.WaitOptions{Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("wait caught up: %v", err)
	}
	return sts
}

// produce writes n records to topic[partition] on cl with timestamps ts,
// ts+1ms, ... and returns their offsets.
func produce(t testing.TB, cl *kgo.Client, topic string, partition int32, n int, ts time.Time, tag string) []int64 {
	t.Helper()
	var offs []int64
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: partition, Key: []byte(fmt.Sprintf("%s-k%d", tag, i)),
			Value: []byte(fmt.Sprintf("%s-v%d", tag, i)), Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(tag)}}}
		res := cl.ProduceSync(context.Background(), r)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		offs = append(offs, res[0].Record.Offset)
	}
	return offs
}
