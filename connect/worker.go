package connect

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Worker runs connectors and their tasks. Build it with NewWorker and start
// it with Run; a Worker runs once.
type Worker struct {
	cfg WorkerConfig
	reg *Registry
	log hclog.Logger

	mu     sync.Mutex // guards status, live, reach and view
	status map[string]*ConnectorStatus
	live   map[string]map[int]*TaskStats // running tasks' counters, read live by Status
	reach  map[string]*reachability      // connectors' view of their clusters, by connector id

	view  GroupView // the group's view under RunGroup; nil while alone
	group *groupRun // the group under RunGroup; nil while alone

	ctl workerControl // control requests: target states, restarts (control.go)

	clients clientRegistry // live clients, for the client metrics
	clock   coarseClock    // the time of the per-record metrics
}

// workerID names this worker in status: WorkerConfig.WorkerID, or "mm2go".
func (w *Worker) workerID() string {
	if w.cfg.WorkerID != "" {
		return w.cfg.WorkerID
	}
	return "mm2go"
}

// Option configures a Worker with things a programmer injects.
type Option func(*Worker)

// WithLogger sets the worker's logger. Default: a null logger.
func WithLogger(l hclog.Logger) Option { return func(w *Worker) { w.log = l } }

// WithRegistry sets the connector classes the worker can run. Default: an
// empty registry.
func WithRegistry(r *Registry) Option { return func(w *Worker) { w.reg = r } }

// WithClusterOpts adds client options for every client of one cluster, after
// the configured ones (tests use it to dial fake clusters; services to add
// hooks). The cluster must be in WorkerConfig.Clusters.
func WithClusterOpts(alias string, opts ...kgo.Opt) Option {
	return func(w *Worker) {
		c, ok := w.cfg.Clusters[alias]
		if !ok {
			c = ClusterConfig{Alias: alias}
		}
		c.Opts = append(append([]kgo.Opt(nil), c.Opts...), opts...)
		w.cfg.Clusters[alias] = c
	}
}

// NewWorker returns a worker. It starts nothing.
func NewWorker(cfg WorkerConfig, opts ...Option) *Worker {
	clusters := make(map[string]ClusterConfig, len(cfg.Clusters))
	for k, v := range cfg.Clusters {
		clusters[k] = v
	}
	cfg.Clusters = clusters
	w := &Worker{cfg: cfg, reg: NewRegistry(), log: hclog.NewNullLogger(),
		status: make(map[string]*ConnectorStatus), live: make(map[string]map[int]*TaskStats),
		reach: make(map[string]*reachability)}
	for _, o := range opts {
		o(w)
	}
	w.cfg.setDefaults()
	return w
}

// State is the lifecycle state of a connector or task, as Connect names them.
type State string

const (
	StateUnassigned State = "UNASSIGNED" // not started yet, or waiting to retry its start
	StateRunning    State = "RUNNING"
	StateFailed     State = "FAILED" // stopped by a fatal error; see Error
	StateStopped    State = "STOPPED"
	// StateUnreachable is a running task or connector that has had no
	// answer from one of its clusters for WorkerConfig.UnreachableAfter:
	// every request and connection to it failed since (see
	// TaskStatus.Unreachable). It goes back to RUNNING at the cluster's
	// first answer. Kafka Connect has no such state; mm2go never says
	// RUNNING for a task that cannot reach its clusters.
	StateUnreachable State = "UNREACHABLE"
)

// ConnectorStatus is the state of one connector and its tasks.
type ConnectorStatus struct {
	Name   string
	Source string
	Target string
	State  State
	Error  string
	// WorkerID names the worker that runs the connector (Connect's
	// worker_id); "" while no worker runs it.
	WorkerID string
	// Unreachable lists the clusters the connector's own clients (topic
	// and group discovery) had no answer from for UnreachableAfter; the
	// State is then UNREACHABLE.
	Unreachable []Unreachable
	Tasks       []TaskStatus
}

// TaskStatus is the state of one task.
type TaskStatus struct {
	ID    int
	State State
	Error string // why the task is FAILED (or UNREACHABLE)
	// WorkerID names the worker that runs the task (Connect's worker_id).
	WorkerID string
	// Restarts counts how often the task was restarted after it failed;
	// LastError is its last failure, kept while it runs again. NextRestart
	// is when a FAILED task starts again.
	Restarts    int64
	LastError   string
	NextRestart time.Time
	// BlockedPartitions are the task's source partitions stopped at a
	// record the target refused: each retries with backoff and resumes by
	// itself once the target takes the record.
	BlockedPartitions []BlockedPartition
	// RecordsAhead counts records written to the target ahead of an earlier
	// record of their partition that the target refused (always 0 unless
	// ordering broke; each such record is also logged at ERROR).
	RecordsAhead int64
	// Unreachable lists the clusters the task had no answer from for
	// WorkerConfig.UnreachableAfter; the State is then UNREACHABLE and
	// Error says which and why.
	Unreachable  []Unreachable
	RecordsSent  int64
	RecordsAcked int64
	BytesAcked   int64
	Commits      int64
	// TransactionAborts counts the transactions of an exactly-once task
	// that were aborted (Commits counts those that committed); each abort
	// restarted the task in place from its committed source offsets.
	TransactionAborts int64
	RecordsLost       int64 // source records gone before they were copied
	// UnknownLosses counts source partitions that may have lost records
	// that cannot be counted: deleted or re-created while nobody copied
	// them. The log gives the first offset of each.
	UnknownLosses int64
	// Cycles and LastCycle are the task's periodic cycles (ReportCycle):
	// how many finished and how long the last one took. Zero for tasks
	// without cycles.
	Cycles    int64
	LastCycle time.Duration
}

func (ts *TaskStatus) fill(st *TaskStats) {
	ts.RecordsSent = st.RecordsSent.Load()
	ts.RecordsAcked = st.RecordsAcked.Load()
	ts.BytesAcked = st.BytesAcked.Load()
	ts.Commits = st.Commits.Load()
	ts.TransactionAborts = st.TxnAborts.Load()
	ts.RecordsLost = st.RecordsLost.Load()
	ts.UnknownLosses = st.UnknownLosses.Load()
	ts.Cycles = st.Cycles.Load()
	ts.LastCycle = time.Duration(st.LastCycle.Load())
	ts.RecordsAhead = st.RecordsAhead.Load()
	ts.BlockedPartitions = st.blockedPartitions()
}

// Status returns the state of every connector, sorted by herder and name.
// In a group (RunGroup) it holds the units the other workers run too, as
// they published them in the group's config topic, each named with its
// worker (WorkerID).
func (w *Worker) Status() []ConnectorStatus {
	out, g := w.ownStatus()
	if g != nil {
		g.mergeStatus(out)
	}
	return out
}

// inGroup reports whether the worker runs in a group (RunGroup).
func (w *Worker) inGroup() bool { return w.currentGroup() != nil }

// currentGroup is the group of RunGroup once it joined; nil alone.
func (w *Worker) currentGroup() *groupRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.group
}

// own is ownStatus's status.
func (w *Worker) own() []ConnectorStatus {
	out, _ := w.ownStatus()
	return out
}

// ownStatus is the state of the connectors and tasks this worker runs, named
// with its worker id (what the group gives other workers is UNASSIGNED
// here), and the group it runs them in (nil alone). Metrics, health and
// control requests count only these.
func (w *Worker) ownStatus() ([]ConnectorStatus, *groupRun) {
	out, g := w.localStatus()
	self := w.workerID()
	for i := range out {
		if out[i].WorkerID == "" && out[i].State != StateUnassigned {
			out[i].WorkerID = self
		}
		for j := range out[i].Tasks {
			if out[i].Tasks[j].WorkerID == "" {
				out[i].Tasks[j].WorkerID = self
			}
		}
	}
	return out, g
}

// localStatus is the state of the connectors and tasks this worker runs,
// and the group it runs them in (nil alone).
func (w *Worker) localStatus() ([]ConnectorStatus, *groupRun) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ConnectorStatus, 0, len(w.status))
	now := time.Now()
	for id, s := range w.status {
		c := *s
		c.Tasks = append([]TaskStatus(nil), s.Tasks...)
		for i := range c.Tasks {
			if st, ok := w.live[id][c.Tasks[i].ID]; ok {
				c.Tasks[i].fill(st)
				c.Tasks[i].Unreachable = st.m.unreachable(now, w.cfg.UnreachableAfter)
				markUnreachable(&c.Tasks[i].State, &c.Tasks[i].Error, c.Tasks[i].Unreachable)
			}
		}
		if c.State == StateRunning {
			c.Unreachable, _ = w.reach[id].failing(now, w.cfg.UnreachableAfter)
			markUnreachable(&c.State, &c.Error, c.Unreachable)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Source+a.Target != b.Source+b.Target {
			return a.Source+"->"+a.Target < b.Source+"->"+b.Target
		}
		return a.Name < b.Name
	})
	return out, w.group
}

func (w *Worker) setStatus(spec ConnectorSpec, fn func(*ConnectorStatus)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id := spec.id()
	s, ok := w.status[id]
	if !ok {
		s = &ConnectorStatus{Name: spec.Name, Source: spec.Source, Target: spec.Target, State: StateUnassigned}
		w.status[id] = s
	}
	fn(s)
}

// clientsOf returns the client factory of a connector (task < 0) or one of
// its tasks: clients with the worker's settings, its logger, and the
// metrics hook that also tells owner whether the cluster answers. A client
// whose options and cluster settings name no client id gets one as MM2
// forms them,
// "<source>-><target>|<connector>[-<task>]|<side>-<role>" (side: source or
// target), so that each client has its own series.
//
// life is the clients' context (kgo.WithContext): it ends at the owner's
// stop deadline, which fails what the clients still wait for, so that
// closing them returns at once then (see clientLife).
func (w *Worker) clientsOf(life context.Context, owner *reachability, spec ConnectorSpec, task int) clientFactory {
	entity := spec.Herder() + "|" + spec.Name
	if task >= 0 {
		entity += "-" + strconv.Itoa(task)
	}
	return func(cluster string, role Role, opts ...kgo.Opt) (*kgo.Client, error) {
		side := cluster
		switch cluster {
		case spec.Source:
			side = "source"
		case spec.Target:
			side = "target"
		}
		all := append([]kgo.Opt{kgo.WithLogger(KgoLogger(w.log.Named("kgo").With("cluster", cluster))),
			w.hookClient(cluster, role, owner)}, opts...)
		return w.cfg.newClientDefaults(cluster, role,
			[]kgo.Opt{kgo.ClientID(entity + "|" + side + "-" + role.String()), kgo.WithContext(life)}, all...)
	}
}

// connectorReach returns the reachability of a connector's clients.
func (w *Worker) connectorReach(spec ConnectorSpec) *reachability {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.reach[spec.id()]
	if !ok {
		r = &reachability{}
		w.reach[spec.id()] = r
	}
	return r
}

// Run starts every connector in specs and their tasks, and returns when ctx
// is cancelled and all of them have stopped gracefully: source offsets
// committed, producers flushed, offsets committed again, tasks and
// connectors stopped, all within one deadline, WorkerConfig.ShutdownTimeout
// after ctx was cancelled. Connectors of different flows are independent:
// one failing does not stop the others, and a task that fails is restarted
// after a capped exponential backoff. Run returns an error if the specs are
// invalid (nothing is started then) or, after shutdown, listing the
// connectors that failed and the tasks that were failed at the end (or had
// not run healthily since they last failed).
func (w *Worker) Run(ctx context.Context, specs []ConnectorSpec) error {
	if err := validate(&w.cfg, specs, w.reg); err != nil {
		return fmt.Errorf("invalid worker config: %w", err)
	}
	herders := make(map[string][]ConnectorSpec)
	var order []string
	for _, s := range specs {
		if _, ok := herders[s.Herder()]; !ok {
			order = append(order, s.Herder())
		}
		herders[s.Herder()] = append(herders[s.Herder()], s)
		w.setStatus(s, func(*ConnectorStatus) {})
		w.ctl.register(s)
	}
	// When every connector failed for good there is nothing left to run
	// (or to restart): Run ends, as if ctx was cancelled.
	ctx, allFailed := context.WithCancel(ctx)
	defer allFailed()
	w.ctl.trackFailures(specs, allFailed)
	w.ctl.phase.Store(phaseRunning)
	defer w.ctl.phase.Store(phaseStopped)
	stopping := context.AfterFunc(ctx, func() { w.ctl.phase.Store(phaseStopping) })
	defer stopping()
	stopClock := w.clock.start()
	defer stopClock()
	// hard ends the graceful stop: ShutdownTimeout after ctx, for the whole
	// worker at once.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	var deadline atomic.Pointer[time.Timer]
	unwatch := context.AfterFunc(ctx, func() { deadline.Store(time.AfterFunc(w.cfg.ShutdownTimeout, cancelHard)) })
	defer func() {
		unwatch()
		if t := deadline.Load(); t != nil {
			t.Stop()
		}
	}()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, h := range order {
		hs := herders[h]
		wg.Go(func() {
			if err := w.runHerder(ctx, hard, hs); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runHerder opens the source-offset store of one source->target pair,
// retrying while the target is unreachable, then runs its connectors.
func (w *Worker) runHerder(ctx, hard context.Context, specs []ConnectorSpec) error {
	source, target := specs[0].Source, specs[0].Target
	log := w.log.Named("herder").With("source", source, "target", target)
	bo := backoff{max: w.cfg.RetryBackoffMax}
	var store *offsetStore
	for {
		var err error
		store, err = openOffsetStore(ctx, hard, &w.cfg, source, target, log)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if !IsRetriable(err) {
			for _, s := range specs {
				w.setStatus(s, func(cs *ConnectorStatus) { cs.State, cs.Error = StateFailed, err.Error() })
				w.ctl.setFailed(s, true)
			}
			log.Error("cannot open source offsets; flow not started", "error", err)
			return fmt.Errorf("flow %s->%s: %w", source, target, err)
		}
		d := bo.next()
		log.Warn("opening source offsets failed; retrying", "error", err, "backoff", d)
		for _, s := range specs { // the status says why the flow has not started
			w.setStatus(s, func(cs *ConnectorStatus) { cs.Error = "open source offsets: " + err.Error() })
		}
		sleepCtx(ctx, d)
	}
	if !w.cfg.herder(source, target).ExactlyOnce {
		// Alone, nobody else commits: the offsets loaded are the truth.
		// In exactly-once mode tasks read again after they fenced their
		// predecessors (a killed worker's transaction may still be open).
		store.dropTail()
	}
	defer store.close()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range specs {
		wg.Go(func() {
			if err := w.runConnector(ctx, hard, s, store); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
