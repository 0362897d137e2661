package connect_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
)

// fakeName is the Connect name of connecttest's connector "fake".
const fakeName = "source->target.fake"

// connState returns the state of connector name and of its tasks.
func connState(w *connect.Worker, name string) (connect.State, []connect.TaskStatus) {
	for _, cs := range w.Status() {
		if cs.Name == name {
			return cs.State, cs.Tasks
		}
	}
	return "", nil
}

// allIn reports whether the connector and every one of its (n) tasks are
// in state s.
func allIn(w *connect.Worker, name string, s connect.State, n int) bool {
	st, tasks := connState(w, name)
	if st != s || len(tasks) != n {
		return false
	}
	for _, ts := range tasks {
		if ts.State != s {
			return false
		}
	}
	return true
}

// TestControl_PauseStopsCopyingResumeContinues: a paused connector's tasks
// poll nothing; what they polled before is on the target and committed
// when the status says PAUSED; a resume goes on from there, and every
// record is on the target once, in order.
func TestControl_PauseStopsCopyingResumeContinues(t *testing.T) {
	ctx := context.Background()
	target := connecttest.NewCluster(t, kfake.SeedTopics(2, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(100)...)
	src.Append("t", 1, connecttest.Records(100)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t", Partition: 0}}, []connecttest.Partition{{Topic: "t", Partition: 1}})
	conn.MaxPoll = 7
	var paused atomic.Bool
	var polledWhilePaused atomic.Int64
	conn.Hooks.Poll = func(int, int) error {
		if paused.Load() {
			polledWhilePaused.Add(1)
		}
		return nil
	}
	spec := conn.Spec()
	spec.Props["tasks.max"] = "2"
	w := connecttest.Worker(t, target, conn)
	run := connecttest.Run(t, w, spec)
	connecttest.WaitFor(t, 20*time.Second, "the first records copied", func() bool { return copied(t, target, "t", 0, 20) })

	if err := w.PauseConnector(ctx, fakeName); err != nil {
		t.Fatal(err)
	}
	if s, _ := w.TargetState(fakeName); s != connect.TargetPaused {
		t.Errorf("target state = %s, want PAUSED", s)
	}
	connecttest.WaitFor(t, 20*time.Second, "connector and tasks PAUSED", func() bool { return allIn(w, "fake", connect.StatePaused, 2) })
	paused.Store(true)
	// Everything polled before the pause is on the target and committed.
	onTarget := connecttest.ReadTopic(t, target, "t")
	for p := range int32(2) {
		n := len(onTarget[p])
		if n == 0 {
			continue
		}
		if o, ok := committedOf(t, target, "fake", connecttest.Partition{Topic: "t", Partition: p}); !ok || o != int64(n-1) {
			t.Errorf("t[%d]: %d records on the target, committed offset %d (%v), want %d", p, n, o, ok, n-1)
		}
	}
	src.Append("t", 0, connecttest.RecordsFrom(100, 50)...)
	// Nothing to wait for but time: several flush intervals (200ms) and
	// polls (each at most about a second in the fake) go by.
	time.Sleep(time.Second)
	if n := polledWhilePaused.Load(); n > 0 {
		t.Errorf("paused tasks polled %d times", n)
	}
	after := connecttest.ReadTopic(t, target, "t")
	for p := range int32(2) {
		if len(after[p]) != len(onTarget[p]) {
			t.Errorf("t[%d]: %d records on the target while paused, %d when it paused", p, len(after[p]), len(onTarget[p]))
		}
	}
	if err := w.PauseConnector(ctx, fakeName); err != nil { // idempotent
		t.Fatal(err)
	}

	paused.Store(false)
	if err := w.ResumeConnector(ctx, fakeName); err != nil {
		t.Fatal(err)
	}
	connecttest.WaitFor(t, 20*time.Second, "connector and tasks RUNNING", func() bool { return allIn(w, "fake", connect.StateRunning, 2) })
	connecttest.WaitFor(t, 20*time.Second, "every record copied", func() bool {
		return copied(t, target, "t", 0, 150) && copied(t, target, "t", 1, 100)
	})
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, target, src, "t", 0, 1)
	if o, _ := committedOf(t, target, "fake", connecttest.Partition{Topic: "t", Partition: 0}); o != 149 {
		t.Errorf("committed offset of t[0] = %d, want 149", o)
	}
	if n := conn.TaskStarts.Load(); n != 2 {
		t.Errorf("%d task starts, want 2: a pause keeps the tasks", n)
	}
}

// TestControl_StopCommitsAndShowsStopped: a stopped connector's tasks stop
// with their offsets committed, the status shows STOPPED with no tasks,
// and a resume starts it again from the committed offsets.
func TestControl_StopCommitsAndShowsStopped(t *testing.T) {
	ctx := context.Background()
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(50)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	w := connecttest.Worker(t, target, conn)
	run := connecttest.Run(t, w, conn.Spec())
	connecttest.WaitFor(t, 20*time.Second, "50 records copied", func() bool { return copied(t, target, "t", 0, 50) })

	if err := w.StopConnector(ctx, fakeName); err != nil {
		t.Fatal(err)
	}
	connecttest.WaitFor(t, 20*time.Second, "connector STOPPED without tasks", func() bool { return allIn(w, "fake", connect.StateStopped, 0) })
	if o, ok := committedOf(t, target, "fake", connecttest.Partition{Topic: "t"}); !ok || o != 49 {
		t.Errorf("committed offset = %d (%v), want 49", o, ok)
	}
	if conn.Stops.Load() != 1 || conn.TaskStops.Load() != 1 {
		t.Errorf("connector stops %d, task stops %d; want 1 and 1", conn.Stops.Load(), conn.TaskStops.Load())
	}
	if cfgs, _ := w.TaskConfigs(fakeName); len(cfgs) != 0 {
		t.Errorf("a stopped connector has task configs %v", cfgs)
	}
	// A restart does not start a stopped connector.
	if _, err := w.RestartConnector(ctx, fakeName, connect.RestartOptions{IncludeTasks: true, Wait: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := connState(w, "fake"); st != connect.StateStopped || conn.Starts.Load() != 1 {
		t.Errorf("after a restart of the stopped connector: %s, %d starts; want STOPPED, 1", st, conn.Starts.Load())
	}

	src.Append("t", 0, connecttest.RecordsFrom(50, 50)...)
	if err := w.ResumeConnector(ctx, fakeName); err != nil {
		t.Fatal(err)
	}
	connecttest.WaitFor(t, 20*time.Second, "100 records copied", func() bool { return copied(t, target, "t", 0, 100) })
	if !allIn(w, "fake", connect.StateRunning, 1) {
		st, tasks := connState(w, "fake")
		t.Errorf("after resume: %s %v, want RUNNING with 1 task", st, tasks)
	}
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, target, src, "t", 0)
	if conn.Starts.Load() != 2 {
		t.Errorf("%d connector starts, want 2", conn.Starts.Load())
	}
}

// TestControl_Restart: a restart of the connector with its tasks stops and
// starts both (a new task start, its restart counted); onlyFailed leaves
// healthy ones alone; a task restart restarts one task; unknown names are
// ErrNotFound. No record is lost or copied twice.
func TestControl_Restart(t *testing.T) {
	ctx := context.Background()
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(30)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	w := connecttest.Worker(t, target, conn)
	run := connecttest.Run(t, w, conn.Spec())
	connecttest.WaitFor(t, 20*time.Second, "30 records copied", func() bool { return copied(t, target, "t", 0, 30) })

	cs, err := w.RestartConnector(ctx, fakeName, connect.RestartOptions{IncludeTasks: true})
	if err != nil {
		t.Fatal(err)
	}
	if cs.State != connect.StateRestarting || len(cs.Tasks) != 1 || cs.Tasks[0].State != connect.StateRestarting {
		t.Errorf("restart answered %s %v, want RESTARTING for the connector and its task", cs.State, cs.Tasks)
	}
	connecttest.WaitFor(t, 20*time.Second, "the task started again", func() bool {
		ts, _ := run.Task("fake", 0)
		return conn.TaskStarts.Load() == 2 && ts.State == connect.StateRunning && ts.Restarts == 1
	})
	if conn.Starts.Load() != 2 {
		t.Errorf("%d connector starts, want 2", conn.Starts.Load())
	}

	// Nothing failed: onlyFailed restarts nothing.
	cs, err = w.RestartConnector(ctx, fakeName, connect.RestartOptions{IncludeTasks: true, OnlyFailed: true, Wait: true})
	if err != nil || cs.State != connect.StateRunning {
		t.Errorf("onlyFailed restart = %s, %v; want RUNNING", cs.State, err)
	}
	if conn.Starts.Load() != 2 || conn.TaskStarts.Load() != 2 {
		t.Errorf("onlyFailed restarted healthy instances: %d connector starts, %d task starts", conn.Starts.Load(), conn.TaskStarts.Load())
	}

	src.Append("t", 0, connecttest.RecordsFrom(30, 20)...)
	if err := w.RestartTask(ctx, fakeName, 0); err != nil {
		t.Fatal(err)
	}
	if ts, _ := run.Task("fake", 0); ts.Restarts != 2 {
		t.Errorf("after a task restart: %d restarts, want 2", ts.Restarts)
	}
	connecttest.WaitFor(t, 20*time.Second, "the task started again", func() bool { return conn.TaskStarts.Load() == 3 })
	connecttest.WaitFor(t, 20*time.Second, "50 records copied", func() bool { return copied(t, target, "t", 0, 50) })

	for _, err := range []error{
		w.RestartTask(ctx, fakeName, 1),
		w.RestartTask(ctx, "source->target.nope", 0),
		w.PauseConnector(ctx, "nope"),
	} {
		if !errors.Is(err, connect.ErrNotFound) {
			t.Errorf("error = %v, want ErrNotFound", err)
		}
	}
	if _, err := w.RestartConnector(ctx, "nope", connect.RestartOptions{}); !errors.Is(err, connect.ErrNotFound) {
		t.Errorf("RestartConnector(nope) = %v, want ErrNotFound", err)
	}
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, target, src, "t", 0)
}

// TestControl_RestartOnlyFailed: a failed task waiting out a long restart
// backoff starts at once on an onlyFailed restart; the healthy connector is
// left alone.
func TestControl_RestartOnlyFailed(t *testing.T) {
	ctx := context.Background()
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(10)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	conn.Hooks.Poll = func(_, attempt int) error {
		if attempt == 1 {
			return errors.New("source gone bad")
		}
		return nil
	}
	cfg := connecttest.Config(target)
	cfg.RetryBackoffMax = time.Hour
	connect.SetFirstTaskRestart(&cfg, time.Hour) // the restart waits for the request
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
	run := connecttest.Run(t, w, conn.Spec())
	connecttest.WaitFor(t, 20*time.Second, "the task FAILED", func() bool {
		ts, _ := run.Task("fake", 0)
		return ts.State == connect.StateFailed
	})
	cs, err := w.RestartConnector(ctx, fakeName, connect.RestartOptions{IncludeTasks: true, OnlyFailed: true})
	if err != nil {
		t.Fatal(err)
	}
	if cs.State != connect.StateRunning || len(cs.Tasks) != 1 || cs.Tasks[0].State != connect.StateRestarting {
		t.Errorf("restart answered %s %v, want the connector RUNNING and its task RESTARTING", cs.State, cs.Tasks)
	}
	connecttest.WaitFor(t, 20*time.Second, "10 records copied", func() bool { return copied(t, target, "t", 0, 10) })
	if ts, _ := run.Task("fake", 0); ts.State != connect.StateRunning || ts.Restarts != 1 || conn.Starts.Load() != 1 {
		t.Errorf("task %s after %d restarts, %d connector starts; want RUNNING, 1, 1", ts.State, ts.Restarts, conn.Starts.Load())
	}
	// Run reports the failure: the task has not run healthily for long
	// since.
	if err := run.Stop(); err == nil || !strings.Contains(err.Error(), "source gone bad") {
		t.Errorf("Run = %v, want the task's failure", err)
	}
}

// TestControl_RestartFailedConnector: a connector whose start failed for
// good is FAILED until a restart starts it (while the worker runs another:
// a worker whose every connector failed stops).
func TestControl_RestartFailedConnector(t *testing.T) {
	ctx := context.Background()
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(10)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	conn.Hooks.ConnectorStart = func(attempt int) error {
		if attempt == 1 {
			return errors.New("bad config")
		}
		return nil
	}
	other := connecttest.NewConnector("other", src, []connecttest.Partition{{Topic: "u"}})
	w := connecttest.Worker(t, target, conn, other)
	run := connecttest.Run(t, w, conn.Spec(), other.Spec())
	connecttest.WaitFor(t, 20*time.Second, "the connector FAILED", func() bool {
		st, _ := connState(w, "fake")
		return st == connect.StateFailed
	})
	if _, err := w.RestartConnector(ctx, fakeName, connect.RestartOptions{OnlyFailed: true, Wait: true}); err != nil {
		t.Fatal(err)
	}
	connecttest.WaitFor(t, 20*time.Second, "10 records copied", func() bool { return copied(t, target, "t", 0, 10) })
	if st, _ := connState(w, "fake"); st != connect.StateRunning {
		t.Errorf("connector %s after the restart, want RUNNING", st)
	}
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
}
