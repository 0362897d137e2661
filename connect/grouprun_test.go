package connect_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
	"github.com/mm2go/mm2go/connect/group"
)

// groupTestWorker is one worker of a real group in a test: RunGroup in a
// goroutine, its REST API on an httptest server.
type groupTestWorker struct {
	id    string
	w     *connect.Worker
	conns map[string]*connecttest.Connector
	srv   *httptest.Server
	c     restClient
	stop  func() error
}

// startGroupWorkers starts n workers of one group on target, each running
// connectors a and b (one task each, reading topics ta and tb of src).
func startGroupWorkers(t *testing.T, target *kfake.Cluster, src *connecttest.Source, n int) []*groupTestWorker {
	t.Helper()
	var out []*groupTestWorker
	for range n {
		gw := &groupTestWorker{conns: map[string]*connecttest.Connector{
			"a": connecttest.NewConnector("a", src, []connecttest.Partition{{Topic: "ta"}}),
			"b": connecttest.NewConnector("b", src, []connecttest.Partition{{Topic: "tb"}}),
		}}
		// The worker's id is its REST address, known once the server
		// listens; the handler is set once the worker exists.
		var handler atomicHandler
		gw.srv = httptest.NewServer(&handler)
		t.Cleanup(gw.srv.Close)
		gw.id = strings.TrimPrefix(gw.srv.URL, "http://")
		cfg := connecttest.Config(target)
		cfg.WorkerID = gw.id
		gw.w = connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(gw.conns["a"], gw.conns["b"])),
			connect.WithLogger(connecttest.Logger(t).Named(gw.id)))
		handler.set(gw.w.RESTHandler(connect.RESTConfig{FanOutTimeout: 5 * time.Second}))
		gw.c = restClient{t: t, url: gw.srv.URL}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		gc := connect.GroupConfig{ID: "mm2go-test", Cluster: "target", URL: gw.srv.URL,
			Fingerprint:            group.Fingerprint{Hash: "same-file", Label: "flows.yaml"},
			SessionTimeout:         6 * time.Second,
			HeartbeatInterval:      300 * time.Millisecond,
			ConfigTopicReplication: 1}
		go func() {
			done <- gw.w.RunGroup(ctx, []connect.ConnectorSpec{gw.conns["a"].Spec(), gw.conns["b"].Spec()}, gc)
		}()
		var err error
		stopped := false
		gw.stop = func() error {
			if !stopped {
				stopped = true
				cancel()
				err = <-done
			}
			return err
		}
		t.Cleanup(func() { _ = gw.stop() })
		out = append(out, gw)
	}
	return out
}

// settled reports whether every worker sees all n of them in the group,
// the same leader, and an owner for every unit of a and b, and runs what it
// owns.
func settled(ws []*groupTestWorker) bool {
	units := []string{"source->target/a", "source->target/a/0", "source->target/b", "source->target/b/0"}
	for _, gw := range ws {
		v := gw.w.Group()
		if v.Err() != nil || len(v.Members()) != len(ws) {
			return false
		}
		for _, u := range units {
			if _, ok := v.OwnerOf(u); !ok {
				return false
			}
		}
	}
	for _, n := range []string{"a", "b"} {
		st, tasks := connState(ws[0].w, n)
		if st != connect.StateRunning || len(tasks) != 1 || tasks[0].State != connect.StateRunning {
			return false
		}
	}
	return true
}

// atomicHandler serves with the handler set last.
type atomicHandler struct{ h atomic.Pointer[http.Handler] }

func (a *atomicHandler) set(h http.Handler) { a.h.Store(&h) }

func (a *atomicHandler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if h := a.h.Load(); h != nil {
		(*h).ServeHTTP(rw, r)
		return
	}
	http.Error(rw, "starting", http.StatusServiceUnavailable)
}

// TestRunGroup_RESTAnswersForTheGroup runs two workers of one group (real
// group protocol on kfake, real config topic) and drives them through the
// REST API: reads on either worker answer for the whole group, naming the
// worker (host:port) of each connector and task; pause, resume, stop and a
// task restart sent to the worker that does not lead take effect on the
// worker that runs the unit; errors are Connect's {error_code, message}.
func TestRunGroup_RESTAnswersForTheGroup(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "ta", "tb"))
	src := connecttest.NewSource()
	src.Append("ta", 0, connecttest.Records(10)...)
	src.Append("tb", 0, connecttest.Records(10)...)
	ws := startGroupWorkers(t, target, src, 2)
	connecttest.WaitFor(t, 60*time.Second, "two workers sharing a and b", func() bool { return settled(ws) })

	view := ws[0].w.Group()
	leader, _ := view.Leader()
	byID := map[string]*groupTestWorker{}
	var follower *groupTestWorker
	for _, gw := range ws {
		byID[gw.id] = gw
		if gw.id != leader.WorkerID {
			follower = gw
		}
	}
	if follower == nil || byID[leader.WorkerID] == nil {
		t.Fatalf("leader %q is not one of the workers %v", leader.WorkerID, view.Members())
	}
	owner := func(unit string) *groupTestWorker {
		m, _ := view.OwnerOf(unit)
		return byID[m.WorkerID]
	}

	// Reads: either worker, the whole group, each unit's worker named.
	for _, gw := range ws {
		all := gw.c.expect("GET", "/connectors?expand=status&expand=info", "", 200).(map[string]any)
		for _, n := range []string{"a", "b"} {
			st := all["source->target."+n].(map[string]any)["status"].(map[string]any)
			conn := st["connector"].(map[string]any)
			task := st["tasks"].([]any)[0].(map[string]any)
			if conn["state"] != "RUNNING" || conn["worker_id"] != owner("source->target/"+n).id {
				t.Errorf("from %s: %s's connector = %v, want RUNNING on %s", gw.id, n, conn, owner("source->target/"+n).id)
			}
			if task["state"] != "RUNNING" || task["worker_id"] != owner("source->target/"+n+"/0").id {
				t.Errorf("from %s: %s's task = %v, want RUNNING on %s", gw.id, n, task, owner("source->target/"+n+"/0").id)
			}
			info := all["source->target."+n].(map[string]any)["info"].(map[string]any)
			if tasks := info["tasks"].([]any); len(tasks) != 1 {
				t.Errorf("from %s: %s's info lists tasks %v, want one", gw.id, n, tasks)
			}
		}
		ts := gw.c.expect("GET", "/connectors/source->target.b/tasks/0/status", "", 200).(map[string]any)
		if ts["worker_id"] != owner("source->target/b/0").id {
			t.Errorf("from %s: b's task status = %v, want it on %s", gw.id, ts, owner("source->target/b/0").id)
		}
		tasks := gw.c.expect("GET", "/connectors/source->target.a/tasks", "", 200).([]any)
		if len(tasks) != 1 || !strings.Contains(tasks[0].(map[string]any)["config"].(map[string]any)[connecttest.KeyPartitions].(string), "ta") {
			t.Errorf("from %s: a's tasks = %v, want one reading ta", gw.id, tasks)
		}
	}

	// Pause, sent to the follower: the worker that runs a's task pauses it,
	// in place (no restart).
	aStarts := owner("source->target/a/0").conns["a"].TaskStarts.Load()
	follower.c.expect("PUT", "/connectors/source->target.a/pause", "", 202)
	connecttest.WaitFor(t, 30*time.Second, "a's task PAUSED on its worker", func() bool {
		_, tasks := connState(owner("source->target/a/0").w, "a")
		return len(tasks) == 1 && tasks[0].State == connect.StatePaused
	})
	for _, gw := range ws {
		st := gw.c.expect("GET", "/connectors/source->target.a/status", "", 200).(map[string]any)
		if task := st["tasks"].([]any)[0].(map[string]any); task["state"] != "PAUSED" {
			t.Errorf("from %s after the pause: a's task = %v", gw.id, task)
		}
	}
	// What is appended while paused is not copied; a resume copies it.
	acked := func() int64 {
		ts, _ := taskOf(owner("source->target/a/0").w, "a", 0)
		return ts.RecordsAcked
	}
	before := acked()
	src.Append("ta", 0, connecttest.RecordsFrom(10, 5)...)
	follower.c.expect("PUT", "/connectors/source->target.a/resume", "", 202)
	connecttest.WaitFor(t, 30*time.Second, "a's task copies again", func() bool { return acked() >= before+5 })
	if n := owner("source->target/a/0").conns["a"].TaskStarts.Load(); n != aStarts {
		t.Errorf("a's task started %d times across the pause and resume, want 0: a pause is in place", n-aStarts)
	}

	// A task restart, sent to the worker that does not run the task, runs
	// where the task runs.
	runsB := owner("source->target/b/0")
	other := ws[0]
	if other == runsB {
		other = ws[1]
	}
	starts, otherStarts := runsB.conns["b"].TaskStarts.Load(), other.conns["b"].TaskStarts.Load()
	other.c.expect("POST", "/connectors/source->target.b/tasks/0/restart", "", 204)
	connecttest.WaitFor(t, 30*time.Second, "b's task restarted where it runs", func() bool { return runsB.conns["b"].TaskStarts.Load() == starts+1 })
	if n := other.conns["b"].TaskStarts.Load(); n != otherStarts {
		t.Errorf("b's task started on %s too (%d -> %d)", other.id, otherStarts, n)
	}
	if ts, _ := taskOf(runsB.w, "b", 0); ts.Restarts != 1 || ts.State != connect.StateRunning {
		t.Errorf("b's task after the restart = %+v, want RUNNING with 1 restart", ts)
	}

	// A connector restart with its tasks, sent to a worker that does not
	// run both: each restarts where it runs, and the answer is Connect's
	// restart plan. A plain restart (the connector only) answers once done.
	runsA, runsA0 := owner("source->target/a"), owner("source->target/a/0")
	asked := ws[0]
	if asked == runsA && asked == runsA0 {
		asked = ws[1]
	}
	connStarts := map[*groupTestWorker]int64{}
	taskStarts := map[*groupTestWorker]int64{}
	for _, gw := range ws {
		connStarts[gw], taskStarts[gw] = gw.conns["a"].Starts.Load(), gw.conns["a"].TaskStarts.Load()
	}
	plan := asked.c.expect("POST", "/connectors/source->target.a/restart?includeTasks=true", "", 202).(map[string]any)
	if c := plan["connector"].(map[string]any); c["worker_id"] != runsA.id {
		t.Errorf("restart plan of a from %s = %v, want the connector on %s", asked.id, plan, runsA.id)
	}
	connecttest.WaitFor(t, 30*time.Second, "a and its task restarted where they run", func() bool {
		return runsA.conns["a"].Starts.Load() == connStarts[runsA]+1 && runsA0.conns["a"].TaskStarts.Load() == taskStarts[runsA0]+1
	})
	asked.c.expect("POST", "/connectors/source->target.a/restart", "", 204)
	for _, gw := range ws {
		wantConn, wantTask := connStarts[gw], taskStarts[gw]
		if gw == runsA {
			wantConn += 2 // the two restarts
		}
		if gw == runsA0 {
			wantTask++
		}
		if c, tk := gw.conns["a"].Starts.Load(), gw.conns["a"].TaskStarts.Load(); c != wantConn || tk != wantTask {
			t.Errorf("%s: a's connector started %d times, its task %d, want %d and %d", gw.id, c-connStarts[gw], tk-taskStarts[gw], wantConn-connStarts[gw], wantTask-taskStarts[gw])
		}
	}
	connecttest.WaitFor(t, 30*time.Second, "a RUNNING again", func() bool { return settled(ws) })

	// Stop, sent to the follower: STOPPED everywhere, no tasks; offsets can
	// be read; a resume runs it again.
	follower.c.expect("PUT", "/connectors/source->target.b/stop", "", 204)
	for _, gw := range ws {
		connecttest.WaitFor(t, 30*time.Second, "b STOPPED with no tasks, seen from "+gw.id, func() bool {
			st := gw.c.expect("GET", "/connectors/source->target.b/status", "", 200).(map[string]any)
			return st["connector"].(map[string]any)["state"] == "STOPPED" && len(st["tasks"].([]any)) == 0
		})
	}
	offs := follower.c.expect("GET", "/connectors/source->target.b/offsets", "", 200).(map[string]any)
	if o := offs["offsets"].([]any); len(o) != 1 {
		t.Errorf("b's offsets = %v, want one partition", offs)
	}
	follower.c.expect("PUT", "/connectors/source->target.b/resume", "", 202)
	connecttest.WaitFor(t, 30*time.Second, "b RUNNING again", func() bool { return settled(ws) })

	// Connect's error shape, from either worker.
	for _, gw := range ws {
		e := gw.c.expect("GET", "/connectors/source->target.nope/status", "", 404).(map[string]any)
		if fmt.Sprint(e["error_code"]) != "404" || !strings.Contains(e["message"].(string), "nope") {
			t.Errorf("from %s: unknown connector = %v, want Connect's error shape", gw.id, e)
		}
		e = gw.c.expect("POST", "/connectors/source->target.a/tasks/7/restart", "", 409).(map[string]any)
		if fmt.Sprint(e["error_code"]) != "409" || e["message"] == "" {
			t.Errorf("from %s: restart of a task nobody runs = %v, want 409 with a message", gw.id, e)
		}
	}

	for _, gw := range ws {
		if err := gw.stop(); err != nil {
			t.Errorf("worker %s: RunGroup = %v", gw.id, err)
		}
	}
}

// taskOf returns the status of task id of connector name on w.
func taskOf(w *connect.Worker, name string, id int) (connect.TaskStatus, bool) {
	for _, cs := range w.Status() {
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

// workerMetric gathers w's metrics and returns the value of the one named
// name (without labels); false when it is not exported.
func workerMetric(t *testing.T, w *connect.Worker, name string) (float64, bool) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// TestRunGroup_RebalanceMetrics: Connect's connect-worker-rebalance-metrics
// (as Strimzi names them) come from the group's real rebalances: the count,
// the epoch (generation), the time since the last one and the rebalance
// times grow when a second worker joins.
func TestRunGroup_RebalanceMetrics(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "ta", "tb"))
	src := connecttest.NewSource()
	const (
		completed = "kafka_connect_worker_rebalance_completed_rebalances_total"
		epoch     = "kafka_connect_worker_rebalance_epoch"
		since     = "kafka_connect_worker_rebalance_time_since_last_rebalance_ms"
		avg       = "kafka_connect_worker_rebalance_rebalance_avg_time_ms"
		maxTime   = "kafka_connect_worker_rebalance_rebalance_max_time_ms"
		rebal     = "kafka_connect_worker_rebalance_rebalancing"
	)
	ws := startGroupWorkers(t, target, src, 1)
	w1 := ws[0].w
	connecttest.WaitFor(t, 30*time.Second, "w1 runs a and b", func() bool { return settled(ws) })
	n1, _ := workerMetric(t, w1, completed)
	e1, _ := workerMetric(t, w1, epoch)
	if gen := w1.Group(); n1 < 1 || e1 < 1 || gen.Err() != nil {
		t.Fatalf("alone in its group: %s = %v, %s = %v; want at least 1", completed, n1, epoch, e1)
	}
	for _, name := range []string{since, avg, maxTime} {
		if v, ok := workerMetric(t, w1, name); !ok || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Errorf("%s = %v (exported: %v), want a time in ms: a rebalance completed just now", name, v, ok)
		}
	}

	more := startGroupWorkers(t, target, src, 1)
	ws = append(ws, more...)
	connecttest.WaitFor(t, 30*time.Second, "two workers sharing a and b", func() bool { return settled(ws) })
	for _, gw := range ws {
		n, _ := workerMetric(t, gw.w, completed)
		e, _ := workerMetric(t, gw.w, epoch)
		r, _ := workerMetric(t, gw.w, rebal)
		if n < 1 || e <= e1 || r != 0 {
			t.Errorf("%s after the second worker joined: %s = %v, %s = %v (was %v), %s = %v", gw.id, completed, n, epoch, e, e1, rebal, r)
		}
	}
	if n, _ := workerMetric(t, w1, completed); n <= n1 {
		t.Errorf("w1's %s = %v after the second worker joined, was %v: the rebalance was not counted", completed, n, n1)
	}
}

// TestRunGroup_ExactlyOnceWorkMovesBetweenTasks runs an exactly-once
// connector of two tasks on the two workers of a group while its source
// grows, and moves partitions between the tasks again and again (new task
// configs, written by the worker that runs the connector) with records in
// the tasks' open transactions. The connector fences the tasks whose
// configs change before it writes them, and they restart with their new
// configs from the offsets committed: read_committed consumers of the
// target see each source record once, in order.
func TestRunGroup_ExactlyOnceWorkMovesBetweenTasks(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(4, "t"))
	src := connecttest.NewSource()
	ps := []connecttest.Partition{{Topic: "t"}, {Topic: "t", Partition: 1}, {Topic: "t", Partition: 2}, {Topic: "t", Partition: 3}}
	assignments := [][][]connecttest.Partition{
		{{ps[0], ps[1]}, {ps[2], ps[3]}},
		{{ps[0], ps[2]}, {ps[1], ps[3]}},
		{{ps[3]}, {ps[0], ps[1], ps[2]}},
		{{ps[1], ps[2], ps[3]}, {ps[0]}},
	}
	var conns []*connecttest.Connector
	var stops []func() error
	for i := range 2 {
		conn := connecttest.NewConnector("a", src, assignments[0]...)
		conn.MaxPoll = 20
		conns = append(conns, conn)
		cfg := connecttest.Config(target)
		cfg.WorkerID = fmt.Sprintf("w%d", i)
		cfg.Herders = map[string]connect.HerderConfig{"source->target": {ExactlyOnce: true}}
		w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t).Named(cfg.WorkerID)))
		spec := conn.Spec()
		spec.Props["tasks.max"] = "2"
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- w.RunGroup(ctx, []connect.ConnectorSpec{spec}, connect.GroupConfig{ID: "mm2go-eos", Cluster: "target",
				Fingerprint: group.Fingerprint{Hash: "same-file"}, SessionTimeout: 6 * time.Second,
				HeartbeatInterval: 300 * time.Millisecond, ConfigTopicReplication: 1})
		}()
		stops = append(stops, sync.OnceValue(func() error { cancel(); return <-done }))
		t.Cleanup(func() { _ = stops[i]() })
	}
	// The source grows all along: 20 records per partition every 20ms.
	appended := 0
	grow := func(n int) {
		for range n {
			for _, p := range ps {
				src.Append(p.Topic, p.Partition, connecttest.RecordsFrom(appended, 20)...)
			}
			appended += 20
			time.Sleep(20 * time.Millisecond)
		}
	}
	copied := func() int {
		n := 0
		for _, rs := range connecttest.ReadCommitted(t, target, "t") {
			n += len(rs)
		}
		return n
	}
	grow(10)
	connecttest.WaitFor(t, 60*time.Second, "records copied", func() bool { return copied() > 0 })
	for _, a := range assignments[1:] {
		for _, c := range conns {
			c.Assign(a...) // the worker that runs the connector writes them
		}
		grow(25)
	}
	want := 4 * appended
	connecttest.WaitFor(t, 60*time.Second, fmt.Sprintf("%d records copied", want), func() bool { return copied() >= want })
	for _, stop := range stops {
		if err := stop(); err != nil {
			t.Errorf("RunGroup: %v", err)
		}
	}
	aborted := checkExactlyOnce(t, target, src, "t", 0, 1, 2, 3)
	t.Logf("%d records in aborted transactions (the fenced tasks')", aborted)
}
