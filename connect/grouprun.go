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
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect/group"
	"github.com/mm2go/mm2go/connect/internal/kstat"
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
	// restarts carries restart requests (control.go) to the reconcile
	// loop, which hands them to the units they name.
	restarts chan connRestarts

	carryMu sync.Mutex                // guards carried
	carried map[string]*carriedCommit // by task unit: what its last run could not commit (carry.go)

	pubMu     sync.Mutex       // guards published
	published map[string]State // the state last published of each unit this worker runs

	mu       sync.Mutex // guards assign and rebTime
	assign   group.Assignment
	rebTime  kstat.Dist // how long the rebalances took (ms)
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
	// restart takes restart requests for the unit; the run answers each
	// once it runs again (or with why not). The reconcile loop sends, and
	// answers what is left once the run finished.
	restart chan chan error
}

// connRestarts are restart requests for one connector's units.
type connRestarts struct {
	connector string // the connector unit
	reqs      []*restartRequest
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
	for _, s := range specs {
		txn, err := txnConfigOf(&w.cfg, s)
		if err == nil && txn != nil {
			err = w.checkTxnTimeout(s, txn)
		}
		if err != nil {
			return fmt.Errorf("invalid worker config: connector %s: %w", s.id(), err)
		}
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
		stores: make(map[string]*offsetStore), running: make(map[string]*unitRun), finished: make(chan *unitRun),
		restarts: make(chan connRestarts), published: make(map[string]State)}
	for _, s := range specs {
		g.specs[s.id()] = s
		w.setStatus(s, func(*ConnectorStatus) {})
		w.ctl.register(s).begin(nil)
	}
	// Control requests (REST) are taken from now on; what is still queued
	// at the end is refused.
	defer func() {
		for _, s := range specs {
			w.ctl.register(s).end(nil)
		}
	}()
	w.ctl.phase.Store(phaseRunning)
	defer w.ctl.phase.Store(phaseStopped)
	stopping := context.AfterFunc(ctx, func() { w.ctl.phase.Store(phaseStopping) })
	defer stopping()

	// hard ends the graceful stop: ShutdownTimeout after ctx, for the whole
	// worker at once, the group's own clients included. The units stop by
	// g.hard, leaveReserve earlier, so that the leave of the group, which
	// hands their work to the others at once instead of after the session
	// timeout, still has time when a unit took all of its own.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	unitsHard, cancelUnits := context.WithCancel(hard)
	defer cancelUnits()
	g.hard = unitsHard
	var deadline, unitsDeadline atomic.Pointer[time.Timer]
	unwatch := context.AfterFunc(ctx, func() {
		unitsDeadline.Store(time.AfterFunc(w.cfg.ShutdownTimeout-leaveReserve(w.cfg.ShutdownTimeout), cancelUnits))
		deadline.Store(time.AfterFunc(w.cfg.ShutdownTimeout, cancelHard))
	})
	defer func() {
		unwatch()
		for _, d := range []*atomic.Pointer[time.Timer]{&deadline, &unitsDeadline} {
			if t := d.Load(); t != nil {
				t.Stop()
			}
		}
	}()

	// The group's client and config topic, retried while the cluster is
	// unreachable.
	bo := backoff{max: w.cfg.RetryBackoffMax}
	for {
		g.ct, err = openConfigTopic(ctx, hard, &w.cfg, gc.Cluster, gc.ConfigTopic, gc.Fingerprint.Hash, gc.ConfigTopicReplication, g.log)
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
	cl, err := w.cfg.newClientDefaults(gc.Cluster, RoleAdmin, []kgo.Opt{kgo.WithContext(hard)})
	if err != nil {
		return err
	}
	defer cl.Close()
	g.m, err = group.NewMember(group.Config{
		Client: cl, Group: gc.ID, Worker: group.Worker{ID: w.workerID(), URL: gc.URL},
		Fingerprint: gc.Fingerprint, Units: units,
		SessionTimeout: gc.SessionTimeout, RebalanceTimeout: gc.RebalanceTimeout, HeartbeatInterval: gc.HeartbeatInterval,
		Logger: w.log,
		OnRebalance: func(took time.Duration) {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.rebTime.Record(float64(took)/float64(time.Millisecond), time.Now().UnixMilli())
		},
	})
	if err != nil {
		return fmt.Errorf("invalid worker group config: %w", err)
	}

	stopClock := w.clock.start()
	defer stopClock()

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
	// Target states live in the config topic from now on.
	w.setTargetStates(g)
	defer w.setTargetStates(nil)

	// The goroutines that follow control requests: one applies what the
	// config topic says (task configs shown, tasks paused), one per
	// connector hands restart requests to the reconcile loop.
	lctx, stopLoops := context.WithCancel(ctx)
	var loops sync.WaitGroup
	loops.Go(func() { g.follow(lctx) })
	for _, s := range specs {
		h := w.ctl.register(s)
		loops.Go(func() { g.takeRestarts(lctx, h) })
	}
	defer func() {
		stopLoops()
		loops.Wait()
	}()

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
		case b := <-g.restarts:
			g.dispatchRestarts(b)
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

// leaveReserve is the part of a group worker's shutdown timeout kept for
// leaving the group after its units stopped: a tenth of it, at most a
// second (one request, and the close of the group's clients).
func leaveReserve(timeout time.Duration) time.Duration { return min(time.Second, timeout/10) }

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
	// Should the unit come back, its run publishes its state again.
	g.pubMu.Lock()
	delete(g.published, r.unit)
	g.pubMu.Unlock()
	// Only this loop sends restarts to r: nothing comes after these.
	for {
		select {
		case done := <-r.restart:
			done <- conflict("%s stopped on this worker before it could restart (it moves to another worker, or the worker stops); try again", r.unit)
		default:
			return
		}
	}
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
	r := &unitRun{unit: o.Unit, gen: o.Generation, cancel: cancel, kill: kill, done: make(chan struct{}), restart: make(chan chan error, 16)}
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
			g.runConnector(ctx, hard, o, r, spec, owns)
		} else {
			g.runTask(ctx, hard, o, r, spec, task, owns)
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
		s, err := openOffsetStore(ctx, g.hard, &g.w.cfg, spec.Source, spec.Target, log)
		if err == nil {
			g.stores[spec.Herder()] = s
			// The REST API's offset changes apply to it at once.
			for _, sp := range g.specs {
				if sp.Herder() == spec.Herder() {
					g.w.ctl.register(sp).setStore(s)
				}
			}
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
// topic, for the other workers' status and REST answers, when it changed
// (a FAILED state always: its error may be new). A failure is logged; the
// next change publishes again.
func (g *groupRun) publish(unit string, gen int32, st State, errText string) {
	g.pubMu.Lock()
	same := g.published[unit] == st && st != StateFailed
	g.pubMu.Unlock()
	if same {
		return
	}
	ctx, cancel := context.WithTimeout(g.hard, 10*time.Second)
	defer cancel()
	err := g.ct.writeStatus(ctx, unit, unitStatus{WorkerID: g.self.WorkerID, URL: g.self.URL, State: st, Error: errText, Generation: gen})
	if err != nil {
		g.log.Warn("publishing unit status failed", "unit", unit, "error", err)
		return
	}
	g.pubMu.Lock()
	g.published[unit] = st
	g.pubMu.Unlock()
}

// unpublish takes a unit out of the status the group shows (a task of a
// STOPPED connector).
func (g *groupRun) unpublish(unit string) {
	ctx, cancel := context.WithTimeout(g.hard, 10*time.Second)
	defer cancel()
	if err := g.ct.write(ctx, keyStatus+unit, nil); err != nil {
		g.log.Warn("publishing unit status failed", "unit", unit, "error", err)
	}
	g.pubMu.Lock()
	delete(g.published, unit)
	g.pubMu.Unlock()
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

// rebalanceMetrics are the group's rebalances as Kafka Connect's
// connect-worker-rebalance-metrics show them: the member's counts and the
// times of the rebalances in the last 30 to 60 s (avg and max NaN when
// none).
func (g *groupRun) rebalanceMetrics(now time.Time) (st group.RebalanceStats, avgMs, maxMs float64) {
	st = g.m.Rebalances()
	g.mu.Lock()
	defer g.mu.Unlock()
	_, maxMs, _, avgMs = g.rebTime.Measure(now.UnixMilli())
	return st, avgMs, maxMs
}
