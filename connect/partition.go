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
	acked    int64       // highest source offset acknowledged in order (or stored); -1 none
	observer AckObserver
	cancel   context.CancelFunc // cancels ctx; nil for a handle built by hand
	// fields are stored beside acked in the offset value; forget stores a
	// null value instead. version counts their changes and restarts, so a
	// commit writes the value even when acked did not move.
	fields  []OffsetField
	forget  bool
	version int64
	// fresh is set by a restart until the next ack: acked is -1 because the
	// log starts over, which is worth storing, not because nothing is known.
	fresh bool
	// restart is a restart of the partition's offsets that waits for the
	// records returned before it (restart.after of them) to be acknowledged
	// or failed.
	restart *offsetRestart
	changed *atomic.Bool // the task's "commit now" flag; nil for a bare handle
	// early: the partition came to the task (or its offsets started over)
	// and nothing was acknowledged since; its first ack sets soon, the
	// task's "commit soon" flag (nil for a bare handle), so that a worker
	// killed before its first flush interval does not copy those records
	// again (see taskRunner.commitDue).
	early bool
	soon  *atomic.Bool
	// committed and committedVersion are the last committed value's offset
	// and version: written by the runner's commit, read by Partition from
	// any goroutine.
	committed        int64
	committedVersion int64
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

// offsetRestart is a pending RestartOffsets or ForgetOffsets.
type offsetRestart struct {
	after  int64 // in-flight records still to be acknowledged before it
	fields []OffsetField
	forget bool
}

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

// SetOffsetFields sets the fields stored beside the partition's offset
// ({"offset":N,"topicId":"..."}) from the next commit on, which writes them
// even if the offset did not move (but not before a first offset is known).
// After a RestartOffsets that still waits for records, they replace the
// restart's fields. Call it from the runner goroutine.
func (sp *SourcePartition) SetOffsetFields(fields ...OffsetField) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.restart != nil {
		sp.restart.fields = fields
		return
	}
	sp.fields = fields
	sp.version++
}

// RestartOffsets tells the worker that the partition's source offsets start
// over (the source topic was deleted and re-created, or its log went back),
// so that it stores the new, lower offsets instead of waiting for them to
// pass the old ones. Records returned from Poll before the call are still
// committed under the old value as they are acknowledged; once all of them
// are, the stored value becomes offset -1 with fields (nothing of the new
// log copied: start at its start), committed at once, and the offsets of
// the records returned after the call follow. Call it from the runner
// goroutine (Start, Poll, Reconfigure), before the new records are returned.
func (sp *SourcePartition) RestartOffsets(fields ...OffsetField) {
	sp.startOver(&offsetRestart{fields: fields})
}

// ForgetOffsets is RestartOffsets for a source partition that no longer
// exists: once the records returned before it are acknowledged, the worker
// deletes the partition's stored offset (a null value).
func (sp *SourcePartition) ForgetOffsets() { sp.startOver(&offsetRestart{forget: true}) }

func (sp *SourcePartition) startOver(r *offsetRestart) {
	if sp.st != nil {
		sp.restarted = true // the runner drops what the blocked partition waited for
	}
	sp.mu.Lock()
	for _, run := range sp.runs[sp.head:] {
		r.after += run.n
	}
	sp.restart = r
	if r.after == 0 {
		sp.applyRestartLocked()
	}
	sp.mu.Unlock()
	sp.markChanged()
}

// applyRestartLocked makes the pending restart the partition's value.
func (sp *SourcePartition) applyRestartLocked() {
	r := sp.restart
	sp.restart = nil
	sp.acked, sp.fields, sp.forget, sp.fresh = -1, r.fields, r.forget, true
	sp.early = true // a new log: its first records are committed soon
	sp.version++
}

func (sp *SourcePartition) markChanged() {
	if sp.changed != nil {
		sp.changed.Store(true)
	}
}

// Acked returns the highest source offset that the target acknowledged
// together with every record before it, the stored offset when none was
// acknowledged since the handle was taken, or -1.
func (sp *SourcePartition) Acked() int64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.acked
}

// toCommit returns the value to commit, and whether it differs from the
// last committed one. Runner goroutine only.
func (sp *SourcePartition) toCommit() (commitEntry, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := commitEntry{sp: sp, value: OffsetValue{Offset: sp.acked, Fields: sp.fields}, forget: sp.forget, version: sp.version}
	if sp.acked < 0 && !sp.forget && !sp.fresh {
		return e, false // nothing known to store yet; new fields wait for the first ack
	}
	return e, sp.version != sp.committedVersion || sp.acked != sp.committed
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
		sp.countDownAndUnlock()
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
		sp.countDownAndUnlock()
		return
	}
	// The observer hears of the record before it counts as acknowledged, so
	// whatever it queues is there when a commit reads Acked.
	if sp.observer != nil {
		sp.observer.Acked(upstream, downstream)
	}
	sp.acked, sp.fresh = upstream, false
	if sp.early {
		sp.early = false
		if sp.soon != nil {
			sp.soon.Store(true)
		}
	}
	if m := sp.metrics.Load(); m != nil && nowMs >= 0 {
		m.ackedLocked(tsMs, nowMs, sp.head >= len(sp.runs))
	}
	sp.countDownAndUnlock()
}

// countDownAndUnlock counts one record returned before a pending restart as
// done (acknowledged or failed), applies the restart after the last of them,
// and unlocks the partition.
func (sp *SourcePartition) countDownAndUnlock() {
	r := sp.restart
	if r == nil {
		sp.mu.Unlock()
		return
	}
	if r.after--; r.after > 0 {
		sp.mu.Unlock()
		return
	}
	sp.applyRestartLocked()
	sp.mu.Unlock()
	sp.markChanged()
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
	restarted := sp.restart != nil
	if restarted { // what it waited for is gone with the runs
		sp.applyRestartLocked()
	}
	sp.mu.Unlock()
	if restarted {
		sp.markChanged()
	}
	sp.newContext()
}

// partitionTable holds a task's partition handles by key.
type partitionTable struct {
	stored func(key []byte) (OffsetValue, bool) // the offset store's lookup
	// changed is set when a partition's stored value must be written before
	// the next commit interval (a restart, new fields); the runner commits.
	changed atomic.Bool
	// soon is set by the first ack of a partition after it came to the task
	// or started over: the runner commits soon, not a flush interval later.
	soon atomic.Bool

	mu    sync.Mutex // guards byKey and all
	byKey map[string]*SourcePartition
	all   []*SourcePartition
}

func newPartitionTable(stored func(key []byte) (OffsetValue, bool)) *partitionTable {
	return &partitionTable{stored: stored, byKey: make(map[string]*SourcePartition)}
}

// get returns the handle of key. A handle taken again after a while (the
// partition left the task and came back) is brought up to what is stored,
// which another task may have committed meanwhile, unless it still has
// records in flight or acknowledged and not committed. Either way the
// partition's first records acknowledged from now on are committed soon
// (early).
func (t *partitionTable) get(key []byte) *SourcePartition {
	t.mu.Lock()
	defer t.mu.Unlock()
	if sp, ok := t.byKey[string(key)]; ok && key != nil {
		sp.mu.Lock()
		idle := sp.head == len(sp.runs) && sp.restart == nil && sp.acked == sp.committed && sp.version == sp.committedVersion
		sp.early = true
		sp.mu.Unlock()
		if idle {
			t.load(sp)
		}
		return sp
	}
	sp := newSourcePartition(key)
	sp.changed, sp.soon = &t.changed, &t.soon
	if key != nil {
		sp.early = true
		t.byKey[string(key)] = sp
		t.load(sp)
	}
	t.all = append(t.all, sp)
	return sp
}

// load sets sp to what is stored for its key, so that the first commit does
// not rewrite a value that has not changed.
func (t *partitionTable) load(sp *SourcePartition) {
	v, ok := OffsetValue{Offset: -1}, false
	if t.stored != nil {
		v, ok = t.stored(sp.key)
	}
	if !ok {
		v = OffsetValue{Offset: -1}
	}
	sp.mu.Lock()
	sp.acked, sp.fields, sp.forget, sp.fresh = v.Offset, v.Fields, false, false
	sp.committed = v.Offset
	sp.committedVersion = sp.version
	sp.mu.Unlock()
}

func (t *partitionTable) snapshot() []*SourcePartition {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*SourcePartition(nil), t.all...)
}

// rewind puts every partition back to its stored value after a
// transaction aborted (exactly-once mode): nothing is in flight (the
// producer's buffer was aborted), no failure or restart of its offsets is
// pending (the task, started again, finds a re-created topic again), and
// what the aborted transaction acknowledged counts for nothing. Runner
// goroutine only; the partitions in the runner's attention were released
// first.
func (t *partitionTable) rewind() {
	t.changed.Store(false)
	for _, sp := range t.snapshot() {
		sp.mu.Lock()
		sp.runs, sp.head = sp.runs[:0], 0
		sp.err, sp.errOffset, sp.failBytes, sp.failCount, sp.ahead = nil, 0, 0, 0, 0
		sp.restart = nil
		sp.mu.Unlock()
		if sp.key != nil {
			t.load(sp)
		} else {
			sp.mu.Lock()
			sp.acked, sp.committed, sp.committedVersion = -1, -1, sp.version
			sp.mu.Unlock()
		}
		sp.restarted = false
		sp.newContext()
	}
}
