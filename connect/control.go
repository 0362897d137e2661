package connect

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// This file is what an operator (Connect's REST API, or a worker group) can
// ask of the connectors a worker runs: pause, resume, stop and restart them.
//
// A connector's target state (TargetStarted, TargetPaused, TargetStopped)
// lives in the worker's TargetStates: in memory for a worker alone, in the
// group's config topic in a group. The connector's goroutine (see
// runConnector) applies it whenever it changes:
//
//	STARTED: the connector runs and its tasks copy.
//	PAUSED:  the connector runs (it keeps watching its clusters), each task
//	         stops polling, sends what it polled, waits for the target's
//	         acks, commits them, and shows PAUSED; it keeps its clients and
//	         partitions, so a resume goes on from where it stopped.
//	STOPPED: the tasks stop (commit, flush, commit, stop, as at a shutdown)
//	         and the connector stops; the status shows STOPPED with no
//	         tasks. A resume starts the connector again, which computes its
//	         task configs again, and the tasks resume from their committed
//	         source offsets.
//
// Restarts are requests queued for the connector's goroutine, as Connect's
// herder queues them: the connector instance (stopped, then a new one
// started, whose task configs replace the old ones where they differ), and
// tasks (each stopped gracefully and started again with its config). What
// is about to restart shows RESTARTING until it runs again.

const (
	// StatePaused is a connector or task whose target state is PAUSED: the
	// task polls nothing and has committed what the target acknowledged.
	StatePaused State = "PAUSED"
	// StateRestarting is a connector or task that a restart request stops
	// and starts again.
	StateRestarting State = "RESTARTING"
)

// Errors of control requests, for errors.Is; the error's text is the
// message Connect gives for the same case.
var (
	// ErrNotFound: no such connector or task.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request cannot be done now (the connector is not
	// running on this worker, or its run ended).
	ErrConflict = errors.New("conflict")
	// ErrBadRequest: the request is wrong (offsets of a connector that is
	// not stopped, an offset that is not one).
	ErrBadRequest = errors.New("bad request")
)

// controlError is an error of a control request of one kind (ErrNotFound,
// ErrConflict or ErrBadRequest), with Connect's message.
type controlError struct {
	kind error
	msg  string
}

func (e *controlError) Error() string        { return e.msg }
func (e *controlError) Is(target error) bool { return target == e.kind }

func notFound(format string, args ...any) error {
	return &controlError{ErrNotFound, fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &controlError{ErrConflict, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &controlError{ErrBadRequest, fmt.Sprintf(format, args...)}
}

// ConnectorName is a connector's name in Connect's REST API and metrics,
// as Strimzi names MM2's connectors in one Connect cluster:
// "<source>-><target>.<name>" ("A->B.MirrorSourceConnector").
func ConnectorName(source, target, name string) string { return connectName(source, target, name) }

// ConnectName is the connector's name in Connect's REST API (ConnectorName).
func (cs ConnectorStatus) ConnectName() string { return connectName(cs.Source, cs.Target, cs.Name) }

// Worker lifecycle phases, for health.
const (
	phaseNew      int32 = iota // Run not called yet
	phaseRunning               // Run is running
	phaseStopping              // Run's ctx ended: stopping gracefully
	phaseStopped               // Run returned
)

// workerControl is the worker's side of control requests.
type workerControl struct {
	phase atomic.Int32 // phaseNew...phaseStopped

	mu      sync.Mutex              // guards conns, targets, failed and allFailed
	conns   map[string]*connControl // by connector unit (ConnectorUnit)
	targets TargetStates            // nil: the worker's own, in memory (local)
	local   localTargets
	// failed says, for each connector of Run, whether it failed for good;
	// allFailed ends Run when all did.
	failed    map[string]bool
	allFailed func()
}

// trackFailures watches the connectors of one Run: allFailed is called once
// every one of them failed for good.
func (c *workerControl) trackFailures(specs []ConnectorSpec, allFailed func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = make(map[string]bool, len(specs))
	for _, s := range specs {
		c.failed[s.id()] = false
	}
	c.allFailed = allFailed
}

// setFailed records whether a connector failed for good (its start or
// config); a restart that starts it clears it.
func (c *workerControl) setFailed(spec ConnectorSpec, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.failed[spec.id()]; !ok {
		return
	}
	c.failed[spec.id()] = failed
	for _, f := range c.failed {
		if !f {
			return
		}
	}
	if c.allFailed != nil {
		c.allFailed()
	}
}

// connControl is the handle of one connector of the worker: where control
// requests for it are queued, and what its goroutine publishes for them.
type connControl struct {
	spec ConnectorSpec
	wake chan struct{} // capacity 1: the connector's goroutine has requests
	// pausedNow mirrors paused for the runners' check before every poll,
	// without the lock.
	pausedNow atomic.Bool

	mu        sync.Mutex // guards the fields below
	restarts  []*restartRequest
	taskProps []Props       // the task configs last applied
	tasksRan  int           // the most task configs applied since the worker started (fenceOffsetZombies)
	paused    bool          // the tasks are to pause
	changed   chan struct{} // closed when paused changes
	ended     error         // why the connector's goroutine ended; nil while it runs
	running   bool          // the connector's goroutine runs
	store     *offsetStore  // the herder's source offsets; nil until open
}

// restartRequest is a restart the connector's goroutine carries out.
type restartRequest struct {
	connector bool  // the connector instance
	tasks     []int // these tasks
	done      chan error
}

func (c *connControl) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// setPaused tells the connector's tasks to pause or to go on.
func (c *connControl) setPaused(p bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused == p {
		return
	}
	c.paused = p
	c.pausedNow.Store(p)
	close(c.changed)
	c.changed = make(chan struct{})
}

// pauseState says whether the tasks are to pause, and returns a channel
// closed at the next change.
func (c *connControl) pauseState() (bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused, c.changed
}

func (c *connControl) isPaused() bool { return c.pausedNow.Load() }

func (c *connControl) takeRestarts() []*restartRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.restarts
	c.restarts = nil
	return r
}

func (c *connControl) setTaskProps(p []Props) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.taskProps = p
	c.tasksRan = max(c.tasksRan, len(p))
}

// setStore makes store the herder's source offsets (a group opens them
// when a unit of the herder first runs on the worker).
func (c *connControl) setStore(store *offsetStore) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store = store
}

// begin marks the connector's goroutine running, its herder's source
// offsets in store.
func (c *connControl) begin(store *offsetStore) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running, c.ended, c.store = true, nil, store
}

// end marks the connector's goroutine ended with err (nil: the worker
// stopped) and fails what was still queued.
func (c *connControl) end(err error) {
	if err == nil {
		err = ErrWorkerStopped
	}
	c.mu.Lock()
	pending := c.restarts
	c.restarts = nil
	c.running, c.ended = false, err
	c.mu.Unlock()
	for _, r := range pending {
		r.finish(conflict("Connector %s is not running: %v", connectName(c.spec.Source, c.spec.Target, c.spec.Name), err))
	}
}

func (r *restartRequest) finish(err error) {
	if r.done != nil {
		r.done <- err
	}
}

// localTargets are the target states of a worker alone: in memory, since
// the flow file starts every connector.
type localTargets struct {
	mu sync.Mutex // guards m
	m  map[string]TargetState
}

func (l *localTargets) SetTargetState(_ context.Context, connector string, s TargetState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[string]TargetState)
	}
	l.m[connector] = s
	return nil
}

func (l *localTargets) TargetState(connector string) TargetState {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.m[connector]; ok {
		return s
	}
	return TargetStarted
}

// register makes a connector of Run known to control requests.
func (c *workerControl) register(spec ConnectorSpec) *connControl {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conns == nil {
		c.conns = make(map[string]*connControl)
	}
	h, ok := c.conns[spec.id()]
	if !ok {
		h = &connControl{spec: spec, wake: make(chan struct{}, 1), changed: make(chan struct{})}
		c.conns[spec.id()] = h
	}
	return h
}

// lookup finds a connector by its Connect name ("A->B.MirrorSourceConnector")
// or its unit ("A->B/MirrorSourceConnector").
func (c *workerControl) lookup(name string) (*connControl, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.conns[name]; ok {
		return h, true
	}
	for _, h := range c.conns {
		if connectName(h.spec.Source, h.spec.Target, h.spec.Name) == name {
			return h, true
		}
	}
	return nil, false
}

func (c *workerControl) all() []*connControl {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*connControl, 0, len(c.conns))
	for _, h := range c.conns {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].spec.id() < out[j].spec.id() })
	return out
}

func (c *workerControl) targetStates() TargetStates {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.targets != nil {
		return c.targets
	}
	return &c.local
}

// setTargetStates makes ts the keeper of target states (a group's config
// topic); nil goes back to the worker's own.
func (w *Worker) setTargetStates(ts TargetStates) {
	w.ctl.mu.Lock()
	w.ctl.targets = ts
	w.ctl.mu.Unlock()
	w.targetStatesChanged("")
}

// targetStatesChanged makes the connector unit (every connector: "") apply
// its target state again: a group calls it when its config topic says a
// target state changed.
func (w *Worker) targetStatesChanged(unit string) {
	for _, h := range w.ctl.all() {
		if unit == "" || h.spec.id() == unit {
			h.poke()
		}
	}
}

// targetState is the target state of spec's connector.
func (w *Worker) targetState(spec ConnectorSpec) TargetState {
	return w.ctl.targetStates().TargetState(spec.id())
}

func (w *Worker) connector(name string) (*connControl, error) {
	h, ok := w.ctl.lookup(name)
	if !ok {
		return nil, notFound("Connector %s not found", name)
	}
	return h, nil
}

// PauseConnector sets the connector's target state to PAUSED: its tasks
// stop polling, send and commit what they polled, and wait with their
// partitions and clients; the connector keeps running. It returns once the
// target state is recorded; the status shows PAUSED once the tasks paused.
// Pausing a paused connector does nothing. name is the Connect name
// (ConnectorName) or the connector unit; ErrNotFound when the worker has
// no such connector.
func (w *Worker) PauseConnector(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, TargetPaused)
}

// ResumeConnector sets the connector's target state back to STARTED: paused
// tasks poll again from where they stopped; a stopped connector starts
// again, and its tasks from their committed source offsets.
func (w *Worker) ResumeConnector(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, TargetStarted)
}

// StopConnector sets the connector's target state to STOPPED: its tasks
// stop gracefully (their source offsets committed) and so does the
// connector; the status shows STOPPED, with no tasks, once they did.
func (w *Worker) StopConnector(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, TargetStopped)
}

// TargetState returns the target state of the connector.
func (w *Worker) TargetState(name string) (TargetState, error) {
	h, err := w.connector(name)
	if err != nil {
		return "", err
	}
	return w.targetState(h.spec), nil
}

func (w *Worker) setTarget(ctx context.Context, name string, s TargetState) error {
	h, err := w.connector(name)
	if err != nil {
		return err
	}
	if err := w.ctl.targetStates().SetTargetState(ctx, h.spec.id(), s); err != nil {
		return fmt.Errorf("set target state of %s to %s: %w", name, s, err)
	}
	w.log.Info("connector target state set", "connector", connectName(h.spec.Source, h.spec.Target, h.spec.Name), "target_state", string(s))
	h.poke()
	return nil
}

// RestartOptions say what RestartConnector restarts, as Connect's
// POST /connectors/{name}/restart?includeTasks=&onlyFailed=.
type RestartOptions struct {
	// IncludeTasks restarts the tasks too, not only the connector.
	IncludeTasks bool
	// OnlyFailed restarts only the connector and tasks that are FAILED.
	OnlyFailed bool
	// Wait returns only once the restart is done (or ctx ends); else
	// RestartConnector returns once the restart is queued.
	Wait bool
}

// RestartConnector restarts the connector instance (stopped, then started
// again, which computes its task configs again), and with IncludeTasks its
// tasks (each stopped gracefully and started again); with OnlyFailed only
// those that are FAILED. It returns the connector's status with what is
// restarted RESTARTING, as Connect's restart plan. A stopped connector is
// not restarted (resume it). ErrNotFound when the worker has no such
// connector; ErrConflict when it does not run it now.
func (w *Worker) RestartConnector(ctx context.Context, name string, opt RestartOptions) (ConnectorStatus, error) {
	h, err := w.connector(name)
	if err != nil {
		return ConnectorStatus{}, err
	}
	cs, ok := w.connectorStatus(h.spec)
	if !ok {
		return ConnectorStatus{}, notFound("Status for connector %s not found", name)
	}
	if w.targetState(h.spec) == TargetStopped {
		return cs, nil
	}
	// In a group a worker restarts only the units it runs: the REST API
	// sends the request to each worker that runs one.
	here := cs.State != StateUnassigned || !w.inGroup()
	req := &restartRequest{connector: here && (!opt.OnlyFailed || cs.State == StateFailed)}
	if opt.IncludeTasks {
		for _, ts := range cs.Tasks {
			if !opt.OnlyFailed || ts.State == StateFailed {
				req.tasks = append(req.tasks, ts.ID)
			}
		}
	}
	if !req.connector && len(req.tasks) == 0 {
		return cs, nil
	}
	if err := w.queueRestart(ctx, h, req, opt.Wait); err != nil {
		return ConnectorStatus{}, err
	}
	cs, _ = w.connectorStatus(h.spec)
	if !opt.Wait {
		// What the request restarts shows RESTARTING, whether or not the
		// connector's goroutine got to it yet.
		if req.connector {
			cs.State, cs.Error = StateRestarting, ""
		}
		for i := range cs.Tasks {
			if containsInt(req.tasks, cs.Tasks[i].ID) {
				cs.Tasks[i].State, cs.Tasks[i].Error = StateRestarting, ""
			}
		}
	}
	return cs, nil
}

// RestartTask restarts one task of the connector: it stops gracefully
// (its source offsets committed) and starts again with its config; a
// FAILED task waiting for its restart starts at once. It returns once the
// task stopped and its new run began (the task's Start runs on in its
// runner, as in Connect). ErrNotFound when the connector has no such task.
func (w *Worker) RestartTask(ctx context.Context, name string, task int) error {
	h, err := w.connector(name)
	if err != nil {
		return err
	}
	cs, _ := w.connectorStatus(h.spec)
	found := false
	for _, ts := range cs.Tasks {
		found = found || ts.ID == task
	}
	if !found {
		return notFound("Unknown task: %s-%d", connectName(h.spec.Source, h.spec.Target, h.spec.Name), task)
	}
	return w.queueRestart(ctx, h, &restartRequest{tasks: []int{task}}, true)
}

// queueRestart hands req to the connector's goroutine, marks what it
// restarts RESTARTING, and with wait waits until it is done.
func (w *Worker) queueRestart(ctx context.Context, h *connControl, req *restartRequest, wait bool) error {
	req.done = make(chan error, 1)
	h.mu.Lock()
	if !h.running {
		ended := h.ended
		h.mu.Unlock()
		if ended == nil {
			return conflict("Connector %s is not running yet", connectName(h.spec.Source, h.spec.Target, h.spec.Name))
		}
		return conflict("Connector %s is not running: %v", connectName(h.spec.Source, h.spec.Target, h.spec.Name), ended)
	}
	h.restarts = append(h.restarts, req)
	h.mu.Unlock()
	w.setStatus(h.spec, func(cs *ConnectorStatus) {
		if req.connector {
			cs.State, cs.Error = StateRestarting, ""
		}
		for i := range cs.Tasks {
			if containsInt(req.tasks, cs.Tasks[i].ID) {
				cs.Tasks[i].State, cs.Tasks[i].Error = StateRestarting, ""
			}
		}
	})
	h.poke()
	if !wait {
		return nil
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("restart of %s: %w", connectName(h.spec.Source, h.spec.Target, h.spec.Name), context.Cause(ctx))
	}
}

// TaskConfigs returns the task configs the connector last gave its tasks;
// nil while it has none (not started, or stopped).
func (w *Worker) TaskConfigs(name string) ([]Props, error) {
	h, err := w.connector(name)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Props, len(h.taskProps))
	for i, p := range h.taskProps {
		out[i] = p.Clone()
	}
	return out, nil
}

// ConnectorSpecs returns the connectors the worker runs, sorted by herder
// and name.
func (w *Worker) ConnectorSpecs() []ConnectorSpec {
	hs := w.ctl.all()
	out := make([]ConnectorSpec, len(hs))
	for i, h := range hs {
		out[i] = h.spec
	}
	return out
}

// connectorStatus returns the status of spec's connector.
func (w *Worker) connectorStatus(spec ConnectorSpec) (ConnectorStatus, bool) {
	for _, cs := range w.own() {
		if cs.Source == spec.Source && cs.Target == spec.Target && cs.Name == spec.Name {
			return cs, true
		}
	}
	return ConnectorStatus{}, false
}

// setTaskState changes a task's state (RUNNING, PAUSED) while it runs; its
// counters stay live.
func (w *Worker) setTaskState(spec ConnectorSpec, id int, s State) {
	w.setStatus(spec, func(cs *ConnectorStatus) {
		for i := range cs.Tasks {
			if cs.Tasks[i].ID == id {
				cs.Tasks[i].State = s
			}
		}
	})
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// taskControl is what a task's runner needs of control requests.
type taskControl struct {
	conn  *connControl
	state func(State) // records the task's state (PAUSED, RUNNING)
}

// paused says whether the task is to pause now.
func (r *taskRunner) paused() bool { return r.ctl != nil && r.ctl.conn.isPaused() }

// pause holds the task while its connector is paused: it sends nothing new,
// waits for the target to acknowledge what the task sent, commits it, shows
// PAUSED, and waits; it keeps committing, and takes new props (Reconfigure).
// It returns when the connector is resumed or ctx ends, or with an error
// that fails the task.
func (r *taskRunner) pause(ctx context.Context) error {
	// Flush what is in flight, so that when the status says PAUSED every
	// record polled before is on the target and committed. A resume (or
	// the end of ctx) ends a flush that waits on an unreachable target.
	fctx, cancel := context.WithCancel(ctx)
	_, changed := r.ctl.conn.pauseState()
	stop := context.AfterFunc(ctx, cancel)
	go func() {
		select {
		case <-changed:
			cancel()
		case <-fctx.Done():
		}
	}()
	if r.txn != nil {
		// Exactly-once: commit the open transaction, records and offsets.
		err := r.settleTxn(ctx, fctx)
		stop()
		cancel()
		if err != nil {
			return err
		}
	} else {
		for _, p := range []*kgo.Client{r.prod, r.large} {
			if p != nil {
				_ = p.Flush(fctx) // what failed shows in blockFailed below
			}
		}
		stop()
		cancel()
		if r.prodErr.Swap(false) {
			if err := r.blockFailed(time.Now()); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := r.commit(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("source offset commit failed; will retry", "error", err)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if !r.ctl.conn.isPaused() {
		return nil
	}
	r.log.Info("task paused", "records_acked", r.stats.RecordsAcked.Load())
	r.ctl.state(StatePaused)
	defer func() {
		if ctx.Err() == nil {
			r.ctl.state(StateRunning)
			r.log.Info("task resumed")
		}
	}()
	tick := time.NewTicker(max(r.flushInterval, 100*time.Millisecond))
	defer tick.Stop()
	for {
		paused, changed := r.ctl.conn.pauseState()
		if !paused || ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case req := <-r.reconfig:
			if err := r.reconfigure(ctx, req); err != nil {
				return err
			}
		case now := <-tick.C:
			if r.txn != nil {
				continue // nothing is sent while paused; the transaction was committed
			}
			if r.prodErr.Swap(false) {
				if err := r.blockFailed(now); err != nil {
					return err
				}
			}
			if r.commitDue(now) {
				if err := r.commit(ctx); err != nil && ctx.Err() == nil {
					r.log.Warn("source offset commit failed; will retry", "error", err)
				}
			}
		}
	}
}

// parseTaskID parses a task id of a REST path.
func parseTaskID(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && !strings.HasPrefix(s, "+")
}
