package connect

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mm2go/mm2go/connect/group"
)

// Health is whether the worker is ready, in the shape of Connect's
// GET /health (KIP-1017): Status is "healthy", "starting" or "unhealthy",
// Message says why.
type Health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// Healthy reports whether the status is "healthy".
func (h Health) Healthy() bool { return h.Status == "healthy" }

// Health says whether the worker is ready to do its work:
//
//   - starting: Run was not called yet, or a connector has not started
//     (its source offsets cannot be read yet, or its start is being
//     retried); the message names each and why;
//   - unhealthy: the worker is stopping, it is not a member of its group
//     right now (Group().Err, rejoining), or a connector or task has had no
//     answer from one of its clusters for WorkerConfig.UnreachableAfter
//     (UNREACHABLE);
//   - healthy otherwise. Connectors the operator stopped or paused, failed
//     tasks (which restart by themselves and show in the status), and a
//     worker whose flow file is not yet the group's (it waits its turn in
//     a rolling update: were it not ready, Kubernetes would wait for it and
//     never restart the leader) do not make a worker unhealthy; the message
//     says so.
//
// Only the connectors the group gives this worker count.
func (w *Worker) Health() Health {
	switch w.ctl.phase.Load() {
	case phaseNew:
		return Health{"starting", "Worker is still starting up. It has not started its flows yet."}
	case phaseStopping, phaseStopped:
		return Health{"unhealthy", "Worker is stopping."}
	}
	view := w.Group()
	waiting := ""
	if err := view.Err(); err != nil {
		var mismatch *group.ConfigMismatchError
		if !errors.As(err, &mismatch) {
			return Health{"unhealthy", "Worker cannot run its share of the group's work: " + err.Error()}
		}
		waiting = " It runs nothing while it waits for the group: " + err.Error()
	}
	self := view.Self().WorkerID
	var starting, unreachable []string
	for _, cs := range w.own() {
		name := cs.ConnectName()
		switch cs.State {
		case StateStopped:
			continue
		case StateUnassigned:
			if m, ok := view.OwnerOf(ConnectorUnit(cs.Source, cs.Target, cs.Name)); !ok || m.WorkerID != self {
				continue // another worker's, or nobody's right now
			}
			s := name + " has not started yet"
			if cs.Error != "" {
				s += ": " + firstLineOf(cs.Error)
			}
			starting = append(starting, s)
			continue
		case StateUnreachable:
			unreachable = append(unreachable, name+": "+firstLineOf(cs.Error))
		}
		for _, ts := range cs.Tasks {
			if ts.State == StateUnreachable {
				unreachable = append(unreachable, fmt.Sprintf("%s task %d: %s", name, ts.ID, firstLineOf(ts.Error)))
			}
		}
	}
	switch {
	case len(unreachable) > 0:
		return Health{"unhealthy", "Worker cannot reach its clusters: " + strings.Join(unreachable, "; ")}
	case len(starting) > 0:
		return Health{"starting", "Worker is still starting up. " + strings.Join(starting, "; ")}
	}
	return Health{"healthy", "Worker has completed startup and is ready to handle requests." + waiting}
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// health answers GET /health: 200 when healthy, 503 otherwise, with the
// reason (readiness).
func (a *restAPI) health(rw http.ResponseWriter) {
	h := a.w.Health()
	code := http.StatusOK
	if !h.Healthy() {
		code = http.StatusServiceUnavailable
	}
	writeJSON(rw, code, h)
}

// liveTimeout bounds how long GET /health/live waits for the worker's
// state.
const liveTimeout = 5 * time.Second

// live answers GET /health/live: 200 while the worker's state answers
// (liveness; a worker that cannot reach its clusters is alive, and
// restarting it would not help), 500 if it does not within 5s (a worker
// stuck for good).
func (a *restAPI) live(rw http.ResponseWriter) {
	done := make(chan struct{})
	go func() {
		a.w.Status()
		close(done)
	}()
	t := time.NewTimer(liveTimeout)
	defer t.Stop()
	select {
	case <-done:
		writeJSON(rw, http.StatusOK, Health{"healthy", "Worker is alive."})
	case <-t.C:
		writeJSON(rw, http.StatusInternalServerError, Health{"unhealthy",
			fmt.Sprintf("Worker did not report its state within %v: it is stuck.", liveTimeout)})
	}
}
