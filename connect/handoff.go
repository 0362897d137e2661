package connect

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Revoker is an optional interface of a Connector whose tasks share out
// units of work that two tasks must never hold at once: MirrorSource's
// source partitions, whose offsets each task commits. When new task configs
// move work from one task to another, the worker hands it over in two steps
// (see revoke): first every task that loses work gets the props Revoked
// returns and flushes and commits, or stops if it goes away; only then do
// the tasks get their new configs. The new task of a unit so starts where
// the old one stopped, and a graceful move copies nothing twice.
type Revoker interface {
	// Revoked returns the props under which task id, running with old,
	// holds only the work it keeps under new; new is nil when the task goes
	// away. Returning old means the task gives up nothing. It is called
	// from the connector's goroutine, right after TaskConfigs, and must not
	// block on the network.
	Revoked(id int, old, new Props) Props
}

// reconfigRequest is a new config for a Reconfigurable task. With done set,
// the runner flushes its producer and commits source offsets after
// Reconfigure, and answers on done (buffered) when that is done or failed.
type reconfigRequest struct {
	props Props
	done  chan error
}

// revoke is the first half of a hand-off of work between tasks (the second
// is giving the tasks their new configs, cfgs): every running task that
// loses work under cfgs gives it up, with the props the connector's Revoked
// returns, and flushes and commits; every task that goes away (an id past
// cfgs), and every task whose config changes but that cannot be
// reconfigured, is stopped, which flushes and commits too. revoke returns
// once all of them are done, with the ids of the tasks it stopped; a task
// that failed meanwhile counts as done.
//
// Several worker processes sharing tasks need the same guarantee across
// processes (revoke, flush, commit, then assign): this is the step to reuse.
func revoke(conn Connector, tasks map[int]*taskRunner, cancels map[*taskRunner]context.CancelFunc, cfgs []Props, log hclog.Logger) (stopped []int) {
	began := time.Now()
	rv, _ := conn.(Revoker)
	type handing struct {
		t    *taskRunner
		done chan error
	}
	var (
		waits    []handing
		stopping []*taskRunner
	)
	for id, t := range tasks {
		var next Props
		if id < len(cfgs) {
			next = cfgs[id]
			if propsEqual(t.props, next) {
				continue
			}
		}
		if next == nil || !isReconfigurable(t.task) {
			stopping = append(stopping, t)
			stopped = append(stopped, id)
		}
		if rv == nil || !isReconfigurable(t.task) {
			continue // stopped below, or reconfigured in one step
		}
		// A task that goes away gets its last props too: the connector may
		// have work for it to close (MirrorSource: partitions that left the
		// source).
		keep := rv.Revoked(id, t.props, next)
		if propsEqual(keep, t.props) {
			continue
		}
		done := make(chan error, 1)
		select {
		case t.reconfig <- reconfigRequest{props: keep, done: done}:
			t.props = keep
			waits = append(waits, handing{t, done})
		case <-t.done:
		}
	}
	for _, t := range stopping {
		if !slices.ContainsFunc(waits, func(h handing) bool { return h.t == t }) {
			cancels[t]() // stop the others in parallel with the hand-offs
		}
	}
	for _, h := range waits {
		select {
		case err := <-h.done:
			if err != nil {
				log.Warn("task could not commit the work it gave up; its new task may copy some records again",
					"task", h.t.id, "error", err)
			}
		case <-h.t.done:
		}
	}
	for _, t := range stopping {
		cancels[t]()
		<-t.done
	}
	if len(waits)+len(stopping) > 0 {
		log.Info("work handed over between tasks: the tasks that gave it up committed it",
			"revoked_tasks", len(waits), "stopped_tasks", len(stopping), "took", time.Since(began))
	}
	return stopped
}

// handOff flushes the producer and commits after a Reconfigure that took
// work away from the task, so that its new task starts where this one
// stopped. ShutdownTimeout bounds it.
func (r *taskRunner) handOff(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, r.cfg.ShutdownTimeout)
	defer cancel()
	if r.txn != nil {
		return r.handOffTxn(ctx, hctx)
	}
	for _, p := range []*kgo.Client{r.prod, r.large} {
		if p == nil {
			continue
		}
		if err := p.Flush(hctx); err != nil {
			return fmt.Errorf("flush producer of task %s: %w", r.name(), err)
		}
	}
	return r.commit(hctx)
}
