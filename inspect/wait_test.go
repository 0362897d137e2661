package inspect_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/inspect"
)

// refuseProduce makes c refuse, while refuse is set, every produce request
// that writes to topic (which must exist): each of its partitions gets
// INVALID_RECORD.
func refuseProduce(t *testing.T, c *kfake.Cluster, topic string, refuse *atomic.Bool, opts ...kgo.Opt) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	details, err := kadm.NewClient(cl).ListTopics(context.Background(), topic)
	cl.Close()
	if err != nil || details[topic].Err != nil {
		t.Fatalf("look up %s: %v %v", topic, err, details[topic].Err)
	}
	id := details[topic].ID
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		if !refuse.Load() || !slices.ContainsFunc(req.Topics, func(rt kmsg.ProduceRequestTopic) bool {
			return rt.Topic == topic || rt.TopicID == id
		}) {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.InvalidRecord.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// TestWaitCaughtUp_BlockedFlow: a flow whose target refuses its records is
// never caught up; the wait ends at its deadline saying which partition is
// behind, by how much and why (from the worker's REST status). Once the
// target accepts them again and a worker runs, the wait ends caught up.
// It runs on synctest's fake clock, its clusters and the worker's REST API
// on a kfake.VirtualNetwork: on the wall clock a loaded machine may not end
// two looks before the deadline.
func TestWaitCaughtUp_BlockedFlow(t *testing.T) { synctest.Test(t, testWaitCaughtUpBlockedFlow) }

func testWaitCaughtUpBlockedFlow(t *testing.T) {
	e := newEnvOn(t, &kfake.VirtualNetwork{}, "", "")
	e.createTopic(t, "orders", 1)
	cl := e.client(t, e.a)
	produce(t, cl, "orders", 0, 5, time.Now(), "before")
	w := e.startWorker(t)
	in := e.inspector(t)
	e.waitCaughtUp(t, in)

	var refuse atomic.Bool
	refuse.Store(true)
	refuseProduce(t, e.b, "a.orders", &refuse, e.opts...)
	produce(t, cl, "orders", 0, 3, time.Now(), "refused")

	var looks atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	sts, err := inspect.WaitCaughtUp(ctx, []*inspect.Inspector{in}, inspect.WaitOptions{
		Interval: 200 * time.Millisecond, WorkerURL: w.url, HTTPClient: e.httpClient(t),
		Progress: func([]*inspect.FlowStatus, error) { looks.Add(1) },
	})
	var nc *inspect.NotCaughtUpError
	if !errors.As(err, &nc) || !errors.Is(err, context.DeadlineExceeded) || len(nc.Behind) != 1 {
		for _, st := range sts {
			t.Logf("%+v", st.Partitions)
		}
		t.Fatalf("WaitCaughtUp of a blocked flow: %v", err)
	}
	p := nc.Behind[0]
	if p.Flow != "a->b" || p.Topic != "orders" || p.Partition != 0 || p.RecordsBehind != 3 || !p.RecordsBehindExact ||
		p.OldestUncopied == nil || p.OldestUncopied.Offset != 5 {
		t.Errorf("behind: %+v", p)
	}
	// A runtime that fails the task says so; one that blocks the partition
	// at the refused record names the record.
	switch {
	case !strings.Contains(err.Error(), "a->b orders[0]: 3 record(s) behind"):
		t.Errorf("error: %v", err)
	case p.State == inspect.StateStopped && strings.Contains(p.Reason, "task 0 failed: ") && strings.Contains(p.Reason, "INVALID_RECORD"):
	case p.State == inspect.StateBlocked && strings.Contains(p.Reason, "the target refuses the record at offset 5") && strings.Contains(p.Reason, "INVALID_RECORD"):
	default:
		t.Errorf("reason: state %s, %q", p.State, p.Reason)
	}
	if len(sts) != 1 || sts[0].Worker == nil || sts[0].Worker.URL != w.url || looks.Load() < 2 {
		t.Errorf("last status %+v, %d looks", sts, looks.Load())
	}
	t.Logf("while blocked: %v", err)

	// The target accepts the records again; a worker started now (the
	// failed task does not restart by itself) copies them.
	refuse.Store(false)
	_ = w.stop(t) // Run reports the failed task
	e.startWorker(t)
	e.waitCaughtUp(t, in)
}

// TestWaitCaughtUp_NoWorker: with no worker running, records written to the
// source stay behind: the wait times out, and says so without a worker. On
// synctest's fake clock, as TestWaitCaughtUp_BlockedFlow.
func TestWaitCaughtUp_NoWorker(t *testing.T) { synctest.Test(t, testWaitCaughtUpNoWorker) }

func testWaitCaughtUpNoWorker(t *testing.T) {
	e := newEnvOn(t, &kfake.VirtualNetwork{}, "", "")
	e.createTopic(t, "orders", 2)
	produce(t, e.client(t, e.a, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders", 1, 4, time.Now(), "x")
	in := e.inspector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := inspect.WaitCaughtUp(ctx, []*inspect.Inspector{in}, inspect.WaitOptions{Interval: 100 * time.Millisecond, MaxLag: 3})
	var nc *inspect.NotCaughtUpError
	if !errors.As(err, &nc) || len(nc.Behind) != 1 || nc.Behind[0].Partition != 1 || nc.Behind[0].RecordsBehind != 4 ||
		nc.Behind[0].State != inspect.StateNotStarted {
		t.Fatalf("WaitCaughtUp with no worker: %v", err)
	}
	// Within 4 records is caught up.
	sts, err := inspect.WaitCaughtUp(context.Background(), []*inspect.Inspector{in}, inspect.WaitOptions{MaxLag: 4})
	if err != nil || sts[0].Summary.RecordsBehind != 4 {
		t.Fatalf("WaitCaughtUp with max lag 4: %v", err)
	}
}
