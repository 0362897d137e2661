package connect

import (
	"strings"
	"testing"
)

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

func TestUnitsOfSpecs(t *testing.T) {
	specs := []ConnectorSpec{
		{Name: "MirrorSourceConnector", Source: "A", Target: "B", Props: Props{"tasks.max": "2"}},
		{Name: "MirrorHeartbeatConnector", Source: "A", Target: "B"},
	}
	units, err := unitsOf(specs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A->B/MirrorSourceConnector", "A->B/MirrorSourceConnector/0", "A->B/MirrorSourceConnector/1",
		"A->B/MirrorHeartbeatConnector", "A->B/MirrorHeartbeatConnector/0"}
	if strings.Join(units, " ") != strings.Join(want, " ") {
		t.Errorf("units = %v, want %v", units, want)
	}
	byID := map[string]ConnectorSpec{specs[0].id(): specs[0], specs[1].id(): specs[1]}
	for unit, want := range map[string]struct {
		conn string
		task int
	}{
		"A->B/MirrorSourceConnector":   {"A->B/MirrorSourceConnector", -1},
		"A->B/MirrorSourceConnector/1": {"A->B/MirrorSourceConnector", 1},
	} {
		if c, task := splitUnit(unit, byID); c != want.conn || task != want.task {
			t.Errorf("splitUnit(%s) = %s %d, want %s %d", unit, c, task, want.conn, want.task)
		}
	}
	_, err = unitsOf([]ConnectorSpec{{Name: "X", Source: "A", Target: "B", Props: Props{"tasks.max": "0"}}})
	if err == nil || !strings.Contains(err.Error(), "tasks.max: 0 is not a positive number") {
		t.Errorf("unitsOf(tasks.max 0) = %v, want an error naming tasks.max", err)
	}
}
