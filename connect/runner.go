package connect

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Reconfigurable is an optional interface of a SourceTask. When the
// connector's new task configs change only this task's props, the runner
// calls Reconfigure (from the runner goroutine, between polls) instead of
// restarting the task, so a source task can take on new partitions without
// dropping what it has in flight. An error restarts the task.
type Reconfigurable interface {
	Reconfigure(ctx context.Context, props Props) error
}

// taskRunner owns one task: it is the only goroutine that calls the task, it
// produces what Poll returns to the target, and it commits source offsets.
type taskRunner struct {
	cfg   *WorkerConfig
	spec  ConnectorSpec
	id    int
	task  SourceTask
	tc    *TaskContext
	store *offsetStore
	log   hclog.Logger
	stats *TaskStats

	// newProducer opens the producer of the task's records: the target's
	// producer options, then ConnectorSpec.RecordProducer.
	newProducer   func(opts ...kgo.Opt) (*kgo.Client, error)
	flushInterval time.Duration // the herder's offset.flush.interval.ms

	props    Props         // current props; connector goroutine only
	reconfig chan Props    // new props for a Reconfigurable task
	done     chan struct{} // closed after run returned and err is set
	err      error         // run's result, read after done

	prod      *kgo.Client
	promise   func(*kgo.Record, error) // bound once, so producing allocates no closure
	prodErr   atomic.Bool              // a record failed; find which partition
	entries   []commitEntry
	lastFlush time.Time
}

// TaskStats counts what a task did; read it with the atomic getters.
type TaskStats struct {
	RecordsSent  atomic.Int64 // handed to the producer
	RecordsAcked atomic.Int64 // acknowledged by the target
	BytesAcked   atomic.Int64 // key+value bytes acknowledged
	Commits      atomic.Int64 // source-offset commits written
	RecordsLost  atomic.Int64 // source records gone before they were copied
	Cycles       atomic.Int64 // periodic cycles finished (ReportCycle)
	LastCycle    atomic.Int64 // nanoseconds the last cycle took

	m *taskMetrics // what the metrics read besides the counters above
}

func (r *taskRunner) run(ctx context.Context) (err error) {
	bo := backoff{max: r.cfg.RetryBackoffMax}
	r.prod, err = r.newProducer(
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(250*time.Millisecond), // see awaitPartition
		ClientLabel(fmt.Sprintf("%s|%s-%d|producer", r.spec.Herder(), r.spec.Name, r.id)),
	)
	if err != nil {
		return err
	}
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
			return fmt.Errorf("start task %s-%d: %w", r.spec.Name, r.id, err)
		}
		d := bo.next()
		r.log.Warn("task start failed; retrying", "error", err, "backoff", d)
		sleepCtx(ctx, d)
	}
	r.log.Info("task started")
	bo.reset()
	r.lastFlush = time.Now()
	// Records go to the producer under pctx, which a soft stop (ctx done)
	// does not end: kgo fails a record whose Produce is still waiting for
	// room in the buffer at once, ahead of the acks of the records before
	// it, and the partition would then commit nothing of what those acks
	// confirmed. pctx ends ShutdownTimeout after ctx, at the hard stop.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	var hardStop atomic.Pointer[time.Timer]
	stopWatch := context.AfterFunc(ctx, func() { hardStop.Store(time.AfterFunc(r.cfg.ShutdownTimeout, pcancel)) })
	defer func() {
		stopWatch()
		if t := hardStop.Load(); t != nil {
			t.Stop()
		}
		pcancel()
	}()
	defer func() {
		// Soft stop: the poll loop has ended. Flush what is in flight, commit
		// what the target acknowledged, then stop the task. The shutdown
		// timeout is the hard stop.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout)
		defer cancel()
		var ferr error
		if e := r.prod.Flush(sctx); e != nil {
			ferr = fmt.Errorf("flush producer of task %s-%d: %w", r.spec.Name, r.id, e)
		}
		cerr := r.commit(sctx)
		serr := r.task.Stop(sctx)
		r.prod.Close()
		err = errors.Join(err, ferr, cerr, serr)
		r.log.Info("task stopped", "records_acked", r.stats.RecordsAcked.Load())
	}()
	for ctx.Err() == nil {
		if r.prodErr.Load() {
			return r.produceFailure()
		}
		select {
		case p := <-r.reconfig:
			if err := r.task.(Reconfigurable).Reconfigure(ctx, p); err != nil {
				return fmt.Errorf("reconfigure task %s-%d: %w", r.spec.Name, r.id, err)
			}
		default:
		}
		recs, err := r.task.Poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && IsRetriable(err):
			d := bo.next()
			r.log.Warn("poll failed; retrying", "error", err, "backoff", d)
			sleepCtx(ctx, d)
			continue
		case err != nil:
			return fmt.Errorf("poll task %s-%d: %w", r.spec.Name, r.id, err)
		}
		bo.reset()
		r.send(pctx, recs)
		if time.Since(r.lastFlush) >= r.flushInterval {
			if err := r.commit(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("source offset commit failed; will retry", "error", err)
			}
		}
	}
	return nil
}

// send hands a batch to the producer. Offsets are registered as in flight
// before the records are produced (an ack can come before Produce returns),
// one lock per run of records from the same partition.
func (r *taskRunner) send(ctx context.Context, recs []SourceRecord) {
	for i := 0; i < len(recs); {
		sp := recs[i].Partition
		if !sp.produceReady {
			r.awaitPartition(ctx, recs[i].Record.Topic, recs[i].Record.Partition)
			sp.produceReady = true
		}
		j := i
		sp.mu.Lock()
		for ; j < len(recs) && recs[j].Partition == sp; j++ {
			sp.pushLocked(recs[j].Offset)
		}
		sp.mu.Unlock()
		for ; i < j; i++ {
			rec := recs[i].Record
			rec.Context = sp.ctx
			r.prod.Produce(ctx, rec, r.promise)
		}
	}
	r.stats.RecordsSent.Add(int64(len(recs)))
}

// awaitPartition makes sure the producer knows partition p of topic before
// the first record to it: kgo fails a record at once, not retriably, when
// its partition number is past the partitions in its cached metadata, and a
// partition that the connector just added to the target is not in it yet.
func (r *taskRunner) awaitPartition(ctx context.Context, topic string, p int32) {
	if leader, _, _ := r.prod.PartitionLeader(topic, 0); leader < 0 {
		return // topic not loaded yet: the first produce loads fresh metadata
	}
	for tries := 0; ctx.Err() == nil && tries < 200; tries++ { // <= 10s
		if leader, _, _ := r.prod.PartitionLeader(topic, p); leader >= 0 {
			return
		}
		r.prod.ForceMetadataRefresh()
		sleepCtx(ctx, 50*time.Millisecond)
	}
	r.log.Warn("target partition not in the producer's metadata after 10s; producing anyway", "topic", topic, "partition", p)
}

// onAck runs on the producer's promise goroutine, serially.
func (r *taskRunner) onAck(rec *kgo.Record, err error) {
	sp := rec.Context.Value(partitionKey{}).(*SourcePartition)
	sp.ack(rec.Offset, err)
	if err != nil {
		r.prodErr.Store(true)
		return
	}
	r.stats.RecordsAcked.Add(1)
	r.stats.BytesAcked.Add(int64(len(rec.Key) + len(rec.Value)))
}

// produceFailure returns the first produce error of the task's partitions.
func (r *taskRunner) produceFailure() error {
	var errs []error
	for _, sp := range r.tc.parts.snapshot() {
		if err := sp.failure(); err != nil {
			errs = append(errs, err)
		}
	}
	return fmt.Errorf("task %s-%d: %w", r.spec.Name, r.id, errors.Join(errs...))
}

// commit lets the task flush what must precede an offset commit
// (Committer), then writes the acknowledged source offsets that changed since
// the last commit.
func (r *taskRunner) commit(ctx context.Context) error {
	r.lastFlush = time.Now()
	r.entries = r.entries[:0]
	for _, sp := range r.tc.parts.snapshot() {
		if sp.key == nil {
			continue
		}
		if a := sp.Acked(); a > sp.committed {
			r.entries = append(r.entries, commitEntry{sp: sp, offset: a})
		}
	}
	// The task makes its own records durable first (offset syncs, the
	// translation index), so that committed source offsets never get ahead
	// of what the task wrote about the records before them.
	if c, ok := r.task.(Committer); ok {
		if err := c.Commit(ctx); err != nil {
			return fmt.Errorf("commit task %s-%d: %w", r.spec.Name, r.id, err)
		}
	}
	if err := r.store.commit(ctx, r.entries); err != nil {
		return err
	}
	if len(r.entries) > 0 {
		r.stats.Commits.Add(1)
		r.log.Debug("committed source offsets", "partitions", len(r.entries))
	}
	return nil
}

func propsEqual(a, b Props) bool { return maps.Equal(a, b) }
