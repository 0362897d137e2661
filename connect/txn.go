package connect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Exactly-once mode (HerderConfig.ExactlyOnce): how a task's runner writes
// in transactions. See the package doc for the model; this file holds the
// transactional commit path, which replaces the at-least-once one
// (taskRunner.commit) in this mode.
//
// A task has one transactional producer on the target, with the stable
// transactional id "<group.id>-<connector>-<task>" (TransactionalID). At
// its start the runner initializes it, which fences every earlier producer
// with that id (a zombie of a killed or moved task, Java MM2's included)
// and aborts its open transaction; then it reads the offsets topic again,
// waiting for the transactions open in it to end, and the task starts from
// what is committed there. From then on a transaction is always open: the
// task's records, the entries the task writes about them
// (TaskContext.TransactionalProducer) and, at the end, their source
// offsets all go into it, and one EndTransaction commits them together.
//
// A transaction ends at its boundary: every poll (transaction.boundary=poll)
// or, by default (interval), when transaction.boundary.interval.ms has
// passed since the last commit, when its records reach
// transaction.boundary.max.bytes, or when the task has read everything its
// source had (at most every txnCaughtUpGap). A transaction that cannot commit (a
// record refused or not written, the producer fenced or its transaction
// timed out, the target gone for too long) is aborted and the task is
// restarted in place from the offsets committed last: nothing of the
// aborted transaction is visible to read_committed consumers, and nothing
// committed is copied again. A record the target refused stops its
// partition there, as in at-least-once mode: after the restart the
// partition copies again up to that record and blocks at it, and its
// retries go alone in a transaction of their own, so that a refusal costs
// the other partitions nothing more.

// Connect's connector keys of exactly-once mode, and mm2go's byte bound.
const (
	KeyExactlyOnceSupport      = "exactly.once.support"             // requested (default) or required
	KeyTransactionBoundary     = "transaction.boundary"             // poll or interval (mm2go's default); connector is refused
	KeyTransactionInterval     = "transaction.boundary.interval.ms" // interval: commit at least this often
	KeyTransactionMaxBytes     = "transaction.boundary.max.bytes"   // interval: commit once the records hold this many bytes; 0 no bound
	DefaultTransactionMaxBytes = 256 << 20
	DefaultTransactionTimeout  = time.Minute // Java's transaction.timeout.ms
)

// DefaultTransactionInterval is the interval of a transaction boundary when
// transaction.boundary.interval.ms is not set, unless the herder's
// offset.flush.interval.ms is shorter. Connect's default is the flush
// interval; a second keeps the cost of a transaction (one EndTransaction
// and its markers, an index entry per partition) small next to what it
// carries while read_committed consumers see records about a second after
// the source got them: see test/bench/RESULTS.md.
const DefaultTransactionInterval = time.Second

// TransactionalID returns the transactional id of task task of connector in
// exactly-once mode: "<groupID>-<connector>-<task>", as Connect forms it
// (MM2's groupID is "<source>-mm2"), so that mm2go and Java MM2 running the
// same task fence each other.
func TransactionalID(groupID, connector string, task int) string {
	return groupID + "-" + connector + "-" + strconv.Itoa(task)
}

// txnConfig is how the tasks of one connector write in exactly-once mode.
type txnConfig struct {
	groupID  string
	poll     bool          // transaction.boundary=poll
	interval time.Duration // transaction.boundary.interval.ms
	maxBytes int64         // transaction.boundary.max.bytes; 0 none
}

// txnConfigOf returns how spec's tasks write: nil when its herder copies at
// least once. An error names the key that cannot work.
func txnConfigOf(cfg *WorkerConfig, spec ConnectorSpec) (*txnConfig, error) {
	h := cfg.herder(spec.Source, spec.Target)
	if !h.ExactlyOnce {
		if strings.EqualFold(spec.Props[KeyExactlyOnceSupport], "required") {
			return nil, fmt.Errorf("%s=required, but flow %s does not copy exactly once: set exactly.once.source.support=enabled for target %s",
				KeyExactlyOnceSupport, spec.Herder(), spec.Target)
		}
		return nil, nil
	}
	switch v := strings.ToLower(spec.Props.Get(KeyExactlyOnceSupport, "requested")); v {
	case "requested", "required":
	default:
		return nil, fmt.Errorf("%s: expected requested or required, got %q", KeyExactlyOnceSupport, v)
	}
	t := &txnConfig{groupID: h.GroupID}
	switch v := strings.ToLower(spec.Props.Get(KeyTransactionBoundary, "interval")); v {
	case "interval":
	case "poll":
		t.poll = true
	case "connector":
		return nil, fmt.Errorf("%s=connector: %s does not define transaction boundaries; use interval or poll", KeyTransactionBoundary, spec.Name)
	default:
		return nil, fmt.Errorf("%s: expected interval or poll, got %q", KeyTransactionBoundary, v)
	}
	ms, err := spec.Props.Int(KeyTransactionInterval, -1)
	switch {
	case err != nil:
		return nil, err
	case ms < -1 || ms == -1 && spec.Props[KeyTransactionInterval] != "":
		return nil, fmt.Errorf("%s: %d is not a number of milliseconds", KeyTransactionInterval, ms)
	case ms >= 0:
		t.interval = time.Duration(ms) * time.Millisecond
	default:
		t.interval = min(DefaultTransactionInterval, h.OffsetFlushInterval)
	}
	if t.maxBytes, err = spec.Props.Int(KeyTransactionMaxBytes, DefaultTransactionMaxBytes); err != nil {
		return nil, err
	}
	if t.maxBytes < 0 {
		return nil, fmt.Errorf("%s: %d is negative (0: no bound)", KeyTransactionMaxBytes, t.maxBytes)
	}
	return t, nil
}

// checkTxnTimeout checks that spec's transactions can commit before the
// target aborts them: the interval must be below half the record
// producer's transaction.timeout.ms.
func (w *Worker) checkTxnTimeout(spec ConnectorSpec, t *txnConfig) error {
	if t.poll {
		return nil
	}
	cl, err := spec.clients(w.cfg.newClient)(spec.Target, RoleProducer, spec.RecordProducer...)
	if err != nil {
		return err
	}
	timeout, _ := cl.OptValue(kgo.TransactionTimeout).(time.Duration)
	cl.Close()
	if t.interval*2 > timeout {
		return fmt.Errorf("%s (%s) must be below half the producer's transaction.timeout.ms (%s): a transaction "+
			"that cannot commit by its timeout is aborted; lower the interval or raise producer.transaction.timeout.ms",
			KeyTransactionInterval, t.interval, timeout)
	}
	return nil
}

// txnState is a runner's open transaction; runner goroutine only, except
// failed.
type txnState struct {
	cfg *txnConfig
	id  string // the transactional id

	began        time.Time // the last commit (or the start)
	sentAtBegin  int64     // TaskStats.RecordsSent then
	bytesAtBegin int64     // TaskStats.BytesAcked then

	// failed: a record of the transaction failed (set by the promises).
	failed atomic.Bool
	// offsetErr is the first failure of a source-offset record.
	offsetErr atomic.Pointer[error]

	// probe is the partition whose record, sent alone to find out whether
	// the target takes it now, is the transaction's only record; nil when
	// none. probeWanted: a probe waits for the transaction to commit, so
	// that it goes alone into the next one.
	probe       *SourcePartition
	probeWanted bool
	// open: a transaction is begun and not ended. dead: the producer
	// cannot go on (fenced, say): the task fails, and its stop commits
	// nothing.
	open, dead bool

	// stops are the partitions that were blocked at a refused record when
	// a transaction aborted: they copy again from their committed offset
	// and block at that record once they reach it, with what their block
	// knew (its retries, its backoff).
	stops map[*SourcePartition]*partState
}

// records returns how many records the runner handed the producer in the
// open transaction.
func (t *txnState) records(st *TaskStats) int64 { return st.RecordsSent.Load() - t.sentAtBegin }

// restart starts counting a new transaction.
func (t *txnState) restart(now time.Time, st *TaskStats) {
	t.began = now
	t.sentAtBegin, t.bytesAtBegin = st.RecordsSent.Load(), st.BytesAcked.Load()
	t.failed.Store(false)
	t.offsetErr.Store(nil)
	t.probe, t.probeWanted = nil, false
}

// txnProducerOpts are the options of a task's transactional producer: the
// options of its at-least-once producer, a transactional id, and batches
// as large as the largest record it sends (it sends every record, also
// those the at-least-once mode sends through a second producer, which
// could not be in the transaction), and a partitioner that hashes the keys
// of the offsets topic as Java does and leaves the rest to the record.
func (r *taskRunner) txnProducerOpts() []kgo.Opt {
	m := r.cfg.Clusters[r.spec.Target].maxRequestSize()
	opts := []kgo.Opt{
		kgo.WithLogger(r.kgoLog),
		kgo.TransactionalID(r.txn.id),
		kgo.RecordPartitioner(txnPartitioner{offsetsTopic: r.store.topic}),
		kgo.MetadataMinAge(250 * time.Millisecond), // see awaitPartition
		kgo.ProducerBatchMaxBytes(m),
		kgo.BrokerMaxWriteBytes(min(max(m+64<<10, 100<<20), 1<<30)),
		ClientLabel(fmt.Sprintf("connector-producer-%s-%d", connectName(r.spec.Source, r.spec.Target, r.spec.Name), r.id)),
	}
	if int64(m)+1<<20 > 16<<20 {
		opts = append(opts, kgo.MaxBufferedBytes(int(m)+1<<20))
	}
	return opts
}

// txnPartitioner partitions the records of a transactional producer: the
// offsets topic by key (murmur2, as Java and the offset store's producer
// do), everything else by Record.Partition.
type txnPartitioner struct{ offsetsTopic string }

func (p txnPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if topic == p.offsetsTopic {
		return kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	}
	return kgo.ManualPartitioner().ForTopic(topic)
}

// openTxn opens the task's transactional producer, fences the task's
// predecessors with it (InitProducerID: their open transaction is aborted,
// or finished if it was committing) and reads the offsets topic again, so
// that the task starts from what they committed; then it begins the first
// transaction. It retries while the target is unreachable; stopped is true
// if ctx ended first.
func (r *taskRunner) openTxn(ctx context.Context) (stopped bool, err error) {
	bo := backoff{max: r.cfg.RetryBackoffMax}
	retry := func(what string, err error) bool {
		if ctx.Err() != nil || !IsRetriable(err) {
			return false
		}
		d := bo.next()
		r.log.Warn(what+"; retrying", "transactional_id", r.txn.id, "error", err, "backoff", d)
		sleepCtx(ctx, d)
		return true
	}
	for {
		if r.owns != nil {
			// In a worker group: fence the task's earlier producers only
			// while this worker owns the task.
			if _, ok := r.owns(); !ok {
				return false, fmt.Errorf("start task %s: %w", r.name(), errNotOwner)
			}
		}
		prod, err := r.newProducer(r.txnProducerOpts()...)
		if err != nil {
			return false, err
		}
		fenced := time.Now()
		if _, _, err = prod.ProducerID(ctx); err != nil {
			prod.Close()
			if retry("fencing the task's earlier producers failed", err) {
				continue
			}
			if ctx.Err() != nil {
				return true, nil
			}
			return false, fmt.Errorf("initialize transactional producer %s: %w", r.txn.id, err)
		}
		if err = r.store.refreshWritten(ctx, fenced); err != nil {
			prod.Close()
			if retry("reading the committed source offsets failed", err) {
				continue
			}
			if ctx.Err() != nil {
				return true, nil
			}
			return false, err
		}
		if err = prod.BeginTransaction(); err != nil {
			prod.Close()
			return false, fmt.Errorf("begin transaction of %s: %w", r.txn.id, err)
		}
		r.prod = prod
		r.tc.txnProd = prod
		r.txn.restart(time.Now(), r.stats)
		r.txn.open = true
		r.log.Info("exactly-once: transactional producer ready; earlier producers of this task are fenced",
			"transactional_id", r.txn.id, "took", time.Since(fenced).Round(time.Millisecond))
		return false, nil
	}
}

// txnDue says whether to commit the open transaction now; polled says a
// poll just returned records.
func (r *taskRunner) txnDue(now time.Time, polled bool) bool {
	t := r.txn
	n := t.records(r.stats)
	switch {
	case r.tc.parts.changed.Load():
		return true // a partition whose offsets restarted is committed at once
	case n == 0:
		return false
	case t.probeWanted:
		return true
	case t.cfg.poll:
		return polled
	case t.cfg.maxBytes > 0 && r.stats.BytesAcked.Load()-t.bytesAtBegin >= t.cfg.maxBytes:
		return true
	case !now.Before(t.began.Add(t.cfg.interval)):
		return true
	}
	// Caught up with the source: commit now rather than at the interval, so
	// that read_committed consumers see the records at once, but not more
	// often than every txnCaughtUpGap. A task that is behind commits at
	// the interval, where a transaction's cost is spread over the most.
	return !now.Before(t.began.Add(min(txnCaughtUpGap, t.cfg.interval))) && r.caughtUp()
}

// txnCaughtUpGap is the least time between the commits of a task that is
// caught up with its source (see txnDue).
const txnCaughtUpGap = 100 * time.Millisecond

// caughtUp reports whether the task has read every record its source
// partitions had at their last fetch (SourcePartition.ObserveFetch); false
// when it cannot tell (a partition without fetch observations).
func (r *taskRunner) caughtUp() bool {
	known := false
	for _, sp := range r.tc.parts.snapshot() {
		m := sp.metrics.Load()
		if m == nil || m.off.Load() {
			continue
		}
		hwm, next := m.hwm.Load(), m.next.Load()
		if hwm < 0 || next < hwm {
			return false
		}
		known = true
	}
	return known
}

// commitTxn commits the open transaction (finishTxn) and begins the next
// one. A transaction that cannot commit is aborted and the task rewound
// (txnAbort). An error is fatal for the task; ctx ending returns nil with
// the transaction still open (the stop commits it).
func (r *taskRunner) commitTxn(ctx context.Context) error {
	cause, stopped := r.finishTxn(ctx)
	switch {
	case stopped:
		return nil
	case errors.Is(cause, errNotOwner):
		// The group gave the task to another worker: abort, and end.
		return r.abortOpen(ctx, r.cfg.ShutdownTimeout, cause)
	case cause != nil:
		return r.txnAbort(ctx, cause, time.Now())
	}
	return r.beginTxn()
}

// finishTxn commits the open transaction: it waits for its records, lets
// the task write what it records about them (Committer), adds the source
// offsets the target acknowledged, and ends the transaction. cause says
// why the transaction cannot commit (it is still open then); stopped that
// ctx ended first.
func (r *taskRunner) finishTxn(ctx context.Context) (cause error, stopped bool) {
	t := r.txn
	began := time.Now()
	if err := r.prod.Flush(ctx); err != nil {
		return nil, true
	}
	if t.failed.Load() {
		return errors.New("a record of the transaction failed"), false
	}
	if r.owns != nil {
		// In a worker group: never commit a task another worker may run
		// now. (A commit under way when the lease ends is safe: the new
		// owner's fence waits for it, and reads its offsets after.)
		if _, ok := r.owns(); !ok {
			return fmt.Errorf("commit the transaction of task %s: %w", r.name(), errNotOwner), false
		}
	}
	r.tc.parts.changed.Store(false)
	r.entries = r.toCommit(r.entries[:0])
	if c, ok := r.task.(Committer); ok {
		if err := c.Commit(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, true
			}
			return fmt.Errorf("commit task %s: %w", r.name(), err), false
		}
	}
	for _, rec := range r.store.records(r.entries) {
		r.prod.Produce(ctx, rec, r.onOffsetAck)
	}
	if err := r.prod.Flush(ctx); err != nil {
		return nil, true
	}
	if err := t.offsetErr.Load(); err != nil {
		return fmt.Errorf("write source offsets to %s: %w", r.store.topic, *err), false
	}
	if t.failed.Load() {
		return errors.New("a record of the transaction failed"), false
	}
	// Never cancel an EndTransaction midway (kgo could not know its
	// outcome); it gets the stop's time at most.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
	err := r.prod.EndTransaction(ectx, kgo.TryCommit)
	cancel()
	if err != nil {
		return fmt.Errorf("commit transaction: %w", err), false
	}
	t.open = false
	r.store.committed(r.entries)
	if l, ok := r.task.(TransactionListener); ok {
		l.TransactionCommitted(ctx)
	}
	r.stats.Commits.Add(1)
	r.stats.TxnCommits.Add(1)
	r.stats.m.committed(time.Since(began))
	r.log.Debug("transaction committed", "records", t.records(r.stats), "partitions", len(r.entries))
	return nil, false
}

// beginTxn begins the next transaction (kgo begins it locally; the
// broker sees it with its first record).
func (r *taskRunner) beginTxn() error {
	if err := r.prod.BeginTransaction(); err != nil {
		r.txn.dead = true
		return fenced(r.txn.id, fmt.Errorf("begin transaction of %s: %w", r.txn.id, err))
	}
	r.txn.restart(time.Now(), r.stats)
	r.txn.open = true
	return nil
}

// onOffsetAck is the promise of the source-offset records of a
// transaction.
func (r *taskRunner) onOffsetAck(_ *kgo.Record, err error) {
	if err != nil {
		r.txn.offsetErr.CompareAndSwap(nil, &err)
		r.txn.failed.Store(true)
	}
}

// txnAbort aborts the open transaction because of cause and goes on: each
// partition whose record the target refused is blocked at it; a probe that
// was alone in the transaction is simply blocked again; otherwise the task
// restarts in place from the offsets committed last (rewind). An error is
// fatal for the task (its producer was fenced, say).
func (r *taskRunner) txnAbort(ctx context.Context, cause error, now time.Time) error {
	t := r.txn
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
	defer cancel()
	// Let every record still buffered or in flight come back (failed with
	// ErrAborting if not written), so that each partition's first failure
	// is known.
	if err := r.prod.AbortBufferedRecords(actx); err != nil {
		t.dead = true
		return fmt.Errorf("abort the transaction of %s: %w", t.id, err)
	}
	refused := make(map[*SourcePartition]failureState)
	var probeFailed *failureState
	for _, sp := range r.tc.parts.snapshot() {
		f := sp.takeFailure()
		if f.err != nil && sp == t.probe {
			probeFailed = &f
		}
		if f.err != nil && !txnLevel(f.err) {
			refused[sp] = f
		}
	}
	n := t.records(r.stats)
	t.open = false
	if err := r.prod.EndTransaction(actx, kgo.TryAbort); err != nil {
		t.dead = true
		return fenced(t.id, fmt.Errorf("abort the transaction of %s (%v): %w", t.id, cause, err))
	}
	r.prodErr.Store(false)
	r.stats.TxnAborts.Add(1)
	if probeFailed != nil && n == 1 {
		// The transaction held the probe alone, and it failed: nothing
		// else to undo. The partition blocks at it again and retries.
		r.block(t.probe, *probeFailed, now)
		return r.beginTxn()
	}
	r.log.Warn("exactly-once: transaction aborted; the task starts again from its committed source offsets",
		"transactional_id", t.id, "cause", cause, "records", n, "refused_partitions", len(refused))
	for sp, f := range refused {
		r.block(sp, f, now)
	}
	if err := r.rewind(ctx); err != nil {
		return err
	}
	return r.beginTxn()
}

// rewind restarts the task in place after an abort: it learns what is
// committed (a commit whose outcome kgo could not confirm may have
// committed), puts every partition back to its committed offset, keeps
// the blocks (as stops) and starts a new task from the connector, which
// reads from the committed offsets.
func (r *taskRunner) rewind(ctx context.Context) error {
	if err := r.store.refreshWritten(ctx, time.Now()); err != nil {
		return err
	}
	for _, sp := range append([]*SourcePartition(nil), r.attention...) {
		if st := sp.st; st != nil && (st.blocked || st.retrying) {
			if r.txn.stops == nil {
				r.txn.stops = make(map[*SourcePartition]*partState)
			}
			r.txn.stops[sp] = st
		}
		sp.st = nil
		sp.waiting.Store(false)
	}
	r.attention = r.attention[:0]
	if err := r.task.Stop(ctx); err != nil {
		r.log.Warn("task stop before its restart failed", "error", err)
	}
	r.tc.parts.rewind()
	r.task, r.pauser = r.newTask(), nil
	bo := backoff{max: r.cfg.RetryBackoffMax}
	for {
		err := r.task.Start(ctx, r.tc)
		if err == nil {
			break
		}
		if ctx.Err() != nil || !IsRetriable(err) {
			return fmt.Errorf("restart task %s after an aborted transaction: %w", r.name(), err)
		}
		d := bo.next()
		r.log.Warn("task restart failed; retrying", "error", err, "backoff", d)
		sleepCtx(ctx, d)
	}
	r.pauser, _ = r.task.(PartitionPauser)
	r.publish()
	return nil
}

// stopAt returns the stop of sp (see txnState.stops), or nil.
func (r *taskRunner) stopAt(sp *SourcePartition) *partState {
	if r.txn == nil || len(r.txn.stops) == 0 {
		return nil
	}
	return r.txn.stops[sp]
}

// reblock blocks sp again at its stop, which it reached.
func (r *taskRunner) reblock(sp *SourcePartition, saved *partState, now time.Time) {
	delete(r.txn.stops, sp)
	st := r.attend(sp)
	if st == nil {
		r.publish()
		return
	}
	st.info, st.logged, st.exact, st.bo, st.careful = saved.info, saved.logged, saved.exact, saved.bo, saved.careful
	st.blocked, st.retrying = true, false
	st.parked = st.parked[:0]
	if !st.exact || st.info.NextRetry.IsZero() {
		st.info.NextRetry = now
	}
	r.publish()
}

// probeAlone says whether a record sent on its own to find out whether the
// target takes it may go now: only into an empty transaction, so that a
// refusal aborts nothing else. Otherwise it asks for a commit first.
func (r *taskRunner) probeAlone() bool {
	if r.txn.records(r.stats) > 0 {
		r.txn.probeWanted = true
		return false
	}
	return true
}

// settleTxn commits the open transaction of a task that pauses, so that
// when it shows PAUSED everything it sent is committed, records and
// source offsets. fctx bounds the commit (a resume ends it: the
// transaction then stays open and commits at its boundary as usual); a
// transaction that cannot commit is aborted and the task rewound, ctx
// bounding that. An error fails the task.
func (r *taskRunner) settleTxn(ctx, fctx context.Context) error {
	if r.txn.dead || r.txn.records(r.stats) == 0 && !r.tc.parts.changed.Load() {
		return nil
	}
	cause, stopped := r.finishTxn(fctx)
	switch {
	case stopped:
		return nil
	case cause != nil:
		return r.txnAbort(ctx, cause, time.Now())
	}
	return r.beginTxn()
}

// handOffTxn is handOff in exactly-once mode: the work the task gave up
// (Reconfigure) goes to another task, which starts from its committed
// offsets, so the open transaction, which holds records of it, commits
// now (hctx bounds it), or else is aborted: none of it may commit after
// the other task started. ctx is the task's.
func (r *taskRunner) handOffTxn(ctx, hctx context.Context) error {
	if r.txn.dead {
		return fmt.Errorf("hand off the work of task %s: its transactional producer is fenced", r.name())
	}
	cause, stopped := r.finishTxn(hctx)
	switch {
	case stopped && ctx.Err() != nil:
		return nil // the worker stops: the task's stop commits it
	case stopped:
		cause = fmt.Errorf("the hand-off's deadline passed: %w", context.Cause(hctx))
	}
	if cause != nil {
		if err := r.txnAbort(ctx, cause, time.Now()); err != nil {
			return err
		}
		return nil // the work given up is back at its committed offsets
	}
	return r.beginTxn()
}

// stopTxn is the graceful stop in exactly-once mode: commit what is open,
// then stop the task. A final transaction that cannot commit is aborted,
// and the error kept for the stop's result.
func (r *taskRunner) stopTxn(sctx context.Context) {
	var errs []error
	if r.txn.open && !r.txn.dead && r.txn.records(r.stats) > 0 {
		if err := r.commitFinal(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, r.task.Stop(sctx))
	r.prod.Close()
	r.stopErr = errors.Join(errs...)
	r.log.Info("task stopped", "records_acked", r.stats.RecordsAcked.Load(), "transactions", r.stats.TxnCommits.Load())
}

// commitFinal commits the last transaction at a stop: as commitTxn, but
// a transaction that cannot commit is aborted without restarting the task.
func (r *taskRunner) commitFinal(sctx context.Context) error {
	cause, stopped := r.finishTxn(sctx)
	if stopped {
		cause = fmt.Errorf("the stop's deadline passed: %w", context.Cause(sctx))
	}
	if cause == nil {
		return nil
	}
	return r.abortOpen(sctx, time.Second, cause)
}

// abortOpen aborts the open transaction because of cause, without
// restarting the task (it ends), in at most d, and returns the error the
// task ends with.
func (r *taskRunner) abortOpen(ctx context.Context, d time.Duration, cause error) error {
	r.stats.TxnAborts.Add(1)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	_ = r.prod.AbortBufferedRecords(actx)
	r.txn.open = false
	r.txn.dead = true // nothing more of this run commits
	if err := r.prod.EndTransaction(actx, kgo.TryAbort); err != nil {
		cause = errors.Join(cause, err)
	}
	return fmt.Errorf("transaction of task %s aborted; its records are copied again from the committed offsets: %w", r.name(), cause)
}

// txnLevel says whether a record's failure is the transaction's (aborted,
// fenced, the producer's state) rather than the target's refusal of the
// record.
func txnLevel(err error) bool {
	for _, e := range []error{kgo.ErrAborting, context.Canceled, kgo.ErrClientClosed,
		kerr.ProducerFenced, kerr.InvalidProducerEpoch, kerr.InvalidProducerIDMapping, kerr.UnknownProducerID,
		kerr.TransactionAbortable, kerr.InvalidTxnState, kerr.ConcurrentTransactions, kerr.OutOfOrderSequenceNumber,
		kerr.OperationNotAttempted, kerr.TransactionCoordinatorFenced, kerr.TransactionalIDAuthorizationFailed,
		kerr.InvalidTransactionTimeout} {
		if errors.Is(err, e) {
			return true
		}
	}
	// kgo's own errors of the transactional state are not exported.
	msg := err.Error()
	return strings.Contains(msg, "transaction") || strings.Contains(msg, "producer ID") || strings.Contains(msg, "producer id")
}

// ErrFenced is wrapped by the error of an exactly-once task whose
// transactional id another producer initialized (fenced): another worker
// took the task over, or the target aborted the task's transaction (it
// outlived transaction.timeout.ms). The task fails and is restarted after
// a longer backoff than other failures, at least 10s (RetryBackoffMax if
// lower), so that two workers running the same task do not take it from
// each other at once.
var ErrFenced = errors.New("fenced")

// fencedRestartDelay is the least restart backoff of a fenced task.
const fencedRestartDelay = 10 * time.Second

// fenced makes the error of a producer that another took over say so.
func fenced(id string, err error) error {
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.TransactionCoordinatorFenced) {
		return fmt.Errorf("transactional id %s was %w: another producer with this id took over this task (another worker running it, or Java MM2), or the transaction outlived transaction.timeout.ms: %w", id, ErrFenced, err)
	}
	return err
}

// fenceStaleTasks fences the transactional ids of spec's tasks that no
// longer exist: n tasks run now. Connect fences every task of the previous
// generation when the number of tasks changes; mm2go fences the ids at and
// above n that the target knows (ListTransactions: a zombie of a task that
// went away with a smaller tasks.max, or a worker that ran more tasks
// before it restarted), and those at and above n that this worker ran
// (prev). Tasks below n fence their own predecessors when they start.
func (w *Worker) fenceStaleTasks(ctx context.Context, spec ConnectorSpec, groupID string, n, prev int) {
	log := w.log.Named("connector").With("connector", spec.Name, "source", spec.Source, "target", spec.Target)
	prefix := groupID + "-" + spec.Name + "-"
	stale := make(map[int]bool)
	for id := n; id < prev; id++ {
		stale[id] = true
	}
	adm, err := w.cfg.newClient(spec.Target, RoleAdmin)
	if err == nil {
		var listed kadm.ListedTransactions
		listed, err = kadm.NewClient(adm).ListTransactions(ctx, nil, nil)
		adm.Close()
		for txnID := range listed {
			if rest, ok := strings.CutPrefix(txnID, prefix); ok {
				if id, err := strconv.Atoi(rest); err == nil && id >= n {
					stale[id] = true
				}
			}
		}
	}
	if err != nil {
		log.Warn("exactly-once: cannot list the target's transactions (DESCRIBE on transactional ids, Kafka 3.0+); "+
			"fencing only the task ids this worker ran", "error", err)
	}
	for id := range stale {
		txnID := TransactionalID(groupID, spec.Name, id)
		if err := w.fenceTransactionalID(ctx, spec, txnID); err != nil {
			log.Warn("exactly-once: fencing the transactional id of a task that no longer exists failed", "transactional_id", txnID, "error", err)
			continue
		}
		log.Info("exactly-once: fenced the transactional id of a task that no longer exists", "transactional_id", txnID)
	}
}

// fenceTransactionalID fences the producers of txnID on spec's target: it
// initializes a producer with that id (InitProducerID), which aborts their
// open transaction (or lets it finish committing) and makes every later
// write of theirs fail.
func (w *Worker) fenceTransactionalID(ctx context.Context, spec ConnectorSpec, txnID string) error {
	cl, err := w.cfg.newClient(spec.Target, RoleProducer, append(append([]kgo.Opt(nil), spec.RecordProducer...), kgo.TransactionalID(txnID))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, _, err = cl.ProducerID(ctx)
	return err
}

// fenceChangedTasks is the generation fence of a worker group in
// exactly-once mode, before the connector's new task configs next are
// written over cur: it fences every task whose config changes (or that
// goes away). Work (source partitions) only moves between such tasks, and
// none of them can commit from then on: each restarts with its new config,
// fences its own predecessor, and reads the committed offsets only then,
// so a partition's new task starts exactly where every earlier one's last
// committed transaction ended. (A worker alone hands work over in
// process, see revoke.)
func (w *Worker) fenceChangedTasks(ctx context.Context, spec ConnectorSpec, groupID string, cur, next []Props) error {
	var errs []error
	for id := range max(len(cur), len(next)) {
		if id < len(cur) && id < len(next) && propsEqual(cur[id], next[id]) {
			continue
		}
		txnID := TransactionalID(groupID, spec.Name, id)
		if err := w.fenceTransactionalID(ctx, spec, txnID); err != nil {
			errs = append(errs, fmt.Errorf("fence %s: %w", txnID, err))
		}
	}
	return errors.Join(errs...)
}
