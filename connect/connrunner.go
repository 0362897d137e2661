package connect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// healthyRun is how long a task must run before a failure counts as a new
// one: its restart backoff starts over, and Run no longer reports the
// failure before it.
const healthyRun = time.Minute

// taskFailure is what the connector remembers of a task that failed: it is
// restarted after a capped exponential backoff.
type taskFailure struct {
	bo       backoff
	restarts int64       // restarts done
	lastErr  error       // the last failure
	timer    *time.Timer // the pending restart; nil when none
}

// runConnector starts one connector (retrying retriable start errors), runs
// its tasks, restarts tasks that fail (after a capped exponential backoff),
// applies reconfiguration requests, and stops everything when ctx is
// cancelled; hard ends the graceful stop (see Worker.Run). It returns the
// connector's fatal error, or the errors of tasks that were failed at the
// end or had not run healthily since they last failed.
func (w *Worker) runConnector(ctx, hard context.Context, spec ConnectorSpec, store *offsetStore) error {
	log := w.log.Named("connector").With("connector", spec.Name, "source", spec.Source, "target", spec.Target)
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
	maxTasks, err := spec.Props.Int("tasks.max", 1)
	if err == nil && maxTasks < 1 {
		err = fmt.Errorf("tasks.max: %d is not a positive number", maxTasks)
	}
	if err != nil {
		return w.failConnector(spec, log, err)
	}
	bo := backoff{max: w.cfg.RetryBackoffMax}
	for {
		err := conn.Start(ctx, cc)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if !IsRetriable(err) {
			return w.failConnector(spec, log, fmt.Errorf("start connector: %w", err))
		}
		d := bo.next()
		log.Warn("connector start failed; retrying", "error", err, "backoff", d)
		w.setStatus(spec, func(cs *ConnectorStatus) { cs.Error = err.Error() })
		sleepCtx(ctx, d)
	}
	log.Info("connector started")
	w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error = StateRunning, "" })

	tasks := make(map[int]*taskRunner)
	taskDone := make(chan *taskRunner)
	restartDue := make(chan int)
	connDone := make(chan struct{})
	defer close(connDone)
	failures := make(map[int]*taskFailure)
	// A task's counters go on across its restarts: a restart is not a new
	// task to the operator.
	stats := make(map[int]*TaskStats)
	var cfgs []Props // the task configs last applied
	var taskErrs []error
	cancels := make(map[*taskRunner]context.CancelFunc)
	startTask := func(id int, props Props) {
		tctx, cancel := context.WithCancel(ctx)
		st := stats[id]
		if st == nil {
			st = &TaskStats{}
			stats[id] = st
		}
		st.mu.Lock()
		st.blocked = nil // the new run finds its own
		st.mu.Unlock()
		t := w.newTaskRunner(spec, id, props, conn, store, log, hard, st)
		tasks[id] = t
		cancels[t] = cancel
		ts := TaskStatus{ID: id, State: StateRunning}
		if f := failures[id]; f != nil {
			ts.Restarts, ts.LastError = f.restarts, f.lastErr.Error()
		}
		w.setTask(spec, ts, t)
		go func() {
			t.err = t.run(tctx)
			close(t.done)
			select {
			case taskDone <- t:
			case <-connDone:
			}
		}()
	}
	forgetFailure := func(id int) {
		if f := failures[id]; f != nil && f.timer != nil {
			f.timer.Stop()
		}
		delete(failures, id)
	}
	apply := func() {
		var err error
		cfgs, err = conn.TaskConfigs(int(maxTasks))
		if err != nil {
			log.Warn("task configs not ready; will retry at the next refresh", "error", err)
			return
		}
		// Work that moves between tasks leaves its old task, which commits
		// it, before any task gets new work.
		for _, id := range revoke(conn, tasks, cancels, cfgs, log) {
			delete(cancels, tasks[id])
			delete(tasks, id)
			if id >= len(cfgs) {
				delete(stats, id)
				w.removeTask(spec, id)
			}
		}
		for id, props := range cfgs {
			t, ok := tasks[id]
			switch {
			case ok && propsEqual(t.props, props):
			case ok && isReconfigurable(t.task):
				select {
				case t.reconfig <- reconfigRequest{props: props}:
					t.props = props
				case <-t.done:
				}
			default:
				// New, stopped by revoke, or a failed task waiting to
				// restart: new props, new try.
				startTask(id, props)
			}
		}
		for id := range failures {
			if id >= len(cfgs) {
				forgetFailure(id)
				delete(stats, id)
				w.removeTask(spec, id)
			}
		}
	}
	// taskFailed records a failed task and schedules its restart.
	taskFailed := func(t *taskRunner) {
		f := failures[t.id]
		if f == nil {
			f = &taskFailure{bo: backoff{max: w.cfg.RetryBackoffMax}}
			failures[t.id] = f
		}
		if time.Since(t.began) >= healthyRun {
			f.bo.reset()
		}
		f.lastErr = t.err
		d := f.bo.next()
		id := t.id
		f.timer = time.AfterFunc(d, func() {
			select {
			case restartDue <- id:
			case <-connDone:
			}
		})
		log.Error("task failed; restarting it after a backoff", "task", t.id, "error", t.err, "restart_in", d, "restarts", f.restarts)
		w.setTask(spec, TaskStatus{ID: t.id, State: StateFailed, Error: t.err.Error(), Restarts: f.restarts,
			LastError: t.err.Error(), NextRestart: time.Now().Add(d)}, t)
	}
	apply()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-reconf:
			log.Info("reconfiguring tasks")
			apply()
		case t := <-taskDone:
			if cur, ok := tasks[t.id]; ok && cur == t {
				delete(tasks, t.id)
				delete(cancels, t)
				if t.err != nil && ctx.Err() == nil {
					taskFailed(t)
				} else {
					w.finishTask(spec, t, log)
				}
			}
		case id := <-restartDue:
			f := failures[id]
			if f == nil {
				continue
			}
			f.timer = nil
			if _, running := tasks[id]; running || id >= len(cfgs) {
				continue // apply started it again already, or it is gone
			}
			f.restarts++
			log.Info("restarting failed task", "task", id, "restarts", f.restarts)
			startTask(id, cfgs[id])
		}
	}
	// Cancel every task first, so they flush and commit in parallel.
	for _, cancel := range cancels {
		cancel()
	}
	for t := range cancels {
		<-t.done
		w.finishTask(spec, t, log)
		if t.err != nil {
			taskErrs = append(taskErrs, t.err)
		}
	}
	for id, f := range failures {
		if f.timer != nil {
			f.timer.Stop()
		}
		if t, running := tasks[id]; !running || time.Since(t.began) < healthyRun {
			taskErrs = append(taskErrs, fmt.Errorf("task %s-%d failed (%d restarts): %w", spec.Name, id, f.restarts, f.lastErr))
		}
	}
	// The connector's stop has what is left of the worker's one deadline.
	sctx, cancel := context.WithTimeout(hard, w.cfg.ShutdownTimeout)
	defer cancel()
	if err := conn.Stop(sctx); err != nil {
		taskErrs = append(taskErrs, fmt.Errorf("stop connector: %w", err))
	}
	log.Info("connector stopped")
	w.setStatus(spec, func(cs *ConnectorStatus) {
		if cs.State != StateFailed {
			cs.State = StateStopped
		}
	})
	if len(taskErrs) > 0 {
		return fmt.Errorf("connector %s (%s): %w", spec.Name, spec.Herder(), errors.Join(taskErrs...))
	}
	return nil
}

func isReconfigurable(t SourceTask) bool {
	_, ok := t.(Reconfigurable)
	return ok
}

func (w *Worker) failConnector(spec ConnectorSpec, log hclog.Logger, err error) error {
	log.Error("connector failed", "error", err)
	w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error = StateFailed, err.Error() })
	return fmt.Errorf("connector %s (%s): %w", spec.Name, spec.Herder(), err)
}

func (w *Worker) newTaskRunner(spec ConnectorSpec, id int, props Props, conn Connector, store *offsetStore, log hclog.Logger, hard context.Context, stats *TaskStats) *taskRunner {
	tlog := log.With("task", id)
	parts := newPartitionTable(store.value)
	// Counters go on across restarts; what the metrics read of a run (its
	// partitions, its view of its clusters) is the new run's.
	w.mu.Lock()
	stats.m = newTaskMetrics(parts)
	w.mu.Unlock()
	clients := w.clientsOf(stats.m.reach, spec, id)
	return &taskRunner{
		cfg: &w.cfg, spec: spec, id: id, task: conn.NewTask(), store: store, log: tlog, hard: hard, began: time.Now(), clock: &w.clock,
		stats: stats, props: props, reconfig: make(chan reconfigRequest), done: make(chan struct{}),
		flushInterval: w.cfg.herder(spec.Source, spec.Target).OffsetFlushInterval,
		newProducer: func(opts ...kgo.Opt) (*kgo.Client, error) {
			return clients(spec.Target, RoleProducer, append(append([]kgo.Opt(nil), spec.RecordProducer...), opts...)...)
		},
		tc: &TaskContext{
			Connector: spec.Name, ID: id, Source: spec.Source, Target: spec.Target,
			Props: props.Clone(), Logger: tlog, newClient: spec.clients(clients), offsets: store, parts: parts, stats: stats,
		},
	}
}

// finishTask records how a task ended at a stop: STOPPED, or FAILED if its
// stop failed (a commit that could not be written, say). Restarts and the
// last error of an earlier failure stay.
func (w *Worker) finishTask(spec ConnectorSpec, t *taskRunner, log hclog.Logger) {
	st := TaskStatus{ID: t.id, State: StateStopped}
	w.mu.Lock()
	if cs := w.status[spec.id()]; cs != nil {
		for _, old := range cs.Tasks {
			if old.ID == t.id {
				st.Restarts, st.LastError = old.Restarts, old.LastError
			}
		}
	}
	w.mu.Unlock()
	if t.err != nil {
		st.State, st.Error, st.LastError = StateFailed, t.err.Error(), t.err.Error()
		log.Error("task failed", "task", t.id, "error", t.err)
	}
	w.setTask(spec, st, t)
}

// setTask records a task's state; while it runs (st.State RUNNING), Status
// reads its counters live.
func (w *Worker) setTask(spec ConnectorSpec, st TaskStatus, t *taskRunner) {
	st.fill(t.stats)
	id := spec.id()
	w.mu.Lock()
	if w.live[id] == nil {
		w.live[id] = make(map[int]*TaskStats)
	}
	if st.State == StateRunning {
		w.live[id][st.ID] = t.stats
	} else {
		delete(w.live[id], st.ID)
	}
	w.mu.Unlock()
	w.setStatus(spec, func(cs *ConnectorStatus) {
		for i := range cs.Tasks {
			if cs.Tasks[i].ID == st.ID {
				cs.Tasks[i] = st
				return
			}
		}
		cs.Tasks = append(cs.Tasks, st)
	})
}

func (w *Worker) removeTask(spec ConnectorSpec, id int) {
	w.mu.Lock()
	delete(w.live[spec.id()], id)
	w.mu.Unlock()
	w.setStatus(spec, func(cs *ConnectorStatus) {
		for i := range cs.Tasks {
			if cs.Tasks[i].ID == id {
				cs.Tasks = append(cs.Tasks[:i], cs.Tasks[i+1:]...)
				return
			}
		}
	})
}
