package offsets

import "sync"

// DefaultOffsetLagMax is MM2's default offset.lag.max: a partition gets a new
// offset sync at the latest when its target offset has moved this far past
// the last one.
const DefaultOffsetLagMax = 100

// ShiftTracker follows the offset shift (downstream minus upstream offset) of
// the source partitions of one source task lifetime, from the stream of
// records the target acknowledged. From that stream it decides two things:
//
//   - MM2 offset syncs, exactly by MM2's rules (spec §6.5): a partition's
//     first acknowledged record of the lifetime; a record whose target offset
//     is offset.lag.max or more past the one after the last sync; a record
//     that does not directly follow the previous one upstream (a gap:
//     compaction, a transaction marker, deleted records, a restart); a record
//     whose target offset is below the previous one (target truncated). Any
//     other record becomes the partition's delayed sync, which Commit promotes
//     (KAFKA-15906), so a quiet partition ends with an exact sync.
//   - Index entries ([IndexEntry]): one wherever the shift changes (the record
//     does not follow the previous one both upstream and downstream) and at a
//     partition's first record of the lifetime, carrying the previous record
//     so that a reader tells a gap from the end of a run; and, at each Commit,
//     the extent of every partition's current run.
//
// It does no I/O. The task owning it creates it in Start, registers
// Partition(topic, p) as the ack observer of each source partition, and from
// its runner goroutine drains TakeSyncs and TakeEntries (in Poll) and calls
// Commit before each source-offset commit. A new task lifetime needs a new
// ShiftTracker: MM2's "first sync of the lifetime" rule depends on it.
//
// Every method is safe for concurrent use. Acked takes one mutex that only
// the draining goroutine contends for, and allocates nothing unless a queue
// grows.
type ShiftTracker struct {
	lagMax int64
	syncs  bool

	mu      sync.Mutex // guards the fields below and every PartitionTracker's state
	parts   []*PartitionTracker
	byTP    map[trackedTP]*PartitionTracker
	pending []OffsetSync // syncs to send, in decision order
	entries []IndexEntry // index entries to write, in ack order
}

type trackedTP struct {
	topic     string
	partition int32
}

// NewShiftTracker returns a tracker for one task lifetime. offsetLagMax is
// MM2's offset.lag.max; as in MM2, zero or less makes every record a sync.
// With emitSyncs false (emit.offset-syncs.enabled=false) no MM2 syncs are
// decided or queued; index entries still are.
func NewShiftTracker(offsetLagMax int64, emitSyncs bool) *ShiftTracker {
	return &ShiftTracker{lagMax: offsetLagMax, syncs: emitSyncs, byTP: make(map[trackedTP]*PartitionTracker)}
}

// PartitionTracker is a ShiftTracker's state for one source partition. Its
// Acked method makes it a connect.AckObserver.
type PartitionTracker struct {
	t         *ShiftTracker
	topic     string
	partition int32

	// The fields below are guarded by t.mu.
	prevU, prevD int64      // last acknowledged record; -1 before the first
	lastSyncD    int64      // MM2's lastSyncDownstreamOffset; -1 before the first sync
	delayed      bool       // (prevU, prevD) is the partition's delayed MM2 sync
	run          IndexEntry // the current run as last queued; valid when prevU >= 0
}

// Partition returns the tracker of a source partition, creating it on the
// first call; later calls with the same topic and partition return the same
// tracker. topic is the source-cluster topic name, as in MM2's offset syncs.
func (t *ShiftTracker) Partition(topic string, partition int32) *PartitionTracker {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := trackedTP{topic, partition}
	if p, ok := t.byTP[k]; ok {
		return p
	}
	p := &PartitionTracker{t: t, topic: topic, partition: partition, prevU: -1, prevD: -1, lastSyncD: -1}
	t.byTP[k] = p
	t.parts = append(t.parts, p)
	return p
}

// Acked records that the record at upstream offset upstream of the partition
// was written at downstream offset downstream of the target partition. The
// producer's promise goroutine calls it for every acknowledged record of the
// partition, in source-offset order (connect.AckObserver). It only updates
// state and appends to the tracker's queues: no I/O, and no allocation except
// when a queue grows.
func (p *PartitionTracker) Acked(upstream, downstream int64) {
	t := p.t
	t.mu.Lock()
	first := p.prevU < 0
	if first || upstream-p.prevU != 1 || downstream-p.prevD != 1 {
		p.run = IndexEntry{
			Topic: p.topic, Partition: p.partition,
			Upstream: upstream, Downstream: downstream,
			PrevUpstream: p.prevU, PrevDownstream: p.prevD,
			LastUpstream: upstream,
		}
		t.entries = append(t.entries, p.run)
	}
	if t.syncs {
		// MM2's PartitionState.update, term for term.
		if p.lastSyncD == -1 || // no sync yet this lifetime
			downstream-(p.lastSyncD+1) >= t.lagMax || // translation too stale
			upstream-p.prevU != 1 || // skipped upstream record
			downstream < p.prevD { // target truncated
			p.lastSyncD = downstream
			p.delayed = false
			t.pending = append(t.pending, OffsetSync{Topic: p.topic, Partition: p.partition, UpstreamOffset: upstream, DownstreamOffset: downstream})
		} else {
			p.delayed = true
		}
	}
	p.prevU, p.prevD = upstream, downstream
	t.mu.Unlock()
}

// Commit is called from the task's runner goroutine before source offsets are
// committed (connect.Committer). It promotes every partition's delayed MM2
// sync to the send queue, as MM2's commit() does, and queues the extent of
// every partition's current run: the run's entry again, with LastUpstream
// raised to the last acknowledged record. The index topic's compaction keeps
// only the newest extent of a run, since the key is the same.
//
// Once what Commit queued is durable, the index knows every record
// acknowledged before Commit was called, so it knows every record up to the
// source offsets committed next.
func (t *ShiftTracker) Commit() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.parts {
		if p.delayed {
			p.delayed = false
			t.pending = append(t.pending, OffsetSync{Topic: p.topic, Partition: p.partition, UpstreamOffset: p.prevU, DownstreamOffset: p.prevD})
		}
		if p.prevU >= 0 && p.prevU > p.run.LastUpstream {
			p.run.LastUpstream = p.prevU
			t.entries = append(t.entries, p.run)
		}
	}
}

// TakeSyncs appends the queued MM2 offset syncs to dst, oldest first, empties
// the queue and returns the extended slice. The syncs of one partition are in
// the order they were decided; send them in that order. The task calls it
// from its runner goroutine (in Poll and Commit), while acks go on.
func (t *ShiftTracker) TakeSyncs(dst []OffsetSync) []OffsetSync {
	t.mu.Lock()
	defer t.mu.Unlock()
	dst = append(dst, t.pending...)
	clear(t.pending)
	t.pending = t.pending[:0]
	return dst
}

// TakeEntries appends the queued index entries to dst, oldest first, empties
// the queue and returns the extended slice. Entries must be written to the
// index topic in this order (one producer, one partition), so that what
// survives a crash is a prefix of them. The task calls it from its runner
// goroutine (in Poll and Commit), while acks go on.
func (t *ShiftTracker) TakeEntries(dst []IndexEntry) []IndexEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	dst = append(dst, t.entries...)
	clear(t.entries)
	t.entries = t.entries[:0]
	return dst
}
