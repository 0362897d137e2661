package connect

import (
	"context"
	"strconv"
)

// GroupMember is one worker of a worker group, as the REST API shows it.
type GroupMember struct {
	// WorkerID names the worker: host:port of its REST listener, or
	// hostname/pid without one. It is Connect's worker_id.
	WorkerID string `json:"worker_id"`
	// URL is the worker's REST URL ("http://host:port"), "" when it serves
	// no REST API: requests for its units cannot be forwarded to it.
	URL string `json:"url,omitempty"`
	// MemberID is the id the group coordinator gave the worker.
	MemberID string `json:"member_id,omitempty"`
	// Config names the worker's configuration: the fingerprint of its flow
	// file ("sha256 0123456789ab (flows.yaml)").
	Config string `json:"config,omitempty"`
}

// GroupView is what one worker knows of its group: who is in it, who leads,
// and which worker runs each unit. Units are named as the group assigns
// them: a connector "A->B/MirrorSourceConnector" (ConnectorUnit) and a task
// "A->B/MirrorSourceConnector/0" (TaskUnit). The REST API answers for the
// whole group with it and forwards a request about a unit (restart, say)
// to the worker that runs it.
//
// A worker that runs alone (Worker.Run) has a view too: a group of one that
// leads itself and runs every unit. Methods are safe for concurrent use and
// do not block on the network.
type GroupView interface {
	// Self is this worker.
	Self() GroupMember
	// Members are the workers of the current generation, sorted by
	// WorkerID; Self is among them once it joined.
	Members() []GroupMember
	// Leader is the worker that computed the current assignment; false
	// before the first assignment.
	Leader() (GroupMember, bool)
	// OwnerOf returns the worker that runs unit, as the group last said
	// (each worker publishes what it runs); false when no worker runs it
	// (not assigned yet, or moving between workers).
	OwnerOf(unit string) (GroupMember, bool)
	// Err is nil while this worker runs its share of the units. Otherwise
	// it says why it runs nothing: its flow file differs from the group's
	// (the message names the group's configuration and the worker it
	// came from), or it is not a member right now (rejoining).
	Err() error
}

// ConnectorUnit names a connector as the group assigns it:
// "<source>-><target>/<name>".
func ConnectorUnit(source, target, name string) string {
	return source + "->" + target + "/" + name
}

// TaskUnit names task id of a connector as the group assigns it:
// "<source>-><target>/<name>/<id>".
func TaskUnit(source, target, name string, id int) string {
	return ConnectorUnit(source, target, name) + "/" + strconv.Itoa(id)
}

// TargetState is the state an operator asks a connector and its tasks to
// be in, as Connect names it.
type TargetState string

const (
	TargetStarted TargetState = "STARTED" // run (the default)
	TargetPaused  TargetState = "PAUSED"  // tasks stop copying; the connector stays
	TargetStopped TargetState = "STOPPED" // connector and tasks stopped
)

// TargetStates keeps the target state of each connector for the whole
// group. In a group it is a record in the group's config topic, so it
// survives restarts and follows a connector or task to whichever worker
// runs it next; every worker applies it to the units it runs.
type TargetStates interface {
	// SetTargetState records the target state of a connector
	// (ConnectorUnit) and returns once it is durable; the workers that
	// run its units apply it soon after.
	SetTargetState(ctx context.Context, connector string, s TargetState) error
	// TargetState returns the connector's target state; TargetStarted
	// when none was set.
	TargetState(connector string) TargetState
}

// Group returns the worker's view of its group. While the worker runs alone
// (Run) it is a group of one that leads itself and runs every unit it
// knows; under RunGroup it is the live view of the group.
func (w *Worker) Group() GroupView {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.view != nil {
		return w.view
	}
	return aloneView{w}
}

// aloneView is the GroupView of a worker that runs alone.
type aloneView struct{ w *Worker }

func (v aloneView) Self() GroupMember           { return GroupMember{WorkerID: v.w.workerID()} }
func (v aloneView) Members() []GroupMember      { return []GroupMember{v.Self()} }
func (v aloneView) Leader() (GroupMember, bool) { return v.Self(), true }
func (v aloneView) Err() error                  { return nil }
func (v aloneView) OwnerOf(unit string) (GroupMember, bool) {
	v.w.mu.Lock()
	defer v.w.mu.Unlock()
	for id, cs := range v.w.status {
		if unit == id {
			return v.Self(), true
		}
		for _, t := range cs.Tasks {
			if unit == id+"/"+strconv.Itoa(t.ID) {
				return v.Self(), true
			}
		}
	}
	return GroupMember{}, false
}
