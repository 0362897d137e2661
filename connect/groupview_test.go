package connect

import "testing"

func TestAloneViewOwnsWhatTheWorkerRuns(t *testing.T) {
	w := NewWorker(WorkerConfig{WorkerID: "host:8083"})
	spec := ConnectorSpec{Name: "MirrorSourceConnector", Source: "A", Target: "B"}
	w.setStatus(spec, func(cs *ConnectorStatus) { cs.Tasks = []TaskStatus{{ID: 0}, {ID: 1}} })
	v := w.Group()
	if got := v.Self().WorkerID; got != "host:8083" {
		t.Fatalf("Self = %q, want host:8083", got)
	}
	if l, ok := v.Leader(); !ok || l.WorkerID != "host:8083" {
		t.Fatalf("Leader = %v %v", l, ok)
	}
	for _, u := range []string{ConnectorUnit("A", "B", "MirrorSourceConnector"), TaskUnit("A", "B", "MirrorSourceConnector", 1)} {
		if m, ok := v.OwnerOf(u); !ok || m.WorkerID != "host:8083" {
			t.Errorf("OwnerOf(%s) = %v %v, want this worker", u, m, ok)
		}
	}
	if _, ok := v.OwnerOf(TaskUnit("A", "B", "MirrorSourceConnector", 2)); ok {
		t.Error("OwnerOf(task 2): owned, want not (no such task)")
	}
	if TaskUnit("A", "B", "X", 3) != "A->B/X/3" {
		t.Errorf("TaskUnit = %q", TaskUnit("A", "B", "X", 3))
	}
	if NewWorker(WorkerConfig{}).Group().Self().WorkerID != "mm2go" {
		t.Error("default worker id is not mm2go")
	}
}
