package connectors

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mm2go/mm2go/connect"
)

func partitionsOf(topic string, n int32) []topicPartition {
	out := make([]topicPartition, n)
	for p := range n {
		out[p] = topicPartition{topic, p}
	}
	return out
}

// assignment returns TaskConfigs(maxTasks) of m as task -> assigned
// partitions, and the ended partitions per task.
func assignment(t *testing.T, m *MirrorSource, parts []topicPartition, maxTasks int) (assigned, ended []string) {
	t.Helper()
	slices.SortFunc(parts, compareTP)
	m.mu.Lock()
	m.parts = parts
	m.mu.Unlock()
	cfgs, err := m.TaskConfigs(maxTasks)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range cfgs {
		if p[KeyTaskIndex] != string(rune('0'+i)) {
			t.Fatalf("task %d has %s=%s", i, KeyTaskIndex, p[KeyTaskIndex])
		}
		assigned = append(assigned, p[KeyAssignedPartitions])
		ended = append(ended, p[KeyEndedPartitions])
	}
	return assigned, ended
}

func ownersOf(assigned []string) map[string]int {
	out := make(map[string]int)
	for task, list := range assigned {
		for tp := range strings.SplitSeq(list, ",") {
			if tp != "" {
				out[tp] = task
			}
		}
	}
	return out
}

func moves(before, after map[string]int) int {
	n := 0
	for tp, task := range before {
		if other, ok := after[tp]; ok && other != task {
			n++
		}
	}
	return n
}

func TestMirrorSource_StickyAssignment(t *testing.T) {
	m := &MirrorSource{cc: &connect.ConnectorContext{Props: connect.Props{}}}
	m1 := partitionsOf("m", 4)
	got, _ := assignment(t, m, slices.Clone(m1), 2)
	if want := []string{"m-0,m-2", "m-1,m-3"}; !slices.Equal(got, want) {
		t.Fatalf("first assignment = %q, want %q (round robin)", got, want)
	}
	before := ownersOf(got)

	// A topic that sorts first: nothing moves; its partitions go to the
	// task with fewer partitions, the lower index on a tie.
	withA := append(partitionsOf("a-first", 3), m1...)
	got, _ = assignment(t, m, withA, 2)
	if want := []string{"a-first-0,a-first-2,m-0,m-2", "a-first-1,m-1,m-3"}; !slices.Equal(got, want) {
		t.Fatalf("after a topic sorting first = %q, want %q", got, want)
	}
	if n := moves(before, ownersOf(got)); n != 0 {
		t.Fatalf("%d partitions changed task when a topic was added, want 0", n)
	}

	// A topic leaves: its partitions just leave, listed as ended in the
	// configs of the tasks that held them; the others stay.
	before = ownersOf(got)
	got, ended := assignment(t, m, slices.Clone(m1), 2)
	if want := []string{"m-0,m-2", "m-1,m-3"}; !slices.Equal(got, want) {
		t.Fatalf("after a topic left = %q, want %q", got, want)
	}
	if want := []string{"a-first-0,a-first-2", "a-first-1"}; !slices.Equal(ended, want) {
		t.Fatalf("ended = %q, want %q", ended, want)
	}
	if _, ended = assignment(t, m, slices.Clone(m1), 2); !slices.Equal(ended, []string{"", ""}) {
		t.Fatalf("ended partitions listed again: %q", ended)
	}
	if n := moves(before, ownersOf(got)); n != 0 {
		t.Fatalf("%d partitions changed task when a topic left, want 0", n)
	}
}

// TestMirrorSource_AssignmentWhenTasksChange raises and lowers tasks.max:
// tasks stay within one partition of each other, and only the partitions
// that must move do (a task that goes away gives up all of its own, a task
// above its share only the excess).
func TestMirrorSource_AssignmentWhenTasksChange(t *testing.T) {
	m := &MirrorSource{cc: &connect.ConnectorContext{Props: connect.Props{}}}
	parts := partitionsOf("t", 6)
	prev, _ := assignment(t, m, slices.Clone(parts), 2)
	for _, tc := range []struct {
		tasks int
		want  []string
		moves int
	}{
		{3, []string{"t-0,t-2", "t-1,t-3", "t-4,t-5"}, 2},
		{1, []string{"t-0,t-1,t-2,t-3,t-4,t-5"}, 4},
		{2, []string{"t-0,t-1,t-2", "t-3,t-4,t-5"}, 3},
		{4, []string{"t-0,t-1", "t-3,t-4", "t-2", "t-5"}, 2},
		{4, []string{"t-0,t-1", "t-3,t-4", "t-2", "t-5"}, 0},
		{9, []string{"t-0", "t-3", "t-2", "t-5", "t-1", "t-4"}, 2},
	} {
		got, _ := assignment(t, m, slices.Clone(parts), tc.tasks)
		if !slices.Equal(got, tc.want) {
			t.Fatalf("tasks.max %d: assignment %q, want %q", tc.tasks, got, tc.want)
		}
		if n := moves(ownersOf(prev), ownersOf(got)); n != tc.moves {
			t.Fatalf("tasks.max %d: %d partitions moved, want %d", tc.tasks, n, tc.moves)
		}
		prev = got
	}
}

func TestMirrorSource_Revoked(t *testing.T) {
	m := &MirrorSource{cc: &connect.ConnectorContext{Props: connect.Props{"x": "y"}}}
	m.ended = map[int][]topicPartition{2: {{"gone", 0}}}
	old := connect.Props{"x": "y", KeyTaskIndex: "1", KeyAssignedPartitions: "a-0,a-1,b-0", KeyEndedPartitions: "old-0"}
	new := connect.Props{"x": "y", KeyTaskIndex: "1", KeyAssignedPartitions: "a-1,c-0", KeyEndedPartitions: "b-1"}
	got := m.Revoked(1, old, new)
	want := connect.Props{"x": "y", KeyTaskIndex: "1", KeyAssignedPartitions: "a-1", KeyEndedPartitions: "b-1"}
	if !maps.Equal(got, want) {
		t.Fatalf("Revoked(task staying) = %v, want %v", got, want)
	}
	old[KeyTaskIndex] = "2"
	got = m.Revoked(2, old, nil)
	want = connect.Props{"x": "y", KeyTaskIndex: "2", KeyAssignedPartitions: "", KeyEndedPartitions: "gone-0"}
	if !maps.Equal(got, want) {
		t.Fatalf("Revoked(task going away) = %v, want %v", got, want)
	}
	if got := m.Revoked(1, old, connect.Props{KeyAssignedPartitions: old[KeyAssignedPartitions]}); !maps.Equal(got, old) {
		t.Fatalf("Revoked(same partitions, nothing ended) = %v, want the props unchanged (no hand-off)", got)
	}
	if got := m.Revoked(1, new, new); !maps.Equal(got, new) {
		t.Fatalf("Revoked(nothing moves) = %v, want the props unchanged", got)
	}
}

func TestMirrorSource_EndedAtStartGoToTaskZero(t *testing.T) {
	m := &MirrorSource{cc: &connect.ConnectorContext{Props: connect.Props{}}}
	m.endedAtStart = []topicPartition{{"re", 2}, {"re", 3}}
	_, ended := assignment(t, m, partitionsOf("re", 2), 2)
	if want := []string{"re-2,re-3", ""}; !slices.Equal(ended, want) {
		t.Fatalf("ended = %q, want %q", ended, want)
	}
}

func TestParseTaskLists(t *testing.T) {
	if _, err := parseEnded("a-x"); err == nil || !strings.Contains(err.Error(), KeyEndedPartitions) {
		t.Errorf("parseEnded(a-x) error = %v, want one naming %s", err, KeyEndedPartitions)
	}
	ids, err := parseTopicIDs("t=r6OFzo_NgAlXNOFLTv9byQ,u.v=AAAAAAAAAAAAAAAAAAAAAQ")
	if err != nil || len(ids) != 2 || topicIDString(ids["t"]) != "r6OFzo_NgAlXNOFLTv9byQ" || ids["u.v"][15] != 1 {
		t.Errorf("parseTopicIDs = %v, %v", ids, err)
	}
	for _, bad := range []string{"t", "t=", "=r6OFzo_NgAlXNOFLTv9byQ", "t=r6OFzo_NgAlXNOFLTv9by", "t=r6OFzo/NgAlXNOFLTv9byQ=="} {
		if _, err := parseTopicIDs(bad); err == nil || !strings.Contains(err.Error(), KeyTopicIDs) {
			t.Errorf("parseTopicIDs(%q) error = %v, want one naming %s", bad, err, KeyTopicIDs)
		}
	}
	if id := storedTopicID(connect.OffsetValue{Fields: []connect.OffsetField{connect.StrField(OffsetFieldTopicID, "not base64!")}}); id != noTopicID {
		t.Errorf("storedTopicID of a bad value = %x, want zero", id)
	}
}
