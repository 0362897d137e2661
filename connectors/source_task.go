package connectors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	_ connect.Committer       = (*MirrorSourceTask)(nil)
	_ connect.Reconfigurable  = (*MirrorSourceTask)(nil)
	_ connect.PartitionPauser = (*MirrorSourceTask)(nil)
	_ connect.AckObserver     = (*offsets.PartitionTracker)(nil)
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
type MirrorSourceTask struct {
	tc  *connect.TaskContext
	cfg SourceConfig
	cl  *kgo.Client

	// parts maps a source topic to its partition handles by partition
	// number, and remote to its remote name: looked up once per fetched
	// partition, not per record.
	parts  map[string][]*connect.SourcePartition
	where  map[*connect.SourcePartition]topicPartition // the reverse of parts
	remote map[string]string
	out    []connect.SourceRecord // reused across polls

	// next is, per partition, the source offset the task expects to read
	// next (-1: unknown), and hwm the partition's last high watermark seen:
	// they tell records deleted before they were copied from gaps that
	// compaction and transaction markers leave.
	next map[*connect.SourcePartition]int64
	hwm  map[*connect.SourcePartition]int64
	// prov stamps provenance headers and drops loops, with the identity
	// policy only (nil otherwise).
	prov *provenance
	// gens are the generations of re-created source topics (see
	// KeyTopicGenerations), as of the task's current config.
	gens  map[string]int
	fresh map[string]bool // topics to start at their start while Reconfigure runs

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
	t.tc, t.cfg = tc, cfg
	t.parts = make(map[string][]*connect.SourcePartition)
	t.where = make(map[*connect.SourcePartition]topicPartition)
	t.remote = make(map[string]string)
	if t.gens, err = parseGenerations(tc.Props[KeyTopicGenerations]); err != nil {
		return err
	}
	t.fresh = make(map[string]bool)
	t.next = make(map[*connect.SourcePartition]int64)
	t.hwm = make(map[*connect.SourcePartition]int64)
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
	t.cl, err = tc.NewClient(tc.Source, connect.RoleConsumer,
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
	)
	if err != nil {
		t.closeOffsetProducers()
		return err
	}
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
	t.indexProd, err = tc.NewClient(tc.Target, connect.RoleProducer,
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

// closeOffsetProducers closes what openOffsetProducers opened; records still
// buffered are failed.
func (t *MirrorSourceTask) closeOffsetProducers() {
	if t.syncProd != nil && t.syncProd != t.indexProd {
		t.syncProd.Close()
	}
	if t.indexProd != nil {
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
	if err := t.indexErr.Load(); err != nil {
		return *err
	}
	bg := context.WithoutCancel(ctx)
	t.entries = t.shifts.TakeEntries(t.entries[:0])
	for _, e := range t.entries {
		if t.indexProd.BufferedProduceRecords() >= offsetProducerBuffer {
			if err := t.indexProd.Flush(ctx); err != nil {
				return fmt.Errorf("wait for offset index entries to %s: %w", t.indexTopic, err)
			}
		}
		buf, err := e.AppendKey(make([]byte, 0, 14+len(e.Topic)+42))
		if err != nil {
			return err // a source topic name is never that long
		}
		k := len(buf)
		buf = e.AppendValue(buf)
		t.indexProd.Produce(bg, &kgo.Record{Topic: t.indexTopic, Key: buf[:k:k], Value: buf[k:]}, t.onIndex)
	}
	if t.syncProd != nil {
		t.syncs = t.shifts.TakeSyncs(t.syncs[:0])
		for _, s := range t.syncs {
			buf, err := s.AppendKey(make([]byte, 0, 6+len(s.Topic)+16))
			if err != nil {
				return err
			}
			k := len(buf)
			buf, _ = s.AppendValue(buf)
			t.syncProd.TryProduce(bg, &kgo.Record{Topic: t.syncsTopic, Key: buf[:k:k], Value: buf[k:]}, t.onSync)
		}
		if n := t.syncFails.Swap(0); n > 0 {
			t.tc.Logger.Warn("offset syncs not written", "topic", t.syncsTopic, "count", n, "error", *t.syncErr.Load())
		}
	}
	return nil
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
	return nil
}

// track registers partition handles for tps and returns where each partition
// starts: after its stored source offset, or at the reset point.
func (t *MirrorSourceTask) track(tps []topicPartition) map[string]map[int32]kgo.Offset {
	start := make(map[string]map[int32]kgo.Offset)
	for _, tp := range tps {
		key := connect.MirrorSourceOffsetKey(t.tc.Connector, t.cfg.SourceAlias, tp.Topic, tp.Partition)
		sp := t.tc.Partition(key)
		ps := t.parts[tp.Topic]
		for int32(len(ps)) <= tp.Partition {
			ps = append(ps, nil)
		}
		ps[tp.Partition] = sp
		t.parts[tp.Topic] = ps
		t.where[sp] = tp
		sp.SetObserver(t.shifts.Partition(tp.Topic, tp.Partition))
		if _, ok := t.remote[tp.Topic]; !ok {
			t.remote[tp.Topic] = t.cfg.Policy.FormatRemoteTopic(t.cfg.SourceAlias, tp.Topic)
		}
		sp.ExportMetrics(connect.PartitionMetrics{Kind: connect.MirrorSourcePartition,
			Topic: tp.Topic, Partition: tp.Partition, TargetTopic: t.remote[tp.Topic]})
		o := kgo.NewOffset().AtStart()
		if t.cfg.StartAtEnd {
			o = kgo.NewOffset().AtEnd()
		}
		if t.fresh[tp.Topic] {
			// Re-created while unassigned: its stored offset is the old
			// topic's.
			t.startOver(sp, tp.Topic, tp.Partition)
			o = kgo.NewOffset().AtStart()
		} else if stored, ok := t.tc.StoredOffset(key); ok {
			o = kgo.NewOffset().At(stored + 1) // MM2 stores the last copied offset
			t.next[sp] = stored + 1
		} else {
			t.next[sp] = -1
		}
		if start[tp.Topic] == nil {
			start[tp.Topic] = make(map[int32]kgo.Offset)
		}
		start[tp.Topic][tp.Partition] = o
	}
	return start
}

// Reconfigure implements connect.Reconfigurable: partitions added to the
// assignment start copying, removed ones stop, and the rest go on untouched.
func (t *MirrorSourceTask) Reconfigure(_ context.Context, props connect.Props) error {
	assigned, err := parseAssigned(props[KeyAssignedPartitions])
	if err != nil {
		return err
	}
	want := make(map[topicPartition]bool, len(assigned))
	var added []topicPartition
	for _, tp := range assigned {
		want[tp] = true
		if ps := t.parts[tp.Topic]; int(tp.Partition) >= len(ps) || ps[tp.Partition] == nil {
			added = append(added, tp)
		}
	}
	removed := make(map[string][]int32)
	for topic, ps := range t.parts {
		for p, sp := range ps {
			if sp != nil && !want[topicPartition{topic, int32(p)}] {
				removed[topic] = append(removed[topic], int32(p))
				ps[p] = nil
				delete(t.where, sp)
				sp.StopMetrics()
			}
		}
	}
	gens, err := parseGenerations(props[KeyTopicGenerations])
	if err != nil {
		return err
	}
	restart := t.recreatedPartitions(gens, want)
	if len(restart) > 0 {
		// The client still knows the old topic's ID and would keep fetching
		// it; forget the topic, then add its partitions back below.
		topics := make([]string, 0, len(restart))
		for topic := range restart {
			topics = append(topics, topic)
		}
		t.cl.PurgeTopicsFromClient(topics...)
	}
	prev := t.gens
	t.gens = gens
	for topic, g := range gens {
		if g > prev[topic] {
			t.fresh[topic] = true // partitions added below start at the new topic's start
		}
	}
	defer clear(t.fresh)
	if len(removed) > 0 {
		t.cl.RemoveConsumePartitions(removed)
		// A partition the runner paused stays paused in the client even
		// when it is no longer consumed; should it come back, it must not.
		t.cl.ResumeFetchPartitions(removed)
	}
	if len(added) > 0 {
		t.cl.AddConsumePartitions(t.track(added))
	}
	if len(restart) > 0 {
		t.cl.AddConsumePartitions(t.restartRecreated(restart))
	}
	t.tc.Logger.Info("assignment changed", "added", len(added), "removed", len(removed), "restarted_topics", len(restart), "partitions", len(assigned))
	return nil
}

// recreatedPartitions returns, by topic, the assigned partitions of topics
// whose generation went up: they were deleted and re-created on the source.
func (t *MirrorSourceTask) recreatedPartitions(gens map[string]int, assigned map[topicPartition]bool) map[string][]int32 {
	out := make(map[string][]int32)
	for topic, g := range gens {
		if g <= t.gens[topic] {
			continue
		}
		for p, sp := range t.parts[topic] {
			if sp != nil && assigned[topicPartition{topic, int32(p)}] {
				out[topic] = append(out[topic], int32(p))
			}
		}
	}
	return out
}

// restartRecreated makes partitions of re-created topics start over at the
// new topic's start. What the old topic held past the last copied record is
// lost, and reported so: from the next expected offset to the last high
// watermark seen.
func (t *MirrorSourceTask) restartRecreated(restart map[string][]int32) map[string]map[int32]kgo.Offset {
	start := make(map[string]map[int32]kgo.Offset)
	for topic, ps := range restart {
		start[topic] = make(map[int32]kgo.Offset)
		for _, p := range ps {
			t.startOver(t.parts[topic][p], topic, p)
			start[topic][p] = kgo.NewOffset().AtStart()
		}
	}
	return start
}

// startOver resets a partition of a re-created topic: it reports what the
// old topic held past the last copied record (from the next expected offset
// to the last high watermark seen) as lost, and makes the worker store the
// new topic's lower offsets.
func (t *MirrorSourceTask) startOver(sp *connect.SourcePartition, topic string, p int32) {
	if from, to := t.next[sp], t.hwm[sp]; from >= 0 && to > from {
		t.tc.ReportLostRecords(to - from)
		t.tc.Logger.Error("source records lost before they were copied", "topic", topic, "partition", p,
			"first_lost_offset", from, "last_lost_offset", to-1, "records", to-from,
			"reason", "the topic was deleted and re-created before they were copied")
	}
	t.next[sp], t.hwm[sp] = -1, 0
	sp.RestartOffsets()
}

// parseGenerations parses KeyTopicGenerations: topic=generation, comma
// separated (topic names have no "," or "=").
func parseGenerations(s string) (map[string]int, error) {
	out := make(map[string]int)
	if s == "" {
		return out, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		topic, g, ok := strings.Cut(item, "=")
		n, err := strconv.Atoi(g)
		if !ok || err != nil || topic == "" || n < 0 {
			return nil, fmt.Errorf("%s: %q is not topic=generation", KeyTopicGenerations, item)
		}
		out[topic] = n
	}
	return out, nil
}

// Poll implements connect.SourceTask.
func (t *MirrorSourceTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if err := t.sendOffsets(ctx); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, t.cfg.PollTimeout)
	fetches := t.cl.PollFetches(pctx)
	cancel()
	var fatal, retry error
	fetches.EachError(func(topic string, p int32, err error) {
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
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
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		ps := t.parts[fp.Topic]
		if fp.Err != nil || int(fp.Partition) >= len(ps) || ps[fp.Partition] == nil {
			return // failed (see EachError), or unassigned while the fetch was in flight
		}
		sp, remote := ps[fp.Partition], t.remote[fp.Topic]
		if len(fp.Records) == 0 {
			// Nothing past the position: the consumer is at the high
			// watermark (past transaction markers, too).
			sp.ObserveFetch(fp.HighWatermark, fp.HighWatermark)
			return
		}
		if err := t.checkLoss(fp, sp); err != nil {
			lossErr = errors.Join(lossErr, err)
			return
		}
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
	})
	if lossErr != nil {
		// on.data.loss=fail: nothing of this poll is copied, so the
		// committed offsets stay before the loss until an operator acts.
		return nil, lossErr
	}
	t.out = out
	if len(out) == 0 && retry != nil {
		return nil, connect.Retriable(retry)
	}
	return out, nil
}

// checkLoss compares the first fetched offset of a partition with the one
// the task expected. A record is lost when the log start moved past the
// expected offset (retention deleted records before they were copied); a
// first offset below the expected one means the partition went back (the
// topic was deleted and re-created, or truncated), and the records between
// the expected offset and the last high watermark seen are lost. Compaction
// and transaction markers leave gaps above the log start: not a loss.
//
// A loss is logged as an error with its exact offsets and counted; with
// on.data.loss=fail it is returned as an error.
func (t *MirrorSourceTask) checkLoss(fp kgo.FetchTopicPartition, sp *connect.SourcePartition) error {
	first, last := fp.Records[0].Offset, fp.Records[len(fp.Records)-1].Offset
	exp := t.next[sp]
	t.next[sp] = last + 1
	prevHWM := t.hwm[sp]
	t.hwm[sp] = fp.HighWatermark
	var from, to int64 // lost range [from, to)
	var why string
	switch {
	case exp < 0 || first == exp:
		return nil
	case first > exp && fp.LogStartOffset > exp:
		from, to, why = exp, min(fp.LogStartOffset, first), "deleted by retention before they were copied"
	case first < exp:
		from, to, why = exp, max(prevHWM, exp), "gone: the partition's offsets went back (topic deleted and re-created, or truncated)"
		t.tc.Logger.Error("source partition went back; copying it from its new records",
			"topic", fp.Topic, "partition", fp.Partition, "expected_offset", exp, "first_offset", first)
	default:
		return nil // a gap above the log start: compaction or transaction markers
	}
	if to > from {
		t.tc.ReportLostRecords(to - from)
		t.tc.Logger.Error("source records lost before they were copied", "topic", fp.Topic, "partition", fp.Partition,
			"first_lost_offset", from, "last_lost_offset", to-1, "records", to-from, "reason", why)
	}
	if t.cfg.FailOnDataLoss {
		t.next[sp] = exp // the restarted task meets the same loss
		return fmt.Errorf("source %s[%d]: records at offsets %d to %d %s (%s=fail)", fp.Topic, fp.Partition, from, to-1, why, KeyOnDataLoss)
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
		t.next[sp] = offset
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
