package connect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mm2go/mm2go/connect/group"
)

// This file runs the units the group gives this worker, connectors
// (runConnector) and tasks (runTask), and applies control requests to them
// as a worker alone does (control.go): target states come from the
// group's config topic (follow), restarts from the REST API through the
// reconcile loop (takeRestarts, dispatchRestarts) to the unit's run.

// restartWaiters are restart requests a unit's run answers once it runs
// again.
type restartWaiters []chan error

func (p *restartWaiters) answer(err error) {
	for _, d := range *p {
		d <- err
	}
	*p = nil
}

// follow applies what the config topic says to the connectors' control
// handles until ctx ends: the task configs each connector runs (the REST
// API shows them on every worker) and whether its tasks pause.
func (g *groupRun) follow(ctx context.Context) {
	for {
		ch := g.ct.changed()
		for unit, spec := range g.specs {
			h := g.w.ctl.register(spec)
			state := g.ct.targetState(unit)
			if rec, ok := g.ct.taskConfigs(unit); ok && state != TargetStopped {
				h.setTaskProps(rec.Tasks)
			} else {
				h.setTaskProps(nil)
			}
			h.setPaused(state == TargetPaused)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// takeRestarts hands the restart requests queued for h's connector to the
// reconcile loop until ctx ends (what is queued after that, RunGroup
// refuses at its end).
func (g *groupRun) takeRestarts(ctx context.Context, h *connControl) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		reqs := h.takeRestarts()
		if len(reqs) == 0 {
			continue // a target state set: follow applies it
		}
		select {
		case g.restarts <- connRestarts{connector: h.spec.id(), reqs: reqs}:
		case <-ctx.Done():
			for _, r := range reqs {
				r.finish(conflict("Connector %s did not restart: the worker is stopping", connectName(h.spec.Source, h.spec.Target, h.spec.Name)))
			}
			return
		}
	}
}

// dispatchRestarts hands each restart request to the runs of the units it
// names; a request is answered once all of them run again, or with why
// one cannot (it does not run here).
func (g *groupRun) dispatchRestarts(b connRestarts) {
	for _, req := range b.reqs {
		var units []string
		if req.connector {
			units = append(units, b.connector)
		}
		for _, id := range req.tasks {
			units = append(units, b.connector+"/"+strconv.Itoa(id))
		}
		var (
			waits []chan error
			errs  []error
		)
		for _, u := range units {
			r := g.running[u]
			if r == nil || r.stopping {
				errs = append(errs, conflict("%s does not run on this worker now (it moved, or is moving, to another worker); try again", u))
				continue
			}
			done := make(chan error, 1)
			select {
			case r.restart <- done:
				waits = append(waits, done)
			default:
				errs = append(errs, conflict("%s has too many restarts queued; try again once they are done", u))
			}
		}
		if len(waits) == 0 {
			req.finish(errors.Join(errs...))
			continue
		}
		// Every done is answered: by the run, or by unitFinished.
		go func() {
			for _, d := range waits {
				errs = append(errs, <-d)
			}
			req.finish(errors.Join(errs...))
		}()
	}
}

// runConnector runs a connector unit: it starts the connector, gives it
// the task configs the group runs now (TaskConfigHistory), and writes its
// task configs to the config topic whenever they change, each write
// allowed only while this worker owns the connector. It follows the
// connector's target state (STOPPED stops it) and restarts it on request.
func (g *groupRun) runConnector(ctx, hard context.Context, o group.Ownership, r *unitRun, spec ConnectorSpec, owns func() (time.Time, bool)) {
	w := g.w
	log := w.log.Named("connector").With("connector", spec.Name, "source", spec.Source, "target", spec.Target, "generation", o.Generation)
	unit := spec.id()
	maxTasks, _ := spec.Props.Int("tasks.max", 1) // checked by unitsOf
	var waiting restartWaiters
	defer func() {
		waiting.answer(conflict("Connector %s stopped on this worker before it restarted (it moves to another worker, or the worker stops); try again",
			connectName(spec.Source, spec.Target, spec.Name)))
	}()
	for ctx.Err() == nil {
		// A stopped connector does not run until it is resumed.
		if g.ct.targetState(unit) == TargetStopped {
			w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error, cs.WorkerID = StateStopped, "", g.self.WorkerID })
			g.publish(unit, o.Generation, StateStopped, "")
			waiting.answer(nil) // a stopped connector is not restarted (resume it), as alone
			for {
				ch := g.ct.changed()
				if ctx.Err() != nil || g.ct.targetState(unit) != TargetStopped {
					break
				}
				select {
				case <-ch:
				case d := <-r.restart:
					d <- nil
				case <-ctx.Done():
				}
			}
			continue
		}
		g.runConnectorOnce(ctx, hard, o, r, spec, int(maxTasks), owns, log, &waiting)
	}
	w.setStatus(spec, func(cs *ConnectorStatus) {
		if cs.WorkerID == g.self.WorkerID {
			cs.State, cs.Error, cs.WorkerID = StateUnassigned, "", ""
		}
	})
}

// runConnectorOnce runs one instance of the connector until ctx ends, its
// target state becomes STOPPED or a restart is asked for (added to
// waiting, which the next instance answers once it started).
func (g *groupRun) runConnectorOnce(ctx, hard context.Context, o group.Ownership, r *unitRun, spec ConnectorSpec, maxTasks int,
	owns func() (time.Time, bool), log hclog.Logger, waiting *restartWaiters) {
	w := g.w
	unit := spec.id()
	store := g.store(ctx, spec, log)
	if store == nil {
		return
	}
	newFn, _ := w.reg.lookup(spec.Class)
	conn := newFn()
	reconf := make(chan struct{}, 1)
	life, endClients := clientLife(hard)
	defer endClients()
	cc := &ConnectorContext{
		Name: spec.Name, Source: spec.Source, Target: spec.Target,
		Props: spec.Props.Clone(), Logger: log, newClient: spec.clients(w.clientsOf(life, w.connectorReach(spec), spec, -1)), offsets: store,
		reconfigure: func() {
			select {
			case reconf <- struct{}{}:
			default:
			}
		},
	}
	bo := backoff{max: w.cfg.RetryBackoffMax}
	for {
		ch := g.ct.changed()
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
			waiting.answer(nil) // it restarted, and failed: the status says why
			for {
				select {
				case <-ctx.Done():
					return
				case d := <-r.restart:
					log.Info("restarting connector on request")
					*waiting = append(*waiting, d)
					return
				case <-ch:
					if g.ct.targetState(unit) == TargetStopped {
						return
					}
					ch = g.ct.changed()
				}
			}
		}
		d := bo.next()
		log.Warn("connector start failed; retrying", "error", err, "backoff", d)
		w.setStatus(spec, func(cs *ConnectorStatus) { cs.Error, cs.WorkerID = err.Error(), g.self.WorkerID })
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case dn := <-r.restart: // the next try is the restart
			timer.Stop()
			*waiting = append(*waiting, dn)
		case <-ch:
			timer.Stop()
			if g.ct.targetState(unit) == TargetStopped {
				return
			}
		}
	}
	defer func() {
		if err := w.stopConnector(hard, conn, endClients); err != nil {
			log.Warn("stopping the connector failed", "error", err)
		}
		log.Info("connector stopped")
	}()
	log.Info("connector started")
	var shown State
	show := func(target TargetState) {
		st := StateRunning
		if target == TargetPaused {
			st = StatePaused
		}
		if st != shown {
			shown = st
			w.setStatus(spec, func(cs *ConnectorStatus) { cs.State, cs.Error, cs.WorkerID = st, "", g.self.WorkerID })
			g.publish(unit, o.Generation, st, "")
		}
	}
	show(g.ct.targetState(unit))
	waiting.answer(nil)

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
		ch := g.ct.changed()
		target := g.ct.targetState(unit)
		if target == TargetStopped {
			log.Info("stopping connector: its target state is STOPPED")
			return
		}
		show(target)
		select {
		case <-ctx.Done():
			return
		case d := <-r.restart:
			log.Info("restarting connector on request")
			*waiting = append(*waiting, d)
			return
		case <-ch:
			continue
		case <-reconf:
		case <-retry.C:
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
	cur, known := g.ct.taskConfigs(unit)
	if known && slices.EqualFunc(cur.Tasks, cfgs, propsEqual) {
		return nil
	}
	until, ok := owns()
	if !ok {
		return errNotOwner
	}
	if spec := g.specs[unit]; known {
		if txn, _ := txnConfigOf(&g.w.cfg, spec); txn != nil {
			fctx, cancel := context.WithDeadline(ctx, until)
			err := g.w.fenceChangedTasks(fctx, spec, txn.groupID, cur.Tasks, cfgs)
			cancel()
			if err != nil {
				return fmt.Errorf("exactly-once: fence the tasks whose configs change: %w", err)
			}
		}
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
// committed source offsets, pauses it in place while its connector is
// PAUSED, stops it while the connector is STOPPED, restarts it when its
// config changes, on request, and after a failure (with backoff), and
// stops it when ctx ends.
func (g *groupRun) runTask(ctx, hard context.Context, o group.Ownership, r *unitRun, spec ConnectorSpec, id int, owns func() (time.Time, bool)) {
	w := g.w
	unit := spec.id()
	h := w.ctl.register(spec)
	log := w.log.Named("connector").With("connector", spec.Name, "source", spec.Source, "target", spec.Target, "generation", o.Generation)
	newFn, _ := w.reg.lookup(spec.Class)
	stats := &TaskStats{}
	var (
		restarts int64
		lastErr  string
		bo       = backoff{max: w.cfg.RetryBackoffMax, first: w.cfg.firstTaskRestart}
		waiting  restartWaiters
		hidden   bool
	)
	defer func() {
		waiting.answer(conflict("Task %s-%d stopped on this worker before it restarted (it moves to another worker, or the worker stops); try again",
			connectName(spec.Source, spec.Target, spec.Name), id))
	}()
	show := func(st TaskStatus) {
		st.ID, st.WorkerID, st.Restarts = id, g.self.WorkerID, restarts
		if st.LastError == "" {
			st.LastError = lastErr
		}
		w.setTask(spec, st, &taskRunner{stats: stats})
		g.publish(o.Unit, o.Generation, st.State, st.Error)
		hidden = false
	}
	// hide takes the task out of the status: its connector is STOPPED (a
	// stopped connector shows no tasks, as in Connect) or runs fewer tasks.
	hide := func() {
		if !hidden {
			hidden = true
			w.removeTask(spec, id)
			g.unpublish(o.Unit)
		}
	}
	defer w.removeTask(spec, id)
	for ctx.Err() == nil {
		// Wait for a config, and for the connector to run.
		var props Props
		for ctx.Err() == nil {
			ch := g.ct.changed()
			rec, ok := g.ct.taskConfigs(unit)
			switch {
			case g.ct.targetState(unit) == TargetStopped:
				hide()
			case ok && id < len(rec.Tasks):
				props = rec.Tasks[id]
			case ok:
				hide()
			default:
				show(TaskStatus{State: StateUnassigned, Error: "waiting for the connector's task configs"})
			}
			if props != nil {
				break
			}
			waiting.answer(nil) // nothing runs: nothing to restart
			select {
			case <-ch:
			case d := <-r.restart:
				d <- nil
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
		// Start from what the previous owner committed, or from what a
		// run of this worker copied and could not commit (carry.go).
		if err := store.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			d := bo.next()
			log.Warn("reading the committed source offsets failed; retrying", "task", id, "error", err, "backoff", d)
			sleepCtx(ctx, d)
			continue
		}
		if c := g.takeCarry(o.Unit); c != nil {
			if err := g.applyCarry(ctx, spec, id, store, c, owns, log); err != nil {
				g.keepCarry(o.Unit, c)
				if ctx.Err() != nil {
					return
				}
				d := bo.next()
				log.Warn("committing what the task copied before this worker lost its lease failed; retrying", "task", id, "error", err, "backoff", d)
				sleepCtx(ctx, d)
				continue
			}
		}
		t := w.newTaskRunner(spec, id, props, newFn(), store, log, hard, stats)
		t.owns = owns
		if txn, _ := txnConfigOf(&w.cfg, spec); txn != nil { // checked by RunGroup
			// Exactly-once: the task's stable transactional id fences the
			// producer of the worker that ran it before.
			t.txn = &txnState{cfg: txn, id: TransactionalID(txn.groupID, spec.Name, id)}
		}
		t.ctl = &taskControl{conn: h, state: func(s State) {
			w.setTaskState(spec, id, s)
			g.publish(o.Unit, o.Generation, s, "")
		}}
		// Paused from its first poll if its connector is.
		h.setPaused(g.ct.targetState(unit) == TargetPaused)
		tctx, cancel := context.WithCancel(ctx)
		show(TaskStatus{State: StateRunning})
		waiting.answer(nil)
		go func() {
			t.err = t.run(tctx)
			if t.carry != nil {
				g.keepCarry(o.Unit, t.carry)
			}
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
			case d := <-r.restart:
				waiting = append(waiting, d)
				restarts++
				log.Info("restarting task on request", "task", id, "restarts", restarts)
				restart = true
				cancel()
				<-t.done
				break run
			case <-ch:
				rec, ok := g.ct.taskConfigs(unit)
				runs := g.ct.targetState(unit) != TargetStopped // a PAUSED task pauses in place
				if ok && id < len(rec.Tasks) && runs && propsEqual(rec.Tasks[id], props) {
					continue
				}
				if ok && id < len(rec.Tasks) && runs && isReconfigurable(t.task) && t.txn == nil {
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
				if runs {
					// Exactly-once: always a restart, after the connector
					// fenced the task (see fenceChangedTasks).
					log.Info("task config changed; restarting the task", "task", id)
				} else {
					log.Info("stopping the task: its connector's target state is STOPPED", "task", id)
				}
				restart = true
				cancel()
				<-t.done
				break run
			}
		}
		cancel()
		switch {
		case ctx.Err() != nil || restart:
			switch {
			case t.err == nil:
			case errors.Is(t.err, errNotOwner):
				// Fenced: stopped at once, its last commit refused (see
				// carry.go for what becomes of what it copied).
				log.Warn("task stopped without its last commit: this worker no longer owns it", "task", id, "error", t.err)
			default:
				log.Error("task failed", "task", id, "error", t.err)
				if ctx.Err() == nil {
					lastErr = t.err.Error()
					show(TaskStatus{State: StateFailed, Error: lastErr})
				}
			}
		case t.err != nil:
			if time.Since(t.began) >= healthyRun {
				bo.reset()
			}
			lastErr = t.err.Error()
			d := bo.next()
			// Exactly-once: a task fenced because its config changes (see
			// fenceChangedTasks) waits for its new config, which comes
			// right after; it must not copy again under the old one.
			fenced := t.txn != nil && errors.Is(t.err, ErrFenced)
			if fenced {
				d = max(d, min(fencedRestartDelay, w.cfg.RetryBackoffMax))
			}
			log.Error("task failed; restarting it after a backoff", "task", id, "error", t.err, "restart_in", d, "restarts", restarts)
			show(TaskStatus{State: StateFailed, Error: lastErr, NextRestart: time.Now().Add(d)})
			timer := time.NewTimer(d)
		wait:
			for {
				ch := g.ct.changed()
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-timer.C:
					break wait
				case dn := <-r.restart: // restarted on request: now
					timer.Stop()
					waiting = append(waiting, dn)
					break wait
				case <-ch:
					if rec, ok := g.ct.taskConfigs(unit); fenced && (!ok || id >= len(rec.Tasks) || !propsEqual(rec.Tasks[id], props)) {
						timer.Stop()
						break wait
					}
				}
			}
			restarts++
		}
	}
}
