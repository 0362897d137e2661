package connect

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// AckObserver is told, for one source partition, each record the target
// acknowledged: its source (upstream) offset and target (downstream) offset,
// in source-offset order. MirrorSource uses it to notice where the offset
// shift changes and emit offset syncs.
//
// Acked is called from a producer's promise goroutine, serially for the
// partition, with the partition's lock held, before the record counts as
// acknowledged (so a commit that sees the record acknowledged also sees what
// Acked queued). Different partitions of a task may be acknowledged from two
// goroutines at once (the task's producer and its large-record producer), so
// state shared between partitions needs a lock. Acked must be quick, must
// not block or produce synchronously, and must not call the SourcePartition;
// queue work for the task's Poll or Commit.
type AckObserver interface {
	Acked(upstream, downstream int64)
}

// SourcePartition is a task's handle on one source partition: it tracks the
// source offsets of records in flight to the target, and the highest one that
// the target acknowledged with every record before it. That is what the
// worker commits to the Connect offsets topic, so a committed offset never
// passes a record that is not on the target.
//
// When the target refuses a record, the partition stops there: nothing after
// the refused record counts as acknowledged, the records after it that are
// still buffered in the producer fail with it (the partition's produce
// context is cancelled), and the runner holds the partition until a retry
// gets the refused record through (see PartitionPauser).
//
// The hot path does no allocation per record: in-flight offsets are kept as
// runs of consecutive offsets, so a partition copied without gaps needs one
// run however many records are in flight.
type SourcePartition struct {
	key []byte

	mu       sync.Mutex  // guards the fields below
	runs     []offsetRun // FIFO of in-flight source offsets
	head     int         // index of the first live run
	acked    int64       // highest source offset acknowledged in order; -1 none
	observer AckObserver
	cancel   context.CancelFunc // cancels ctx; nil for a handle built by hand
	// The first failure since the last reset: its error and source offset.
	// A failure stops acked from advancing.
	err       error
	errOffset int64
	// failBytes sums the size of the records that failed since the last
	// reset with a cause other than the cancelled context: the runner sends
	// that many bytes one record at a time on the retry, to find the record
	// the target refuses.
	failBytes int64
	failCount int64 // how many records failed with such a cause
	// ahead counts records acknowledged after an earlier record of the
	// partition failed: written ahead of it (see ack); aheadFirst and
	// aheadLast are their source offsets.
	ahead                 int64
	aheadFirst, aheadLast int64
	metrics               atomic.Pointer[partMetrics] // nil until ExportMetrics; its stats are guarded by mu

	// waiting is set while the runner waits for the partition's acks to go
	// on with it (it sends one record at a time, or it is blocked): an ack
	// then wakes the runner up.
	waiting atomic.Bool

	// Runner goroutine only.
	// ctx is set on every record produced for the partition: it carries the
	// handle to the promise, and it is cancelled on the first failure so
	// that the producer fails the partition's records still buffered.
	ctx          context.Context
	committed    int64      // last committed offset
	produceReady bool       // the producer knows the target partition
	largeReady   bool       // the large-record producer knows it
	maxBatch     int32      // largest batch the task's producer takes for the target topic; 0 not known
	st           *partState // nil while the partition flows
	restarted    bool       // RestartOffsets was called while st was set
	// Where the partition's records go (set with produceReady), for reports.
	targetTopic     string
	targetPartition int32
}

// offsetRun is n consecutive source offsets starting at first.
type offsetRun struct{ first, n int64 }

type partitionKey struct{}

func newSourcePartition(key []byte) *SourcePartition {
	sp := &SourcePartition{key: key, acked: -1, committed: -1}
	sp.newContext()
	return sp
}

// newContext gives the partition a new produce context. Runner goroutine
// only; the old context's records must all have been acknowledged or failed.
func (sp *SourcePartition) newContext() {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), partitionKey{}, sp))
	sp.mu.Lock()
	sp.ctx, sp.cancel = ctx, cancel
	sp.mu.Unlock()
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
func (sp *SourcePartition) RestartOffsets() {
	sp.committed = -1
	if sp.st != nil {
		sp.restarted = true // the runner drops what the partition waited for
	}
}

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
// in produce order; size is the record's size for failBytes.
func (sp *SourcePartition) ack(downstream int64, size int, err error) {
	sp.ackAt(downstream, size, -1, -1, err)
}

// ackAt is ack with the record's timestamp and the time of the ack (Unix
// ms) for the partition's metrics; nowMs < 0 records none.
func (sp *SourcePartition) ackAt(downstream int64, size int, tsMs, nowMs int64, err error) {
	sp.mu.Lock()
	upstream, ok := sp.popLocked()
	if !ok {
		sp.mu.Unlock()
		return
	}
	if err != nil {
		if sp.err == nil {
			sp.err, sp.errOffset = err, upstream
			// The producer fails what it holds of the partition when the
			// target refuses a batch, but the runner may hand it more
			// before it hears of the failure: with the context cancelled,
			// those fail too instead of being written ahead of the
			// refused record.
			if sp.cancel != nil {
				sp.cancel()
			}
		}
		if !errors.Is(err, context.Canceled) {
			sp.failBytes += int64(size)
			sp.failCount++
		}
		sp.mu.Unlock()
		return
	}
	if sp.err != nil {
		// Never move past a failed record. A later record that succeeded
		// was written ahead of it: count it, the runner reports it.
		if sp.ahead == 0 {
			sp.aheadFirst = upstream
		}
		sp.ahead++
		sp.aheadLast = upstream
		sp.mu.Unlock()
		return
	}
	// The observer hears of the record before it counts as acknowledged, so
	// whatever it queues is there when a commit reads Acked.
	if sp.observer != nil {
		sp.observer.Acked(upstream, downstream)
	}
	sp.acked = upstream
	if m := sp.metrics.Load(); m != nil && nowMs >= 0 {
		m.ackedLocked(tsMs, nowMs, sp.head >= len(sp.runs))
	}
	sp.mu.Unlock()
}

// failure returns the partition's first produce error since the last reset.
func (sp *SourcePartition) failure() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.err
}

// failureState is what the runner needs to block a failed partition.
type failureState struct {
	err                   error
	offset                int64 // source offset of the first failed record
	failBytes, failCount  int64
	ahead                 int64
	aheadFirst, aheadLast int64
}

// takeFailure returns the partition's failure and clears the count of
// records written ahead (so each is reported once).
func (sp *SourcePartition) takeFailure() failureState {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	f := failureState{err: sp.err, offset: sp.errOffset, failBytes: sp.failBytes, failCount: sp.failCount,
		ahead: sp.ahead, aheadFirst: sp.aheadFirst, aheadLast: sp.aheadLast}
	sp.ahead = 0
	return f
}

// reset clears the partition's failure so that records flow again, with a
// new produce context. Runner goroutine only, with nothing in flight.
func (sp *SourcePartition) reset() {
	sp.mu.Lock()
	sp.err, sp.errOffset, sp.failBytes, sp.failCount, sp.ahead = nil, 0, 0, 0, 0
	sp.runs, sp.head = sp.runs[:0], 0
	sp.mu.Unlock()
	sp.newContext()
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
