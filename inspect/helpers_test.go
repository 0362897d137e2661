package inspect_test

import (
	"context"
	"fmt"
	"net/http"
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
	"github.com/mm2go/mm2go/connect/connecttest"
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
	// vn, when set, is the virtual network of the clusters and the
	// workers' REST APIs (tests on synctest's fake clock); opts reach it.
	vn       *kfake.VirtualNetwork
	opts     []kgo.Opt
	restPort int // the next worker's REST port on vn
}

// newEnv starts the clusters; extra is appended to the flow file (YAML),
// clusterProps are the properties of cluster b.
func newEnv(t testing.TB, settings string, targetProps string) *env {
	t.Helper()
	return newEnvOn(t, nil, settings, targetProps)
}

// newEnvOn is newEnv with the clusters on vn (nil: loopback TCP), for a
// test in a synctest bubble: every client, inspector and worker of the env
// reaches them through vn.
func newEnvOn(t testing.TB, vn *kfake.VirtualNetwork, settings string, targetProps string) *env {
	t.Helper()
	e := &env{vn: vn, restPort: 9680}
	if vn != nil {
		e.opts = connecttest.VirtualOpts(vn)
	}
	var err error
	for _, c := range []struct {
		dst  **kfake.Cluster
		id   string
		port int
	}{{&e.a, "a", 9601}, {&e.b, "b", 9602}} {
		opts := []kfake.Opt{kfake.ClusterID(c.id), kfake.NumBrokers(1)}
		if vn != nil {
			opts = append(opts, kfake.Ports(c.port), kfake.ListenFn(vn.Listen))
		}
		if *c.dst, err = kfake.NewCluster(opts...); err != nil {
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
	e.flow.SourceOpts = append(e.flow.SourceOpts, e.opts...)
	e.flow.TargetOpts = append(e.flow.TargetOpts, e.opts...)
	return e
}

// httpClient asks the workers' REST APIs: through vn when the env has one
// (closed at the end of the test), else http.DefaultClient.
func (e *env) httpClient(t testing.TB) *http.Client {
	if e.vn == nil {
		return http.DefaultClient
	}
	tr := &http.Transport{DialContext: e.vn.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (e *env) client(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, e.opts...), opts...)...)
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
	for alias, cc := range cfg.Clusters {
		cc.Opts = append(cc.Opts, e.opts...)
		cfg.Clusters[alias] = cc
	}
	reg := connect.NewRegistry()
	connectors.Register(reg)
	log := hclog.New(&hclog.LoggerOptions{Name: "mm2go", Level: hclog.Info, Output: t.Output()})
	w := &worker{w: connect.NewWorker(cfg, connect.WithRegistry(reg), connect.WithLogger(log)), done: make(chan error, 1)}
	var closeREST func()
	if e.vn == nil {
		srv := httptest.NewServer(w.w.Handler("test"))
		w.url, closeREST = srv.URL, srv.Close
	} else {
		addr := fmt.Sprintf("127.0.0.1:%d", e.restPort)
		e.restPort++
		ln, err := e.vn.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: w.w.Handler("test")}
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = srv.Serve(ln)
		}()
		w.url = "http://" + addr
		closeREST = func() {
			srv.Close()
			<-served
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- w.w.Run(ctx, specs) }()
	t.Cleanup(func() {
		w.stop(t)
		closeREST()
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
