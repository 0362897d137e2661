package connect

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Props is the wire form of connector and task configs: MM2 property names
// with string values. It is what the worker stores, compares and hands to
// connectors; connectors parse it once into typed configs in Start.
type Props map[string]string

// Clone returns a copy of p that can be changed without changing p.
func (p Props) Clone() Props { return maps.Clone(p) }

// Get returns the value of key, or def when key is absent or empty.
func (p Props) Get(key, def string) string {
	if v, ok := p[key]; ok && v != "" {
		return v
	}
	return def
}

// Int returns key parsed as an int64, or def when absent. A value that is not
// an integer is an error that names the key.
func (p Props) Int(key string, def int64) (int64, error) {
	v, ok := p[key]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", key, v)
	}
	return n, nil
}

// Bool returns key parsed as a bool, or def when absent.
func (p Props) Bool(key string, def bool) (bool, error) {
	v, ok := p[key]
	if !ok || v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not true or false", key, v)
	}
	return b, nil
}

// Seconds returns key, a number of seconds, as a duration, or def when absent.
func (p Props) Seconds(key string, def time.Duration) (time.Duration, error) {
	v, ok := p[key]
	if !ok || v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number of seconds", key, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// Connector splits a job into task configs, and may watch the clusters for
// changes that need new task configs (new topics, new partitions).
//
// The worker calls every method from the connector's own goroutine, never two
// at once, except NewTask (see there). A connector may start goroutines in Start; it must end them in Stop.
type Connector interface {
	// Start prepares the connector: parse cc.Props, create internal topics,
	// load what TaskConfigs needs. ctx covers start-up only; never store it.
	// A retriable error (see IsRetriable) makes the worker try again after
	// a backoff; any other error fails the connector. Stop is not called
	// after a failed Start: Start closes what it opened before it fails.
	Start(ctx context.Context, cc *ConnectorContext) error
	// TaskConfigs returns at most maxTasks task configs. It must not block on
	// the network: it works from what Start or a refresh loaded.
	TaskConfigs(maxTasks int) ([]Props, error)
	// NewTask returns an unstarted task; the worker starts it. Unlike the
	// other methods it is also called from a task's runner goroutine (in
	// exactly-once mode a task is restarted in place after an aborted
	// transaction), so it must not touch the connector's state.
	NewTask() SourceTask
	// Stop ends what Start began. It is idempotent.
	Stop(ctx context.Context) error
}

// SourceTask reads from somewhere and returns records for the worker to
// produce to the connector's target cluster.
//
// One runner goroutine per task calls Start, Poll and Stop; they are never
// called at once. The optional interface Committer is called from that
// goroutine too. The only exception is AckObserver (set on a SourcePartition),
// which the producer calls; see its doc.
type SourceTask interface {
	// Start parses tc.Props and opens what the task needs. ctx covers
	// start-up only.
	Start(ctx context.Context, tc *TaskContext) error
	// Poll returns the next batch of records. It blocks for at most about a
	// second and returns (nil, nil) when there is nothing to do. The returned
	// slice may be reused by the task on the next Poll; the *kgo.Record values
	// in it belong to the worker until they are acknowledged.
	Poll(ctx context.Context) ([]SourceRecord, error)
	// Stop closes what Start opened. It is called once, after the last Poll
	// and after the worker committed source offsets, flushed the producer
	// and committed again. ctx ends at the stop's deadline (see Worker.Run).
	Stop(ctx context.Context) error
}

// Committer is an optional interface of a SourceTask. The runner calls Commit
// from the runner goroutine just before each source-offset commit (soon after
// the first acknowledged records, then every WorkerConfig.OffsetFlushInterval,
// and twice at a stop: before and after the producer's flush). The task makes durable
// what must not fall behind committed offsets (MirrorSource flushes its
// translation index and promotes delayed offset syncs, as MM2 does on commit).
// An error skips this offset commit; the next one tries again.
type Committer interface {
	Commit(ctx context.Context) error
}

// CommitCarrier is an optional interface of a SourceTask with a Committer,
// for a worker in a group. A task whose last commit was refused (the worker
// lost its lease on the task: the target, where the group lives, was away
// longer than the lease) stops without committing what the target
// acknowledged since its last commit. The runner then asks the task, from
// the runner goroutine after its producer closed and before Stop, for the
// records its Commit would make durable now, all for the target cluster:
// what Commit writes that may not be durable yet, in the order it must be
// written. The worker keeps them with the acknowledged source offsets; if
// the task comes back to this worker and nobody committed its partitions
// meanwhile, the worker writes them, then commits the offsets, and the
// task's next run goes on from there instead of copying those records
// again. A task with a Committer but without CommitCarrier, or whose
// Uncommitted fails, has them copied again.
type CommitCarrier interface {
	Uncommitted() ([]*kgo.Record, error)
}

// TransactionListener is an optional interface of a SourceTask, for
// exactly-once mode (HerderConfig.ExactlyOnce). The runner calls
// TransactionCommitted from the runner goroutine after each transaction of
// the task committed: the records it held, their source offsets and what
// the task produced to TaskContext.TransactionalProducer before the call
// are on the target, visible to read_committed consumers. MirrorSource
// sends its MM2 offset syncs to a source cluster then, as Java MM2 does
// after a commit: a sync must not point at a record that was aborted. It
// must not block on the network for long.
//
// A transaction that aborts is never reported: the runner restarts the
// task (Stop, then a new task from the connector's NewTask, Start) from
// the source offsets committed last, as if it had been restarted, and
// the stopped task drops what it held for the aborted transaction.
type TransactionListener interface {
	TransactionCommitted(ctx context.Context)
}

// SourceRecord is one record to produce to the target cluster, with where it
// came from. Record.Topic and Record.Partition must be set (the producer
// partitions manually); key, value, headers and timestamp are sent as they are.
type SourceRecord struct {
	Record *kgo.Record
	// Partition is the handle of the source partition the record came from
	// (from TaskContext.Partition). It carries the source offset bookkeeping.
	Partition *SourcePartition
	// Offset is the record's offset in the source partition, committed to
	// the Connect offsets topic once the target acknowledged the record and
	// every record before it. Within one partition, offsets passed to the
	// worker must not decrease; a constant offset is fine (MM2's checkpoint
	// and heartbeat tasks always store 0).
	Offset int64
}

// ConnectorContext is what the worker hands a connector. It is a struct so
// that it can grow without breaking connectors.
type ConnectorContext struct {
	Name   string // connector name; also the source-offsets namespace
	Source string // source cluster alias
	Target string // target cluster alias
	Props  Props
	Logger hclog.Logger

	newClient   clientFactory
	reconfigure func()
	offsets     *offsetStore
}

// NewClient returns a new client for the named cluster with the worker's
// settings for that cluster and role, plus opts. The caller owns and closes it.
func (cc *ConnectorContext) NewClient(cluster string, role Role, opts ...kgo.Opt) (*kgo.Client, error) {
	return cc.newClient(cluster, role, opts...)
}

// RequestReconfiguration asks the worker to call TaskConfigs again and restart
// the tasks whose configs changed. It does not block and may be called from
// any goroutine.
func (cc *ConnectorContext) RequestReconfiguration() { cc.reconfigure() }

// StoredOffsets calls fn with every source offset stored in the flow's
// Connect offsets topic (every connector's: parse the key with
// ParseOffsetKey to tell them apart), as loaded at start or committed since.
// MirrorSource uses it at start to find stored partitions that no longer
// exist on the source.
func (cc *ConnectorContext) StoredOffsets(fn func(key []byte, v OffsetValue)) {
	if cc.offsets != nil {
		cc.offsets.each(fn)
	}
}

// TaskContext is what the worker hands a task.
type TaskContext struct {
	Connector string // connector name (source-offsets namespace)
	ID        int    // task index
	Source    string
	Target    string
	Props     Props
	Logger    hclog.Logger

	newClient clientFactory
	offsets   *offsetStore
	parts     *partitionTable
	stats     *TaskStats
	txnProd   *kgo.Client // the transactional producer in exactly-once mode; nil otherwise
}

// TransactionalProducer returns, in exactly-once mode, the producer whose
// transactions hold the task's records and their source offsets; nil when
// the task copies at least once. A task writes what must commit or abort
// with its records through it: MirrorSource writes its offset index
// entries, and its MM2 offset syncs when they live on the target, so that
// what the index says of a record is on the target exactly when the record
// is. Produce to it only from Poll and Committer.Commit (the runner
// goroutine), with a context that is not cancelled, and name the
// partition (it partitions manually). Flush is fine (Commit may flush to
// learn whether what it produced got through; a record of the task that
// failed must make Commit fail, which aborts the transaction); never begin,
// end or abort a transaction on it, and never close it: the runner owns it.
func (tc *TaskContext) TransactionalProducer() *kgo.Client { return tc.txnProd }

// ReportLostRecords counts n source records that were gone before they could
// be copied (deleted by retention, or a topic deleted and re-created). The
// task logs the exact range; the worker shows the count in Status and the
// mm2go_task_records_lost_total metric.
func (tc *TaskContext) ReportLostRecords(n int64) {
	if tc.stats != nil && n > 0 {
		tc.stats.RecordsLost.Add(n)
	}
}

// ReportUnknownLoss counts one source partition that may have lost records
// that cannot be counted: its log was deleted (the topic deleted or
// re-created) while nobody copied it, so the first record not copied is
// known but not the last. The task logs the first offset; the worker shows
// the count in Status and the mm2go_task_unknown_losses_total metric.
func (tc *TaskContext) ReportUnknownLoss() {
	if tc.stats != nil {
		tc.stats.UnknownLosses.Add(1)
	}
}

// ReportCycle records that one periodic cycle of the task (a checkpoint
// cycle, say) finished and took d. The worker shows the count and the last
// duration in Status, the REST task status and the mm2go_task_cycles_total
// and mm2go_task_last_cycle_seconds metrics, so an operator can see that the
// cycle keeps up with its interval.
func (tc *TaskContext) ReportCycle(d time.Duration) {
	if tc.stats != nil {
		tc.stats.LastCycle.Store(int64(d))
		tc.stats.Cycles.Add(1)
	}
}

// NewClient is ConnectorContext.NewClient for tasks.
func (tc *TaskContext) NewClient(cluster string, role Role, opts ...kgo.Opt) (*kgo.Client, error) {
	return tc.newClient(cluster, role, opts...)
}

// StoredOffset returns the last committed source offset for a partition key
// (see OffsetKey), as read from the Connect offsets topic at start or written
// since. ok is false when nothing is stored or the stored value is negative.
func (tc *TaskContext) StoredOffset(key []byte) (offset int64, ok bool) {
	return tc.offsets.get(key)
}

// StoredOffsetValue returns the stored value of a partition key with the
// fields stored beside the offset, negative offsets included; ok is false
// when nothing is stored.
func (tc *TaskContext) StoredOffsetValue(key []byte) (v OffsetValue, ok bool) {
	return tc.offsets.value(key)
}

// Partition returns the task's handle for the source partition whose Connect
// offsets key is key (nil key: offsets of that partition are not stored).
// Calling it again with the same key returns the same handle.
func (tc *TaskContext) Partition(key []byte) *SourcePartition {
	return tc.parts.get(key)
}
