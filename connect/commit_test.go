package connect_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
)

// commitEnv is a worker on synctest's fake clock whose flush interval is an
// hour: any commit a test sees before then is an early one.
type commitEnv struct {
	t      *testing.T
	target *kfake.Cluster
	opts   []kgo.Opt
	src    *connecttest.Source
	conn   *connecttest.Connector
	run    *connecttest.Running
}

func newCommitEnv(t *testing.T, port int, partitions int32, conn func(*connecttest.Source) *connecttest.Connector, tasksMax int) *commitEnv {
	var vn kfake.VirtualNetwork
	e := &commitEnv{t: t, src: connecttest.NewSource()}
	e.target = connecttest.NewCluster(t, kfake.Ports(port), kfake.ListenFn(vn.Listen), kfake.SeedTopics(partitions, "t"))
	e.opts = connecttest.VirtualOpts(&vn)
	c := conn(e.src)
	e.conn = c
	cfg := connecttest.Config(e.target, e.opts...)
	cfg.OffsetFlushInterval = time.Hour
	spec := c.Spec()
	spec.Props = connect.Props{"tasks.max": fmt.Sprint(tasksMax)}
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(c)), connect.WithLogger(connecttest.Logger(t)))
	e.run = connecttest.Run(t, w, spec)
	return e
}

func part(p int32) connecttest.Partition { return connecttest.Partition{Topic: "t", Partition: p} }

// committed returns the committed source offset of t[p], or -1.
func (e *commitEnv) committed(p int32) int64 {
	o, ok := connecttest.Committed(e.t, e.target, connect.OffsetsTopic("source"), e.opts...)[string(connecttest.OffsetKey("fake", part(p)))]
	if !ok {
		return -1
	}
	return o
}

// soon waits (on the fake clock) for the committed offset of t[p] to be
// want: well before the flush interval.
func (e *commitEnv) soon(what string, p int32, want int64) {
	e.t.Helper()
	connecttest.WaitFor(e.t, 5*time.Second, what, func() bool { return e.committed(p) == want })
}

func (e *commitEnv) copied(p int32, n int) {
	e.t.Helper()
	connecttest.WaitFor(e.t, 30*time.Second, fmt.Sprintf("t[%d] copied up to %d records", p, n), func() bool {
		return len(connecttest.ReadTopic(e.t, e.target, "t", e.opts...)[p]) >= n
	})
}

func (e *commitEnv) commits(task int) int64 {
	ts, _ := e.run.Task("fake", task)
	return ts.Commits
}

// TestWorker_CommitsEachPartitionSoon: the first records of every partition
// acknowledged after the partition came to its task (the start, a move to
// another task, a new assignment) are committed soon, not a flush interval
// later, even when the task committed other partitions before; records
// after them wait for the flush interval. So a worker killed early re-copies
// only what it copied since its last commit (issue 10 item 5).
func TestWorker_CommitsEachPartitionSoon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newCommitEnv(t, 9311, 4, func(src *connecttest.Source) *connecttest.Connector {
			return connecttest.NewConnector("fake", src, []connecttest.Partition{part(0), part(1)}, []connecttest.Partition{part(2)})
		}, 2)
		// The start: t[0] and t[2] first, one commit in each task...
		e.src.Append("t", 0, connecttest.Records(100)...)
		e.src.Append("t", 2, connecttest.Records(100)...)
		e.soon("t[0]'s first records committed", 0, 99)
		e.soon("t[2]'s first records committed", 2, 99)
		// ...then t[1], whose first records come after task 0's first commit.
		e.src.Append("t", 1, connecttest.Records(100)...)
		e.soon("t[1]'s first records committed soon, although task 0 committed before", 1, 99)

		// A move: t[1] to task 1, which committed t[2] before.
		e.assign(2, []connecttest.Partition{part(0)}, []connecttest.Partition{part(2), part(1)})
		e.src.Append("t", 1, connecttest.RecordsFrom(100, 100)...)
		e.soon("t[1]'s first records in task 1 committed soon", 1, 199)

		// A new partition for task 0.
		e.assign(1, []connecttest.Partition{part(0), part(3)}, []connecttest.Partition{part(2), part(1)})
		e.src.Append("t", 3, connecttest.Records(100)...)
		e.soon("t[3]'s first records committed soon", 3, 99)

		// Later records wait for the flush interval.
		before := []int64{e.commits(0), e.commits(1)}
		for p := range int32(4) {
			n := len(e.src.Log("t", p))
			e.src.Append("t", p, connecttest.RecordsFrom(n, 50)...)
			e.copied(p, n+50)
		}
		time.Sleep(time.Minute)
		for p, want := range []int64{99, 199, 99, 99} {
			if o := e.committed(int32(p)); o != want {
				t.Errorf("t[%d]: committed %d a minute after its later records, want %d (they wait for the flush interval, an hour)", p, o, want)
			}
		}
		if after := []int64{e.commits(0), e.commits(1)}; after[0] != before[0] || after[1] != before[1] {
			t.Errorf("commits of tasks 0 and 1 went from %v to %v without a first ack or the flush interval", before, after)
		}
		if err := e.run.Stop(); err != nil {
			t.Fatal(err)
		}
		for p := range int32(4) {
			if o, want := e.committed(p), int64(len(e.src.Log("t", p))-1); o != want {
				t.Errorf("t[%d]: committed %d after the stop, want %d", p, o, want)
			}
		}
	})
}

// assign gives the fake connector's tasks new partitions and waits until
// the changed tasks, changed of them, took them.
func (e *commitEnv) assign(changed int64, assignments ...[]connecttest.Partition) {
	e.t.Helper()
	before := e.conn.Reconfigurations.Load()
	e.conn.Assign(assignments...)
	connecttest.WaitFor(e.t, 30*time.Second, "the tasks reconfigured", func() bool {
		return e.conn.Reconfigurations.Load() >= before+changed
	})
}

// TestWorker_EarlyCommitsCoalesce: partitions whose first records come one
// after another, faster than the early commits' gap, share early commits:
// each is committed within about a second, but the task commits far fewer
// times than there are partitions.
func TestWorker_EarlyCommitsCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const parts = 20
		var all []connecttest.Partition
		for p := range int32(parts) {
			all = append(all, part(p))
		}
		e := newCommitEnv(t, 9312, parts, func(src *connecttest.Source) *connecttest.Connector {
			return connecttest.NewConnector("fake", src, all)
		}, 1)
		began := time.Now()
		for p := range int32(parts) {
			e.src.Append("t", p, connecttest.Records(10)...)
			time.Sleep(50 * time.Millisecond)
		}
		for p := range int32(parts) {
			e.soon(fmt.Sprintf("t[%d]'s first records committed", p), p, 9)
		}
		took := time.Since(began)
		// One early commit at the first ack, then at most one per 500ms.
		if n, most := e.commits(0), int64(2+took/(500*time.Millisecond)); n > most || n >= parts {
			t.Errorf("%d commits for %d partitions whose first records came within %v, want at most %d", n, parts, took, most)
		}
	})
}
