package connect

import (
	"errors"
	"testing"
)

type recordingObserver struct{ pairs [][2]int64 }

func (o *recordingObserver) Acked(u, d int64) { o.pairs = append(o.pairs, [2]int64{u, d}) }

func TestSourcePartition_AcksInOrder(t *testing.T) {
	sp := newSourcePartition([]byte("k"))
	obs := &recordingObserver{}
	sp.SetObserver(obs)
	sp.mu.Lock()
	for _, o := range []int64{5, 6, 7, 10, 11, 20} {
		sp.pushLocked(o)
	}
	sp.mu.Unlock()
	if got := len(sp.runs) - sp.head; got != 3 {
		t.Fatalf("in-flight runs = %d, want 3 (5-7, 10-11, 20)", got)
	}
	if n := sp.InFlight(); n != 6 {
		t.Fatalf("InFlight = %d, want 6", n)
	}
	for d := int64(100); d < 104; d++ {
		sp.ack(d, 0, nil)
	}
	if a := sp.Acked(); a != 10 {
		t.Fatalf("Acked = %d, want 10", a)
	}
	want := [][2]int64{{5, 100}, {6, 101}, {7, 102}, {10, 103}}
	for i, p := range want {
		if obs.pairs[i] != p {
			t.Fatalf("observer pair %d = %v, want %v", i, obs.pairs[i], p)
		}
	}
}

func TestSourcePartition_FailureStopsAcked(t *testing.T) {
	sp := newSourcePartition(nil)
	sp.mu.Lock()
	for o := int64(0); o < 4; o++ {
		sp.pushLocked(o)
	}
	sp.mu.Unlock()
	sp.ack(0, 0, nil)
	sp.ack(1, 0, errors.New("record too large"))
	sp.ack(2, 0, nil) // a later record that succeeded must not move past the failed one
	sp.ack(3, 0, nil)
	if a := sp.Acked(); a != 0 {
		t.Fatalf("Acked = %d after a failure at offset 1, want 0", a)
	}
	if err := sp.failure(); err == nil {
		t.Fatal("failure() = nil, want the produce error")
	}
	sp.ack(9, 0, nil) // nothing in flight: ignored
	if a := sp.Acked(); a != 0 {
		t.Fatalf("Acked = %d, want 0", a)
	}
}

func TestSourcePartition_QueueReusesStorage(t *testing.T) {
	sp := newSourcePartition(nil)
	allocs := testing.AllocsPerRun(100, func() {
		sp.mu.Lock()
		for o := int64(0); o < 1000; o++ {
			sp.pushLocked(o)
		}
		sp.mu.Unlock()
		for o := int64(0); o < 1000; o++ {
			sp.ack(o, 0, nil)
		}
	})
	if allocs > 0 {
		t.Fatalf("push+ack of 1000 contiguous offsets allocates %.1f times, want 0", allocs)
	}
}

// BenchmarkSourcePartition_PushAck is the per-record bookkeeping of the hot
// path: register a record as in flight, then acknowledge it.
func BenchmarkSourcePartition_PushAck(b *testing.B) {
	sp := newSourcePartition([]byte("k"))
	const batch = 500
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		sp.mu.Lock()
		for range batch {
			sp.pushLocked(off)
			off++
		}
		sp.mu.Unlock()
		for range batch {
			sp.ack(off, 0, nil)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// push registers offsets as in flight, as the runner does.
func push(sp *SourcePartition, offsets ...int64) {
	sp.mu.Lock()
	for _, o := range offsets {
		sp.pushLocked(o)
	}
	sp.mu.Unlock()
}

// commitValue returns what a commit would write for sp (want false: none)
// and marks it committed, as a successful offsetStore.commit does.
func commitValue(sp *SourcePartition) (string, bool) {
	e, ok := sp.toCommit()
	if !ok {
		return "", false
	}
	sp.committed, sp.committedVersion = e.value.Offset, e.version
	if e.forget {
		return "null", true
	}
	return string(AppendOffsetValue(nil, e.value.Offset, e.value.Fields...)), true
}

func TestSourcePartition_StoredValue(t *testing.T) {
	id := StrField("topicId", "old")
	newID := StrField("topicId", "new")
	stored := map[string]OffsetValue{"k": {Offset: 99}}
	table := newPartitionTable(func(key []byte) (OffsetValue, bool) { v, ok := stored[string(key)]; return v, ok })
	sp := table.get([]byte("k"))
	if v, ok := commitValue(sp); ok {
		t.Fatalf("a handle fresh from the store commits %s, want nothing", v)
	}
	// A field set with nothing acked rewrites the stored offset with it.
	sp.SetOffsetFields(id)
	if v, _ := commitValue(sp); v != `{"offset":99,"topicId":"old"}` {
		t.Fatalf("after SetOffsetFields: commit %q, want the stored offset with the field", v)
	}
	push(sp, 100, 101)
	sp.ack(0, 0, nil)
	// The log restarts with one old record still in flight: the old one
	// is committed under the old value first.
	sp.RestartOffsets(newID)
	if !table.changed.Load() {
		t.Fatal("RestartOffsets did not ask for a commit")
	}
	push(sp, 0, 1)
	if v, _ := commitValue(sp); v != `{"offset":100,"topicId":"old"}` {
		t.Fatalf("before the old records are acked: commit %q", v)
	}
	sp.ack(1, 0, nil) // offset 101, the last old record
	if v, _ := commitValue(sp); v != `{"offset":-1,"topicId":"new"}` {
		t.Fatalf("once the old records are acked: commit %q, want the new log's start", v)
	}
	sp.ack(2, 0, nil)
	if v, _ := commitValue(sp); v != `{"offset":0,"topicId":"new"}` {
		t.Fatalf("after the new log's first record: commit %q", v)
	}
	sp.ack(3, 0, nil)
	sp.ForgetOffsets()
	if v, _ := commitValue(sp); v != "null" {
		t.Fatalf("after ForgetOffsets: commit %q, want a null value", v)
	}
	if v, ok := commitValue(sp); ok {
		t.Fatalf("a committed value is committed again: %s", v)
	}
}

func TestSourcePartition_FieldsWaitForAnOffset(t *testing.T) {
	table := newPartitionTable(func([]byte) (OffsetValue, bool) { return OffsetValue{}, false })
	sp := table.get([]byte("k"))
	// Nothing stored and nothing acked: no -1 is stored for the field's
	// sake (a restart would then start at the log start, not the reset
	// point).
	sp.SetOffsetFields(StrField("topicId", "x"))
	if v, ok := commitValue(sp); ok {
		t.Fatalf("commit %s with nothing acknowledged, want nothing", v)
	}
	push(sp, 7)
	sp.ack(0, 0, nil)
	if v, _ := commitValue(sp); v != `{"offset":7,"topicId":"x"}` {
		t.Fatalf("commit %q, want the first acked offset with the field", v)
	}
}

func TestPartitionTable_TakenBackLoadsStore(t *testing.T) {
	stored := map[string]OffsetValue{"k": {Offset: 10}}
	table := newPartitionTable(func(key []byte) (OffsetValue, bool) { v, ok := stored[string(key)]; return v, ok })
	sp := table.get([]byte("k"))
	push(sp, 11)
	sp.ack(0, 0, nil)
	commitValue(sp)
	// Another task took the partition and committed further.
	stored["k"] = OffsetValue{Offset: 500}
	if got := table.get([]byte("k")); got != sp || got.Acked() != 500 {
		t.Fatalf("handle taken back: Acked = %d, want the stored 500", got.Acked())
	}
	if v, ok := commitValue(sp); ok {
		t.Fatalf("handle taken back commits %s, want nothing", v)
	}
	// With an acknowledged offset not yet committed, the handle keeps it.
	push(sp, 501)
	sp.ack(0, 0, nil)
	stored["k"] = OffsetValue{Offset: 900}
	if got := table.get([]byte("k")); got.Acked() != 501 {
		t.Fatalf("Acked = %d, want the uncommitted 501 kept", got.Acked())
	}
}

// TestPartitionTable_FirstAckCommitsSoon: the first ack of a partition
// after it came to the task, after it was taken back, and after its offsets
// started over (a re-created topic) asks for a commit soon; later acks do
// not.
func TestPartitionTable_FirstAckCommitsSoon(t *testing.T) {
	table := newPartitionTable(func([]byte) (OffsetValue, bool) { return OffsetValue{Offset: 10}, true })
	sp := table.get([]byte("k"))
	bare := table.get(nil)
	soon := func(what string, want bool) {
		t.Helper()
		if got := table.soon.Swap(false); got != want {
			t.Errorf("%s: commit soon = %v, want %v", what, got, want)
		}
	}
	push(sp, 11, 12)
	soon("nothing acknowledged yet", false)
	sp.ack(0, 0, nil)
	soon("the first ack after the partition came to the task", true)
	sp.ack(1, 0, nil)
	soon("a later ack", false)
	push(bare, 0)
	bare.ack(0, 0, nil)
	soon("the first ack of a partition whose offsets are not stored", false)

	commitValue(sp)
	table.get([]byte("k")) // taken back after it left the task
	push(sp, 13)
	sp.ack(2, 0, nil)
	soon("the first ack after the partition was taken back", true)

	push(sp, 14)
	sp.RestartOffsets() // waits for 14
	sp.ack(3, 0, nil)
	soon("the last ack of the old log", false)
	push(sp, 0, 1)
	sp.ack(4, 0, nil)
	soon("the first ack of the new log", true)
	sp.ack(5, 0, nil)
	soon("a later ack of the new log", false)
}
