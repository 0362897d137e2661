package connect_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
	"github.com/mm2go/mm2go/connect/group"
)

// hangProduceTo makes c hold every produce request to topic until release
// is closed (a hung network to the target's data, while the offsets topic
// still answers). It returns how many requests it held.
func hangProduceTo(t *testing.T, c *kfake.Cluster, topic string, release <-chan struct{}, opts ...kgo.Opt) *atomic.Int64 {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	id := topics[topic].ID // produce requests name topics by ID (v13+)
	var held atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, rt := range req.(*kmsg.ProduceRequest).Topics {
			if rt.Topic == topic || rt.TopicID == id {
				held.Add(1)
				c.SleepControl(func() { <-release })
				break
			}
		}
		return nil, nil, false
	})
	return &held
}

// TestWorker_ShutdownOneDeadline runs on synctest's fake clock: with the
// target's data produce hung, a graceful stop takes the one
// ShutdownTimeout for the whole worker (not one per flush, commit and
// connector stop), and the records the target acknowledged before the stop
// are committed although the flush of the rest never ends.
func TestWorker_ShutdownOneDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var vn kfake.VirtualNetwork
		target := connecttest.NewCluster(t, kfake.Ports(9301), kfake.ListenFn(vn.Listen), kfake.SeedTopics(1, "t"))
		dial := kgo.Dialer(vn.DialContext)
		src := connecttest.NewSource()
		p := connecttest.Partition{Topic: "t"}
		conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p})
		var stops atomic.Int64
		conn.Hooks.TaskStop = func(ctx context.Context, _ int) error {
			stops.Add(1)
			<-ctx.Done() // a task whose Stop takes all the time it gets
			return nil
		}
		conn.Hooks.ConnectorStop = func(ctx context.Context) error {
			<-ctx.Done() // and a connector too
			return nil
		}
		cfg := connecttest.Config(target, dial)
		cfg.OffsetFlushInterval = 30 * time.Second // no periodic commit between the first one and the stop
		cfg.ShutdownTimeout = 10 * time.Second
		w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
		run := connecttest.Run(t, w, conn.Spec())
		committed := func() int64 {
			o, ok := connecttest.Committed(t, target, connect.OffsetsTopic("source"), dial)[string(connecttest.OffsetKey("fake", p))]
			if !ok {
				return -1
			}
			return o
		}
		src.Append("t", 0, connecttest.Records(100)...)
		connecttest.WaitFor(t, time.Minute, "the first commit", func() bool { return committed() == 99 })
		// Acknowledged, not committed yet (the interval is an hour).
		src.Append("t", 0, connecttest.RecordsFrom(100, 100)...)
		connecttest.WaitFor(t, time.Minute, "200 records copied", func() bool {
			return len(connecttest.ReadTopic(t, target, "t", dial)[0]) == 200
		})
		release := make(chan struct{})
		held := hangProduceTo(t, target, "t", release, dial)
		src.Append("t", 0, connecttest.RecordsFrom(200, 100)...)
		connecttest.WaitFor(t, time.Minute, "a produce request held", func() bool { return held.Load() > 0 })

		began := time.Now()
		err := run.Stop()
		took := time.Since(began)
		close(release)
		if took > cfg.ShutdownTimeout {
			t.Errorf("the graceful stop took %v, want at most ShutdownTimeout (%v)", took, cfg.ShutdownTimeout)
		}
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v, want the flush that ran out of time", err)
		}
		if stops.Load() != 1 {
			t.Errorf("task Stop called %d times, want 1", stops.Load())
		}
		if o := committed(); o != 199 {
			t.Errorf("committed offset after the stop = %d, want 199 (everything acknowledged before the flush)", o)
		}
	})
}

// blackHole makes c hold every request until release is closed, as a
// network black hole does (connections accepted, nothing answered). In a
// synctest bubble, call synctest.Wait after closing release, so that kfake
// answers what it held before the test closes it: a kfake cluster closed
// while held requests wake up can hang in its control lock.
func blackHole(c *kfake.Cluster, release <-chan struct{}) {
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
}

// TestWorker_ShutdownDeadlineUnreachable runs on synctest's fake clock: a
// graceful stop while one cluster answers nothing ends by ShutdownTimeout,
// clients closed after the deadline included (kgo's Close waits up to a
// second for a last client-metrics push and a fetch session's end to a
// broker that does not answer, unless the client's context ended).
//
// source: the target answers, a producer the task holds on the source (as
// MirrorSource's offset syncs) does not; the stop commits everything the
// target acknowledged. target: nothing reaches the target, the commits
// give up at the deadline; what was committed before stays.
func TestWorker_ShutdownDeadlineUnreachable(t *testing.T) {
	for i, unreachable := range []string{"source", "target"} {
		t.Run(unreachable, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var vn kfake.VirtualNetwork
				target := connecttest.NewCluster(t, kfake.Ports(9331+2*i), kfake.ListenFn(vn.Listen), kfake.SeedTopics(1, "t"))
				source := connecttest.NewCluster(t, kfake.Ports(9332+2*i), kfake.ListenFn(vn.Listen), kfake.SeedTopics(1, "syncs"))
				opts := connecttest.VirtualOpts(&vn)
				src := connecttest.NewSource()
				p := connecttest.Partition{Topic: "t"}
				conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p})
				conn.Hooks.TaskOpen = func(ctx context.Context, tc *connect.TaskContext) (func(context.Context) error, error) {
					cl, err := tc.NewClient("source", connect.RoleProducer, kgo.DefaultProduceTopic("syncs"))
					if err != nil {
						return nil, err
					}
					if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
						cl.Close()
						return nil, err
					}
					return func(ctx context.Context) error { // a last record, flushed until ctx ends
						defer cl.Close()
						cl.Produce(ctx, &kgo.Record{Value: []byte("last")}, nil)
						return cl.Flush(ctx)
					}, nil
				}
				cfg := connecttest.Config(target, opts...)
				cfg.Clusters["source"] = connecttest.ClusterConfig("source", source, opts...)
				cfg.OffsetFlushInterval = time.Hour // only the first records are committed before the stop
				cfg.ShutdownTimeout = 10 * time.Second
				w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
				run := connecttest.Run(t, w, conn.Spec())
				committed := func() int64 {
					o, ok := connecttest.Committed(t, target, connect.OffsetsTopic("source"), opts...)[string(connecttest.OffsetKey("fake", p))]
					if !ok {
						return -1
					}
					return o
				}
				src.Append("t", 0, connecttest.Records(100)...)
				connecttest.WaitFor(t, time.Minute, "the first commit", func() bool { return committed() == 99 })
				src.Append("t", 0, connecttest.RecordsFrom(100, 100)...)
				connecttest.WaitFor(t, time.Minute, "200 records acknowledged", func() bool {
					ts, _ := run.Task("fake", 0)
					return ts.RecordsAcked == 200
				})
				release := make(chan struct{})
				blackHole(map[string]*kfake.Cluster{"source": source, "target": target}[unreachable], release)

				began := time.Now()
				err := run.Stop()
				took := time.Since(began)
				close(release)
				synctest.Wait()
				if took > cfg.ShutdownTimeout {
					t.Errorf("the graceful stop took %v, want at most ShutdownTimeout (%v)", took, cfg.ShutdownTimeout)
				}
				// The task's deadline and the worker's hard stop end at the
				// same moment: whichever comes first is what ran out of time.
				if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					t.Errorf("Run = %v, want what ran out of time", err)
				}
				if o := committed(); unreachable == "source" && o != 199 {
					t.Errorf("committed offset after the stop = %d, want 199 (everything the target acknowledged)", o)
				}
			})
		})
	}
}

// TestRunGroup_ShutdownDeadline runs on synctest's fake clock: a worker of
// a group stops within ShutdownTimeout, its leave of the group and the
// close of the group's clients (config topic, membership) included.
//
// unreachable: the group's cluster (its target) answers nothing.
// slow-task: a task's Stop takes all the time it gets; the units' deadline
// comes a little before the worker's, so that the worker still leaves the
// group (the others take its work at once, not after the session timeout).
func TestRunGroup_ShutdownDeadline(t *testing.T) {
	for i, tc := range []string{"unreachable", "slow-task"} {
		t.Run(tc, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var vn kfake.VirtualNetwork
				target := connecttest.NewCluster(t, kfake.Ports(9341+i), kfake.ListenFn(vn.Listen), kfake.SeedTopics(1, "t"))
				opts := connecttest.VirtualOpts(&vn)
				src := connecttest.NewSource()
				p := connecttest.Partition{Topic: "t"}
				conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p})
				stopping := make(chan struct{})
				if tc == "slow-task" {
					conn.Hooks.TaskStop = func(ctx context.Context, _ int) error {
						close(stopping)
						<-ctx.Done()
						return nil
					}
				}
				cfg := connecttest.Config(target, opts...)
				cfg.ShutdownTimeout = 5 * time.Second
				logger, logs := connecttest.CapturingLogger(t)
				w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(logger))
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan error, 1)
				go func() {
					done <- w.RunGroup(ctx, []connect.ConnectorSpec{conn.Spec()}, connect.GroupConfig{ID: "g", Cluster: "target",
						Fingerprint: group.Fingerprint{Hash: "h", Label: "flows.yaml"}, SessionTimeout: 10 * time.Second, ConfigTopicReplication: 1})
				}()
				src.Append("t", 0, connecttest.Records(100)...)
				connecttest.WaitFor(t, time.Minute, "the first commit", func() bool {
					o, ok := connecttest.Committed(t, target, connect.OffsetsTopic("source"), opts...)[string(connecttest.OffsetKey("fake", p))]
					return ok && o == 99
				})
				release := make(chan struct{})
				if tc == "unreachable" {
					blackHole(target, release)
				}
				began := time.Now()
				cancel()
				<-done
				took := time.Since(began)
				close(release)
				synctest.Wait()
				if took > cfg.ShutdownTimeout {
					t.Errorf("the graceful stop of a group's worker took %v, want at most ShutdownTimeout (%v)", took, cfg.ShutdownTimeout)
				}
				if tc == "slow-task" {
					<-stopping
					if len(logs.Lines("left the worker group")) != 1 {
						t.Errorf("the worker did not leave the group after a task that took all its time:\n%s", strings.Join(logs.Lines("group"), "\n"))
					}
				}
			})
		})
	}
}
