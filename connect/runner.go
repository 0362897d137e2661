package connect

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Reconfigurable is an optional interface of a SourceTask. When the
// connector's new task configs change only this task's props, the runner
// calls Reconfigure (from the runner goroutine, between polls) instead of
// restarting the task, so a source task can take on new partitions without
// dropping what it has in flight. An error fails the task (which is then
// restarted).
type Reconfigurable interface {
	Reconfigure(ctx context.Context, props Props) error
}

// PartitionPauser is an optional interface of a SourceTask whose source
// partitions can be paused and read again from a given offset (MirrorSource
// implements it with kgo's PauseFetchPartitions, SetOffsets and
// ResumeFetchPartitions). With it, a record the target refuses stops only
// its own partition: the runner pauses the partition at that record while
// the task's other partitions go on, retries with backoff, and resumes it
// from the refused record. It also lets the runner send a record too large
// for the producer's batches on its own without holding up other partitions.
// A task without it fails (and is restarted) when the target refuses one of
// its records.
//
// The runner calls both methods from the runner goroutine, between polls.
type PartitionPauser interface {
	// PausePartition stops reading sp: after it returns, Poll returns no
	// record of sp that it did not return before, until ResumePartition.
	// It returns false if the task does not read sp (any more); the runner
	// then forgets the partition.
	PausePartition(sp *SourcePartition) bool
	// ResumePartition reads sp again: from offset if offset >= 0 (the next
	// record of sp that Poll returns is the first at or after offset, none
	// fetched before the call), or else from after the last record of sp
	// that Poll returned. It returns false as PausePartition does.
	ResumePartition(sp *SourcePartition, offset int64) bool
}

// taskRunner owns one run of one task: it is the only goroutine that calls
// the task, it produces what Poll returns to the target, and it commits
// source offsets. A task that fails gets a new runner (see runConnector).
type taskRunner struct {
	cfg   *WorkerConfig
	spec  ConnectorSpec
	id    int
	task  SourceTask
	tc    *TaskContext
	store *offsetStore
	log   hclog.Logger
	stats *TaskStats
	// hard is the worker's hard stop: done when a graceful stop of the
	// worker ran out of time. A task's stop ends at the earlier of that and
	// ShutdownTimeout after its own ctx ended.
	hard  context.Context
	clock *coarseClock // the worker's, for the per-partition metrics
	// endClients ends the life of the task's clients (see clientLife): at
	// the stop's deadline, and when run returns.
	endClients func()

	// newProducer opens the producer of the task's records: the target's
	// producer options, then ConnectorSpec.RecordProducer.
	newProducer   func(opts ...kgo.Opt) (*kgo.Client, error)
	flushInterval time.Duration // the herder's offset.flush.interval.ms

	props    Props                // current props; connector goroutine only
	reconfig chan reconfigRequest // new props for a Reconfigurable task
	done     chan struct{}        // closed after run returned and err is set
	err      error                // run's result, read after done
	began    time.Time            // when run began; connector goroutine reads it after done
	stopErr  error                // what the graceful stop failed with
	ctl      *taskControl         // pause requests; nil: never paused

	prod    *kgo.Client
	large   *kgo.Client // single-record producer for records above prod's batch size; nil until needed
	limits  produceLimits
	promise func(*kgo.Record, error) // bound once, so producing allocates no closure
	prodErr atomic.Bool              // a record failed: look for the partition
	pauser  PartitionPauser          // nil if the task cannot pause partitions
	kgoLog  kgo.Logger               // the producers' logger (see fenceLogger)

	targetsMu sync.Mutex // guards targets
	targets   map[targetKey]*SourcePartition

	// Partitions that do not flow freely (sending one record at a time, or
	// blocked at a refused record); runner goroutine only.
	attention []*SourcePartition
	// wake ends a Poll early when a partition in attention got an ack.
	wakeMu      sync.Mutex // guards wakeCancel
	wakeCancel  context.CancelFunc
	wakePending atomic.Bool

	// owns, in a worker group, says whether this worker still owns the
	// task and until when (group.Member.Owns); nil for a worker alone.
	owns func() (until time.Time, ok bool)

	// carry is what the run acknowledged and could not commit at its stop
	// (carry.go); set by stop in a worker group, read after done. tried
	// holds, by key, the values of commits that failed since the key's
	// last commit (any of them may still be written); group only.
	carry *carriedCommit
	tried map[string][]OffsetValue

	entries    []commitEntry
	nextCommit time.Time // the periodic commit; zero until the first commit
	lastCommit time.Time // when the last commit began; zero: none yet

	// Exactly-once mode (txn.go); txn is nil in at-least-once mode.
	txn     *txnState
	newTask func() SourceTask // the connector's NewTask, to restart the task in place
}

// commitSoonGap is the least time between two early commits (see
// commitDue): the first acknowledged records of partitions that come one
// after another are committed together, at most one commit per gap,
// however many partitions there are.
const commitSoonGap = 500 * time.Millisecond

// TaskStats counts what a task did; read it with the atomic getters.
type TaskStats struct {
	RecordsSent  atomic.Int64 // handed to the producer
	RecordsAcked atomic.Int64 // acknowledged by the target
	BytesAcked   atomic.Int64 // key+value bytes acknowledged
	Commits      atomic.Int64 // source-offset commits written
	RecordsLost  atomic.Int64 // source records gone before they were copied
	Cycles       atomic.Int64 // periodic cycles finished (ReportCycle)
	LastCycle    atomic.Int64 // nanoseconds the last cycle took
	// RecordsAhead counts records the target acknowledged after an earlier
	// record of their partition was refused: written ahead of it. mm2go's
	// fences keep it at zero; it is there so that it could never be silent.
	RecordsAhead atomic.Int64
	// UnknownLosses counts source partitions that may have lost records
	// that cannot be counted (ReportUnknownLoss).
	UnknownLosses atomic.Int64
	// TxnCommits and TxnAborts count the transactions of an exactly-once
	// task that committed and that were aborted.
	TxnCommits, TxnAborts atomic.Int64

	mu      sync.Mutex         // guards blocked
	blocked []BlockedPartition // partitions stopped at a refused record

	m *taskMetrics // what the metrics read besides the counters above
}

func (st *TaskStats) blockedPartitions() []BlockedPartition {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]BlockedPartition(nil), st.blocked...)
}

// BlockedPartition is a source partition stopped at a record the target
// refused. Its other records wait; the task's other partitions go on.
type BlockedPartition struct {
	// Topic and Partition name the source partition, from its Connect
	// offsets key (empty for partitions without those fields).
	Topic     string
	Partition int32
	// TargetTopic and TargetPartition are where the refused record goes.
	TargetTopic     string
	TargetPartition int32
	// Offset is the source offset of the refused record: nothing from it on
	// is written to the target or committed until it gets through.
	Offset int64
	Error  string    // the target's (or the producer's) error
	Since  time.Time // when the partition first stopped at Offset
	// Retries counts the tries to send the record again that failed;
	// NextRetry is when the next one starts (zero while one is under way).
	Retries   int
	NextRetry time.Time
}

// partState is the state of a partition that does not flow freely.
type partState struct {
	// parked are the partition's records waiting, in order, while it sends
	// one record at a time.
	parked []SourceRecord
	paused bool // the task was told to pause the partition
	// careful is how many bytes, from the first parked record on, to send
	// one record at a time (after a refusal, to find the refused record).
	careful int64

	blocked bool // stopped at a refused record, waiting to retry
	// retrying: the refused record was sent again and is not through yet.
	retrying bool
	info     BlockedPartition
	logged   bool // the block of info.Offset was logged at ERROR
	exact    bool // info.Offset is the refused record, not a refused batch's first
	bo       backoff
}

// produceLimits are the producer's size limits, so that the runner never
// hands it a record it would refuse on its own: kgo fails such a record at
// once, and the partition's later records would then overtake it.
type produceLimits struct {
	batchMax    func(topic string) int32 // kgo.ProducerBatchMaxBytesFn of prod
	writeMax    int32                    // kgo.BrokerMaxWriteBytes of prod
	bufferedMax int64                    // kgo.MaxBufferedBytes of prod; 0 none
	clientIDLen int32
	recordMax   int32 // producer.max.request.size: the largest record sent at all
}

func (r *taskRunner) name() string { return fmt.Sprintf("%s-%d", r.spec.Name, r.id) }

func (r *taskRunner) run(ctx context.Context) (err error) {
	defer r.endClients()
	bo := backoff{max: r.cfg.RetryBackoffMax}
	r.targets = make(map[targetKey]*SourcePartition)
	r.kgoLog = fenceLogger{Logger: KgoLogger(r.log.Named("kgo").With("cluster", r.spec.Target)), fence: r.fence}
	if r.txn != nil {
		// Exactly-once: fence the task's predecessors and read what they
		// committed before the task starts (txn.go).
		if stopped, err := r.openTxn(ctx); stopped || err != nil {
			return err
		}
	} else {
		r.prod, err = r.newProducer(
			kgo.WithLogger(r.kgoLog),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.MetadataMinAge(250*time.Millisecond), // see awaitPartition
			// Connect's producer client id, with the connector named as
			// Strimzi names MM2's: dashboards select it by that form.
			ClientLabel(fmt.Sprintf("connector-producer-%s-%d", connectName(r.spec.Source, r.spec.Target, r.spec.Name), r.id)),
		)
		if err != nil {
			return err
		}
	}
	r.limits = limitsOf(r.prod, r.cfg.Clusters[r.spec.Target].maxRequestSize())
	r.promise = r.onAck
	for {
		err = r.task.Start(ctx, r.tc)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			r.prod.Close()
			return nil
		}
		if !IsRetriable(err) {
			r.prod.Close()
			return fmt.Errorf("start task %s: %w", r.name(), err)
		}
		d := bo.next()
		r.log.Warn("task start failed; retrying", "error", err, "backoff", d)
		sleepCtx(ctx, d)
	}
	r.log.Info("task started")
	r.pauser, _ = r.task.(PartitionPauser)
	bo.reset()

	// One deadline for the whole stop of this task: ShutdownTimeout after
	// its ctx ended, or the worker's hard stop if that comes first. It is
	// armed the moment ctx ends, not when the poll loop notices, because
	// the loop may be waiting in Produce for room in the producer's buffer.
	//
	// Records go to the producer under pctx, which ends at that deadline and
	// not at the soft stop: kgo fails a record whose Produce is still
	// waiting for room in the buffer at once, ahead of the acks of the
	// records before it, and the partition would then commit nothing of
	// what those acks confirmed.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	type stopDeadline struct {
		ctx    context.Context
		cancel context.CancelFunc
	}
	var stopAt atomic.Pointer[stopDeadline]
	armStop := func() {
		sctx, cancel := context.WithTimeout(r.hard, r.cfg.ShutdownTimeout)
		if stopAt.CompareAndSwap(nil, &stopDeadline{sctx, cancel}) {
			// At the deadline whatever still waits gives up, the
			// clients' requests too, so that closing them takes no time.
			context.AfterFunc(sctx, func() {
				pcancel()
				r.endClients()
			})
		} else {
			cancel()
		}
	}
	unwatch := context.AfterFunc(ctx, armStop)
	defer func() {
		unwatch()
		armStop() // run may end without ctx ending (a failure)
		sd := stopAt.Load()
		r.stop(sd.ctx)
		sd.cancel()
		pcancel()
		err = errors.Join(err, r.stopErr)
	}()
	for ctx.Err() == nil {
		if r.prodErr.Swap(false) {
			if r.txn != nil && r.txn.failed.Load() {
				// Exactly-once: the transaction cannot commit.
				if err := r.txnAbort(ctx, errors.New("a record of the transaction failed"), time.Now()); err != nil {
					return err
				}
			} else if err := r.blockFailed(time.Now()); err != nil {
				return err
			}
		}
		select {
		case req := <-r.reconfig:
			if err := r.reconfigure(ctx, req); err != nil {
				return err
			}
		default:
		}
		if r.paused() {
			if err := r.pause(ctx); err != nil {
				return err
			}
			continue
		}
		if len(r.attention) > 0 {
			r.service(pctx, time.Now())
			if r.txn != nil && r.txn.probeWanted {
				// Exactly-once: a record to send alone waits for the
				// open transaction; commit it now rather than after the
				// next poll, which may wait for its whole timeout.
				if err := r.commitTxn(ctx); err != nil {
					return err
				}
				continue
			}
		}
		began := time.Now()
		recs, woken, err := r.poll(ctx)
		if now := time.Now(); err == nil && !woken {
			r.stats.m.polled(now.Sub(began), len(recs), now)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case woken && err != nil:
			// A wake-up ended the poll; whatever it failed with comes back
			// on the next one if it is real.
			continue
		case err != nil && IsRetriable(err):
			d := bo.next()
			r.log.Warn("poll failed; retrying", "error", err, "backoff", d)
			sleepCtx(ctx, d)
			continue
		case err != nil:
			return fmt.Errorf("poll task %s: %w", r.name(), err)
		}
		bo.reset()
		r.send(pctx, recs)
		if r.txn != nil {
			if r.txnDue(time.Now(), len(recs) > 0) {
				if err := r.commitTxn(ctx); err != nil {
					return err
				}
			}
		} else if r.commitDue(time.Now()) || r.tc.parts.changed.Load() {
			// A partition whose offsets restarted is committed at once.
			if err := r.commit(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("source offset commit failed; will retry", "error", err)
			}
		}
	}
	return nil
}

// reconfigure gives the task new props (Reconfigurable) and, when req
// asks for it, flushes and commits what the task gave up (see revoke).
func (r *taskRunner) reconfigure(ctx context.Context, req reconfigRequest) error {
	if err := r.task.(Reconfigurable).Reconfigure(ctx, req.props); err != nil {
		err = fmt.Errorf("reconfigure task %s: %w", r.name(), err)
		if req.done != nil {
			req.done <- err
		}
		return err
	}
	r.tc.Props = req.props.Clone() // a task restarted in place (exactly-once mode) starts with these
	if req.done != nil {
		err := r.handOff(ctx)
		req.done <- err
		if err != nil && r.txn != nil {
			return err // exactly-once: the transaction could not commit nor abort
		}
	}
	r.recheckAttention()
	return nil
}

// stop is the graceful stop after the poll loop: commit what the target
// acknowledged, flush what is in flight, commit again, then stop the task.
// sctx is the stop's one deadline. The first commit comes before the flush
// so that a flush that takes all the time (a hung network) does not cost
// the commit of what was acknowledged already; the flush leaves a fifth of
// the time for the second commit and the task's Stop.
func (r *taskRunner) stop(sctx context.Context) {
	if r.txn != nil {
		r.stopTxn(sctx)
		return
	}
	var errs []error
	if err := r.commit(sctx); err != nil {
		r.log.Warn("source offset commit before the producer flush failed", "error", err)
	}
	fctx, cancel := sctx, context.CancelFunc(func() {})
	if dl, ok := sctx.Deadline(); ok {
		fctx, cancel = context.WithDeadline(sctx, dl.Add(-time.Until(dl)/5))
	}
	for _, p := range []*kgo.Client{r.prod, r.large} {
		if p == nil {
			continue
		}
		if e := p.Flush(fctx); e != nil {
			errs = append(errs, fmt.Errorf("flush producer of task %s: %w", r.name(), e))
		}
	}
	cancel()
	last := r.commit(sctx)
	errs = append(errs, last)
	r.prod.Close()
	if r.large != nil {
		r.large.Close()
	}
	if last != nil && r.owns != nil {
		r.carry = r.carryUncommitted(last)
	}
	errs = append(errs, r.task.Stop(sctx))
	r.stopErr = errors.Join(errs...)
	r.log.Info("task stopped", "records_acked", r.stats.RecordsAcked.Load())
}

// poll calls the task's Poll. While a partition waits for an ack to go on
// (see service), an ack of it ends the Poll early: woken says so.
func (r *taskRunner) poll(ctx context.Context) (recs []SourceRecord, woken bool, err error) {
	if len(r.attention) == 0 {
		recs, err = r.task.Poll(ctx)
		return recs, false, err
	}
	if r.wakePending.Swap(false) {
		return nil, true, nil
	}
	pctx, cancel := context.WithCancel(ctx)
	r.wakeMu.Lock()
	r.wakeCancel = cancel
	r.wakeMu.Unlock()
	if r.wakePending.Swap(false) { // an ack came before wakeCancel was set
		cancel()
	}
	recs, err = r.task.Poll(pctx)
	r.wakeMu.Lock()
	r.wakeCancel = nil
	r.wakeMu.Unlock()
	woken = pctx.Err() != nil && ctx.Err() == nil
	cancel()
	return recs, woken, err
}

// wakeUp ends a Poll under way early; any goroutine.
func (r *taskRunner) wakeUp() {
	r.wakePending.Store(true)
	r.wakeMu.Lock()
	if r.wakeCancel != nil {
		r.wakeCancel()
	}
	r.wakeMu.Unlock()
}

// send hands a batch to the producer. Offsets are registered as in flight
// before the records are produced (an ack can come before Produce returns),
// one lock per run of records from the same partition. Records of a
// partition that does not flow freely are parked (or, if it is blocked,
// dropped: they are read again when it resumes).
func (r *taskRunner) send(ctx context.Context, recs []SourceRecord) {
	for i := 0; i < len(recs); {
		sp := recs[i].Partition
		j := i + 1
		for j < len(recs) && recs[j].Partition == sp {
			j++
		}
		if stop := r.stopAt(sp); stop != nil {
			// Exactly-once: the partition copies again up to the record
			// it was blocked at before an abort, and blocks there.
			end := j
			for k := i; k < end; k++ {
				if recs[k].Offset >= stop.info.Offset {
					r.send(ctx, recs[i:k])
					r.reblock(sp, stop, time.Now())
					i = end
					break
				}
			}
			if i == end {
				continue
			}
		}
		if sp.st != nil {
			r.park(sp, recs[i:j])
			i = j
			continue
		}
		if !sp.produceReady {
			sp.targetTopic, sp.targetPartition = recs[i].Record.Topic, recs[i].Record.Partition
			r.targetsMu.Lock()
			r.targets[targetKey{sp.targetTopic, sp.targetPartition}] = sp
			r.targetsMu.Unlock()
			r.awaitPartition(ctx, r.prod, sp.targetTopic, sp.targetPartition)
			sp.produceReady = true
		}
		// Records the producer's batches cannot hold go on their own, in
		// order: the partition parks from the first of them on.
		k := i
		for ; k < j; k++ {
			if !r.fits(sp, recs[k].Record) {
				break
			}
		}
		r.produce(ctx, sp, recs[i:k])
		if k < j {
			r.hold(sp)
			r.park(sp, recs[k:j])
		}
		i = j
	}
}

// produce hands records of one partition to the producer.
func (r *taskRunner) produce(ctx context.Context, sp *SourcePartition, recs []SourceRecord) {
	if len(recs) == 0 {
		return
	}
	sp.mu.Lock()
	sp.pushRecordsLocked(recs, r.clock.nowMs())
	sp.mu.Unlock()
	for i := range recs {
		rec := recs[i].Record
		rec.Context = sp.ctx
		r.prod.Produce(ctx, rec, r.promise)
	}
	r.stats.RecordsSent.Add(int64(len(recs)))
}

// fits reports whether the producer takes rec in its batches: a record
// larger than a batch kgo refuses at once, and the records after it would
// overtake it.
func (r *taskRunner) fits(sp *SourcePartition, rec *kgo.Record) bool {
	if sp.maxBatch == 0 {
		sp.maxBatch = r.limits.batchFor(rec.Topic)
	}
	return recordBatchSize(rec) <= int64(sp.maxBatch) &&
		(r.limits.bufferedMax == 0 || int64(userSize(rec)) <= r.limits.bufferedMax)
}

// awaitPartition makes sure the producer knows partition p of topic before
// the first record to it: kgo fails a record at once, not retriably, when
// its partition number is past the partitions in its cached metadata, and a
// partition that the connector just added to the target is not in it yet.
func (r *taskRunner) awaitPartition(ctx context.Context, cl *kgo.Client, topic string, p int32) {
	if leader, _, _ := cl.PartitionLeader(topic, 0); leader < 0 {
		return // topic not loaded yet: the first produce loads fresh metadata
	}
	for tries := 0; ctx.Err() == nil && tries < 200; tries++ { // <= 10s
		if leader, _, _ := cl.PartitionLeader(topic, p); leader >= 0 {
			return
		}
		cl.ForceMetadataRefresh()
		sleepCtx(ctx, 50*time.Millisecond)
	}
	r.log.Warn("target partition not in the producer's metadata after 10s; producing anyway", "topic", topic, "partition", p)
}

// onAck runs on a producer's promise goroutine, serially per producer.
func (r *taskRunner) onAck(rec *kgo.Record, err error) {
	sp := rec.Context.Value(partitionKey{}).(*SourcePartition)
	size := 0
	if err != nil {
		size = int(recordBatchSize(rec))
	}
	sp.ackAt(rec.Offset, size, rec.Timestamp.UnixMilli(), r.clock.nowMs(), err)
	if err != nil {
		if r.txn != nil {
			r.txn.failed.Store(true)
		}
		r.prodErr.Store(true)
		r.wakeUp()
		return
	}
	if sp.waiting.Load() {
		r.wakeUp()
	}
	r.stats.RecordsAcked.Add(1)
	r.stats.BytesAcked.Add(int64(len(rec.Key) + len(rec.Value)))
}

// commitDue says whether to commit now: every flush interval (the
// herder's offset.flush.interval.ms), and soon after the first records of a
// partition are acknowledged after the partition came to the task (the
// task's start, a new assignment, a hand-off) or its offsets started over
// (a re-created topic), so that a worker killed before its flush interval
// does not copy them all again. Early commits coalesce: one covers every
// partition acknowledged by then, and they come at most once per
// commitSoonGap (or flush interval, if shorter).
func (r *taskRunner) commitDue(now time.Time) bool {
	if !r.nextCommit.IsZero() && !now.Before(r.nextCommit) {
		return true
	}
	return r.tc.parts.soon.Load() &&
		(r.lastCommit.IsZero() || now.Sub(r.lastCommit) >= min(commitSoonGap, r.flushInterval))
}

// commit lets the task flush what must precede an offset commit
// (Committer), then writes the acknowledged source offsets that changed since
// the last commit.
func (r *taskRunner) commit(ctx context.Context) (err error) {
	began := time.Now()
	r.lastCommit, r.nextCommit = began, began.Add(r.flushInterval)
	if r.tc.parts.soon.Swap(false) {
		defer func() {
			if err != nil { // the first records of a partition wait: retry soon
				r.tc.parts.soon.Store(true)
			}
		}()
	}
	if r.owns != nil {
		// One check per commit: a worker that lost the task never
		// commits over its new owner, and a commit sent while it owned
		// the task ends with its lease.
		until, ok := r.owns()
		if !ok {
			return fmt.Errorf("commit source offsets of task %s: %w", r.name(), errNotOwner)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	r.tc.parts.changed.Store(false)
	r.entries = r.toCommit(r.entries[:0])
	// The task makes its own records durable first (offset syncs, the
	// translation index), so that committed source offsets never get ahead
	// of what the task wrote about the records before them.
	if c, ok := r.task.(Committer); ok {
		if err := c.Commit(ctx); err != nil {
			return fmt.Errorf("commit task %s: %w", r.name(), err)
		}
	}
	if err := r.store.commit(ctx, r.entries); err != nil {
		r.commitFailed()
		return err
	}
	if r.tried != nil {
		for _, e := range r.entries {
			delete(r.tried, string(e.sp.key))
		}
	}
	r.stats.m.committed(time.Since(began))
	if len(r.entries) > 0 {
		r.stats.Commits.Add(1)
		r.log.Debug("committed source offsets", "partitions", len(r.entries))
	}
	return nil
}

// toCommit appends to dst the offsets of the task's partitions that
// changed since their last commit.
func (r *taskRunner) toCommit(dst []commitEntry) []commitEntry {
	for _, sp := range r.tc.parts.snapshot() {
		if sp.key == nil {
			continue
		}
		if e, ok := sp.toCommit(); ok {
			dst = append(dst, e)
		}
	}
	return dst
}

func propsEqual(a, b Props) bool { return maps.Equal(a, b) }
