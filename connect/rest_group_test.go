package connect_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
	"github.com/mm2go/mm2go/connect/group"
)

// fakeView is a GroupView a test sets: who is in the group, who leads, who
// runs each unit.
type fakeView struct {
	mu      sync.Mutex // guards owners and err
	self    connect.GroupMember
	members []connect.GroupMember
	leader  connect.GroupMember
	owners  map[string]string // unit -> worker id
	err     error
}

func (v *fakeView) Self() connect.GroupMember           { return v.self }
func (v *fakeView) Members() []connect.GroupMember      { return v.members }
func (v *fakeView) Leader() (connect.GroupMember, bool) { return v.leader, v.leader.WorkerID != "" }

func (v *fakeView) Err() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

func (v *fakeView) setErr(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.err = err
}
func (v *fakeView) OwnerOf(unit string) (connect.GroupMember, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	id, ok := v.owners[unit]
	if !ok {
		return connect.GroupMember{}, false
	}
	for _, m := range v.members {
		if m.WorkerID == id {
			return m, true
		}
	}
	return connect.GroupMember{}, false
}

// groupWorker is one worker of a test group: its connectors, its REST
// server, its view.
type groupWorker struct {
	w     *connect.Worker
	conns map[string]*connecttest.Connector
	srv   *httptest.Server
	view  *fakeView
	c     restClient
}

// TestREST_Group: reads on any worker answer for the whole group; a
// restart goes to the worker that runs the unit, a stop to the leader; a
// forwarded request is never forwarded again, even when the two workers'
// views disagree; a worker that does not answer shows its units
// UNASSIGNED with why; the token goes along.
func TestREST_Group(t *testing.T) {
	const token = "group-token"
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "ta", "tb"))
	src := connecttest.NewSource()
	src.Append("ta", 0, connecttest.Records(10)...)
	src.Append("tb", 0, connecttest.Records(10)...)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // a worker that does not answer

	workers := make([]*groupWorker, 2)
	for i := range workers {
		gw := &groupWorker{conns: map[string]*connecttest.Connector{
			"a": connecttest.NewConnector("a", src, []connecttest.Partition{{Topic: "ta"}}),
			"b": connecttest.NewConnector("b", src, []connecttest.Partition{{Topic: "tb"}}),
			// d never starts: the group says the worker that is down runs it.
			"d": connecttest.NewConnector("d", src, []connecttest.Partition{{Topic: "td"}}),
		}}
		gw.conns["d"].Hooks.ConnectorStart = func(int) error { return connect.Retriable(errors.New("not here")) }
		cfg := connecttest.Config(target)
		cfg.WorkerID = []string{"w1:8083", "w2:8083"}[i]
		cfg.OffsetsTopicPartitions = 1
		reg := connecttest.Registry(gw.conns["a"], gw.conns["b"], gw.conns["d"])
		gw.w = connect.NewWorker(cfg, connect.WithRegistry(reg), connect.WithLogger(connecttest.Logger(t).Named(cfg.WorkerID)))
		gw.srv = httptest.NewServer(gw.w.RESTHandler(connect.RESTConfig{Token: token, FanOutTimeout: 2 * time.Second}))
		t.Cleanup(gw.srv.Close)
		gw.c = restClient{t: t, url: gw.srv.URL, token: token}
		workers[i] = gw
	}
	w1, w2 := workers[0], workers[1]
	m1 := connect.GroupMember{WorkerID: "w1:8083", URL: w1.srv.URL}
	m2 := connect.GroupMember{WorkerID: "w2:8083", URL: w2.srv.URL}
	m3 := connect.GroupMember{WorkerID: "w3:8083", URL: down.URL}
	owners := map[string]string{
		"source->target/a": "w1:8083", "source->target/a/0": "w1:8083",
		"source->target/b": "w2:8083", "source->target/b/0": "w2:8083",
		"source->target/d": "w3:8083", "source->target/d/0": "w3:8083",
	}
	// The two views disagree on the leader, as during a rebalance.
	w1.view = &fakeView{self: m1, members: []connect.GroupMember{m1, m2, m3}, leader: m2, owners: owners}
	w2.view = &fakeView{self: m2, members: []connect.GroupMember{m1, m2, m3}, leader: m1, owners: owners}
	for _, gw := range workers {
		connect.SetGroupView(gw.w, gw.view)
		var specs []connect.ConnectorSpec
		for _, n := range []string{"a", "b", "d"} {
			specs = append(specs, gw.conns[n].Spec())
		}
		connecttest.Run(t, gw.w, specs...)
	}
	for _, gw := range workers {
		connecttest.WaitFor(t, 20*time.Second, "a and b running", func() bool {
			return allIn(gw.w, "a", connect.StateRunning, 1) && allIn(gw.w, "b", connect.StateRunning, 1)
		})
	}

	// Reads: the whole group, each unit from the worker that runs it.
	all := w1.c.expect("GET", "/connectors?expand=status", "", 200).(map[string]any)
	workerOf := func(name string) (string, string) {
		st := all["source->target."+name].(map[string]any)["status"].(map[string]any)
		conn := st["connector"].(map[string]any)
		return conn["worker_id"].(string), st["tasks"].([]any)[0].(map[string]any)["worker_id"].(string)
	}
	if c, task := workerOf("a"); c != "w1:8083" || task != "w1:8083" {
		t.Errorf("a runs on %s, its task on %s; want w1", c, task)
	}
	if c, task := workerOf("b"); c != "w2:8083" || task != "w2:8083" {
		t.Errorf("b runs on %s, its task on %s; want w2", c, task)
	}
	d := all["source->target.d"].(map[string]any)["status"].(map[string]any)
	dconn := d["connector"].(map[string]any)
	dtask := d["tasks"].([]any)[0].(map[string]any)
	for _, s := range []map[string]any{dconn, dtask} {
		if s["state"] != "UNASSIGNED" || s["worker_id"] != "w3:8083" || !strings.Contains(s["trace"].(string), "worker w3:8083 at "+down.URL+" did not answer") {
			t.Errorf("d (run by the worker that is down) = %v, want UNASSIGNED naming w3", s)
		}
	}
	st := w1.c.expect("GET", "/connectors/source->target.b/tasks/0/status", "", 200).(map[string]any)
	if st["worker_id"] != "w2:8083" {
		t.Errorf("b's task status from w1 = %v, want it from w2", st)
	}

	// A task restart on w1 for w2's task runs on w2.
	b1, b2 := w1.conns["b"].TaskStarts.Load(), w2.conns["b"].TaskStarts.Load()
	w1.c.expect("POST", "/connectors/source->target.b/tasks/0/restart", "", 204)
	connecttest.WaitFor(t, 20*time.Second, "b's task restarted on w2", func() bool { return w2.conns["b"].TaskStarts.Load() == b2+1 })
	if w1.conns["b"].TaskStarts.Load() != b1 {
		t.Errorf("task starts of b: w1 %d->%d, w2 %d->%d; want the restart on w2 only",
			b1, w1.conns["b"].TaskStarts.Load(), b2, w2.conns["b"].TaskStarts.Load())
	}
	// And a connector restart with its tasks, answered with w2's status.
	rst := w1.c.expect("POST", "/connectors/source->target.b/restart?includeTasks=true", "", 202).(map[string]any)
	if c := rst["connector"].(map[string]any); c["state"] != "RESTARTING" || c["worker_id"] != "w2:8083" {
		t.Errorf("restart of b from w1 answered %v, want RESTARTING on w2", rst)
	}
	connecttest.WaitFor(t, 20*time.Second, "b restarted on w2", func() bool { return w2.conns["b"].Starts.Load() == 2 })
	if w1.conns["b"].Starts.Load() != 1 {
		t.Errorf("b's connector restarted on w1 too")
	}
	// w1 runs a: its restart is not forwarded.
	a1 := w1.conns["a"].TaskStarts.Load()
	w1.c.expect("POST", "/connectors/source->target.a/tasks/0/restart", "", 204)
	connecttest.WaitFor(t, 20*time.Second, "a's task restarted on w1", func() bool { return w1.conns["a"].TaskStarts.Load() == a1+1 })

	// A stop on w1 goes to the leader, w2; w2's view says w1 leads, but a
	// forwarded request is carried out where it lands.
	w1.c.expect("PUT", "/connectors/source->target.a/stop", "", 204)
	connecttest.WaitFor(t, 20*time.Second, "a STOPPED on w2", func() bool { return allIn(w2.w, "a", connect.StateStopped, 0) })
	if s, _ := w1.w.TargetState("source->target.a"); s != connect.TargetStarted {
		t.Errorf("a's target state on w1 = %s: the stop was carried out on w1 too", s)
	}
	// On w2, the leader is w1: the pause goes there and stays there.
	w2.c.expect("PUT", "/connectors/source->target.b/pause", "", 202)
	if s, _ := w1.w.TargetState("source->target.b"); s != connect.TargetPaused {
		t.Errorf("b's target state on w1 = %s, want PAUSED", s)
	}
	if s, _ := w2.w.TargetState("source->target.b"); s != connect.TargetStarted {
		t.Errorf("b's target state on w2 = %s: the forwarded pause came back", s)
	}

	// The token goes along; without it nothing is forwarded.
	anon := restClient{t: t, url: w1.srv.URL}
	anon.expect("POST", "/connectors/source->target.b/tasks/0/restart", "", 401)
}

// TestHealth_Group: in a group, a worker is ready when it runs its share;
// a connector another worker runs does not make it "starting"; a worker
// that lost its membership is not ready; one whose flow file is not the
// group's yet is (it waits its turn in a rolling update).
func TestHealth_Group(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	mine := connecttest.NewConnector("mine", src, []connecttest.Partition{{Topic: "t"}})
	theirs := connecttest.NewConnector("theirs", src, []connecttest.Partition{{Topic: "t"}})
	theirs.Hooks.ConnectorStart = func(int) error { return connect.Retriable(errors.New("not here")) }
	w := connect.NewWorker(connecttest.Config(target), connect.WithRegistry(connecttest.Registry(mine, theirs)), connect.WithLogger(connecttest.Logger(t)))
	m1, m2 := connect.GroupMember{WorkerID: "w1"}, connect.GroupMember{WorkerID: "w2"}
	view := &fakeView{self: m1, members: []connect.GroupMember{m1, m2}, leader: m1,
		owners: map[string]string{"source->target/mine": "w1", "source->target/theirs": "w2"}}
	connect.SetGroupView(w, view)
	connecttest.Run(t, w, mine.Spec(), theirs.Spec())
	connecttest.WaitFor(t, 20*time.Second, "healthy", func() bool { return w.Health().Healthy() })
	// theirs runs here too (the view only says who owns it); its start
	// failed at least once before this worker is told it owns it.
	connecttest.WaitFor(t, 20*time.Second, "theirs failed to start", func() bool {
		for _, cs := range w.Status() {
			if cs.Name == "theirs" {
				return cs.State == connect.StateUnassigned && strings.Contains(cs.Error, "not here")
			}
		}
		return false
	})

	view.mu.Lock()
	view.owners["source->target/theirs"] = "w1" // now it is this worker's, and it cannot start
	view.mu.Unlock()
	if h := w.Health(); h.Status != "starting" || !strings.Contains(h.Message, "source->target.theirs has not started yet: not here") {
		t.Errorf("health = %+v, want starting, naming theirs", h)
	}
	view.mu.Lock()
	view.owners["source->target/theirs"] = "w2"
	view.mu.Unlock()

	view.setErr(&group.LostError{Reason: "session timed out"})
	if h := w.Health(); h.Status != "unhealthy" || !strings.Contains(h.Message, "session timed out") {
		t.Errorf("health = %+v, want unhealthy, saying why", h)
	}
	view.setErr(&group.ConfigMismatchError{Worker: group.Worker{ID: "w1"}, Leader: group.Peer{Worker: group.Worker{ID: "w2"}}})
	if h := w.Health(); !h.Healthy() || !strings.Contains(h.Message, "waits for the group") {
		t.Errorf("health = %+v, want healthy, saying it waits", h)
	}
}
