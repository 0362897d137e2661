package connecttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/internal/kread"
)

// NewCluster starts an in-process fake Kafka cluster of one broker, closed
// when the test ends.
func NewCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("start fake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// ClusterConfig is the connect.ClusterConfig of c under alias; opts are
// added to every client (a kfake.VirtualNetwork's kgo.Dialer, say).
func ClusterConfig(alias string, c *kfake.Cluster, opts ...kgo.Opt) connect.ClusterConfig {
	return connect.ClusterConfig{Alias: alias, Opts: append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)}
}

// Config is a WorkerConfig whose clusters "source" and "target" are both
// target (fake tasks read their Source, not a cluster), with short
// intervals for tests.
func Config(target *kfake.Cluster, opts ...kgo.Opt) connect.WorkerConfig {
	return connect.WorkerConfig{
		Clusters: map[string]connect.ClusterConfig{
			"source": ClusterConfig("source", target, opts...),
			"target": ClusterConfig("target", target, opts...),
		},
		OffsetFlushInterval:    200 * time.Millisecond,
		ShutdownTimeout:        10 * time.Second,
		RetryBackoffMax:        time.Second,
		OffsetsTopicPartitions: 1,
	}
}

// Registry registers each connector under its name.
func Registry(conns ...*Connector) *connect.Registry {
	reg := connect.NewRegistry()
	for _, c := range conns {
		reg.Register(c.Name, func() connect.Connector { return c })
	}
	return reg
}

// Worker is a worker with Config(target) and conns registered, logging to
// the test.
func Worker(t testing.TB, target *kfake.Cluster, conns ...*Connector) *connect.Worker {
	return connect.NewWorker(Config(target), connect.WithRegistry(Registry(conns...)), connect.WithLogger(Logger(t)))
}

// Logger logs at Debug to the test's output (shown on failure or with -v).
func Logger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "mm2go", Level: hclog.Debug, Output: t.Output()})
}

// LogBuffer collects log lines for assertions.
type LogBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// CapturingLogger logs at Debug to the test's output and to the returned
// buffer.
func CapturingLogger(t testing.TB) (hclog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	return hclog.New(&hclog.LoggerOptions{Name: "mm2go", Level: hclog.Debug, Output: io.MultiWriter(t.Output(), b)}), b
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Lines returns the logged lines that contain every one of subs.
func (b *LogBuffer) Lines(subs ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for line := range strings.SplitSeq(b.buf.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// Running is a worker running in a goroutine.
type Running struct {
	Worker *connect.Worker
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Run runs w with specs until Stop or the end of the test; the test fails
// at its end if Run was not stopped and returned an error then.
func Run(t testing.TB, w *connect.Worker, specs ...connect.ConnectorSpec) *Running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Worker: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx, specs) }()
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// RunGroup runs w in the worker group gc with specs (Worker.RunGroup) until
// Stop or the end of the test, as Run.
func RunGroup(t testing.TB, w *connect.Worker, gc connect.GroupConfig, specs ...connect.ConnectorSpec) *Running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{Worker: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.RunGroup(ctx, specs, gc) }()
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// CutGroupRequests makes c leave unanswered every group request of the
// group protocol (join, sync, heartbeat, leave), as a coordinator that is
// away: a worker in a group on c loses its lease. heal answers them again.
// Other requests go through.
func CutGroupRequests(c *kfake.Cluster) (heal func()) {
	var cut atomic.Bool
	cut.Store(true)
	for _, k := range []kmsg.Key{kmsg.Heartbeat, kmsg.JoinGroup, kmsg.SyncGroup, kmsg.LeaveGroup} {
		c.ControlKey(k.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			return nil, nil, cut.Load()
		})
	}
	return func() { cut.Store(false) }
}

// Stop cancels the worker's ctx (a graceful stop) and returns what Run
// returned. It may be called more than once.
func (r *Running) Stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// Done yields Run's result once, for tests that wait for Run to end by
// itself (then Stop must not be relied on for the error).
func (r *Running) Done() <-chan error { return r.done }

// Task returns the status of task id of connector name, and whether the
// worker has it.
func (r *Running) Task(name string, id int) (connect.TaskStatus, bool) {
	for _, cs := range r.Worker.Status() {
		if cs.Name != name {
			continue
		}
		for _, ts := range cs.Tasks {
			if ts.ID == id {
				return ts, true
			}
		}
	}
	return connect.TaskStatus{}, false
}

// WaitFor polls cond every 10ms until it holds, and fails the test if it
// does not within the given time.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ReadTopic reads every record of topic on c, per partition in offset
// order, up to the end offsets it had when ReadTopic began. Transaction
// markers are not returned. It reads read_uncommitted (records of aborted
// and open transactions too) unless opts say otherwise: see ReadCommitted.
func ReadTopic(t testing.TB, c *kfake.Cluster, topic string, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Markers take offsets: keep them so that a log ending in one is read
	// to its end.
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.KeepControlRecords()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	start := make(map[int32]kgo.Offset)
	left := make(map[int32]int64)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			start[o.Partition] = kgo.NewOffset().AtStart()
			left[o.Partition] = o.Offset
		}
	})
	out := make(map[int32][]*kgo.Record)
	if len(start) == 0 {
		return out
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: start})
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset < end {
				if !r.Attrs.IsControl() {
					out[r.Partition] = append(out[r.Partition], r)
				}
				if r.Offset == end-1 {
					delete(left, r.Partition)
				}
			}
		})
	}
	return out
}

// ReadCommitted is ReadTopic as a read_committed consumer sees topic:
// without records of aborted transactions, up to the last stable offset.
func ReadCommitted(t testing.TB, c *kfake.Cluster, topic string, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make(map[int32][]*kgo.Record)
	err := kread.ReadToEnd(ctx, append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...), topic, nil, func(r *kgo.Record) error {
		out[r.Partition] = append(out[r.Partition], r)
		return nil
	})
	if err != nil && !errors.Is(err, kread.ErrTopicNotFound) {
		t.Fatalf("read %s read_committed: %v", topic, err)
	}
	return out
}

// Committed reads the source offsets committed in the Connect offsets topic
// on c (the last value of each key; in exactly-once mode, of committed
// transactions), by key.
func Committed(t testing.TB, c *kfake.Cluster, offsetsTopic string, opts ...kgo.Opt) map[string]int64 {
	t.Helper()
	out := make(map[string]int64)
	for _, recs := range ReadCommitted(t, c, offsetsTopic, opts...) {
		for _, r := range recs {
			o, ok, err := connect.ParseOffsetValue(r.Value)
			switch {
			case err != nil:
				t.Fatalf("offset of %s: %v", r.Key, err)
			case ok:
				out[string(r.Key)] = o
			default:
				delete(out, string(r.Key))
			}
		}
	}
	return out
}
