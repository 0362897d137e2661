package connect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// What a task of a worker in a group copied but could not commit.
//
// A worker in a group commits a task's source offsets only while it holds
// its lease on the task (group.Member.Owns). The group lives on the
// target, so when the target is away longer than the lease (8 s with the
// defaults) even a worker alone loses its lease: its task stops, and its
// last commit is refused. What the target acknowledged since the task's
// last commit is on the target all the same. Rather than copy it again,
// the runner carries it: the acknowledged source offsets, and what the
// task's Committer would make durable before them (CommitCarrier:
// MirrorSource's offset index entries, without which translation into the
// range would skip records). When the task comes back to this worker (a
// later generation, once the target is back) and the offsets topic shows
// that nobody committed its partitions meanwhile, the worker writes the
// task's records, commits the offsets, and the task's next run goes on
// from there: nothing is copied twice.
//
// A carried offset is committed only while nobody else wrote its key to
// the offsets topic since: the record the stored value came from is the
// one it was when the run stopped, or the stored value is one this run
// tried to commit and saw fail (a commit sent just before the target went
// away is written when it comes back). Anything else is somebody else's
// commit: another worker that ran the task meanwhile, or an operator who
// changed the connector's offsets (REST), and it wins; the carried offset
// is dropped, and what the task had copied past its last commit is copied
// again if the offsets say so.

// carriedCommit is what one run of a task acknowledged and did not commit.
type carriedCommit struct {
	offsets []carriedOffset
	// records are the task's own (CommitCarrier), for the target, to be
	// written in order before the offsets are committed.
	records []*kgo.Record
	// copied is how many source records the offsets move past what was
	// committed, for the logs.
	copied int64
}

// carriedOffset is one partition's acknowledged, uncommitted offset (or
// its deletion, forget); what the run last committed (-1: nothing); the
// position in the offsets topic of the record the stored value came from
// when the run stopped; and the values of the run's commits that failed
// since its last commit of the key.
type carriedOffset struct {
	key       []byte
	value     OffsetValue
	forget    bool
	committed int64
	pos       int64
	tried     []OffsetValue
}

// unchanged says whether nobody but this run wrote o's key since the run
// stopped, given what the offsets topic holds for it now.
func (o *carriedOffset) unchanged(stored OffsetValue, has bool, pos int64) bool {
	if pos == o.pos {
		return true
	}
	return has && slices.ContainsFunc(o.tried, stored.same)
}

// same says whether v and w are the same value.
func (v OffsetValue) same(w OffsetValue) bool {
	return v.Offset == w.Offset && slices.Equal(v.Fields, w.Fields)
}

// maxTried bounds the failed commits remembered per key: values of one key
// are written in order, so the one stored last is among the latest.
const maxTried = 8

// carryUncommitted returns what the run acknowledged and did not commit, or
// nil; stop calls it, in a worker group, when the last commit failed (with
// cause), after the producers closed and before the task's Stop.
func (r *taskRunner) carryUncommitted(cause error) *carriedCommit {
	// The closed producers fail what they held; wait (briefly) for their
	// promises, so that every acknowledgement is counted.
	for i := 0; i < 200 && r.buffered() > 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	c := &carriedCommit{}
	for _, e := range r.toCommit(nil) {
		sp := e.sp
		sp.mu.Lock()
		committed := sp.committed
		sp.mu.Unlock()
		c.offsets = append(c.offsets, carriedOffset{key: sp.key, value: OffsetValue{Offset: e.value.Offset, Fields: slices.Clone(e.value.Fields)},
			forget: e.forget, committed: committed, pos: r.store.position(sp.key), tried: r.tried[string(sp.key)]})
		c.copied += max(e.value.Offset-committed, 0)
	}
	if len(c.offsets) == 0 {
		return nil
	}
	if cc, ok := r.task.(CommitCarrier); ok {
		recs, err := cc.Uncommitted()
		if err != nil {
			r.log.Warn("task stopped without committing what it copied, and cannot say what its commit would write: what it copied since its last commit will be copied again",
				"cause", cause, "error", err, "partitions", len(c.offsets), "records", c.copied)
			return nil
		}
		c.records = recs
	} else if _, ok := r.task.(Committer); ok {
		r.log.Warn("task stopped without committing what it copied, and what its commit writes cannot be kept: what it copied since its last commit will be copied again",
			"cause", cause, "partitions", len(c.offsets), "records", c.copied)
		return nil
	}
	r.log.Warn("task stopped without committing what it copied; this worker commits it when the task runs here again, "+
		"unless somebody else writes its offsets first (then the task's next run copies it again)",
		"cause", cause, "partitions", len(c.offsets), "records", c.copied)
	return c
}

// commitFailed remembers the values of r.entries, whose commit failed: it
// may be written all the same, later (see carriedOffset.unchanged).
func (r *taskRunner) commitFailed() {
	if r.owns == nil {
		return
	}
	if r.tried == nil {
		r.tried = make(map[string][]OffsetValue)
	}
	for _, e := range r.entries {
		if e.forget {
			continue
		}
		k := string(e.sp.key)
		v := OffsetValue{Offset: e.value.Offset, Fields: slices.Clone(e.value.Fields)}
		if t := r.tried[k]; !slices.ContainsFunc(t, v.same) {
			if len(t) == maxTried {
				t = slices.Delete(t, 0, 1)
			}
			r.tried[k] = append(t, v)
		}
	}
}

// buffered is how many records the run's producers still hold.
func (r *taskRunner) buffered() int64 {
	n := int64(0)
	for _, p := range []*kgo.Client{r.prod, r.large} {
		if p != nil {
			n += p.BufferedProduceRecords()
		}
	}
	return n
}

// keepCarry keeps c for the unit's next run on this worker.
func (g *groupRun) keepCarry(unit string, c *carriedCommit) {
	g.carryMu.Lock()
	defer g.carryMu.Unlock()
	if g.carried == nil {
		g.carried = make(map[string]*carriedCommit)
	}
	g.carried[unit] = c
}

// takeCarry returns and forgets what the unit's last run carried.
func (g *groupRun) takeCarry(unit string) *carriedCommit {
	g.carryMu.Lock()
	defer g.carryMu.Unlock()
	c := g.carried[unit]
	delete(g.carried, unit)
	return c
}

// applyCarry commits what a previous run of the task carried, before the
// next run starts from the committed offsets; store was just refreshed.
// The offsets of partitions that somebody committed since are dropped. An
// error (the target away again, the lease gone) leaves c to try again.
func (g *groupRun) applyCarry(ctx context.Context, spec ConnectorSpec, id int, store *offsetStore, c *carriedCommit,
	owns func() (time.Time, bool), log hclog.Logger) error {
	until, ok := owns()
	if !ok {
		return errNotOwner
	}
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	var (
		entries      []commitEntry
		moved, again int64
	)
	for _, o := range c.offsets {
		stored, has := store.value(o.key)
		if !o.unchanged(stored, has, store.position(o.key)) {
			moved++
			again += max(o.value.Offset-o.committed, 0)
			continue
		}
		entries = append(entries, commitEntry{sp: newSourcePartition(o.key), value: o.value, forget: o.forget})
	}
	if moved > 0 {
		log.Warn("somebody else committed partitions of the task while this worker had lost its lease (another worker that ran it, or a change of its offsets); "+
			"their commit stands, and what this worker had copied since its last commit is copied again from it",
			"task", id, "partitions", moved, "records", again)
	}
	if len(entries) == 0 {
		return nil
	}
	if len(c.records) > 0 {
		if err := g.writeCarried(ctx, spec, c.records); err != nil {
			return err
		}
	}
	if err := store.commit(ctx, entries); err != nil {
		return err
	}
	log.Info("committed what the task copied before this worker lost its lease; nothing of it is copied again",
		"task", id, "partitions", len(entries), "records", c.copied)
	return nil
}

// writeCarried writes a task's carried records to the target, in order,
// and waits until all are acknowledged.
func (g *groupRun) writeCarried(ctx context.Context, spec ConnectorSpec, recs []*kgo.Record) error {
	life, end := clientLife(g.hard)
	defer end()
	newClient := spec.clients(g.w.clientsOf(life, g.w.connectorReach(spec), spec, -1))
	cl, err := newClient(spec.Target, RoleProducer, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		errs    []error
		written = make(chan error, len(recs))
	)
	for _, rec := range recs {
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { written <- err })
	}
	for range recs {
		select {
		case err := <-written:
			if err != nil && len(errs) == 0 {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("write the task's uncommitted records to %s: %w", spec.Target, context.Cause(ctx))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("write the task's uncommitted records to %s: %w", spec.Target, err)
	}
	return nil
}
