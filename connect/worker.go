package connect

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
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

	mu     sync.Mutex // guards status and live
	status map[string]*ConnectorStatus
	live   map[string]map[int]*TaskStats // running tasks' counters, read live by Status
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
		status: make(map[string]*ConnectorStatus), live: make(map[string]map[int]*TaskStats)}
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
)

// ConnectorStatus is the state of one connector and its tasks.
type ConnectorStatus struct {
	Name   string
	Source string
	Target string
	State  State
	Error  string
	Tasks  []TaskStatus
}

// TaskStatus is the state of one task.
type TaskStatus struct {
	ID           int
	State        State
	Error        string
	RecordsSent  int64
	RecordsAcked int64
	BytesAcked   int64
	Commits      int64
	RecordsLost  int64 // source records gone before they were copied
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
	ts.RecordsLost = st.RecordsLost.Load()
	ts.Cycles = st.Cycles.Load()
	ts.LastCycle = time.Duration(st.LastCycle.Load())
}

// Status returns the state of every connector, sorted by herder and name.
func (w *Worker) Status() []ConnectorStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ConnectorStatus, 0, len(w.status))
	for id, s := range w.status {
		c := *s
		c.Tasks = append([]TaskStatus(nil), s.Tasks...)
		for i := range c.Tasks {
			if st, ok := w.live[id][c.Tasks[i].ID]; ok {
				c.Tasks[i].fill(st)
			}
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
	return out
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

func (w *Worker) newClient(cluster string, role Role, opts ...kgo.Opt) (*kgo.Client, error) {
	all := append([]kgo.Opt{kgo.WithLogger(KgoLogger(w.log.Named("kgo").With("cluster", cluster)))}, opts...)
	return w.cfg.newClient(cluster, role, all...)
}

// Run starts every connector in specs and their tasks, and returns when ctx
// is cancelled and all of them have stopped gracefully: producers flushed and
// source offsets committed, each bounded by WorkerConfig.ShutdownTimeout.
// Connectors of different flows are independent: one failing does not stop
// the others. Run returns an error if the specs are invalid (nothing is
// started then) or, after shutdown, listing the connectors and tasks that
// failed.
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
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, h := range order {
		hs := herders[h]
		wg.Go(func() {
			if err := w.runHerder(ctx, hs); err != nil {
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
func (w *Worker) runHerder(ctx context.Context, specs []ConnectorSpec) error {
	source, target := specs[0].Source, specs[0].Target
	log := w.log.Named("herder").With("source", source, "target", target)
	bo := backoff{max: w.cfg.RetryBackoffMax}
	var store *offsetStore
	for {
		var err error
		store, err = openOffsetStore(ctx, &w.cfg, source, target, log)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if !IsRetriable(err) {
			for _, s := range specs {
				w.setStatus(s, func(cs *ConnectorStatus) { cs.State, cs.Error = StateFailed, err.Error() })
			}
			log.Error("cannot open source offsets; flow not started", "error", err)
			return fmt.Errorf("flow %s->%s: %w", source, target, err)
		}
		d := bo.next()
		log.Warn("opening source offsets failed; retrying", "error", err, "backoff", d)
		sleepCtx(ctx, d)
	}
	defer store.close()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range specs {
		wg.Go(func() {
			if err := w.runConnector(ctx, s, store); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
