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

	"github.com/mm2go/mm2go/internal/kread"
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

// TestHandOff_ExactlyOnceCommitsTheTransaction changes the number of tasks
// (2, 3, 1, 2) while they write in exactly-once mode, with transactions
// that would otherwise stay open for 20s: the task that gives a unit up
// commits its open transaction (the unit's records with their source
// offsets) before the unit's new task starts it. Right after each change,
// read_committed consumers see every record of every unit up to its
// committed source offset (a hand-off that wrote the offsets outside the
// transaction would leave them ahead of the records, which a crash of the
// old task then loses), and at the end each record once.
func TestHandOff_ExactlyOnceCommitsTheTransaction(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seeds := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	cl, err := kgo.NewClient(seeds...)
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
	cluster := ClusterConfig{Opts: seeds}
	w := NewWorker(WorkerConfig{Clusters: map[string]ClusterConfig{"A": cluster, "B": cluster}, OffsetFlushInterval: time.Hour,
		Herders: map[string]HerderConfig{"A->B": {ExactlyOnce: true}}},
		WithRegistry(reg), WithLogger(hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: t.Output()})))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() {
		runErr = w.Run(ctx, []ConnectorSpec{{Name: "units", Class: "units", Source: "A", Target: "B",
			Props: Props{KeyTransactionInterval: "20000"}}})
	})
	defer func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("Run: %v", runErr)
		}
	}()
	cc := <-conn.cc
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rcancel()
	// committed reads what read_committed consumers see: the source offset
	// committed for each unit, then the records of each unit.
	committed := func() (stored map[int32]int64, recs map[int32][]string) {
		t.Helper()
		stored, recs = make(map[int32]int64), make(map[int32][]string)
		err := kread.ReadToEnd(rctx, seeds, OffsetsTopic("A"), nil, func(r *kgo.Record) error {
			for u := range int32(units) {
				if string(r.Key) == string(OffsetKey("units", IntField("unit", int64(u)))) {
					o, _, err := ParseOffsetValue(r.Value)
					stored[u] = o
					return err
				}
			}
			return nil
		})
		if err == nil {
			err = kread.ReadToEnd(rctx, seeds, "out", nil, func(r *kgo.Record) error {
				recs[r.Partition] = append(recs[r.Partition], string(r.Value))
				return nil
			})
		}
		if err != nil {
			t.Fatal(err)
		}
		return stored, recs
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	moved := 0
	for _, n := range []int32{3, 1, 2} {
		// Records are on the target, in the tasks' open transactions.
		acked := func() (n int64) {
			for _, cs := range w.Status() {
				for _, ts := range cs.Tasks {
					n += ts.RecordsAcked
				}
			}
			return n
		}
		before := acked()
		waitUntil("records written", func() bool { return acked() > before+200 })
		conn.tasks.Store(n)
		cc.RequestReconfiguration()
		waitUntil(fmt.Sprintf("%d tasks", n), func() bool {
			st := w.Status()
			return len(st) == 1 && len(st[0].Tasks) == int(n)
		})
		stored, recs := committed()
		for u := range int32(units) {
			if o, ok := stored[u]; ok && int64(len(recs[u])) < o+1 {
				t.Errorf("after the change to %d tasks: unit %d has source offset %d committed, but read_committed consumers see only %d of its records",
					n, u, o, len(recs[u]))
			}
		}
		moved += len(stored)
	}
	if moved == 0 {
		t.Fatalf("no hand-off committed anything: the transactions stayed open")
	}
	waitUntil("every record written", func() bool { return lastWritten(t, seeds, "out", units) == unitRecords-1 })
	cancel()
	wg.Wait()

	_, got := committed()
	want := make([]string, unitRecords)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	for u := range int32(units) {
		if !slices.Equal(got[u], want) {
			t.Errorf("unit %d: read_committed sees %d records; want each of 0-%d once, in order", u, len(got[u]), unitRecords-1)
		}
	}
}

// lastWritten returns the lowest, over partitions 0 to n-1 of topic, of the
// number in the value of the partition's last record, as read_uncommitted
// consumers see it (records of open transactions too); -1 if a partition
// has none.
func lastWritten(t *testing.T, seeds []kgo.Opt, topic string, n int32) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(seeds...)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	last := make(map[int32]int64)
	left := make(map[int32]int64) // partition -> end offset not reached yet
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	for len(left) > 0 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				v, _ := strconv.ParseInt(string(r.Value), 10, 64)
				last[r.Partition] = v
			}
			if e, ok := left[r.Partition]; ok && r.Offset >= e-1 {
				delete(left, r.Partition)
			}
		})
	}
	low := int64(unitRecords)
	for p := range n {
		v, ok := last[p]
		if !ok {
			return -1
		}
		low = min(low, v)
	}
	return low
}
