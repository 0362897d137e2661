package connect

import (
	"context"
	"fmt"
	"sync"
)

// AckObserver is told, for one source partition, each record the target
// acknowledged: its source (upstream) offset and target (downstream) offset,
// in source-offset order. MirrorSource uses it to notice where the offset
// shift changes and emit offset syncs.
//
// Acked is called from the producer's promise goroutine, serially for all
// partitions of a task, with the partition's lock held, before the record
// counts as acknowledged (so a commit that sees the record acknowledged also
// sees what Acked queued). It must be quick, must not block or produce
// synchronously, and must not call the SourcePartition; queue work for the
// task's Poll or Commit.
type AckObserver interface {
	Acked(upstream, downstream int64)
}

// SourcePartition is a task's handle on one source partition: it tracks the
// source offsets of records in flight to the target, and the highest one that
// the target acknowledged with every record before it. That is what the
// worker commits to the Connect offsets topic, so a committed offset never
// passes a record that is not on the target.
//
// The hot path does no allocation per record: in-flight offsets are kept as
// runs of consecutive offsets, so a partition copied without gaps needs one
// run however many records are in flight.
type SourcePartition struct {
	key []byte
	ctx context.Context // set on every produced record; carries the handle to the promise

	mu       sync.Mutex  // guards the fields below
	runs     []offsetRun // FIFO of in-flight source offsets
	head     int         // index of the first live run
	acked    int64       // highest source offset acknowledged in order; -1 none
	err      error       // first produce error; stops acked from advancing
	observer AckObserver

	committed    int64 // last committed offset; runner goroutine only
	produceReady bool  // the producer knows the target partition; runner goroutine only
}

// offsetRun is n consecutive source offsets starting at first.
type offsetRun struct{ first, n int64 }

type partitionKey struct{}

func newSourcePartition(key []byte) *SourcePartition {
	sp := &SourcePartition{key: key, acked: -1, committed: -1}
	sp.ctx = context.WithValue(context.Background(), partitionKey{}, sp)
	return sp
}

// Key is the partition's Connect offsets-topic key (nil if not stored).
func (sp *SourcePartition) Key() []byte { return sp.key }

// SetObserver sets the observer told of each acknowledged record. Set it
// before the first record of the partition is returned from Poll.
func (sp *SourcePartition) SetObserver(o AckObserver) {
	sp.mu.Lock()
	sp.observer = o
	sp.mu.Unlock()
}

// RestartOffsets tells the worker that the partition's source offsets start
// over (the source topic was deleted and re-created), so that the next
// commit stores the new, lower offset instead of waiting for it to pass the
// old one. Call it from the runner goroutine (Start, Poll, Reconfigure),
// before the new records are returned.
func (sp *SourcePartition) RestartOffsets() { sp.committed = -1 }

// Acked returns the highest source offset that the target acknowledged
// together with every record before it, or -1.
func (sp *SourcePartition) Acked() int64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.acked
}

// InFlight returns how many records of the partition wait for the target.
func (sp *SourcePartition) InFlight() int64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var n int64
	for _, r := range sp.runs[sp.head:] {
		n += r.n
	}
	return n
}

// pushLocked records offset as in flight. Offsets must increase.
func (sp *SourcePartition) pushLocked(offset int64) {
	if last := len(sp.runs) - 1; last >= sp.head {
		if r := &sp.runs[last]; r.first+r.n == offset {
			r.n++
			return
		}
	}
	if sp.head > 0 && sp.head == len(sp.runs) {
		sp.runs = sp.runs[:0]
		sp.head = 0
	}
	sp.runs = append(sp.runs, offsetRun{first: offset, n: 1})
}

// popLocked removes and returns the oldest in-flight offset.
func (sp *SourcePartition) popLocked() (int64, bool) {
	if sp.head >= len(sp.runs) {
		return 0, false
	}
	r := &sp.runs[sp.head]
	o := r.first
	r.first++
	r.n--
	if r.n == 0 {
		sp.head++
		if sp.head == len(sp.runs) {
			sp.runs = sp.runs[:0]
			sp.head = 0
		}
	}
	return o, true
}

// ack is called by the producer promise for each record of this partition,
// in produce order.
func (sp *SourcePartition) ack(downstream int64, err error) {
	sp.mu.Lock()
	upstream, ok := sp.popLocked()
	if !ok {
		sp.mu.Unlock()
		return
	}
	if err != nil {
		if sp.err == nil {
			sp.err = fmt.Errorf("produce record of source offset %d: %w", upstream, err)
		}
		sp.mu.Unlock()
		return
	}
	if sp.err != nil { // never move past a failed record
		sp.mu.Unlock()
		return
	}
	// The observer hears of the record before it counts as acknowledged, so
	// whatever it queues is there when a commit reads Acked.
	if sp.observer != nil {
		sp.observer.Acked(upstream, downstream)
	}
	sp.acked = upstream
	sp.mu.Unlock()
}

// failure returns the partition's first produce error.
func (sp *SourcePartition) failure() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.err
}

// partitionTable holds a task's partition handles by key.
type partitionTable struct {
	stored func(key []byte) (int64, bool) // the offset store's lookup

	mu    sync.Mutex // guards byKey and all
	byKey map[string]*SourcePartition
	all   []*SourcePartition
}

func newPartitionTable(stored func(key []byte) (int64, bool)) *partitionTable {
	return &partitionTable{stored: stored, byKey: make(map[string]*SourcePartition)}
}

func (t *partitionTable) get(key []byte) *SourcePartition {
	t.mu.Lock()
	defer t.mu.Unlock()
	if sp, ok := t.byKey[string(key)]; ok && key != nil {
		return sp
	}
	sp := newSourcePartition(key)
	if key != nil {
		t.byKey[string(key)] = sp
		// Start from what is stored, so that the first commit does not
		// rewrite an offset that has not changed.
		if t.stored != nil {
			if o, ok := t.stored(key); ok {
				sp.committed = o
			}
		}
	}
	t.all = append(t.all, sp)
	return sp
}

func (t *partitionTable) snapshot() []*SourcePartition {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*SourcePartition(nil), t.all...)
}
