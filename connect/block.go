package connect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// How a task's runner keeps each partition in order when the target refuses
// a record, or when a record is too large for the producer's batches.
//
// The producer (kgo, idempotent) fails every record it holds of a partition
// when the target refuses a batch of it, and the partition's produce
// context, cancelled on the first failure, fails what the runner hands it
// after that. So nothing after a refused record reaches the target ahead of
// it, and the partition stops there: it is paused in the task (see
// PartitionPauser), its records already polled are dropped, and after a
// backoff it is read again from the refused record. When the target refused
// a batch of several records, the retry sends them one at a time (through a
// second, single-record producer), so that the record the target refuses is
// known exactly; that record's partition then stays blocked, retrying with
// capped exponential backoff, until the target takes it (an operator raised
// the target topic's max.message.bytes, say). Every other partition of the
// task goes on meanwhile.
//
// A record larger than the producer's batches (kgo's ProducerBatchMaxBytes,
// from producer.batch.size) would be refused by kgo itself at Produce, and
// the records after it would overtake it. The runner never hands it such a
// record: the partition waits until what it has in flight is acknowledged,
// sends the record alone through the single-record producer (whose batches
// hold producer.max.request.size), and goes on once it is acknowledged. A
// record larger than producer.max.request.size is refused as the Java
// producer refuses it, and blocks its partition.

// RecordTooLargeError is the failure of a record larger than the producer
// may send (producer.max.request.size, as Java's RecordTooLargeException).
type RecordTooLargeError struct {
	Size  int64 // the record's size in a batch of its own
	Limit int32 // producer.max.request.size
}

func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("the record is %d bytes in a batch of its own, more than producer.max.request.size (%d): "+
		"raise producer.max.request.size, and the target topic's max.message.bytes if it is lower", e.Size, e.Limit)
}

// recordBatchSize is an upper bound of rec's size in a record batch of its
// own (the 61-byte batch header, then the record with varints at their
// largest), as Java's AbstractRecords.estimateSizeInBytesUpperBound.
func recordBatchSize(rec *kgo.Record) int64 {
	n := int64(61 + 5 + 1 + 10 + 5 + 5 + len(rec.Key) + 5 + len(rec.Value) + 5)
	for _, h := range rec.Headers {
		n += int64(5 + len(h.Key) + 5 + len(h.Value))
	}
	return n
}

// userSize is the size kgo counts against MaxBufferedBytes.
func userSize(rec *kgo.Record) int {
	n := len(rec.Key) + len(rec.Value)
	for _, h := range rec.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// limitsOf reads the size limits of producer cl; recordMax is
// producer.max.request.size.
func limitsOf(cl *kgo.Client, recordMax int32) produceLimits {
	l := produceLimits{recordMax: recordMax, writeMax: 100 << 20,
		batchMax: func(string) int32 { return 1_000_012 }} // kgo's defaults
	if fn, ok := cl.OptValue(kgo.ProducerBatchMaxBytesFn).(func(string) int32); ok && fn != nil {
		l.batchMax = fn
	}
	// A record the producer's batches hold is never refused for its size
	// (flows map producer.max.request.size onto the batch size as well).
	l.recordMax = max(l.recordMax, l.batchMax(""))
	if n, ok := cl.OptValue(kgo.BrokerMaxWriteBytes).(int32); ok {
		l.writeMax = n
	}
	if n, ok := cl.OptValue(kgo.MaxBufferedBytes).(int64); ok {
		l.bufferedMax = n
	}
	if s, ok := cl.OptValue(kgo.ClientID).(string); ok {
		l.clientIDLen = int32(len(s))
	}
	return l
}

// batchFor is the largest record batch the producer builds for topic: its
// ProducerBatchMaxBytes, or less if one batch would not fit in a request of
// BrokerMaxWriteBytes (kgo's maxRecordBatchBytesForTopic, with the
// produce-request overhead counted generously).
func (l produceLimits) batchFor(topic string) int32 {
	overhead := 27 + l.clientIDLen + 2 + int32(max(16, len(topic))) + 12 + 16
	return max(min(l.batchMax(topic), l.writeMax-overhead), 1)
}

// attend puts sp in the runner's attention and pauses it in the task. It
// returns nil if the task no longer reads sp.
func (r *taskRunner) attend(sp *SourcePartition) *partState {
	if sp.st == nil {
		sp.st = &partState{bo: backoff{max: r.cfg.RetryBackoffMax}}
		r.attention = append(r.attention, sp)
		sp.waiting.Store(true)
	}
	st := sp.st
	if !st.paused && r.pauser != nil {
		if !r.pauser.PausePartition(sp) {
			r.release(sp)
			return nil
		}
		st.paused = true
	}
	return st
}

// hold makes sp send its next records one at a time, in order: the first
// of them does not fit the producer's batches.
func (r *taskRunner) hold(sp *SourcePartition) { r.attend(sp) }

// release puts sp back to flowing freely (or forgets it, if the task no
// longer reads it).
func (r *taskRunner) release(sp *SourcePartition) {
	for i, a := range r.attention {
		if a == sp {
			r.attention = append(r.attention[:i], r.attention[i+1:]...)
			break
		}
	}
	blocked := sp.st != nil && (sp.st.blocked || sp.st.retrying)
	sp.st = nil
	sp.waiting.Store(false)
	if blocked {
		r.publish()
	}
}

// park keeps recs of a held partition for later, in order; a blocked
// partition drops them (it is read again from the refused record).
func (r *taskRunner) park(sp *SourcePartition, recs []SourceRecord) {
	st := sp.st
	if st == nil || st.blocked && !st.retrying {
		return
	}
	st.parked = append(st.parked, recs...)
}

// service moves the partitions in attention on: retries blocked ones whose
// backoff is over, and sends parked records as far as acks allow. now is
// the current time.
func (r *taskRunner) service(ctx context.Context, now time.Time) {
	for _, sp := range append([]*SourcePartition(nil), r.attention...) {
		st := sp.st
		if st == nil || sp.InFlight() > 0 {
			continue // wait for the outcome of what is in flight
		}
		if sp.restarted {
			// The source topic was re-created: what the partition waited
			// for belongs to the old topic.
			sp.restarted = false
			sp.reset()
			if st.paused && !r.pauser.ResumePartition(sp, -1) {
				r.release(sp)
				continue
			}
			if st.blocked || st.retrying {
				r.log.Info("partition starts over with its re-created source topic; its block is dropped",
					"topic", st.info.Topic, "partition", st.info.Partition, "offset", st.info.Offset)
			}
			r.release(sp)
			continue
		}
		if !(st.blocked && !st.retrying) && sp.failure() != nil {
			continue // a failure the next blockFailed handles
		}
		if st.blocked && !st.retrying {
			if now.Before(st.info.NextRetry) {
				continue
			}
			// Nothing of the partition is in flight: start over from the
			// refused record, with a new produce context.
			sp.reset()
			st.parked = st.parked[:0]
			if !r.pauser.ResumePartition(sp, st.info.Offset) {
				r.release(sp)
				continue
			}
			st.paused, st.retrying = false, true
			st.info.NextRetry = time.Time{}
			r.publish()
			continue
		}
		switch {
		case st.retrying && st.exact && sp.Acked() >= st.info.Offset:
			r.log.Info("partition resumed: the target took the refused record", "topic", st.info.Topic,
				"partition", st.info.Partition, "offset", st.info.Offset, "retries", st.info.Retries,
				"blocked_for", now.Sub(st.info.Since).Round(time.Millisecond))
			st.retrying, st.blocked = false, false
			r.publish()
		case st.retrying && !st.exact && st.careful <= 0:
			// Every record of the refused batch went through on its own
			// (the batch as a whole was too large, say).
			r.log.Info("partition resumed: the target took the records of the refused batch one at a time",
				"topic", st.info.Topic, "partition", st.info.Partition, "first_offset", st.info.Offset, "last_offset", sp.Acked())
			st.retrying, st.blocked = false, false
			r.publish()
		}
		if len(st.parked) == 0 {
			if st.blocked || st.retrying {
				continue // resumed, waiting for the refused record
			}
			if st.paused && !r.pauser.ResumePartition(sp, -1) {
				r.release(sp)
				continue
			}
			r.release(sp)
			continue
		}
		r.sendParked(ctx, sp, st)
	}
}

// sendParked sends the first parked record on its own if it must go alone,
// or else the parked records up to the next that must.
func (r *taskRunner) sendParked(ctx context.Context, sp *SourcePartition, st *partState) {
	first := st.parked[0]
	if st.careful > 0 || !r.fits(sp, first.Record) {
		if r.txn != nil && !r.probeAlone() {
			return // exactly-once: it goes alone into the next transaction
		}
		size := recordBatchSize(first.Record)
		st.careful -= size
		st.parked = shift(st.parked, 1)
		if size > int64(r.limits.recordMax) {
			r.refuse(sp, first, &RecordTooLargeError{Size: size, Limit: r.limits.recordMax})
			return
		}
		cl, err := r.largeProducer()
		if err != nil {
			r.refuse(sp, first, err)
			return
		}
		if !sp.largeReady {
			r.awaitPartition(ctx, cl, first.Record.Topic, first.Record.Partition)
			sp.largeReady = true
		}
		sp.mu.Lock()
		sp.pushRecordsLocked([]SourceRecord{first}, r.clock.nowMs())
		sp.mu.Unlock()
		first.Record.Context = sp.ctx
		cl.Produce(ctx, first.Record, r.promise)
		r.stats.RecordsSent.Add(1)
		if r.txn != nil {
			// Nothing joins the probe's transaction before its outcome is
			// known: a refusal then aborts the probe alone.
			r.txn.probe = sp
			_ = cl.Flush(ctx)
		}
		return
	}
	k := 1
	for k < len(st.parked) && r.fits(sp, st.parked[k].Record) {
		k++
	}
	r.produce(ctx, sp, st.parked[:k])
	st.parked = shift(st.parked, k)
}

// shift drops the first n records of s, reusing its storage.
func shift(s []SourceRecord, n int) []SourceRecord {
	m := copy(s, s[n:])
	clear(s[m:])
	return s[:m]
}

// refuse fails rec without producing it, as the producer would: the
// partition blocks at it.
func (r *taskRunner) refuse(sp *SourcePartition, rec SourceRecord, err error) {
	sp.mu.Lock()
	if sp.err == nil {
		sp.err, sp.errOffset, sp.failCount = err, rec.Offset, 1
	}
	sp.mu.Unlock()
	r.prodErr.Store(true)
}

// largeProducer returns the single-record producer, opening it on first use.
// Its batches hold producer.max.request.size, and it takes a record of that
// size into its buffer.
func (r *taskRunner) largeProducer() (*kgo.Client, error) {
	if r.txn != nil {
		return r.prod, nil // its batches hold producer.max.request.size (txnProducerOpts)
	}
	if r.large != nil {
		return r.large, nil
	}
	m := r.limits.recordMax
	cl, err := r.newProducer( // the same settings as the task's producer, but for size
		kgo.WithLogger(r.kgoLog),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(m),
		kgo.BrokerMaxWriteBytes(min(max(m+64<<10, 100<<20), 1<<30)),
		kgo.MaxBufferedBytes(0),
		ClientLabel(fmt.Sprintf("%s|%s|large-record-producer", r.spec.Herder(), r.name())),
	)
	if err != nil {
		return nil, err
	}
	r.large = cl
	return cl, nil
}

// blockFailed stops each partition that has a new produce failure at its
// first failed record, and reports records written ahead of one. A task
// that cannot pause partitions fails instead.
func (r *taskRunner) blockFailed(now time.Time) error {
	var errs []error
	for _, sp := range r.tc.parts.snapshot() {
		f := sp.takeFailure()
		if f.ahead > 0 {
			r.stats.RecordsAhead.Add(f.ahead)
			topic, p := sourceName(sp)
			r.log.Error("records written to the target ahead of an earlier record that the target refused",
				"topic", topic, "partition", p, "first_offset", f.aheadFirst, "last_offset", f.aheadLast,
				"records", f.ahead, "refused_offset", f.offset)
		}
		if f.err == nil {
			continue
		}
		if st := sp.st; st != nil && st.blocked && !st.retrying {
			continue // blocked already; the rest of its records failed with it
		}
		if r.pauser == nil {
			errs = append(errs, fmt.Errorf("produce record of source offset %d to %s[%d]: %w", f.offset, sp.targetTopic, sp.targetPartition, f.err))
			continue
		}
		r.block(sp, f, now)
	}
	if len(errs) > 0 {
		return fmt.Errorf("task %s: %w", r.name(), errors.Join(errs...))
	}
	return nil
}

// block stops sp at the record f names.
func (r *taskRunner) block(sp *SourcePartition, f failureState, now time.Time) {
	st := r.attend(sp)
	if st == nil {
		return // not the task's any more
	}
	st.parked = st.parked[:0]
	same := (st.blocked || st.retrying) && st.info.Offset == f.offset
	exact := f.failCount <= 1
	if !same {
		topic, p := sourceName(sp)
		st.info = BlockedPartition{Topic: topic, Partition: p, TargetTopic: sp.targetTopic, TargetPartition: sp.targetPartition,
			Offset: f.offset, Since: now}
		st.bo.reset()
		st.logged = false
	} else if st.logged {
		st.info.Retries++
	}
	st.info.Error = f.err.Error()
	st.blocked, st.retrying, st.exact = true, false, exact
	if !exact {
		// The target refused a batch of several records: send them one at
		// a time, at once, to find the one it refuses.
		st.careful = max(min(f.failBytes, int64(sp.maxBatch)), 1)
		st.info.NextRetry = now
		r.log.Warn("target refused a batch; sending its records one at a time to find the refused one",
			"topic", st.info.Topic, "partition", st.info.Partition, "first_offset", f.offset,
			"target_topic", sp.targetTopic, "target_partition", sp.targetPartition, "error", f.err)
		r.publish()
		return
	}
	st.careful = 1 // the refused record goes alone when it is tried again
	d := st.bo.next()
	st.info.NextRetry = now.Add(d)
	if !st.logged {
		st.logged = true
		r.log.Error("partition stopped at a record the target refused; its other records wait, the task's other partitions go on",
			"topic", st.info.Topic, "partition", st.info.Partition, "offset", f.offset,
			"target_topic", sp.targetTopic, "target_partition", sp.targetPartition, "error", f.err, "retry_in", d)
	} else {
		r.log.Debug("refused record refused again", "topic", st.info.Topic, "partition", st.info.Partition,
			"offset", f.offset, "retries", st.info.Retries, "error", f.err, "retry_in", d)
	}
	r.publish()
}

// recheckAttention forgets the partitions in attention that the task no
// longer reads (after a Reconfigure).
func (r *taskRunner) recheckAttention() {
	if r.pauser == nil {
		return
	}
	if r.txn != nil {
		for sp := range r.txn.stops {
			if !r.pauser.PausePartition(sp) || !r.pauser.ResumePartition(sp, -1) {
				delete(r.txn.stops, sp)
				r.publish()
			}
		}
	}
	for _, sp := range append([]*SourcePartition(nil), r.attention...) {
		st := sp.st
		if !r.pauser.PausePartition(sp) {
			r.release(sp)
			continue
		}
		if !st.paused && !r.pauser.ResumePartition(sp, -1) {
			r.release(sp)
		}
	}
}

// publish makes the blocked partitions visible in Status.
func (r *taskRunner) publish() {
	var out []BlockedPartition
	for _, sp := range r.attention {
		if st := sp.st; st != nil && (st.blocked || st.retrying) {
			out = append(out, st.info)
		}
	}
	if r.txn != nil {
		for _, st := range r.txn.stops {
			out = append(out, st.info) // copying again up to the record it blocks at
		}
	}
	r.stats.mu.Lock()
	r.stats.blocked = out
	r.stats.mu.Unlock()
}

// sourceName names sp's source topic and partition from its Connect offsets
// key (MirrorSource keys have "topic" and "partition" fields).
func sourceName(sp *SourcePartition) (topic string, partition int32) {
	if sp.key == nil {
		return "", -1
	}
	_, fields, err := ParseOffsetKey(sp.key)
	if err != nil {
		return string(sp.key), -1
	}
	partition = -1
	for _, f := range fields {
		switch {
		case f.Name == "topic" && !f.IsInt:
			topic = f.Str
		case f.Name == "partition" && f.IsInt:
			partition = int32(f.Int)
		}
	}
	if topic == "" {
		topic = string(sp.key)
	}
	return topic, partition
}

// fenceLogger is the logger of a task's producers. It passes kgo's log on,
// and it is also the earliest word of a refused batch: kgo logs "batch in a
// produce request failed" with the topic and partition while it holds the
// partition's buffer, just before it fails the records it buffered for the
// partition and bumps the producer's epoch (locally, at once). The promise
// of the failed records comes later, on another goroutine; records the
// runner hands the producer in between would go out under the new epoch
// and land ahead of the refused record. Cancelling the partition's produce
// context right here makes them fail instead (kgo checks the context of a
// batch's first record before it writes the batch). The promise cancels it
// too, later: without this hook the fence would still hold most of the time
// (TestWorker_RefusalsUnderLoadKeepOrder saw a record written ahead in one
// run of five). TestFenceLogger_KgoReportsRefusedBatch fails if a kgo
// upgrade stops logging this.
type fenceLogger struct {
	kgo.Logger
	fence func(topic string, partition int32)
}

const kgoBatchFailed = "batch in a produce request failed"

func (l fenceLogger) Level() kgo.LogLevel { return max(l.Logger.Level(), kgo.LogLevelInfo) }

func (l fenceLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelInfo && msg == kgoBatchFailed {
		var topic string
		partition := int32(-1)
		for i := 0; i+1 < len(keyvals); i += 2 {
			switch keyvals[i] {
			case "topic":
				topic, _ = keyvals[i+1].(string)
			case "partition":
				partition, _ = keyvals[i+1].(int32)
			}
		}
		l.fence(topic, partition)
	}
	if level <= l.Logger.Level() {
		l.Logger.Log(level, msg, keyvals...)
	}
}

// targetKey names a target partition.
type targetKey struct {
	topic     string
	partition int32
}

// fence cancels the produce context of the partition whose records go to
// topic[partition]; any goroutine.
func (r *taskRunner) fence(topic string, partition int32) {
	r.targetsMu.Lock()
	sp := r.targets[targetKey{topic, partition}]
	r.targetsMu.Unlock()
	if sp != nil {
		sp.mu.Lock()
		if sp.cancel != nil {
			sp.cancel()
		}
		sp.mu.Unlock()
	}
}
