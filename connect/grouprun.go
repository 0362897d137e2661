package connect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mm2go/mm2go/connect/group"
)

// GroupConfig says how a worker joins its group (Worker.RunGroup).
type GroupConfig struct {
	// ID is the group id and Cluster the alias of the cluster whose
	// coordinator runs the group and that holds the config topic
	// (group.Place).
	ID, Cluster string
	// URL is this worker's REST URL, "" without a REST listener. Its id is
	// WorkerConfig.WorkerID.
	URL string
	// Fingerprint identifies this worker's configuration: the group runs
	// its leader's, and task configs are kept per fingerprint hash.
	Fingerprint group.Fingerprint
	// SessionTimeout, RebalanceTimeout and HeartbeatInterval are the
	// group's timeouts (Connect's session.timeout.ms, rebalance.timeout.ms,
	// heartbeat.interval.ms); zero takes group's defaults.
	SessionTimeout, RebalanceTimeout, HeartbeatInterval time.Duration
	// ConfigTopic holds the group's task configs, target states and unit
	// status. Default ConfigTopic(ID).
	ConfigTopic string
	// ConfigTopicReplication is the replication factor of a new config
	// topic; 0 or -1 is the broker default.
	ConfigTopicReplication int16
	// ConfigPollInterval is how often a worker reads what the others wrote
	// to the config topic. Default 200ms.
	ConfigPollInterval time.Duration
}

// TaskConfigHistory is an optional interface of a Connector. In a worker
// group the worker that starts a connector calls RestoreTaskConfigs after
// Start and before the first TaskConfigs, with the task configs the group
// runs now (written by the connector's previous owner, on another worker
// perhaps), so that a sticky assignment of work to tasks survives the
// connector moving between workers.
type TaskConfigHistory interface {
	RestoreTaskConfigs(configs []Props)
}

// errNotOwner refuses a write for a unit this worker no longer owns.
var errNotOwner = errors.New("this worker no longer owns the unit: another worker may run it now")

// groupRun is one RunGroup: the member, the config topic, and the units
// this worker runs.
type groupRun struct {
	w     *Worker
	gc    GroupConfig
	m     *group.Member
	ct    *configTopic
	log   hclog.Logger
	self  GroupMember
	hard  context.Context
	specs map[string]ConnectorSpec // by connector unit

	storesMu sync.Mutex
	stores   map[string]*offsetStore // by herder, opened on first use

	// running are the units this worker runs; the reconcile loop only.
	running  map[string]*unitRun
	finished chan *unitRun

	mu       sync.Mutex // guards assign
	assign   group.Assignment
	runningN atomic.Int64
}

// unitRun is one run of one unit on this worker.
type unitRun struct {
	unit     string
	gen      int32
	cancel   context.CancelFunc // ends the run gracefully (commit while owned)
	kill     context.CancelFunc // ends its stop at once (fenced)
	done     chan struct{}
	stopping bool
}

// unitsOf returns the units of specs: each connector, and each task slot
// up to its tasks.max, from the specs alone so that any worker can lead.
func unitsOf(specs []ConnectorSpec) ([]string, error) {
	var units []string
	var errs []error
	for _, s := range specs {
		n, err := s.Props.Int("tasks.max", 1)
		if err == nil && n < 1 {
			err = fmt.Errorf("tasks.max: %d is not a positive number", n)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("connector %s: %w", s.id(), err))
			continue
		}
		units = append(units, s.id())
		for i := range int(n) {
			units = append(units, s.id()+"/"+strconv.Itoa(i))
		}
	}
	return units, errors.Join(errs...)
}

// splitUnit returns the connector unit and task index of a unit; task is
// -1 for a connector unit.
func splitUnit(unit string, specs map[string]ConnectorSpec) (connector string, task int) {
	if _, ok := specs[unit]; ok {
		return unit, -1
	}
	i := strings.LastIndexByte(unit, '/')
	if i < 0 {
		return unit, -1
	}
	n, err := strconv.Atoi(unit[i+1:])
	if err != nil {
		return unit, -1
	}
	return unit[:i], n
}

// RunGroup is Run for a worker in a group: workers started with the same
// specs and GroupConfig.ID on the same cluster find each other through
// Kafka's group protocol and share the connectors and tasks (see package
// group). The worker that runs a connector writes its task configs to the
// group's config topic; the worker that runs a task reads them there. A
// worker alone is a group of one. RunGroup returns when ctx is cancelled
// and every unit it ran stopped gracefully (offsets committed while this
// worker still owned them), after it left the group; or early with the
// coordinator's refusal (*group.GroupError).
func (w *Worker) RunGroup(ctx context.Context, specs []ConnectorSpec, gc GroupConfig) error {
	if err := validate(&w.cfg, specs, w.reg); err != nil {
		return fmt.Errorf("invalid worker config: %w", err)
	}
	units, err := unitsOf(specs)
	if err != nil {
		return fmt.Errorf("invalid worker config: %w", err)
	}
	if _, ok := w.cfg.Clusters[gc.Cluster]; !ok {
		return fmt.Errorf("invalid worker config: group cluster %q is not configured", gc.Cluster)
	}
	if gc.ConfigTopic == "" {
		gc.ConfigTopic = ConfigTopic(gc.ID)
	}
	if gc.ConfigPollInterval <= 0 {
		gc.ConfigPollInterval = 200 * time.Millisecond
	}
	if gc.ConfigTopicReplication == 0 {
		gc.ConfigTopicReplication = -1
	}
	g := &groupRun{w: w, gc: gc, log: w.log.Named("group").With("group", gc.ID),
		self:   GroupMember{WorkerID: w.workerID(), URL: gc.URL, Config: gc.Fingerprint.String()},
		specs:  make(map[string]ConnectorSpec, len(specs)),
		stores: make(map[string]*offsetStore), running: make(map[string]*unitRun), finished: make(chan *unitRun)}
	for _, s := range specs {
		g.specs[s.id()] = s
		w.setStatus(s, func(*ConnectorStatus) {})
	}

	// The group's client and config topic, retried while the cluster is
	// unreachable.
	bo := backoff{max: w.cfg.RetryBackoffMax}
	for {
		g.ct, err = openConfigTopic(ctx, &w.cfg, gc.Cluster, gc.ConfigTopic, gc.Fingerprint.Hash, gc.ConfigTopicReplication, g.log)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if !IsRetriable(err) {
			return fmt.Errorf("worker group %s: %w", gc.ID, err)
		}
		d := bo.next()
		g.log.Warn("opening the group's config topic failed; retrying", "topic", gc.ConfigTopic, "cluster", gc.Cluster, "error", err, "backoff", d)
		sleepCtx(ctx, d)
	}
	defer g.ct.close()
	cl, err := w.cfg.newClient(gc.Cluster, RoleAdmin)
	if err != nil {
		return err
	}
	defer cl.Close()
	g.m, err = group.NewMember(group.Config{
		Client: cl, Group: gc.ID, Worker: group.Worker{ID: w.workerID(), URL: gc.URL},
		Fingerprint: gc.Fingerprint, Units: units,
		SessionTimeout: gc.SessionTimeout, RebalanceTimeout: gc.RebalanceTimeout, HeartbeatInterval: gc.HeartbeatInterval,
		Logger: w.log,
	})
	if err != nil {
		return fmt.Errorf("invalid worker group config: %w", err)
	}

	stopClock := w.clock.start()
	defer stopClock()
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	g.hard = hard
	var deadline atomic.Pointer[time.Timer]
	unwatch := context.AfterFunc(ctx, func() { deadline.Store(time.AfterFunc(w.cfg.ShutdownTimeout, cancelHard)) })
	defer func() {
		unwatch()
		if t := deadline.Load(); t != nil {
			t.Stop()
		}
	}()

	// The config topic is read until the member left the group, so that
	// units stopping at the end still see their configs.
	tctx, stopTail := context.WithCancel(context.WithoutCancel(ctx))
	var tailDone sync.WaitGroup
	tailDone.Go(func() { g.ct.run(tctx, gc.ConfigPollInterval) })
	defer func() {
		stopTail()
		tailDone.Wait()
	}()
	mctx, leave := context.WithCancel(context.WithoutCancel(ctx))
	errc := make(chan error, 1)
	go func() { errc <- g.m.Run(mctx) }()
	w.mu.Lock()
	w.view = g
	w.group = g
	w.mu.Unlock()

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-g.m.Updates():
			g.reconcile()
		case r := <-g.finished:
			g.unitFinished(r)
			g.reconcile()
		case err := <-errc:
			runErr = err
			errc = nil
			break loop
		}
	}
	// Stop every unit, committing while this worker still owns it, then
	// leave the group so that the others take the units at once.
	for _, r := range g.running {
		if !r.stopping {
			r.stopping = true
			r.cancel()
		}
	}
	for len(g.running) > 0 {
		r := <-g.finished
		g.unitFinished(r)
	}
	leave()
	if errc != nil {
		<-errc
	}
	g.storesMu.Lock()
	for _, s := range g.stores {
		s.close()
	}
	g.storesMu.Unlock()
	return runErr
}

// reconcile makes what this worker runs match its assignment (see package
// group for the sequence).
func (g *groupRun) reconcile() {
	a := g.m.Assignment()
	g.mu.Lock()
	g.assign = a
	g.mu.Unlock()
	for _, o := range a.Revoked {
		g.stopUnit(o, false)
	}
	for _, o := range a.Fenced {
		g.stopUnit(o, true)
	}
	for _, o := range a.Owned {
		r := g.running[o.Unit]
		switch {
		case r == nil:
			g.startUnit(o)
		case r.gen != o.Generation:
			// A stale run: it is also in Fenced, and stops; the unit
			// starts again when it finished.
		}
	}
}

// stopUnit stops a unit this worker no longer owns: revoked (commit while
// Owns holds, bounded by its lease) or fenced (at once, no commit), and
// releases it once stopped.
func (g *groupRun) stopUnit(o group.Ownership, fenced bool) {
	r := g.running[o.Unit]
	if r == nil || r.gen != o.Generation {
		g.m.Release(o.Unit, o.Generation)
		return
	}
	if fenced {
		r.kill() // flushes nothing more; every commit is refused (Owns)
	}
	if r.stopping {
		return
	}
	r.stopping = true
	if fenced {
		g.log.Warn("stopping a unit this worker no longer owns, without committing", "unit", o.Unit, "generation", o.Generation)
	} else {
		g.log.Info("stopping a unit given to another worker", "unit", o.Unit, "generation", o.Generation)
	}
	r.cancel()
}

func (g *groupRun) unitFinished(r *unitRun) {
	if g.running[r.unit] == r {
		delete(g.running, r.unit)
	}
	g.runningN.Add(-1)
	g.m.Release(r.unit, r.gen)
}

// startUnit starts a connector or task unit owned under o.
func (g *groupRun) startUnit(o group.Ownership) {
	connector, task := splitUnit(o.Unit, g.specs)
	spec, ok := g.specs[connector]
	if !ok {
		// The leader runs another flow file's units: the fingerprint
		// agreement keeps this from happening, but never run a unit
		// this worker cannot name.
		g.log.Error("assigned a unit this worker does not know; releasing it", "unit", o.Unit)
		g.m.Release(o.Unit, o.Generation)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	hard, kill := context.WithCancel(g.hard)
	r := &unitRun{unit: o.Unit, gen: o.Generation, cancel: cancel, kill: kill, done: make(chan struct{})}
	g.running[o.Unit] = r
	g.runningN.Add(1)
	go func() {
		defer func() {
			cancel()
			kill()
			close(r.done)
			g.finished <- r
		}()
		owns := func() (time.Time, bool) { return g.m.Owns(o.Unit, o.Generation) }
		if task < 0 {
			g.runConnector(ctx, hard, o, spec, owns)
		} else {
			g.runTask(ctx, hard, o, spec, task, owns)
		}
	}()
}

// store returns the source-offset store of a herder, opening it on first
// use (retrying while its target is unreachable); nil once ctx ended.
func (g *groupRun) store(ctx context.Context, spec ConnectorSpec, log hclog.Logger) *offsetStore {
	g.storesMu.Lock()
	defer g.storesMu.Unlock()
	if s := g.stores[spec.Herder()]; s != nil {
		return s
	}
	bo := backoff{max: g.w.cfg.RetryBackoffMax}
	for {
		s, err := openOffsetStore(ctx, &g.w.cfg, spec.Source, spec.Target, log)
		if err == nil {
			g.stores[spec.Herder()] = s
			return s
		}
		if ctx.Err() != nil {
			return nil
		}
		d := bo.next()
		log.Warn("opening source offsets failed; retrying", "error", err, "backoff", d)
		sleepCtx(ctx, d)
	}
}

// publish writes the status of a unit this worker runs to the config
// topic, for the other workers' status and REST answers. A failure is
// logged; the next change publishes again.
func (g *groupRun) publish(unit string, gen int32, st State, errText string) {
	ctx, cancel := context.WithTimeout(g.hard, 10*time.Second)
	defer cancel()
	err := g.ct.writeStatus(ctx, unit, unitStatus{WorkerID: g.self.WorkerID, URL: g.self.URL, State: st, Error: errText, Generation: gen})
	if err != nil {
		g.log.Warn("publishing unit status failed", "unit", unit, "error", err)
	}
}

// runConnector runs a connector unit: it starts the connector, gives it
// the task configs the group runs now (TaskConfigHistory), and writes its
// task configs to the config topic whenever they change, each write
// allowed only while this worker owns the connector.
func (g *groupRun) runConnector(ctx, hard context.Context, o group.Ownership, spec ConnectorSpec, owns func() (time.Time, bool)) {
	w := g.w
	log := w.log.Named("connector").With("connector", spec.Name, "source", spec.Source, "target", spec.Target, "generation", o.Generation)
	unit := spec.id()
	maxTasks, _ := spec.Props.Int("tasks.max", 1) // checked by unitsOf
	for ctx.Err() == nil {
		// A stopped connector does not run until it is resumed.
		if g.ct.targetState(unit) == TargetStopped {
			w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error, cs.WorkerID = StateStopped, "", g.self.WorkerID })
			g.publish(unit, o.Generation, StateStopped, "")
			for ctx.Err() == nil && g.ct.targetState(unit) == TargetStopped {
				select {
				case <-g.ct.changed():
				case <-ctx.Done():
				}
			}
			continue
		}
		g.runConnectorOnce(ctx, hard, o, spec, int(maxTasks), owns, log)
	}
	w.setStatus(spec, func(cs *ConnectorStatus) {
		if cs.WorkerID == g.self.WorkerID {
			cs.State, cs.Error, cs.WorkerID = StateUnassigned, "", ""
		}
	})
}

// runConnectorOnce runs the connector until ctx ends or its target state
// becomes STOPPED.
func (g *groupRun) runConnectorOnce(ctx, hard context.Context, o group.Ownership, spec ConnectorSpec, maxTasks int, owns func() (time.Time, bool), log hclog.Logger) {
	w := g.w
	unit := spec.id()
	store := g.store(ctx, spec, log)
	if store == nil {
		return
	}
	newFn, _ := w.reg.lookup(spec.Class)
	conn := newFn()
	reconf := make(chan struct{}, 1)
	cc := &ConnectorContext{
		Name: spec.Name, Source: spec.Source, Target: spec.Target,
		Props: spec.Props.Clone(), Logger: log, newClient: spec.clients(w.clientsOf(w.connectorReach(spec), spec, -1)), offsets: store,
		reconfigure: func() {
			select {
			case reconf <- struct{}{}:
			default:
			}
		},
	}
	bo := backoff{max: w.cfg.RetryBackoffMax}
	for {
		err := conn.Start(ctx, cc)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		if !IsRetriable(err) {
			err = fmt.Errorf("start connector: %w", err)
			log.Error("connector failed", "error", err)
			w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error, cs.WorkerID = StateFailed, err.Error(), g.self.WorkerID })
			g.publish(unit, o.Generation, StateFailed, err.Error())
			<-ctx.Done()
			return
		}
		d := bo.next()
		log.Warn("connector start failed; retrying", "error", err, "backoff", d)
		w.setStatus(spec, func(cs *ConnectorStatus) { cs.Error, cs.WorkerID = err.Error(), g.self.WorkerID })
		sleepCtx(ctx, d)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(hard, w.cfg.ShutdownTimeout)
		defer cancel()
		if err := conn.Stop(sctx); err != nil {
			log.Warn("stopping the connector failed", "error", err)
		}
		log.Info("connector stopped")
	}()
	log.Info("connector started")
	w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error, cs.WorkerID = StateRunning, "", g.self.WorkerID })
	g.publish(unit, o.Generation, StateRunning, "")

	// The task configs written before (by this connector's previous owner,
	// perhaps) are the history of a sticky assignment.
	if err := g.ct.caughtUp(ctx); err != nil {
		return
	}
	if h, ok := conn.(TaskConfigHistory); ok {
		if rec, ok := g.ct.taskConfigs(unit); ok {
			h.RestoreTaskConfigs(rec.Tasks)
		}
	}
	retry := time.NewTimer(0)
	defer retry.Stop()
	pbo := backoff{max: w.cfg.RetryBackoffMax}
	for {
		select {
		case <-ctx.Done():
			return
		case <-reconf:
		case <-retry.C:
		case <-g.ct.changed():
			if g.ct.targetState(unit) == TargetStopped {
				return
			}
			continue
		}
		if err := g.publishTaskConfigs(ctx, conn, unit, o.Generation, maxTasks, owns, log); err != nil {
			d := pbo.next()
			log.Warn("task configs not written; retrying", "error", err, "backoff", d)
			retry.Reset(d)
			continue
		}
		pbo.reset()
	}
}

// publishTaskConfigs writes the connector's task configs to the config
// topic if they differ from what it holds.
func (g *groupRun) publishTaskConfigs(ctx context.Context, conn Connector, unit string, gen int32, maxTasks int, owns func() (time.Time, bool), log hclog.Logger) error {
	cfgs, err := conn.TaskConfigs(maxTasks)
	if err != nil {
		return fmt.Errorf("task configs not ready: %w", err)
	}
	if cfgs == nil {
		cfgs = []Props{}
	}
	if cur, ok := g.ct.taskConfigs(unit); ok && slices.EqualFunc(cur.Tasks, cfgs, propsEqual) {
		return nil
	}
	until, ok := owns()
	if !ok {
		return errNotOwner
	}
	wctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	if err := g.ct.writeTaskConfigs(wctx, unit, taskConfigsRecord{Worker: g.self.WorkerID, Generation: gen, Tasks: cfgs}); err != nil {
		return err
	}
	log.Info("task configs written", "tasks", len(cfgs))
	// Read them back before the next comparison.
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	return g.ct.caughtUp(rctx)
}

// runTask runs a task unit: it waits for the task's config in the config
// topic (and for its connector to be started), runs the task from the
// committed source offsets, restarts it when its config changes and after
// a failure (with backoff), and stops it when ctx ends.
func (g *groupRun) runTask(ctx, hard context.Context, o group.Ownership, spec ConnectorSpec, id int, owns func() (time.Time, bool)) {
	w := g.w
	unit := spec.id()
	log := w.log.Named("connector").With("connector", spec.Name, "source", spec.Source, "target", spec.Target, "generation", o.Generation)
	newFn, _ := w.reg.lookup(spec.Class)
	stats := &TaskStats{}
	var (
		restarts int64
		lastErr  string
		bo       = backoff{max: w.cfg.RetryBackoffMax}
		shown    State
	)
	show := func(st TaskStatus) {
		st.ID, st.WorkerID, st.Restarts = id, g.self.WorkerID, restarts
		if st.LastError == "" {
			st.LastError = lastErr
		}
		w.setTask(spec, st, &taskRunner{stats: stats})
		if st.State != shown || st.State == StateFailed {
			shown = st.State
			g.publish(o.Unit, o.Generation, st.State, st.Error)
		}
	}
	defer func() {
		w.removeTask(spec, id)
	}()
	for ctx.Err() == nil {
		// Wait for a config, and for the connector to run.
		var props Props
		for ctx.Err() == nil {
			ch := g.ct.changed()
			rec, ok := g.ct.taskConfigs(unit)
			state := g.ct.targetState(unit)
			switch {
			case state == TargetPaused:
				show(TaskStatus{State: State(TargetPaused)})
			case state == TargetStopped:
				show(TaskStatus{State: StateStopped})
			case ok && id < len(rec.Tasks):
				props = rec.Tasks[id]
			case ok:
				w.removeTask(spec, id) // the connector runs fewer tasks
			default:
				show(TaskStatus{State: StateUnassigned, Error: "waiting for the connector's task configs"})
			}
			if props != nil {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			return
		}
		store := g.store(ctx, spec, log)
		if store == nil {
			return
		}
		// Start from what the previous owner committed.
		if err := store.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			d := bo.next()
			log.Warn("reading the committed source offsets failed; retrying", "task", id, "error", err, "backoff", d)
			sleepCtx(ctx, d)
			continue
		}
		t := w.newTaskRunner(spec, id, props, newFn(), store, log, hard, stats)
		t.owns = owns
		tctx, cancel := context.WithCancel(ctx)
		show(TaskStatus{State: StateRunning})
		go func() {
			t.err = t.run(tctx)
			close(t.done)
		}()
		restart := false
	run:
		for {
			ch := g.ct.changed()
			select {
			case <-t.done:
				break run
			case <-ctx.Done():
				<-t.done
				break run
			case <-ch:
				rec, ok := g.ct.taskConfigs(unit)
				started := g.ct.targetState(unit) == TargetStarted
				if ok && id < len(rec.Tasks) && started && propsEqual(rec.Tasks[id], props) {
					continue
				}
				if ok && id < len(rec.Tasks) && started && isReconfigurable(t.task) {
					// New props for a running task, as a worker alone
					// gives them: the task keeps what it knows (the
					// topic IDs of re-created topics, say).
					select {
					case t.reconfig <- reconfigRequest{props: rec.Tasks[id]}:
						props = rec.Tasks[id]
						t.props = props
					case <-t.done:
					}
					continue
				}
				log.Info("task config or target state changed; restarting the task", "task", id)
				restart = true
				cancel()
				<-t.done
				break run
			}
		}
		cancel()
		switch {
		case ctx.Err() != nil || restart:
			st := TaskStatus{State: StateStopped}
			if t.err != nil {
				st.State, st.Error = StateFailed, t.err.Error()
				log.Error("task failed", "task", id, "error", t.err)
			}
			if ctx.Err() == nil {
				show(st)
			}
		case t.err != nil:
			if time.Since(t.began) >= healthyRun {
				bo.reset()
			}
			lastErr = t.err.Error()
			d := bo.next()
			log.Error("task failed; restarting it after a backoff", "task", id, "error", t.err, "restart_in", d, "restarts", restarts)
			show(TaskStatus{State: StateFailed, Error: lastErr, NextRestart: time.Now().Add(d)})
			if !sleepCtx(ctx, d) {
				return
			}
			restarts++
		}
	}
}

// The GroupView of a worker in a group.

func (g *groupRun) Self() GroupMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.self
	s.MemberID = g.assign.MemberID
	return s
}

func peerMember(p group.Peer) GroupMember {
	return GroupMember{WorkerID: p.Worker.ID, URL: p.Worker.URL, MemberID: p.MemberID, Config: p.Fingerprint.String()}
}

func (g *groupRun) Members() []GroupMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]GroupMember, 0, len(g.assign.Members))
	for _, p := range g.assign.Members {
		out = append(out, peerMember(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].WorkerID < out[j].WorkerID })
	return out
}

func (g *groupRun) Leader() (GroupMember, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.assign.Generation == 0 || g.assign.Leader.MemberID == "" {
		return GroupMember{}, false
	}
	return peerMember(g.assign.Leader), true
}

func (g *groupRun) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.assign.Err
}

// OwnerOf: a unit this worker owns, else the worker whose published status
// says it runs the unit, if that worker is still in the group.
func (g *groupRun) OwnerOf(unit string) (GroupMember, bool) {
	g.mu.Lock()
	for _, o := range g.assign.Owned {
		if o.Unit == unit {
			s := g.self
			s.MemberID = g.assign.MemberID
			g.mu.Unlock()
			return s, true
		}
	}
	members := slices.Clone(g.assign.Members)
	g.mu.Unlock()
	st, ok := g.ct.unitStatus(unit)
	if !ok || st.WorkerID == g.self.WorkerID {
		return GroupMember{}, false
	}
	for _, p := range members {
		if p.Worker.ID == st.WorkerID {
			return peerMember(p), true
		}
	}
	return GroupMember{}, false
}

// SetTargetState implements TargetStates.
func (g *groupRun) SetTargetState(ctx context.Context, connector string, s TargetState) error {
	if _, ok := g.specs[connector]; !ok {
		return fmt.Errorf("no connector %s in this worker's flows", connector)
	}
	switch s {
	case TargetStarted, TargetPaused, TargetStopped:
	default:
		return fmt.Errorf("target state %q: want STARTED, PAUSED or STOPPED", s)
	}
	if err := g.ct.writeTarget(ctx, connector, s); err != nil {
		return err
	}
	return g.ct.caughtUp(ctx)
}

// TargetState implements TargetStates.
func (g *groupRun) TargetState(connector string) TargetState { return g.ct.targetState(connector) }

// mergeStatus adds to a status what the other workers published: the
// connectors and tasks they run, with their worker ids.
func (g *groupRun) mergeStatus(out []ConnectorStatus) {
	g.mu.Lock()
	members := make(map[string]bool, len(g.assign.Members))
	for _, p := range g.assign.Members {
		members[p.Worker.ID] = true
	}
	mismatch := g.assign.Err
	g.mu.Unlock()
	all := g.ct.allStatus()
	for i := range out {
		cs := &out[i]
		unit := ConnectorUnit(cs.Source, cs.Target, cs.Name)
		if cs.WorkerID == "" {
			if st, ok := all[unit]; ok && st.WorkerID != g.self.WorkerID && members[st.WorkerID] {
				cs.State, cs.Error, cs.WorkerID = st.State, st.Error, st.WorkerID
			} else if mismatch != nil {
				cs.Error = mismatch.Error()
			}
		}
		local := make(map[int]bool, len(cs.Tasks))
		for _, t := range cs.Tasks {
			local[t.ID] = true
		}
		prefix := unit + "/"
		for u, st := range all {
			rest, ok := strings.CutPrefix(u, prefix)
			if !ok || st.WorkerID == g.self.WorkerID || !members[st.WorkerID] {
				continue
			}
			id, err := strconv.Atoi(rest)
			if err != nil || local[id] {
				continue
			}
			cs.Tasks = append(cs.Tasks, TaskStatus{ID: id, State: st.State, Error: st.Error, WorkerID: st.WorkerID})
		}
		sort.Slice(cs.Tasks, func(a, b int) bool { return cs.Tasks[a].ID < cs.Tasks[b].ID })
	}
}
