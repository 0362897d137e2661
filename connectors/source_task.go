package connectors

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/offsets"
)

// defaultPollTimeout bounds one Poll unless consumer.poll.timeout.ms says
// otherwise, so the runner regularly gets to commit offsets and apply
// reconfigurations even when the source is idle.
const defaultPollTimeout = time.Second

// pollTimeout is how long the heartbeat task sleeps at most in one Poll.
const pollTimeout = defaultPollTimeout

var (
	_ connect.Committer           = (*MirrorSourceTask)(nil)
	_ connect.CommitCarrier       = (*MirrorSourceTask)(nil)
	_ connect.TransactionListener = (*MirrorSourceTask)(nil)
	_ connect.Reconfigurable      = (*MirrorSourceTask)(nil)
	_ connect.PartitionPauser     = (*MirrorSourceTask)(nil)
	_ connect.AckObserver         = (*offsets.PartitionTracker)(nil)
)

// MirrorSourceTask copies its assigned source partitions to the target: the
// same partition number, key, value, headers and timestamp, under the
// replication policy's remote topic name. Fetched records are renamed in
// place and handed to the worker as they are: no copy, no per-record
// allocation.
//
// It also records where each record went. An offsets.ShiftTracker, the ack
// observer of every partition, sees each acknowledged (source offset, target
// offset) pair on the producer's promise goroutine and queues MM2 offset
// syncs and offset index entries. Poll sends what is queued (the syncs to the
// offset-syncs topic, the entries to the offset index topic on the target)
// and Commit, which the runner calls before each source-offset commit, makes
// the index entries durable first, so the index always knows every record up
// to the committed source offsets.
//
// In exactly-once mode (connect.TaskContext.TransactionalProducer) the
// index entries, and the MM2 offset syncs when they live on the target,
// go into the task's transactions with its records, so what the index
// says of a record is on the target exactly when the record is; MM2 offset
// syncs to a source cluster stay outside any transaction, as in MM2, and
// are sent only once the transaction of their record committed. The
// replication consumer reads read_committed, so aborted source
// transactions never reach the target.
type MirrorSourceTask struct {
	tc  *connect.TaskContext
	cfg SourceConfig
	cl  *kgo.Client

	// parts maps a source topic to the state of its assigned partitions by
	// partition number, and remote to its remote name: looked up once per
	// fetched partition, not per record.
	parts  map[string][]*sourceLog
	where  map[*connect.SourcePartition]topicPartition // the partitions of parts by handle
	remote map[string]string
	out    []connect.SourceRecord // reused across polls
	// readd holds, during a Poll, the topics to purge from the client and
	// add again (their topic ID changed).
	readd map[string]bool
	// endedKeys are the offset keys of partitions closed as no longer
	// existing, so that a config that repeats them reports them once.
	endedKeys map[string]bool
	// hinted are the topic IDs of KeyTopicIDs as of the last config.
	hinted map[string][16]byte
	// prov stamps provenance headers and drops loops, with the identity
	// policy only (nil otherwise).
	prov *provenance

	// Offset translation; runner goroutine only, except the promise
	// callbacks and what they set.
	shifts     *offsets.ShiftTracker
	indexProd  *kgo.Client // offset index entries, on the target
	syncProd   *kgo.Client // MM2 offset syncs; nil when off; indexProd when on the target
	indexTopic string
	syncsTopic string
	entries    []offsets.IndexEntry // reused across sends
	syncs      []offsets.OffsetSync // reused across sends
	onIndex    func(*kgo.Record, error)
	onSync     func(*kgo.Record, error)
	indexErr   atomic.Pointer[error] // first index entry that failed; set by onIndex
	syncFails  atomic.Int64          // offset syncs that failed since the last report
	syncErr    atomic.Pointer[error] // the last of them
	// unflushed are the index entries handed to indexProd since the last
	// Commit that made them durable (at-least-once mode): what Uncommitted
	// gives the worker to write again if the task stops without its commit.
	// Past maxUnflushed of them (commits failing for long) they are no
	// longer kept, and overflowed says so.
	unflushed  []offsets.IndexEntry
	overflowed bool

	// Exactly-once mode: indexProd is the runner's transactional producer
	// (not the task's to close), and MM2 offset syncs to the source wait in
	// heldSyncs until their transaction commits.
	txn       bool
	heldSyncs []offsets.OffsetSync
}

// Start implements connect.SourceTask.
func (t *MirrorSourceTask) Start(ctx context.Context, tc *connect.TaskContext) error {
	cfg, err := ParseSourceConfig(tc.Props)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	assigned, err := parseAssigned(tc.Props[KeyAssignedPartitions])
	if err != nil {
		return err
	}
	ended, err := parseEnded(tc.Props[KeyEndedPartitions])
	if err != nil {
		return err
	}
	t.tc, t.cfg = tc, cfg
	t.parts = make(map[string][]*sourceLog)
	t.where = make(map[*connect.SourcePartition]topicPartition)
	t.remote = make(map[string]string)
	t.readd = make(map[string]bool)
	t.endedKeys = make(map[string]bool)
	if t.hinted, err = parseTopicIDs(tc.Props[KeyTopicIDs]); err != nil {
		return err
	}
	if policy.IsIdentity(cfg.Policy) {
		t.prov = newProvenance(cfg.SourceAlias, cfg.TargetAlias)
	}
	// A new tracker for each start: a start is a new task lifetime, whose
	// first record of each partition begins a run and an MM2 sync.
	t.shifts = offsets.NewShiftTracker(cfg.OffsetLagMax, cfg.EmitOffsetSyncs)
	t.indexErr.Store(nil)
	start := t.track(assigned)
	if err := t.openOffsetProducers(); err != nil {
		return err
	}
	consumeOpts := []kgo.Opt{
		kgo.ConsumePartitions(start),
		// consumer.auto.offset.reset picks where a partition without a
		// stored offset starts (track). When a stored offset is out of
		// range (retention deleted records before they were copied), the
		// task goes on from the oldest record still there, never from the
		// end as "latest" would: checkLoss then reports exactly what was
		// lost, and nothing more is skipped.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		freshMetadata, // partitions added by Reconfigure start within 250ms, not 5s
		// Transaction markers come back too (and are not copied): their
		// offsets are the consumer's position past the records, which the
		// lag metrics need (a partition that ends with a marker is caught
		// up) and loss detection expects.
		kgo.KeepControlRecords(),
		connect.ClientLabel(fmt.Sprintf("%s->%s|%s-%d|replication-consumer", tc.Source, tc.Target, tc.Connector, tc.ID)),
	}
	if t.txn {
		// Exactly once: records of aborted (or still open) source
		// transactions are never copied. flows refuses an explicit
		// read_uncommitted; this wins over anything else.
		consumeOpts = append(consumeOpts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	t.cl, err = tc.NewClient(tc.Source, connect.RoleConsumer, consumeOpts...)
	if err != nil {
		t.closeOffsetProducers()
		return err
	}
	t.endPartitions(ended) // last: a Start that fails is tried again
	tc.Logger.Info("copying partitions", "partitions", len(assigned))
	return nil
}

// offsetProducerBuffer is the number of records the offset producers buffer
// (kgo's default, set so that sendOffsets can wait for space itself).
const offsetProducerBuffer = 10000

// openOffsetProducers opens the producers of the offset index and, unless
// emit.offset-syncs.enabled is false, of MM2's offset syncs (one client when
// both topics are on the target). Both write to partition 0 only.
func (t *MirrorSourceTask) openOffsetProducers() error {
	tc := t.tc
	t.indexTopic = offsets.IndexTopic(t.cfg.SourceAlias)
	t.onIndex, t.onSync = t.indexAcked, t.syncAcked
	var err error
	if p := tc.TransactionalProducer(); p != nil {
		t.txn, t.indexProd = true, p
		t.heldSyncs = t.heldSyncs[:0]
	} else {
		t.txn = false
		t.indexProd, err = t.newIndexProducer()
	}
	if err != nil {
		return err
	}
	if !t.cfg.EmitOffsetSyncs {
		return nil
	}
	var cluster string
	t.syncsTopic, cluster = t.cfg.OffsetSyncsTopic()
	if t.cfg.OffsetSyncsOnTarget {
		t.syncProd = t.indexProd
		return nil
	}
	t.syncProd, err = tc.NewClient(cluster, connect.RoleProducer,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(offsetProducerBuffer),
		connect.ClientLabel(fmt.Sprintf("%s->%s|%s-%d|offset-syncs-source-producer", tc.Source, tc.Target, tc.Connector, tc.ID)),
	)
	if err != nil {
		t.closeOffsetProducers()
		return err
	}
	return nil
}

// newIndexProducer opens the producer of the offset index entries in
// at-least-once mode.
func (t *MirrorSourceTask) newIndexProducer() (*kgo.Client, error) {
	tc := t.tc
	return tc.NewClient(tc.Target, connect.RoleProducer,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(offsetProducerBuffer),
		// Entries differ in a few bytes: in a large batch zstd stores one
		// in about 9 bytes, snappy (kgo's default) in 32, none in 71. They
		// need to be durable only by the next Commit, whose Flush does not
		// wait for the linger, so batches can take their time to fill.
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.SnappyCompression(), kgo.NoCompression()),
		kgo.ProducerLinger(500*time.Millisecond),
		connect.ClientLabel(fmt.Sprintf("%s->%s|%s-%d|offset-index-producer", tc.Source, tc.Target, tc.Connector, tc.ID)),
	)
}

// closeOffsetProducers closes what openOffsetProducers opened; records still
// buffered are failed.
func (t *MirrorSourceTask) closeOffsetProducers() {
	if t.syncProd != nil && t.syncProd != t.indexProd {
		t.syncProd.Close()
	}
	if t.indexProd != nil && !t.txn { // the transactional producer is the runner's
		t.indexProd.Close()
	}
	t.syncProd, t.indexProd = nil, nil
}

// sendOffsets hands what the tracker queued to the producers: index entries
// to the index topic, in the order they were queued (so that what survives
// a crash is a prefix of them), and MM2 offset syncs to the offset-syncs
// topic. It does not wait for them to be written. It fails once an index
// entry failed: the index then misses a run, and only a restart from the
// committed source offsets, which the failed entry keeps from advancing,
// writes it again.
//
// The records are produced with a context that is never cancelled: kgo fails
// buffered records whose Produce context is cancelled, and the entries queued
// by the last Poll must reach the final Commit's flush. ctx bounds only the
// wait for buffer space, which happens here rather than in Produce. An offset
// sync that finds the buffer full is dropped (MM2's syncs are best effort; a
// later one of the partition supersedes it), so a source cluster that is
// away never holds up Poll.
func (t *MirrorSourceTask) sendOffsets(ctx context.Context) error {
	// In exactly-once mode a failed entry dooms the transaction, not the
	// task: Commit reports it, and the runner aborts and starts over.
	if err := t.indexErr.Load(); err != nil && !t.txn {
		return *err
	}
	bg := context.WithoutCancel(ctx)
	t.entries = t.shifts.TakeEntries(t.entries[:0])
	for _, e := range t.entries {
		// The transactional producer is the runner's: Produce waits for
		// room in its buffer itself.
		if !t.txn && t.indexProd.BufferedProduceRecords() >= offsetProducerBuffer {
			if err := t.indexProd.Flush(ctx); err != nil {
				return fmt.Errorf("wait for offset index entries to %s: %w", t.indexTopic, err)
			}
		}
		rec, err := t.indexRecord(e)
		if err != nil {
			return err
		}
		t.indexProd.Produce(bg, rec, t.onIndex)
		if !t.txn {
			t.keepUnflushed(e)
		}
	}
	if t.syncProd != nil {
		t.syncs = t.shifts.TakeSyncs(t.syncs[:0])
		if t.txn && !t.cfg.OffsetSyncsOnTarget {
			// On the source, outside the transaction: only once it
			// committed (TransactionCommitted), as MM2 sends them after
			// its commit; a record that is aborted must get no sync.
			t.heldSyncs = append(t.heldSyncs, t.syncs...)
			return nil
		}
		return t.produceSyncs(bg)
	}
	return nil
}

// produceSyncs hands t.syncs to the sync producer without waiting.
func (t *MirrorSourceTask) produceSyncs(ctx context.Context) error {
	for _, s := range t.syncs {
		rec, err := t.syncRecord(s)
		if err != nil {
			return err
		}
		t.syncProd.TryProduce(ctx, rec, t.onSync)
	}
	if n := t.syncFails.Swap(0); n > 0 {
		t.tc.Logger.Warn("offset syncs not written", "topic", t.syncsTopic, "count", n, "error", *t.syncErr.Load())
	}
	return nil
}

// indexRecord is the offset index topic's record of e (partition 0).
func (t *MirrorSourceTask) indexRecord(e offsets.IndexEntry) (*kgo.Record, error) {
	buf, err := e.AppendKey(make([]byte, 0, 14+len(e.Topic)+42))
	if err != nil {
		return nil, err // a source topic name is never that long
	}
	k := len(buf)
	buf = e.AppendValue(buf)
	return &kgo.Record{Topic: t.indexTopic, Key: buf[:k:k], Value: buf[k:]}, nil
}

// syncRecord is the offset-syncs topic's record of s (partition 0).
func (t *MirrorSourceTask) syncRecord(s offsets.OffsetSync) (*kgo.Record, error) {
	buf, err := s.AppendKey(make([]byte, 0, 6+len(s.Topic)+16))
	if err != nil {
		return nil, err
	}
	k := len(buf)
	buf, _ = s.AppendValue(buf)
	return &kgo.Record{Topic: t.syncsTopic, Key: buf[:k:k], Value: buf[k:]}, nil
}

// Uncommitted implements connect.CommitCarrier: the index entries that
// Commit would make durable now (those handed to the index producer since
// the last Commit, which its close may have failed, then every partition's
// current run up to its last acknowledged record), and, when the MM2
// offset syncs live on the target, the syncs Commit would send. Syncs for
// a source cluster are left out, as MM2 drops a sync it could not send: the
// next run's first record of each partition gets a sync of its own.
func (t *MirrorSourceTask) Uncommitted() ([]*kgo.Record, error) {
	if t.txn || t.shifts == nil {
		return nil, nil
	}
	if t.overflowed {
		return nil, fmt.Errorf("more than %d offset index entries written since the last commit that succeeded: they are not kept", maxUnflushed)
	}
	t.shifts.Commit()
	entries := t.shifts.TakeEntries(t.unflushed)
	t.unflushed = nil
	out := make([]*kgo.Record, 0, len(entries))
	for _, e := range entries {
		rec, err := t.indexRecord(e)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	if t.syncProd != nil && t.cfg.OffsetSyncsOnTarget {
		for _, s := range t.shifts.TakeSyncs(nil) {
			rec, err := t.syncRecord(s)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// TransactionCommitted implements connect.TransactionListener: the MM2
// offset syncs held for the source cluster go out now that the records
// they describe are committed.
func (t *MirrorSourceTask) TransactionCommitted(ctx context.Context) {
	if len(t.heldSyncs) == 0 {
		return
	}
	t.syncs = append(t.syncs[:0], t.heldSyncs...)
	clear(t.heldSyncs)
	t.heldSyncs = t.heldSyncs[:0]
	_ = t.produceSyncs(context.WithoutCancel(ctx))
}

// indexAcked runs on the index producer's promise goroutine.
func (t *MirrorSourceTask) indexAcked(r *kgo.Record, err error) {
	if err != nil {
		// The cause is formatted, not wrapped: a retriable cause would make
		// the runner retry Poll, and Poll cannot bring the entry back.
		ferr := fmt.Errorf("write offset index entry to %s (%v); the task must restart from its committed source offsets", t.indexTopic, err)
		t.indexErr.CompareAndSwap(nil, &ferr)
	}
}

// syncAcked runs on the sync producer's promise goroutine. A failed MM2
// offset sync is logged (by sendOffsets) and dropped, as MM2 does: a later
// sync of the partition supersedes it.
func (t *MirrorSourceTask) syncAcked(r *kgo.Record, err error) {
	if err != nil {
		t.syncErr.Store(&err)
		t.syncFails.Add(1)
	}
}

// Commit implements connect.Committer. The runner calls it before it commits
// source offsets: it promotes delayed MM2 offset syncs, queues the extent of
// every partition's current run, sends everything queued and waits until
// the target has every index entry. An error keeps the runner from
// committing source offsets.
func (t *MirrorSourceTask) Commit(ctx context.Context) error {
	t.shifts.Commit()
	if err := t.sendOffsets(ctx); err != nil {
		return err
	}
	if err := t.indexProd.Flush(ctx); err != nil {
		return fmt.Errorf("flush offset index entries to %s: %w", t.indexTopic, err)
	}
	if err := t.indexErr.Load(); err != nil {
		return *err
	}
	t.unflushed, t.overflowed = t.unflushed[:0], false
	return nil
}

// keepUnflushed keeps e for Uncommitted until the next Commit succeeds.
func (t *MirrorSourceTask) keepUnflushed(e offsets.IndexEntry) {
	switch {
	case t.overflowed:
	case len(t.unflushed) < maxUnflushed:
		t.unflushed = append(t.unflushed, e)
	default:
		t.unflushed, t.overflowed = nil, true
	}
}

// maxUnflushed bounds the index entries kept for Uncommitted between two
// commits that succeed (a run's entries are few: one per gap or shift in
// the source, and one extent per partition and commit).
const maxUnflushed = 1 << 16

// sourceLog is the task's state of one assigned source partition.
type sourceLog struct {
	sp *connect.SourcePartition
	// next is the source offset the task expects to read next (-1:
	// unknown), and hwm the partition's last high watermark seen (-1: none
	// since the task took the partition): they tell records deleted before
	// they were copied from gaps that compaction and transaction markers
	// leave, and what a log that went away still held.
	next, hwm int64
	// id is the topic ID of the log being copied; zero until known (a
	// stored offset without one, or a broker without topic IDs).
	id [16]byte
	// start is where the partition started, for adding it again before
	// anything was read.
	start kgo.Offset
}

// position is where the partition goes on from.
func (l *sourceLog) position() kgo.Offset {
	if l.next >= 0 {
		return kgo.NewOffset().At(l.next)
	}
	return l.start
}

// OffsetFieldTopicID is the field of a source offset value, beside "offset",
// that holds the ID of the source topic whose offset it is:
// {"offset":N,"topicId":"<Kafka's base64 form>"}. A topic deleted and
// re-created has a new ID, so a stored offset of the old topic is never
// taken for a position in the new one. Java MM2 reads only "offset".
const OffsetFieldTopicID = "topicId"

var noTopicID [16]byte

// topicIDString is a topic ID as Kafka prints it (Uuid.toString: URL-safe
// base64 without padding).
func topicIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func topicIDField(id [16]byte) connect.OffsetField {
	return connect.StrField(OffsetFieldTopicID, topicIDString(id))
}

// storedTopicID returns the topic ID stored in v, or zero.
func storedTopicID(v connect.OffsetValue) [16]byte {
	var id [16]byte
	if f, ok := v.Field(OffsetFieldTopicID); ok && !f.IsInt {
		if b, err := base64.RawURLEncoding.DecodeString(f.Str); err == nil && len(b) == len(id) {
			copy(id[:], b)
		}
	}
	return id
}

// fields returns the fields the partition stores beside its offset.
func (l *sourceLog) fields() []connect.OffsetField {
	if l.id == noTopicID {
		return nil
	}
	return []connect.OffsetField{topicIDField(l.id)}
}

// track registers partition handles for tps and returns where each partition
// starts: after its stored source offset, at the start of a log of which
// nothing was copied yet, or at the reset point.
func (t *MirrorSourceTask) track(tps []topicPartition) map[string]map[int32]kgo.Offset {
	start := make(map[string]map[int32]kgo.Offset)
	for _, tp := range tps {
		key := connect.MirrorSourceOffsetKey(t.tc.Connector, t.cfg.SourceAlias, tp.Topic, tp.Partition)
		delete(t.endedKeys, string(key))
		l := &sourceLog{sp: t.tc.Partition(key), next: -1, hwm: -1, start: kgo.NewOffset().AtStart()}
		if t.cfg.StartAtEnd {
			l.start = kgo.NewOffset().AtEnd()
		}
		if v, ok := t.tc.StoredOffsetValue(key); ok {
			l.id = storedTopicID(v)
			switch {
			case v.Offset >= 0: // MM2 stores the last copied offset
				l.start, l.next = kgo.NewOffset().At(v.Offset+1), v.Offset+1
			case l.id != noTopicID:
				// A re-created topic of which nothing was copied yet: from
				// its first offset, whatever the reset policy says.
				l.start, l.next = kgo.NewOffset().AtStart(), 0
			}
		}
		l.sp.SetObserver(t.shifts.Partition(tp.Topic, tp.Partition))
		ps := t.parts[tp.Topic]
		for int32(len(ps)) <= tp.Partition {
			ps = append(ps, nil)
		}
		ps[tp.Partition] = l
		t.parts[tp.Topic] = ps
		t.where[l.sp] = tp
		if _, ok := t.remote[tp.Topic]; !ok {
			t.remote[tp.Topic] = t.cfg.Policy.FormatRemoteTopic(t.cfg.SourceAlias, tp.Topic)
		}
		l.sp.ExportMetrics(connect.PartitionMetrics{Kind: connect.MirrorSourcePartition,
			Topic: tp.Topic, Partition: tp.Partition, TargetTopic: t.remote[tp.Topic]})
		if start[tp.Topic] == nil {
			start[tp.Topic] = make(map[int32]kgo.Offset)
		}
		start[tp.Topic][tp.Partition] = l.start
	}
	return start
}

// held returns the task's state of tp, or nil.
func (t *MirrorSourceTask) held(tp topicPartition) *sourceLog {
	if ps := t.parts[tp.Topic]; int(tp.Partition) < len(ps) {
		return ps[tp.Partition]
	}
	return nil
}

// Reconfigure implements connect.Reconfigurable: partitions that no longer
// exist on the source (KeyEndedPartitions) are closed, what they held past
// the last copied record is reported, and their stored offsets deleted;
// partitions added to the assignment start copying, removed ones stop, and
// the rest go on untouched.
func (t *MirrorSourceTask) Reconfigure(_ context.Context, props connect.Props) error {
	assigned, err := parseAssigned(props[KeyAssignedPartitions])
	if err != nil {
		return err
	}
	ended, err := parseEnded(props[KeyEndedPartitions])
	if err != nil {
		return err
	}
	ids, err := parseTopicIDs(props[KeyTopicIDs])
	if err != nil {
		return err
	}
	closed := t.endPartitions(ended)
	t.lookAgain(ids)
	want := make(map[topicPartition]bool, len(assigned))
	var added []topicPartition
	for _, tp := range assigned {
		want[tp] = true
		if t.held(tp) == nil {
			added = append(added, tp)
		}
	}
	removed := make(map[string][]int32)
	for topic, ps := range t.parts {
		for p, l := range ps {
			if l != nil && !want[topicPartition{topic, int32(p)}] {
				removed[topic] = append(removed[topic], int32(p))
				ps[p] = nil
				delete(t.where, l.sp)
				l.sp.StopMetrics()
			}
		}
	}
	for _, tp := range closed {
		removed[tp.Topic] = append(removed[tp.Topic], tp.Partition)
	}
	nremoved := countParts(removed)
	t.drop(removed, want)
	if len(added) > 0 {
		t.cl.AddConsumePartitions(t.track(added))
	}
	t.tc.Logger.Info("assignment changed", "added", len(added), "removed", nremoved, "ended", len(ended), "partitions", len(assigned))
	return nil
}

// lookAgain takes the topic IDs the connector saw for topics re-created
// while it ran (KeyTopicIDs). A topic whose ID is new to the task and
// differs from the one it copies is purged from the client and added again:
// its next fetch shows the new topic, and Poll starts it over (see
// recreated). Without this the client would find out only when its fetches
// of the old topic ID fail for good, seconds later. The fetched topic ID
// decides, not this hint, which may be older than what the task saw.
func (t *MirrorSourceTask) lookAgain(ids map[string][16]byte) {
	for topic, id := range ids {
		if t.hinted[topic] == id {
			continue
		}
		t.hinted[topic] = id
		for _, l := range t.parts[topic] {
			if l != nil && l.id != noTopicID && l.id != id {
				t.readd[topic] = true
				break
			}
		}
	}
	if len(t.readd) > 0 {
		t.addAgain()
		clear(t.readd)
	}
}

// parseTopicIDs parses KeyTopicIDs: topic=ID, comma separated, with IDs as
// Kafka prints them.
func parseTopicIDs(s string) (map[string][16]byte, error) {
	out := make(map[string][16]byte)
	if s == "" {
		return out, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		topic, enc, ok := strings.Cut(item, "=")
		b, err := base64.RawURLEncoding.DecodeString(enc)
		if !ok || err != nil || topic == "" || len(b) != 16 {
			return nil, fmt.Errorf("%s: %q is not topic=topic ID", KeyTopicIDs, item)
		}
		out[topic] = [16]byte(b)
	}
	return out, nil
}

// drop stops consuming removed partitions. A topic of which the task keeps
// no partition is purged from the client altogether, so that if it comes
// back re-created, the client learns its new topic ID.
func (t *MirrorSourceTask) drop(removed map[string][]int32, want map[topicPartition]bool) {
	wanted := make(map[string]bool)
	for tp := range want {
		wanted[tp.Topic] = true
	}
	var purge []string
	for topic := range removed {
		if !wanted[topic] {
			purge = append(purge, topic)
			delete(removed, topic)
			delete(t.parts, topic)
		}
	}
	if len(purge) > 0 {
		t.cl.PurgeTopicsFromClient(purge...)
	}
	if len(removed) > 0 {
		t.cl.RemoveConsumePartitions(removed)
		// A partition the runner paused stays paused in the client even
		// when it is no longer consumed; should it come back, it must not.
		t.cl.ResumeFetchPartitions(removed)
	}
}

func countParts(m map[string][]int32) int {
	n := 0
	for _, ps := range m {
		n += len(ps)
	}
	return n
}

// endPartitions closes source partitions that no longer exist (their topic
// was deleted, or re-created with fewer partitions): what the task knew
// their log to hold past the last copied record is reported lost, and
// their stored offsets are deleted once the records already handed over are
// acknowledged. A partition the task does not hold but whose offset is
// stored (it went away while nobody copied it) is reported as a loss of
// unknown size from its stored offset on. Each is handled once, however
// often a config repeats it. It returns the partitions it closed that the
// task held.
func (t *MirrorSourceTask) endPartitions(ended []topicPartition) (closed []topicPartition) {
	const why = "the source partition no longer exists (its topic was deleted, or re-created with fewer partitions)"
	for _, tp := range ended {
		key := connect.MirrorSourceOffsetKey(t.tc.Connector, t.cfg.SourceAlias, tp.Topic, tp.Partition)
		if t.endedKeys[string(key)] {
			continue
		}
		t.endedKeys[string(key)] = true
		if l := t.held(tp); l != nil {
			t.endLog(tp.Topic, tp.Partition, l, why)
			l.sp.ForgetOffsets()
			t.parts[tp.Topic][tp.Partition] = nil
			delete(t.where, l.sp)
			l.sp.StopMetrics()
			closed = append(closed, tp)
			continue
		}
		v, ok := t.tc.StoredOffsetValue(key)
		if !ok {
			continue
		}
		t.reportUnknown(tp.Topic, tp.Partition, max(v.Offset+1, 0), why+" and went away while it was not copied")
		t.tc.Partition(key).ForgetOffsets()
	}
	return closed
}

// endLog reports what the log of a partition that went away (its topic was
// deleted or re-created) held past what was copied: exactly, from the next
// expected offset to the last high watermark seen, when the task read the
// log; from the next expected offset on, of unknown size, when it had not
// read it since it took the partition. It returns the report, "" for none.
func (t *MirrorSourceTask) endLog(topic string, p int32, l *sourceLog, why string) string {
	switch {
	case l.next >= 0 && l.hwm > l.next:
		n := l.hwm - l.next
		t.tc.ReportLostRecords(n)
		t.tc.Logger.Error("source records lost before they were copied", "topic", topic, "partition", p,
			"first_lost_offset", l.next, "last_lost_offset", l.hwm-1, "records", n, "reason", why)
		return fmt.Sprintf("records at offsets %d to %d were lost: %s", l.next, l.hwm-1, why)
	case l.next >= 0 && l.hwm < 0:
		why += "; the task had not read the old log since it took the partition, so its end is not known"
		t.reportUnknown(topic, p, l.next, why)
		return fmt.Sprintf("records from offset %d on may have been lost: %s", l.next, why)
	}
	return ""
}

// reportUnknown reports a loss of unknown size: records of a log that went
// away, from offset from on, if there were any.
func (t *MirrorSourceTask) reportUnknown(topic string, p int32, from int64, why string) {
	t.tc.ReportUnknownLoss()
	t.tc.Logger.Error("source records may have been lost before they were copied; how many is not known", "topic", topic, "partition", p,
		"first_lost_offset", from, "last_lost_offset", "unknown", "reason", why)
}

// parseEnded parses KeyEndedPartitions, in task.assigned.partitions' form.
func parseEnded(s string) ([]topicPartition, error) {
	tps, err := parseAssigned(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyEndedPartitions, err)
	}
	return tps, nil
}

// Poll implements connect.SourceTask. Every fetched partition's topic ID is
// checked against the one the task copies: a new ID means the topic was
// deleted and re-created, and every partition of it starts over at the new
// topic's start (see recreated).
func (t *MirrorSourceTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if err := t.sendOffsets(ctx); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, t.cfg.PollTimeout)
	fetches := t.cl.PollFetches(pctx)
	cancel()
	clear(t.readd)
	var fatal, retry error
	fetches.EachError(func(topic string, p int32, err error) {
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		case errors.Is(err, kerr.UnknownTopicID):
			// The topic is not the one the client knows any more: deleted,
			// maybe re-created. The client never takes on a new topic ID by
			// itself; purged and added again, it looks the topic up anew.
			if !t.readd[topic] {
				t.tc.Logger.Warn("source topic ID unknown to the cluster: the topic was deleted, maybe re-created; looking it up again",
					"topic", topic, "partition", p)
			}
			t.readd[topic] = true
		case connect.IsRetriable(err), errors.Is(err, kerr.UnknownTopicOrPartition):
			// The client retries by itself. If nothing else came back, the
			// runner backs off and says so (not once per fetch: a deleted
			// topic fails every fetch at once).
			retry = fmt.Errorf("fetch %s[%d] from %s: %w", topic, p, t.tc.Source, err)
		default:
			fatal = errors.Join(fatal, fmt.Errorf("fetch %s[%d] from %s: %w", topic, p, t.tc.Source, err))
		}
	})
	if fatal != nil {
		return nil, fatal
	}
	out := t.out[:0]
	var lossErr error
	// Fetches are walked by hand, not with EachPartition, for the topic ID
	// of each fetched topic.
	for _, f := range fetches {
		for i := range f.Topics {
			ft := &f.Topics[i]
			for j := range ft.Partitions {
				fp := &ft.Partitions[j]
				if fp.Err != nil {
					continue // EachError saw it
				}
				l := t.held(topicPartition{ft.Topic, fp.Partition})
				if l == nil {
					continue // unassigned while the fetch was in flight
				}
				if t.readd[ft.Topic] {
					// Added again below where it goes on from: what was
					// fetched now is fetched again, from the right topic.
					continue
				}
				if ft.TopicID != noTopicID && l.id != ft.TopicID {
					if l.id == noTopicID {
						// A stored offset without a topic ID (Java MM2's,
						// or an older mm2go's): from now on it has one.
						l.id = ft.TopicID
						l.sp.SetOffsetFields(l.fields()...)
					} else {
						if err := t.recreated(ft.Topic, l.id, ft.TopicID); err != nil {
							lossErr = errors.Join(lossErr, err)
						}
						continue // read again from the new topic's start
					}
				}
				if len(fp.Records) == 0 {
					// Nothing past the position: the consumer is at the
					// high watermark (past transaction markers, too).
					l.hwm = fp.HighWatermark
					l.sp.ObserveFetch(fp.HighWatermark, fp.HighWatermark)
					continue
				}
				if err := t.checkLoss(ft.Topic, fp, l); err != nil {
					lossErr = errors.Join(lossErr, err)
					continue
				}
				sp, remote := l.sp, t.remote[ft.Topic]
				sp.ObserveFetch(fp.HighWatermark, fp.Records[len(fp.Records)-1].Offset+1)
				for _, r := range fp.Records {
					if r.Attrs.IsControl() {
						continue // a transaction marker: the target's producer writes its own
					}
					if t.prov != nil && !t.prov.stamp(r) {
						continue // it came from the target: copying it back would loop
					}
					r.Topic = remote // partition, key, value, headers, timestamp stay
					out = append(out, connect.SourceRecord{Record: r, Partition: sp, Offset: r.Offset})
				}
			}
		}
	}
	if lossErr != nil {
		// on.data.loss=fail: nothing of this poll is copied, so the
		// committed offsets stay before the loss until an operator acts.
		return nil, lossErr
	}
	if len(t.readd) > 0 {
		t.addAgain()
	}
	t.out = out
	if len(out) == 0 && retry != nil {
		return nil, connect.Retriable(retry)
	}
	return out, nil
}

// recreated handles a fetch that shows topic with topic ID now instead of
// old: the topic was deleted and re-created. Every partition of it that the
// task copies from the old topic is at its end: what the old log held past
// the last copied record is reported, and the partition starts over at the
// new topic's first offset, which its stored offset says from the next
// commit on. With on.data.loss=fail a loss is returned instead, and nothing
// changes.
func (t *MirrorSourceTask) recreated(topic string, old, now [16]byte) error {
	why := fmt.Sprintf("the topic was deleted and re-created (topic ID %s, now %s)", topicIDString(old), topicIDString(now))
	t.tc.Logger.Warn("source topic was deleted and re-created; copying the new topic from its start",
		"topic", topic, "old_id", topicIDString(old), "new_id", topicIDString(now))
	var lossErr error
	for p, l := range t.parts[topic] {
		if l == nil || l.id != old {
			continue
		}
		if lost := t.endLog(topic, int32(p), l, why); lost != "" && t.cfg.FailOnDataLoss {
			lossErr = errors.Join(lossErr, fmt.Errorf("source %s[%d]: %s (%s=fail)", topic, p, lost, KeyOnDataLoss))
			continue
		}
		l.id, l.next, l.hwm, l.start = now, 0, -1, kgo.NewOffset().AtStart()
		l.sp.RestartOffsets(l.fields()...)
	}
	if lossErr == nil {
		t.readd[topic] = true
	}
	return lossErr
}

// addAgain purges the topics in t.readd from the client and adds their
// partitions again where each goes on from: the client then looks the topic
// up anew and fetches under its current topic ID.
func (t *MirrorSourceTask) addAgain() {
	topics := make([]string, 0, len(t.readd))
	start := make(map[string]map[int32]kgo.Offset, len(t.readd))
	for topic := range t.readd {
		topics = append(topics, topic)
		for p, l := range t.parts[topic] {
			if l == nil {
				continue
			}
			if start[topic] == nil {
				start[topic] = make(map[int32]kgo.Offset)
			}
			start[topic][int32(p)] = l.position()
		}
	}
	t.cl.PurgeTopicsFromClient(topics...)
	t.cl.AddConsumePartitions(start)
}

// checkLoss compares the first fetched offset of a partition with the one
// the task expected. A record is lost when the log start moved past the
// expected offset (retention deleted records before they were copied); a
// first offset below the expected one means the partition went back
// (truncated, or re-created on a broker without topic IDs), and the records
// between the expected offset and the last high watermark seen are lost (of
// unknown number when the task had not seen the old log). Compaction and
// transaction markers leave gaps above the log start: not a loss.
//
// A loss is logged as an error with its exact offsets and counted; with
// on.data.loss=fail it is returned as an error.
func (t *MirrorSourceTask) checkLoss(topic string, fp *kgo.FetchPartition, l *sourceLog) error {
	first, last := fp.Records[0].Offset, fp.Records[len(fp.Records)-1].Offset
	exp, prevHWM := l.next, l.hwm
	l.next, l.hwm = last+1, fp.HighWatermark
	var lost string
	switch {
	case exp < 0 || first == exp:
		return nil
	case first > exp && fp.LogStartOffset > exp:
		from, to := exp, min(fp.LogStartOffset, first)
		const why = "deleted by retention before they were copied"
		t.tc.ReportLostRecords(to - from)
		t.tc.Logger.Error("source records lost before they were copied", "topic", topic, "partition", fp.Partition,
			"first_lost_offset", from, "last_lost_offset", to-1, "records", to-from, "reason", why)
		lost = fmt.Sprintf("records at offsets %d to %d %s", from, to-1, why)
	case first < exp:
		t.tc.Logger.Error("source partition went back; copying it from its new records",
			"topic", topic, "partition", fp.Partition, "expected_offset", exp, "first_offset", first)
		gone := &sourceLog{next: exp, hwm: prevHWM}
		lost = t.endLog(topic, fp.Partition, gone, "the partition's offsets went back (topic re-created, or truncated)")
		if !t.cfg.FailOnDataLoss {
			// The new, lower offsets are stored from the next commit on.
			l.sp.RestartOffsets(l.fields()...)
		}
	default:
		return nil // a gap above the log start: compaction or transaction markers
	}
	if t.cfg.FailOnDataLoss && lost != "" {
		l.next, l.hwm = exp, prevHWM // the restarted task meets the same loss
		return fmt.Errorf("source %s[%d]: %s (%s=fail)", topic, fp.Partition, lost, KeyOnDataLoss)
	}
	return nil
}

// PausePartition implements connect.PartitionPauser: the consumer stops
// fetching the partition, and drops what it fetched of it and did not return
// yet (kgo strips paused partitions from buffered fetches without moving
// their position).
func (t *MirrorSourceTask) PausePartition(sp *connect.SourcePartition) bool {
	tp, ok := t.where[sp]
	if !ok {
		return false
	}
	t.cl.PauseFetchPartitions(map[string][]int32{tp.Topic: {tp.Partition}})
	return true
}

// ResumePartition implements connect.PartitionPauser: the consumer fetches
// the partition again, from offset when offset >= 0 (kgo's SetOffsets also
// discards fetches of it in flight), or else from where it stopped. Loss
// detection then expects offset next, so records that retention deleted
// meanwhile are reported lost.
func (t *MirrorSourceTask) ResumePartition(sp *connect.SourcePartition, offset int64) bool {
	tp, ok := t.where[sp]
	if !ok {
		return false
	}
	if offset >= 0 {
		t.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{tp.Topic: {tp.Partition: {Epoch: -1, Offset: offset}}})
		if l := t.held(tp); l != nil {
			l.next = offset
		}
	}
	t.cl.ResumeFetchPartitions(map[string][]int32{tp.Topic: {tp.Partition}})
	return true
}

// Stop implements connect.SourceTask. The runner's last Commit sent and
// flushed the index entries; Stop gives the MM2 offset syncs it sent (the
// promoted delayed ones) until ctx to reach the offset-syncs topic.
func (t *MirrorSourceTask) Stop(ctx context.Context) error {
	if t.cl != nil {
		t.cl.Close()
	}
	if t.syncProd != nil {
		if err := t.syncProd.Flush(ctx); err != nil {
			t.tc.Logger.Warn("last offset syncs not written", "topic", t.syncsTopic, "error", err)
		}
	}
	t.closeOffsetProducers()
	return nil
}
