// Package connecttest is a test kit for connect's worker runtime, in the
// way net/http/httptest is one for net/http: a scripted fake connector and
// task, an in-memory source they read from, and helpers that run a
// connect.Worker against in-process fake Kafka clusters (franz-go's kfake)
// and read back what it wrote.
//
// A test appends records to a Source, runs a Worker with a Connector whose
// tasks copy the Source's partitions to the target cluster (same topic name,
// same partition), and checks the target topic and the committed source
// offsets:
//
//	src := connecttest.NewSource()
//	src.Append("orders", 0, connecttest.Records(100)...)
//	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "orders"}})
//	target := connecttest.NewCluster(t)
//	run := connecttest.Run(t, connecttest.Worker(t, target, conn), conn.Spec())
//	connecttest.WaitFor(t, 10*time.Second, "copied", func() bool {
//		return len(connecttest.ReadTopic(t, target, "orders")[0]) == 100
//	})
//	err := run.Stop()
//
// Hooks inject failures into the connector and its tasks (a start that
// fails, a Poll error, a Committer error, a Stop that hangs); kfake's
// Fault and ControlKey inject them into the target.
package connecttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
)

// KeyPartitions is the task config key listing a fake task's source
// partitions: "topic:partition,topic:partition".
const KeyPartitions = "connecttest.partitions"

// Partition names one source partition.
type Partition struct {
	Topic     string
	Partition int32
}

func (p Partition) String() string { return p.Topic + ":" + strconv.Itoa(int(p.Partition)) }

// Source is an in-memory source: a log of records per partition, whose
// offsets are the records' indexes. Tests append to it while tasks read it.
// It is safe for concurrent use.
type Source struct {
	mu      sync.Mutex // guards logs and changed
	logs    map[Partition][]*kgo.Record
	changed chan struct{} // closed when a log grows
}

// NewSource returns an empty source.
func NewSource() *Source {
	return &Source{logs: make(map[Partition][]*kgo.Record), changed: make(chan struct{})}
}

// Append adds recs to the end of partition p of topic. Only their key,
// value, headers and timestamp are used.
func (s *Source) Append(topic string, p int32, recs ...*kgo.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := Partition{topic, p}
	s.logs[k] = append(s.logs[k], recs...)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Log returns the records of partition p of topic, in offset order.
func (s *Source) Log(topic string, p int32) []*kgo.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logs[Partition{topic, p}])
}

// read returns up to max records of p from offset on, and a channel closed
// when the source changes next.
func (s *Source) read(p Partition, offset int64, max int) ([]*kgo.Record, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.logs[p]
	if offset >= int64(len(log)) {
		return nil, s.changed
	}
	end := min(int64(len(log)), offset+int64(max))
	return log[offset:end], s.changed
}

// Records returns n records with keys and values "k<i>" and "v<i>", a
// header and a timestamp, for Source.Append.
func Records(n int) []*kgo.Record {
	return RecordsFrom(0, n)
}

// RecordsFrom is Records numbered from first.
func RecordsFrom(first, n int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		j := first + i
		out[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", j), Value: fmt.Appendf(nil, "v%d", j),
			Headers:   []kgo.RecordHeader{{Key: "i", Value: strconv.AppendInt(nil, int64(j), 10)}},
			Timestamp: time.UnixMilli(1_700_000_000_000 + int64(j))}
	}
	return out
}

// Hooks inject failures. Each is optional and may be called from any
// goroutine; task is the task's index, attempt counts calls from 1 (across
// restarts of the task).
type Hooks struct {
	ConnectorStart func(attempt int) error
	TaskStart      func(task, attempt int) error
	// Poll is called at the start of every Poll; an error is what Poll
	// returns.
	Poll func(task, attempt int) error
	// Commit is the task's Committer; an error holds the runner's
	// source-offset commit back.
	Commit func(task, attempt int) error
	// TaskStop is called from the task's Stop with its ctx.
	TaskStop func(ctx context.Context, task int) error
	// TaskOpen is called from the task's Start, after TaskStart, for what
	// a real task opens besides (its own clients, say, as MirrorSource's
	// consumer and offset-sync producer); the stop it returns is called
	// from the task's Stop with its ctx, after TaskStop.
	TaskOpen func(ctx context.Context, tc *connect.TaskContext) (stop func(ctx context.Context) error, err error)
	// ConnectorStop is called from the connector's Stop with its ctx.
	ConnectorStop func(ctx context.Context) error
	// Uncommitted is the task's connect.CommitCarrier: what its Commit
	// would write (nothing, without the hook).
	Uncommitted func(task int) ([]*kgo.Record, error)
}

// Connector is a fake connector: its task configs assign source partitions
// of a Source to tasks, and its tasks copy them to the target under the
// same topic name and partition.
type Connector struct {
	Name string
	src  *Source

	// Hooks inject failures; set them before the worker starts.
	Hooks Hooks
	// NoPause makes the tasks lack connect.PartitionPauser and
	// connect.Reconfigurable: a refused record then fails the task, and a
	// new assignment restarts it.
	NoPause bool
	// MaxPoll bounds the records of one Poll (default 500).
	MaxPoll int

	mu      sync.Mutex // guards configs and cc
	configs []connect.Props
	cc      *connect.ConnectorContext

	startCalls atomic.Int64
	attempts   sync.Map // "hook/task" -> *atomic.Int64

	// Counters tests read.
	Starts, Stops    atomic.Int64 // connector Start calls that succeeded, Stop calls
	TaskStarts       atomic.Int64 // task Start calls that succeeded, all tasks
	TaskStops        atomic.Int64
	Reconfigurations atomic.Int64 // Reconfigure calls, all tasks
	Commits          atomic.Int64 // Commit calls that succeeded, all tasks
}

// NewConnector returns a connector named name (also its class and its
// source-offsets namespace) that gives task i the partitions assignments[i].
func NewConnector(name string, src *Source, assignments ...[]Partition) *Connector {
	c := &Connector{Name: name, src: src}
	c.configs = configsOf(assignments)
	return c
}

func configsOf(assignments [][]Partition) []connect.Props {
	out := make([]connect.Props, len(assignments))
	for i, a := range assignments {
		parts := make([]string, len(a))
		for j, p := range a {
			parts[j] = p.String()
		}
		out[i] = connect.Props{KeyPartitions: strings.Join(parts, ",")}
	}
	return out
}

// Assign gives the tasks new assignments and asks the worker to apply them.
func (c *Connector) Assign(assignments ...[]Partition) {
	c.mu.Lock()
	c.configs = configsOf(assignments)
	cc := c.cc
	c.mu.Unlock()
	if cc != nil {
		cc.RequestReconfiguration()
	}
}

// Spec is a connect.ConnectorSpec of the connector from cluster "source" to
// cluster "target" (see Worker).
func (c *Connector) Spec() connect.ConnectorSpec {
	return connect.ConnectorSpec{Name: c.Name, Class: c.Name, Source: "source", Target: "target", Props: connect.Props{}}
}

func (c *Connector) attempt(hook string, task int) int {
	v, _ := c.attempts.LoadOrStore(hook+"/"+strconv.Itoa(task), new(atomic.Int64))
	return int(v.(*atomic.Int64).Add(1))
}

// Start implements connect.Connector.
func (c *Connector) Start(_ context.Context, cc *connect.ConnectorContext) error {
	if h := c.Hooks.ConnectorStart; h != nil {
		if err := h(int(c.startCalls.Add(1))); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.cc = cc
	c.mu.Unlock()
	c.Starts.Add(1)
	return nil
}

// TaskConfigs implements connect.Connector.
func (c *Connector) TaskConfigs(maxTasks int) ([]connect.Props, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.configs) > maxTasks {
		return nil, fmt.Errorf("%d tasks configured, tasks.max is %d", len(c.configs), maxTasks)
	}
	out := make([]connect.Props, len(c.configs))
	for i, p := range c.configs {
		out[i] = p.Clone()
	}
	return out, nil
}

// NewTask implements connect.Connector.
func (c *Connector) NewTask() connect.SourceTask {
	t := &Task{conn: c}
	if c.NoPause {
		return plainTask{t}
	}
	return t
}

// Stop implements connect.Connector.
func (c *Connector) Stop(ctx context.Context) error {
	c.Stops.Add(1)
	if h := c.Hooks.ConnectorStop; h != nil {
		return h(ctx)
	}
	return nil
}

// Task is the fake connector's task: it reads its partitions of the Source
// from the committed source offsets on and returns them for the target
// under the same topic and partition. It implements connect.Committer,
// connect.CommitCarrier, connect.Reconfigurable and connect.PartitionPauser.
type Task struct {
	conn *Connector
	tc   *connect.TaskContext
	id   int

	parts  map[Partition]*part
	bySP   map[*connect.SourcePartition]*part
	order  []*part
	out    []connect.SourceRecord
	closed bool
	stop   func(context.Context) error // what TaskOpen opened; nil if nothing
}

type part struct {
	p      Partition
	sp     *connect.SourcePartition
	next   int64 // offset of the next record to return
	paused bool
}

// plainTask hides Task's optional interfaces but Committer: a task whose
// commit cannot be carried, without partitions to pause.
type plainTask struct{ t *Task }

func (p plainTask) Start(ctx context.Context, tc *connect.TaskContext) error {
	return p.t.Start(ctx, tc)
}
func (p plainTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) { return p.t.Poll(ctx) }
func (p plainTask) Stop(ctx context.Context) error                           { return p.t.Stop(ctx) }
func (p plainTask) Commit(ctx context.Context) error                         { return p.t.Commit(ctx) }

var (
	_ connect.Committer       = (*Task)(nil)
	_ connect.CommitCarrier   = (*Task)(nil)
	_ connect.Reconfigurable  = (*Task)(nil)
	_ connect.PartitionPauser = (*Task)(nil)
	_ connect.Committer       = plainTask{}
)

// OffsetKey is the Connect offsets key of a fake connector's partition.
func OffsetKey(connector string, p Partition) []byte {
	return connect.OffsetKey(connector, connect.StrField("topic", p.Topic), connect.IntField("partition", int64(p.Partition)))
}

// Start implements connect.SourceTask.
func (t *Task) Start(ctx context.Context, tc *connect.TaskContext) error {
	t.tc, t.id = tc, tc.ID
	if h := t.conn.Hooks.TaskStart; h != nil {
		if err := h(t.id, t.conn.attempt("start", t.id)); err != nil {
			return err
		}
	}
	t.parts = make(map[Partition]*part)
	t.bySP = make(map[*connect.SourcePartition]*part)
	if err := t.assign(tc.Props[KeyPartitions]); err != nil {
		return err
	}
	if h := t.conn.Hooks.TaskOpen; h != nil {
		stop, err := h(ctx, tc)
		if err != nil {
			return err
		}
		t.stop = stop
	}
	t.conn.TaskStarts.Add(1)
	return nil
}

func parsePartitions(s string) ([]Partition, error) {
	var out []Partition
	for item := range strings.SplitSeq(s, ",") {
		if item == "" {
			continue
		}
		i := strings.LastIndexByte(item, ':')
		n, err := strconv.ParseInt(item[i+1:], 10, 32)
		if i < 0 || err != nil {
			return nil, fmt.Errorf("%s: %q is not topic:partition", KeyPartitions, item)
		}
		out = append(out, Partition{item[:i], int32(n)})
	}
	return out, nil
}

// assign sets the task's partitions: new ones start after their committed
// offset, removed ones are dropped.
func (t *Task) assign(s string) error {
	ps, err := parsePartitions(s)
	if err != nil {
		return err
	}
	want := make(map[Partition]bool, len(ps))
	for _, p := range ps {
		want[p] = true
		if t.parts[p] != nil {
			continue
		}
		sp := t.tc.Partition(OffsetKey(t.tc.Connector, p))
		next := int64(0)
		if o, ok := t.tc.StoredOffset(OffsetKey(t.tc.Connector, p)); ok {
			next = o + 1
		}
		pt := &part{p: p, sp: sp, next: next}
		t.parts[p], t.bySP[sp] = pt, pt
	}
	for p, pt := range t.parts {
		if !want[p] {
			delete(t.parts, p)
			delete(t.bySP, pt.sp)
		}
	}
	t.order = t.order[:0]
	for _, p := range ps {
		t.order = append(t.order, t.parts[p])
	}
	return nil
}

// Poll implements connect.SourceTask: up to MaxPoll records of each
// partition that is not paused, or, when there are none, it waits up to
// 200ms for the source to grow.
func (t *Task) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if h := t.conn.Hooks.Poll; h != nil {
		if err := h(t.id, t.conn.attempt("poll", t.id)); err != nil {
			return nil, err
		}
	}
	maxPoll := t.conn.MaxPoll
	if maxPoll <= 0 {
		maxPoll = 500
	}
	timer := time.NewTimer(200 * time.Millisecond)
	defer timer.Stop()
	for {
		out := t.out[:0]
		var changed <-chan struct{}
		for _, pt := range t.order {
			if pt.paused {
				continue
			}
			var recs []*kgo.Record
			recs, changed = t.conn.src.read(pt.p, pt.next, maxPoll)
			for i, r := range recs {
				// A fresh record each time: the worker owns it until acked.
				out = append(out, connect.SourceRecord{
					Record: &kgo.Record{Topic: pt.p.Topic, Partition: pt.p.Partition, Key: r.Key, Value: r.Value,
						Headers: r.Headers, Timestamp: r.Timestamp},
					Partition: pt.sp, Offset: pt.next + int64(i),
				})
			}
			pt.next += int64(len(recs))
		}
		t.out = out
		if len(out) > 0 {
			return out, nil
		}
		if changed == nil {
			changed = t.conn.src.waitChan()
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-timer.C:
			return nil, nil
		case <-changed:
		}
	}
}

func (s *Source) waitChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Commit implements connect.Committer.
func (t *Task) Commit(context.Context) error {
	if h := t.conn.Hooks.Commit; h != nil {
		if err := h(t.id, t.conn.attempt("commit", t.id)); err != nil {
			return err
		}
	}
	t.conn.Commits.Add(1)
	return nil
}

// Uncommitted implements connect.CommitCarrier.
func (t *Task) Uncommitted() ([]*kgo.Record, error) {
	if h := t.conn.Hooks.Uncommitted; h != nil {
		return h(t.id)
	}
	return nil, nil
}

// Reconfigure implements connect.Reconfigurable.
func (t *Task) Reconfigure(_ context.Context, props connect.Props) error {
	t.conn.Reconfigurations.Add(1)
	return t.assign(props[KeyPartitions])
}

// PausePartition implements connect.PartitionPauser.
func (t *Task) PausePartition(sp *connect.SourcePartition) bool {
	pt, ok := t.bySP[sp]
	if ok {
		pt.paused = true
	}
	return ok
}

// ResumePartition implements connect.PartitionPauser.
func (t *Task) ResumePartition(sp *connect.SourcePartition, offset int64) bool {
	pt, ok := t.bySP[sp]
	if !ok {
		return false
	}
	pt.paused = false
	if offset >= 0 {
		pt.next = offset
	}
	return true
}

// Stop implements connect.SourceTask.
func (t *Task) Stop(ctx context.Context) error {
	t.conn.TaskStops.Add(1)
	var err error
	if h := t.conn.Hooks.TaskStop; h != nil {
		err = h(ctx, t.id)
	}
	if t.stop != nil {
		err = errors.Join(err, t.stop(ctx))
	}
	return err
}
