package connect

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// unitConnector shares units of work (target partitions, each with its own
// stored offset) among a number of tasks that the test changes, as a change
// of tasks.max does: unit u goes to task u mod tasks, so most units move
// when the number changes, some between tasks that stay.
type unitConnector struct {
	units int
	tasks atomic.Int32
	cc    chan *ConnectorContext // the started connector's context, for the test
}

func (c *unitConnector) Start(_ context.Context, cc *ConnectorContext) error {
	c.cc <- cc
	return nil
}

func (c *unitConnector) TaskConfigs(int) ([]Props, error) {
	n := int(c.tasks.Load())
	units := make([][]string, n)
	for u := range c.units {
		units[u%n] = append(units[u%n], strconv.Itoa(u))
	}
	out := make([]Props, n)
	for i := range out {
		out[i] = Props{"units": strings.Join(units[i], ",")}
	}
	return out, nil
}

// Revoked keeps the units that old and new have in common.
func (c *unitConnector) Revoked(_ int, old, new Props) Props {
	keep := make(map[string]bool)
	if new != nil {
		for _, u := range strings.Split(new["units"], ",") {
			keep[u] = true
		}
	}
	var kept []string
	for _, u := range strings.Split(old["units"], ",") {
		if u != "" && keep[u] {
			kept = append(kept, u)
		}
	}
	return Props{"units": strings.Join(kept, ",")}
}

func (c *unitConnector) NewTask() SourceTask        { return &unitTask{} }
func (c *unitConnector) Stop(context.Context) error { return nil }

// unitTask writes, for each unit it holds, the records numbered 0 to
// unitRecords-1 to the unit's partition of "out", each value its number,
// going on after the unit's stored offset.
type unitTask struct {
	tc    *TaskContext
	units map[int32]*unitState
}

type unitState struct {
	sp   *SourcePartition
	next int64
}

const unitRecords = 3000

func (t *unitTask) Start(_ context.Context, tc *TaskContext) error {
	t.tc, t.units = tc, make(map[int32]*unitState)
	return t.Reconfigure(context.Background(), tc.Props)
}

func (t *unitTask) Reconfigure(_ context.Context, props Props) error {
	want := make(map[int32]bool)
	for _, s := range strings.Split(props["units"], ",") {
		if s == "" {
			continue
		}
		u, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		want[int32(u)] = true
		if t.units[int32(u)] == nil {
			key := OffsetKey("units", IntField("unit", int64(u)))
			st := &unitState{sp: t.tc.Partition(key)}
			if o, ok := t.tc.StoredOffset(key); ok {
				st.next = o + 1
			}
			t.units[int32(u)] = st
		}
	}
	for u := range t.units {
		if !want[u] {
			delete(t.units, u)
		}
	}
	return nil
}

func (t *unitTask) Poll(ctx context.Context) ([]SourceRecord, error) {
	var out []SourceRecord
	for u, st := range t.units {
		for i := 0; i < 5 && st.next < unitRecords; i++ {
			out = append(out, SourceRecord{
				Record:    &kgo.Record{Topic: "out", Partition: u, Value: []byte(strconv.FormatInt(st.next, 10))},
				Partition: st.sp, Offset: st.next,
			})
			st.next++
		}
	}
	select { // a steady stream, so that work moves while records are in flight
	case <-ctx.Done():
	case <-time.After(2 * time.Millisecond):
	}
	return out, nil
}

func (t *unitTask) Stop(context.Context) error { return nil }

// TestHandOff_TaskCountChangesCopyNothingTwice changes the number of tasks
// (2, 3, 1, 2) while they write: every unit that changes task is committed
// by its old task before its new task starts it, so each record reaches the
// target exactly once although offsets are otherwise committed only at
// stop (the flush interval is an hour).
func TestHandOff_TaskCountChangesCopyNothingTwice(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const units = 6
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), units, 1, nil, "out"); err != nil {
		t.Fatal(err)
	}
	conn := &unitConnector{units: units, cc: make(chan *ConnectorContext, 1)}
	conn.tasks.Store(2)
	reg := NewRegistry()
	reg.Register("units", func() Connector { return conn })
	cluster := ClusterConfig{Opts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}}
	w := NewWorker(WorkerConfig{Clusters: map[string]ClusterConfig{"A": cluster, "B": cluster}, OffsetFlushInterval: time.Hour},
		WithRegistry(reg), WithLogger(hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: t.Output()})))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() {
		runErr = w.Run(ctx, []ConnectorSpec{{Name: "units", Class: "units", Source: "A", Target: "B"}})
	})
	defer func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("Run: %v", runErr)
		}
	}()
	cc := <-conn.cc
	total := func() int64 {
		ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "out")
		if err != nil {
			return 0
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	for _, n := range []int32{3, 1, 2} {
		before := total()
		waitUntil("records written", func() bool { return total() > before+200 })
		conn.tasks.Store(n)
		cc.RequestReconfiguration()
		waitUntil(fmt.Sprintf("%d tasks", n), func() bool {
			st := w.Status()
			return len(st) == 1 && len(st[0].Tasks) == int(n)
		})
	}
	waitUntil("every record written", func() bool { return total() >= units*unitRecords })
	cancel()
	wg.Wait()

	got := make(map[int32][]string)
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	n := total()
	deadline := time.Now().Add(30 * time.Second)
	for read := int64(0); read < n; {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d records", read, n)
		}
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		fs := cons.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			read++
		})
	}
	want := make([]string, unitRecords)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	for u := range int32(units) {
		if !slices.Equal(got[u], want) {
			dups := len(got[u]) - unitRecords
			t.Errorf("unit %d: %d records, %d more than written (copied twice); want each of 0-%d once, in order", u, len(got[u]), dups, unitRecords-1)
		}
	}
}
