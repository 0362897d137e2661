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
	bo      backoff
	lastErr error       // the last failure
	timer   *time.Timer // the pending restart; nil when none
}

// runConnector runs one connector until ctx is cancelled: it starts the
// connector (retrying retriable start errors), runs its tasks, restarts
// tasks that fail (after a capped exponential backoff), applies
// reconfiguration requests, follows the connector's target state (PAUSED,
// STOPPED, STARTED again) and carries out restart requests (see
// control.go), and at the end stops everything; hard ends the graceful
// stop (see Worker.Run). It returns the connector's fatal error, or the
// errors of tasks that were failed at the end or had not run healthily
// since they last failed.
func (w *Worker) runConnector(ctx, hard context.Context, spec ConnectorSpec, store *offsetStore) (runErr error) {
	log := w.log.Named("connector").With("connector", spec.Name, "source", spec.Source, "target", spec.Target)
	h := w.ctl.register(spec)
	h.begin(store)
	defer func() { h.end(runErr) }()
	newFn, _ := w.reg.lookup(spec.Class)
	reconf := make(chan struct{}, 1)
	newContext := func(life context.Context) *ConnectorContext {
		return &ConnectorContext{
			Name: spec.Name, Source: spec.Source, Target: spec.Target,
			Props: spec.Props.Clone(), Logger: log, newClient: spec.clients(w.clientsOf(life, w.connectorReach(spec), spec, -1)), offsets: store,
			reconfigure: func() {
				select {
				case reconf <- struct{}{}:
				default:
				}
			},
		}
	}
	maxTasks, err := spec.Props.Int("tasks.max", 1)
	if err == nil && maxTasks < 1 {
		err = fmt.Errorf("tasks.max: %d is not a positive number", maxTasks)
	}
	if err != nil {
		return w.failConnector(spec, log, err)
	}
	txn, err := txnConfigOf(&w.cfg, spec) // exactly-once mode, or nil
	if err == nil && txn != nil {
		err = w.checkTxnTimeout(spec, txn)
	}
	if err != nil {
		return w.failConnector(spec, log, err)
	}
	fencedUpTo := 0 // exactly-once: task ids below it ran here, or were fenced

	var (
		conn    Connector // the running instance; nil while stopped or failed
		endConn func()    // ends the life of conn's clients (see clientLife)
		connErr error     // why the connector failed (a start that cannot be retried)
		target  = w.targetState(spec)
	)
	tasks := make(map[int]*taskRunner)
	taskDone := make(chan *taskRunner)
	restartDue := make(chan int)
	connDone := make(chan struct{})
	defer close(connDone)
	failures := make(map[int]*taskFailure)
	// A task's counters and restarts go on across its restarts: a restart
	// is not a new task to the operator.
	stats := make(map[int]*TaskStats)
	restarts := make(map[int]int64)
	var cfgs []Props // the task configs last applied
	var taskErrs []error
	stopTask := func(t *taskRunner, cancel context.CancelFunc) {
		cancel()
		<-t.done
	}
	cancels := make(map[*taskRunner]context.CancelFunc)
	tctl := func(id int) *taskControl {
		return &taskControl{conn: h, state: func(s State) { w.setTaskState(spec, id, s) }}
	}
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
		t.ctl = tctl(id)
		if txn != nil {
			t.txn = &txnState{cfg: txn, id: TransactionalID(txn.groupID, spec.Name, id)}
		}
		tasks[id] = t
		cancels[t] = cancel
		ts := TaskStatus{ID: id, State: StateRunning, Restarts: restarts[id]}
		if f := failures[id]; f != nil {
			ts.LastError = f.lastErr.Error()
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
		if conn == nil {
			return
		}
		var err error
		cfgs, err = conn.TaskConfigs(int(maxTasks))
		if err != nil {
			log.Warn("task configs not ready; will retry at the next refresh", "error", err)
			return
		}
		h.setTaskProps(cfgs)
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
		if txn != nil && (fencedUpTo == 0 || len(cfgs) < fencedUpTo) {
			// Fewer tasks than before (or a first start): fence the
			// ids of the tasks that are gone (they stopped above), as
			// Connect fences a generation, so that no zombie of theirs
			// commits.
			fctx, cancel := context.WithTimeout(ctx, w.cfg.ShutdownTimeout)
			w.fenceStaleTasks(fctx, spec, txn.groupID, len(cfgs), fencedUpTo)
			cancel()
		}
		fencedUpTo = max(fencedUpTo, len(cfgs))
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
			f = &taskFailure{bo: backoff{max: w.cfg.RetryBackoffMax, first: w.cfg.firstTaskRestart}}
			failures[t.id] = f
		}
		if time.Since(t.began) >= healthyRun {
			f.bo.reset()
		}
		f.lastErr = t.err
		d := f.bo.next()
		if errors.Is(t.err, ErrFenced) {
			// Another producer took the task's transactional id: another
			// worker runs the task now. Starting again at once would fence
			// it in turn; wait (a group revokes the task meanwhile).
			d = max(d, min(fencedRestartDelay, w.cfg.RetryBackoffMax))
		}
		id := t.id
		f.timer = time.AfterFunc(d, func() {
			select {
			case restartDue <- id:
			case <-connDone:
			}
		})
		log.Error("task failed; restarting it after a backoff", "task", t.id, "error", t.err, "restart_in", d, "restarts", restarts[id])
		w.setTask(spec, TaskStatus{ID: t.id, State: StateFailed, Error: t.err.Error(), Restarts: restarts[id],
			LastError: t.err.Error(), NextRestart: time.Now().Add(d)}, t)
	}
	// stopTasks stops every task gracefully, in parallel (each commits,
	// flushes and commits again), and forgets pending restarts. It returns
	// the errors of tasks whose stop failed.
	stopTasks := func() []error {
		var errs []error
		for _, cancel := range cancels {
			cancel()
		}
		for t := range cancels {
			<-t.done
			w.finishTask(spec, t, log)
			if t.err != nil {
				errs = append(errs, t.err)
			}
		}
		clear(cancels)
		for _, f := range failures {
			if f.timer != nil {
				f.timer.Stop()
				f.timer = nil
			}
		}
		return errs
	}
	// stopConn stops the connector instance with what is left of the
	// worker's one deadline.
	stopConn := func() error {
		if conn == nil {
			return nil
		}
		err := w.stopConnector(hard, conn, endConn)
		conn, endConn = nil, nil
		return err
	}
	// startConn starts a new connector instance, retrying retriable errors
	// with backoff. It returns false if ctx ended or the target state
	// became STOPPED meanwhile; a connector that fails to start for good
	// is left FAILED (connErr).
	startConn := func() bool {
		bo := backoff{max: w.cfg.RetryBackoffMax}
		c := newFn()
		for {
			life, end := clientLife(hard)
			err := c.Start(ctx, newContext(life))
			if err == nil {
				conn, endConn, connErr = c, end, nil
				w.ctl.setFailed(spec, false)
				log.Info("connector started")
				w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error = StateRunning, "" })
				return true
			}
			end() // a start that failed closed what it opened
			if ctx.Err() != nil {
				return false
			}
			if !IsRetriable(err) {
				connErr = fmt.Errorf("start connector: %w", err)
				log.Error("connector failed", "error", connErr)
				w.ctl.setFailed(spec, true)
				w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error = StateFailed, connErr.Error() })
				return true
			}
			d := bo.next()
			log.Warn("connector start failed; retrying", "error", err, "backoff", d)
			w.setStatus(spec, func(cs *ConnectorStatus) { cs.Error = err.Error() })
			timer := time.NewTimer(d)
			select {
			case <-ctx.Done():
				timer.Stop()
				return false
			case <-timer.C:
			case <-h.wake:
				timer.Stop()
				h.poke() // the main loop looks at what woke us
				if target = w.targetState(spec); target == TargetStopped {
					return false
				}
			}
		}
	}
	// restart carries out one restart request.
	restart := func(req *restartRequest) {
		if target == TargetStopped {
			req.finish(nil)
			return
		}
		if req.connector {
			log.Info("restarting connector")
			if err := stopConn(); err != nil {
				log.Warn("connector stop failed", "error", err)
			}
			connErr = nil
			if !startConn() {
				req.finish(conflict("Connector %s did not restart: %v", connectName(spec.Source, spec.Target, spec.Name), cmpErr(ctx.Err(), "its target state is STOPPED")))
				return
			}
			apply()
		}
		for _, id := range req.tasks {
			if id >= len(cfgs) {
				continue // gone since the request
			}
			if t, ok := tasks[id]; ok {
				stopTask(t, cancels[t])
				delete(cancels, t)
				delete(tasks, id)
			}
			if f := failures[id]; f != nil && f.timer != nil {
				f.timer.Stop()
				f.timer = nil
			}
			restarts[id]++
			log.Info("restarting task on request", "task", id, "restarts", restarts[id])
			startTask(id, cfgs[id])
		}
		req.finish(nil)
	}

	for {
		// Bring the connector to its target state.
		switch {
		case target == TargetStopped && (conn != nil || len(tasks) > 0 || len(failures) > 0 || connErr != nil):
			log.Info("stopping connector: its target state is STOPPED")
			for _, err := range stopTasks() {
				log.Error("task stop failed", "error", err)
			}
			clear(tasks)
			for id := range failures {
				forgetFailure(id)
			}
			if err := stopConn(); err != nil {
				log.Warn("connector stop failed", "error", err)
			}
			connErr, cfgs = nil, nil
			h.setTaskProps(nil)
			w.setStatus(spec, func(cs *ConnectorStatus) {
				cs.State, cs.Error = StateStopped, ""
				kept := cs.Tasks[:0]
				for _, ts := range cs.Tasks {
					if ts.State == StateFailed { // its final commit failed: keep saying so
						kept = append(kept, ts)
					}
				}
				cs.Tasks = kept
			})
			log.Info("connector stopped")
		case target == TargetStopped:
			w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error = StateStopped, "" })
		case conn == nil && connErr == nil:
			if !startConn() {
				if ctx.Err() != nil {
					return w.shutdownConnector(hard, spec, log, conn, endConn, nil, taskErrs)
				}
				continue // the target state changed
			}
			apply()
		}
		h.setPaused(target == TargetPaused)
		if conn != nil {
			state := StateRunning
			if target == TargetPaused {
				state = StatePaused
			}
			w.setStatus(spec, func(cs *ConnectorStatus) {
				if cs.State != StateRestarting {
					cs.State = state
				}
			})
		}

		select {
		case <-ctx.Done():
			taskErrs = append(taskErrs, stopTasks()...)
			taskErrs = append(taskErrs, failureErrs(spec, failures, tasks, restarts)...)
			return w.shutdownConnector(hard, spec, log, conn, endConn, connErr, taskErrs)
		case <-reconf:
			if conn != nil {
				log.Info("reconfiguring tasks")
				apply()
			}
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
			if _, running := tasks[id]; running || id >= len(cfgs) || conn == nil {
				continue // started again already, or gone
			}
			restarts[id]++
			log.Info("restarting failed task", "task", id, "restarts", restarts[id])
			startTask(id, cfgs[id])
		case <-h.wake:
			if s := w.targetState(spec); s != target {
				log.Info("connector target state changed", "from", string(target), "to", string(s))
				target = s
			}
			for _, req := range h.takeRestarts() {
				restart(req)
			}
		}
	}
}

func isReconfigurable(t SourceTask) bool {
	_, ok := t.(Reconfigurable)
	return ok
}

func (w *Worker) failConnector(spec ConnectorSpec, log hclog.Logger, err error) error {
	log.Error("connector failed", "error", err)
	w.ctl.setFailed(spec, true)
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
	life, endClients := clientLife(hard)
	clients := w.clientsOf(life, stats.m.reach, spec, id)
	return &taskRunner{
		cfg: &w.cfg, spec: spec, id: id, task: conn.NewTask(), newTask: conn.NewTask, store: store, log: tlog, hard: hard, began: time.Now(), clock: &w.clock,
		stats: stats, endClients: endClients, props: props, reconfig: make(chan reconfigRequest), done: make(chan struct{}),
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

// failureErrs are the errors of tasks that were failed at the end of a
// run, or had not run healthily since they last failed.
func failureErrs(spec ConnectorSpec, failures map[int]*taskFailure, tasks map[int]*taskRunner, restarts map[int]int64) []error {
	var errs []error
	for id, f := range failures {
		if t, running := tasks[id]; !running || time.Since(t.began) < healthyRun {
			errs = append(errs, fmt.Errorf("task %s-%d failed (%d restarts): %w", spec.Name, id, restarts[id], f.lastErr))
		}
	}
	return errs
}

// clientLife returns the context of the clients of one owner (a task's
// run, a connector instance) and the function that ends it: at the owner's
// stop deadline, and once its clients are closed; hard, the worker's stop
// deadline, ends it too. A kgo client whose context ended fails what it
// still waits for, and its Close returns at once; otherwise Close waits up
// to a second for a fetch session's end and another for a last
// client-metrics push to a broker that does not answer, one client after
// the other, past the deadline.
func clientLife(hard context.Context) (context.Context, func()) {
	return context.WithCancel(hard)
}

// stopConnector stops a connector instance with what is left of the
// worker's one deadline (or ShutdownTimeout, when only the connector
// stops); endClients ends its clients' life at the deadline.
func (w *Worker) stopConnector(hard context.Context, conn Connector, endClients func()) error {
	sctx, cancel := context.WithTimeout(hard, w.cfg.ShutdownTimeout)
	defer cancel()
	stop := context.AfterFunc(sctx, endClients)
	defer func() {
		stop()
		endClients()
	}()
	return conn.Stop(sctx)
}

// shutdownConnector ends a connector's run at the worker's stop, its tasks
// stopped: it stops the connector instance (with what is left of the
// worker's one deadline) and returns the run's errors.
func (w *Worker) shutdownConnector(hard context.Context, spec ConnectorSpec, log hclog.Logger, conn Connector, endClients func(), connErr error, taskErrs []error) error {
	if conn != nil {
		if err := w.stopConnector(hard, conn, endClients); err != nil {
			taskErrs = append(taskErrs, fmt.Errorf("stop connector: %w", err))
		}
		log.Info("connector stopped")
	}
	w.setStatus(spec, func(cs *ConnectorStatus) {
		if cs.State != StateFailed {
			cs.State = StateStopped
		}
	})
	if connErr != nil {
		taskErrs = append([]error{connErr}, taskErrs...)
	}
	if len(taskErrs) > 0 {
		return fmt.Errorf("connector %s (%s): %w", spec.Name, spec.Herder(), errors.Join(taskErrs...))
	}
	return nil
}

// cmpErr is err's text, or else alt.
func cmpErr(err error, alt string) string {
	if err != nil {
		return err.Error()
	}
	return alt
}
