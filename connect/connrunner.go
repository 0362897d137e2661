package connect

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runConnector starts one connector (retrying retriable start errors), runs
// its tasks, applies reconfiguration requests, and stops everything when ctx
// is cancelled. It returns the connector's or its tasks' fatal errors.
func (w *Worker) runConnector(ctx context.Context, spec ConnectorSpec, store *offsetStore) error {
	log := w.log.Named("connector").With("connector", spec.Name, "source", spec.Source, "target", spec.Target)
	newFn, _ := w.reg.lookup(spec.Class)
	conn := newFn()
	reconf := make(chan struct{}, 1)
	cc := &ConnectorContext{
		Name: spec.Name, Source: spec.Source, Target: spec.Target,
		Props: spec.Props.Clone(), Logger: log, newClient: spec.clients(w.clientsOf(w.connectorReach(spec), spec, -1)),
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
	connDone := make(chan struct{})
	defer close(connDone)
	var taskErrs []error
	stopTask := func(t *taskRunner, cancel context.CancelFunc) {
		cancel()
		<-t.done
	}
	cancels := make(map[*taskRunner]context.CancelFunc)
	startTask := func(id int, props Props) {
		tctx, cancel := context.WithCancel(ctx)
		t := w.newTaskRunner(spec, id, props, conn, store, log)
		tasks[id] = t
		cancels[t] = cancel
		w.setTask(spec, TaskStatus{ID: id, State: StateRunning}, t)
		go func() {
			t.err = t.run(tctx)
			close(t.done)
			select {
			case taskDone <- t:
			case <-connDone:
			}
		}()
	}
	apply := func() {
		cfgs, err := conn.TaskConfigs(int(maxTasks))
		if err != nil {
			log.Warn("task configs not ready; will retry at the next refresh", "error", err)
			return
		}
		for id, props := range cfgs {
			t, ok := tasks[id]
			switch {
			case ok && propsEqual(t.props, props):
			case ok && isReconfigurable(t.task):
				select {
				case t.reconfig <- props:
					t.props = props
				case <-t.done:
				}
			case ok:
				stopTask(t, cancels[t])
				delete(cancels, t)
				startTask(id, props)
			default:
				startTask(id, props)
			}
		}
		for id, t := range tasks {
			if id >= len(cfgs) {
				stopTask(t, cancels[t])
				delete(cancels, t)
				delete(tasks, id)
				w.removeTask(spec, id)
			}
		}
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
				w.finishTask(spec, t, log)
				if t.err != nil {
					taskErrs = append(taskErrs, t.err)
				}
			}
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
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownTimeout)
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

func (w *Worker) newTaskRunner(spec ConnectorSpec, id int, props Props, conn Connector, store *offsetStore, log hclog.Logger) *taskRunner {
	tlog := log.With("task", id)
	parts := newPartitionTable(store.get)
	stats := &TaskStats{m: newTaskMetrics(parts)}
	clients := w.clientsOf(stats.m.reach, spec, id)
	return &taskRunner{
		cfg: &w.cfg, spec: spec, id: id, task: conn.NewTask(), store: store, log: tlog,
		stats: stats, props: props, reconfig: make(chan Props), done: make(chan struct{}),
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

// finishTask records how a task ended.
func (w *Worker) finishTask(spec ConnectorSpec, t *taskRunner, log hclog.Logger) {
	st := TaskStatus{ID: t.id, State: StateStopped}
	if t.err != nil {
		st.State, st.Error = StateFailed, t.err.Error()
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
