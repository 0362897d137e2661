package connectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/offsets"
)

// checkpointKey identifies a checkpoint: group and target-side partition.
type checkpointKey struct {
	group, topic string
	partition    int32
}

// MirrorCheckpointTask is MM2's MirrorCheckpointTask for the groups in
// task.assigned.groups. Every EmitInterval it lists each group's committed
// offsets on the source, translates those of topics the topic filter
// accepts with the offset index (Index.TranslateCommitted: exact, where MM2
// lands up to offset.lag.max records early), renames the topics with the
// replication policy and returns MM2-format checkpoints (offsets.Checkpoint)
// for partition 0 of the checkpoints topic, stamped with the time the cycle
// began.
//
// A group that read past the last record the index knows (records copied
// since the last source-offset commit, or not copied yet) gets the safe
// lower bound, the target offset after that record: it never skips a record,
// it is never behind the group's previous checkpoint, and the exact
// checkpoint follows once the index learns of the records, at the next
// source-offset commit. Leaving such a group without a new checkpoint
// instead would leave a consumer that keeps up with a busy topic, always
// ahead of the index, with no checkpoint at all, and one further behind than
// the lower bound. A group behind the first copied record gets none, as in
// MM2.
//
// A checkpoint is emitted, as in MM2 (spec §6.7), when it is the first of
// its group and partition, when its target offset is higher than that of
// the last one, or when the group's source offset went back: an operator
// reset the group on the source to reprocess, and consumers that move to
// the target must reprocess too. Otherwise it is not, so a checkpoint never
// goes backwards because a translation came out lower while the group moved
// forward (a lower bound after an exact offset, say). The last ones are
// loaded from the checkpoints topic at Start, so this holds across restarts
// too. Group offset sync into the target stays forward-only even after a
// rewind (see groupsync.go): it never rewinds a group on the target.
//
// Every SyncInterval, when group offset sync is on, it commits the same
// translations into the target's consumer groups that have no active
// members, never moving an offset backwards (see groupsync.go).
//
// The work runs on a goroutine of the task, so that Poll never waits for
// the clusters longer than consumer.poll.timeout.ms. Each checkpoint's source partition is
// MM2's {"partition","topic","group"} map with offset 0, so the worker
// stores {"offset":0} under connect.MirrorCheckpointOffsetKey, as MM2 does.
type MirrorCheckpointTask struct {
	cfg       CheckpointConfig
	log       hclog.Logger
	groups    []string
	connector string                                     // the source-offsets namespace
	partition func(key []byte) *connect.SourcePartition  // tc.Partition
	report    func(time.Duration)                        // tc.ReportCycle
	groupsFn  func(time.Time, []connect.GroupCheckpoint) // tc.ReportGroups

	src   *kadm.Client
	tgt   *kgo.Client
	tail  *offsets.IndexTail
	syncs *offsets.SyncStore // MM2 offset syncs of copies older than the index; nil if unreadable

	batches chan []connect.SourceRecord // loop -> Poll
	stop    context.CancelFunc
	wg      sync.WaitGroup

	// Owned by the loop goroutine once it runs.
	emitted map[checkpointKey]offsets.Checkpoint
	syncer  *groupSyncer
}

// Start implements connect.SourceTask. It loads the latest checkpoints of
// its groups from the checkpoints topic and starts the task's loop.
func (t *MirrorCheckpointTask) Start(ctx context.Context, tc *connect.TaskContext) (err error) {
	cfg, err := ParseCheckpointConfig(tc.Props)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	groups, err := splitGroups(tc.Props[KeyAssignedGroups])
	if err != nil {
		return err
	}
	t.cfg, t.groups, t.log = cfg, groups, tc.Logger
	t.connector, t.partition, t.report, t.groupsFn = tc.Connector, tc.Partition, tc.ReportCycle, tc.ReportGroups
	clientID := func(role string) kgo.Opt {
		return connect.ClientLabel(fmt.Sprintf("%s->%s|%s-%d|%s", tc.Source, tc.Target, tc.Connector, tc.ID, role))
	}
	// The worker calls Start again after a retriable error and never calls
	// Stop after a failed Start: leave nothing open on the way out.
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	scl, err := tc.NewClient(tc.Source, connect.RoleAdmin, clientID("checkpoint-source-admin"))
	if err != nil {
		return err
	}
	t.src = kadm.NewClient(scl)
	if t.tgt, err = tc.NewClient(tc.Target, connect.RoleAdmin, clientID("checkpoint-target-admin")); err != nil {
		return err
	}
	if t.emitted, err = loadCheckpoints(ctx, t.tgt.Opts(), cfg.CheckpointsTopic, groups); err != nil {
		return connect.Retriable(err)
	}
	if t.tail, err = offsets.NewIndexTail(t.tgt.Opts(), cfg.IndexTopic); err != nil {
		return err
	}
	// MM2's offset syncs: the fallback for records Java MM2 copied before
	// mm2go took the flow over, which the index cannot know. Read once: what
	// mm2go copies, the index knows.
	syncsTopic, syncsOpts := cfg.Policy.OffsetSyncsTopic(cfg.TargetAlias), scl.Opts()
	if strings.EqualFold(strings.TrimSpace(tc.Props[KeyOffsetSyncsTopicLocation]), "target") {
		syncsTopic, syncsOpts = cfg.Policy.OffsetSyncsTopic(cfg.SourceAlias), t.tgt.Opts()
	}
	if t.syncs, err = offsets.LoadSyncStore(ctx, syncsOpts, syncsTopic); err != nil {
		t.log.Warn("cannot read MM2 offset syncs; offsets copied before mm2go's index will not translate", "topic", syncsTopic, "error", err)
		t.syncs, err = nil, nil
	}
	t.syncer = newGroupSyncer(t.tgt, t.log)
	t.batches = make(chan []connect.SourceRecord)
	lctx, cancel := context.WithCancel(context.Background())
	t.stop = cancel
	// Logged before the loop starts: the loop owns t.emitted from then on.
	t.log.Info("checkpointing groups", "groups", len(groups), "loaded_checkpoints", len(t.emitted))
	t.wg.Go(func() { t.loop(lctx) })
	return nil
}

// loadCheckpoints reads partition 0 of the checkpoints topic from its start
// to its end and returns the last checkpoint of each partition of groups. A
// missing topic holds none; records that fail to decode are skipped, as MM2
// skips them.
func loadCheckpoints(ctx context.Context, opts []kgo.Opt, topic string, groups []string) (map[checkpointKey]offsets.Checkpoint, error) {
	mine := make(map[string]bool, len(groups))
	for _, g := range groups {
		mine[g] = true
	}
	out := make(map[checkpointKey]offsets.Checkpoint)
	err := kread.ReadToEnd(ctx, opts, topic, []int32{0}, func(r *kgo.Record) error {
		value := r.Value
		if value == nil {
			value = make([]byte, 20) // a tombstone: decode the key only
		}
		cp, err := offsets.DecodeCheckpoint(r.Key, value)
		if err != nil || !mine[cp.ConsumerGroupID] {
			return nil
		}
		k := checkpointKey{cp.ConsumerGroupID, cp.Topic, cp.Partition}
		if r.Value == nil {
			delete(out, k)
		} else {
			out[k] = cp
		}
		return nil
	})
	if err != nil && !errors.Is(err, kread.ErrTopicNotFound) {
		return nil, fmt.Errorf("load checkpoints from %s: %w", topic, err)
	}
	return out, nil
}

// loop runs the cycles: checkpoints every EmitInterval, group offset sync
// every SyncInterval, the first of each right away.
func (t *MirrorCheckpointTask) loop(ctx context.Context) {
	start := time.Now()
	nextEmit, nextSync := start, start
	for {
		var due time.Time
		switch {
		case t.cfg.EmitInterval > 0 && t.cfg.SyncInterval > 0:
			due = nextEmit
			if nextSync.Before(due) {
				due = nextSync
			}
		case t.cfg.EmitInterval > 0:
			due = nextEmit
		default:
			due = nextSync
		}
		if d := time.Until(due); d > 0 && !sleepUntilDone(ctx, d) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		began := time.Now()
		emit := t.cfg.EmitInterval > 0 && !began.Before(nextEmit)
		syncNow := t.cfg.SyncInterval > 0 && !began.Before(nextSync)
		if emit {
			nextEmit = advance(nextEmit, t.cfg.EmitInterval, began)
		}
		if syncNow {
			nextSync = advance(nextSync, t.cfg.SyncInterval, began)
		}
		limit := max(t.cfg.EmitInterval, t.cfg.SyncInterval, 30*time.Second)
		cctx, cancel := context.WithTimeout(ctx, limit)
		byGroup, err := t.translate(cctx)
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				t.log.Warn("checkpoint cycle failed; will retry", "error", err)
			}
			continue
		}
		emitted := 0
		if emit {
			if recs := t.checkpoints(byGroup, began); len(recs) > 0 {
				emitted = len(recs)
				select {
				case t.batches <- recs:
				case <-ctx.Done():
					cancel()
					return
				}
			}
			t.groupsFn(began, t.groupStates(byGroup))
		}
		if syncNow {
			t.syncer.syncAll(cctx, t.groups, byGroup)
		}
		cancel()
		t.cycleDone(began, emit, syncNow, byGroup, emitted)
	}
}

// cycleDone reports a finished cycle to the worker (Status, metrics) and
// logs it: at Debug every time, at Warn when it took longer than the
// shortest of its intervals, since the cycles then run back to back and
// checkpoints come later than configured.
func (t *MirrorCheckpointTask) cycleDone(began time.Time, emit, synced bool, byGroup map[string][]offsets.PartitionTranslation, emitted int) {
	took := time.Since(began)
	t.report(took)
	partitions := 0
	for _, ts := range byGroup {
		partitions += len(ts)
	}
	interval := t.cfg.EmitInterval
	if interval == 0 || (t.cfg.SyncInterval > 0 && t.cfg.SyncInterval < interval) {
		interval = t.cfg.SyncInterval
	}
	args := []any{"groups", len(byGroup), "partitions", partitions, "checkpoints_emitted", emitted,
		"emitted", emit, "group_offsets_synced", synced, "took", took.Round(time.Millisecond)}
	if took > interval {
		t.log.Warn("checkpoint cycle took longer than its interval; checkpoints come later than configured (more tasks.max spreads the groups over more tasks)",
			append(args, "interval", interval)...)
		return
	}
	t.log.Debug("checkpoint cycle", args...)
}

// advance returns the next due time after next, one interval on, or one
// interval after now when the task fell behind: a slow cycle never causes a
// burst.
func advance(next time.Time, interval time.Duration, now time.Time) time.Time {
	next = next.Add(interval)
	if !next.After(now) {
		next = now.Add(interval)
	}
	return next
}

// translate catches the index up and translates the committed offsets of
// every group of the task on topics the topic filter accepts. Partitions the
// index does not know exactly yet come back with Err set. A group whose
// offsets cannot be fetched is logged and left out.
func (t *MirrorCheckpointTask) translate(ctx context.Context) (map[string][]offsets.PartitionTranslation, error) {
	if err := t.tail.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("read offset index %s on %s: %w", t.cfg.IndexTopic, t.cfg.TargetAlias, err)
	}
	ix := t.tail.Index()
	fetched := t.src.FetchManyOffsets(ctx, t.groups...)
	out := make(map[string][]offsets.PartitionTranslation, len(t.groups))
	for _, g := range t.groups {
		r, ok := fetched[g]
		switch {
		case !ok || errors.Is(r.Err, kerr.GroupIDNotFound):
			continue // gone; the connector's refresh drops it
		case r.Err != nil:
			if ctx.Err() != nil {
				return nil, r.Err
			}
			t.log.Warn("cannot fetch committed offsets of group; skipping it this cycle", "group", g, "cluster", t.cfg.SourceAlias, "error", r.Err)
			continue
		}
		var ts []offsets.PartitionTranslation
		for _, o := range r.Fetched.Sorted() {
			if o.Err != nil || o.At < 0 || !t.cfg.Topics.ShouldReplicateTopic(o.Topic) {
				continue
			}
			pt := offsets.PartitionTranslation{
				Group: g, SourceTopic: o.Topic, TargetTopic: t.cfg.Policy.FormatRemoteTopic(t.cfg.SourceAlias, o.Topic),
				Partition: o.Partition, SourceOffset: o.At, TargetOffset: -1, Lag: -1, Metadata: o.Metadata,
			}
			tr, fromSyncs, err := offsets.TranslateCommittedOrSyncs(ix, t.syncs, o.Topic, o.Partition, o.At)
			pt.FromOffsetSyncs = fromSyncs
			if err != nil {
				pt.Err = &offsets.TranslateError{Group: g, Topic: o.Topic, Partition: o.Partition, Offset: o.At, Err: err}
				if t.log.IsTrace() {
					t.log.Trace("offset not translated", "group", g, "topic", o.Topic, "partition", o.Partition, "offset", o.At, "error", err)
				}
			} else {
				pt.TargetOffset, pt.Exact = tr.Downstream, tr.Exact
			}
			ts = append(ts, pt)
		}
		out[g] = ts
	}
	return out, nil
}

// groupStates says, per group of the task, how far its checkpoints trail
// its committed offsets on the source after a cycle emitted checkpoints:
// records consumed past the latest checkpoint of each partition, and the
// partitions with no checkpoint at all.
func (t *MirrorCheckpointTask) groupStates(byGroup map[string][]offsets.PartitionTranslation) []connect.GroupCheckpoint {
	out := make([]connect.GroupCheckpoint, 0, len(byGroup))
	for _, g := range t.groups {
		ts, ok := byGroup[g]
		if !ok {
			continue // gone, or its offsets could not be fetched this cycle
		}
		gc := connect.GroupCheckpoint{Group: g}
		for _, pt := range ts {
			cp, ok := t.emitted[checkpointKey{g, pt.TargetTopic, pt.Partition}]
			if !ok {
				gc.Untranslated++
				continue
			}
			gc.LagRecords += max(pt.SourceOffset-cp.UpstreamOffset, 0)
		}
		gc.UpToDate = gc.Untranslated == 0 && gc.LagRecords == 0
		out = append(out, gc)
	}
	return out
}

// checkpoints returns the records of the checkpoints that are newer than the
// last emitted ones, and remembers them as emitted.
func (t *MirrorCheckpointTask) checkpoints(byGroup map[string][]offsets.PartitionTranslation, began time.Time) []connect.SourceRecord {
	var out []connect.SourceRecord
	for _, g := range t.groups {
		for _, pt := range byGroup[g] {
			if pt.Err != nil {
				continue
			}
			cp := offsets.Checkpoint{
				ConsumerGroupID: g, Topic: pt.TargetTopic, Partition: pt.Partition,
				UpstreamOffset: pt.SourceOffset, DownstreamOffset: pt.TargetOffset, Metadata: pt.Metadata,
			}
			k := checkpointKey{g, pt.TargetTopic, pt.Partition}
			if prev, ok := t.emitted[k]; ok && !newerCheckpoint(cp, prev) {
				continue
			}
			key, err := cp.Key()
			var value []byte
			if err == nil {
				value, err = cp.Value()
			}
			if err != nil {
				t.log.Warn("cannot encode checkpoint; skipping it", "group", g, "topic", pt.TargetTopic, "partition", pt.Partition, "error", err)
				continue
			}
			rec := &kgo.Record{Topic: t.cfg.CheckpointsTopic, Partition: 0, Key: key, Value: value, Timestamp: began}
			sp := t.partition(connect.MirrorCheckpointOffsetKey(t.connector, g, pt.TargetTopic, pt.Partition))
			// MM2's checkpoint-latency-ms, one series per group and
			// partition (MM2 mixes them all in one sensor).
			sp.ExportMetrics(connect.PartitionMetrics{Kind: connect.CheckpointPartition, Group: g, Topic: pt.TargetTopic, Partition: pt.Partition})
			out = append(out, connect.SourceRecord{Record: rec, Partition: sp, Offset: 0})
			t.emitted[k] = cp
		}
	}
	if len(out) > 0 {
		t.log.Debug("emitting checkpoints", "checkpoints", len(out))
	}
	return out
}

// newerCheckpoint reports whether cp replaces prev, the last checkpoint of
// its group and partition: its target offset is higher, or the group's
// source offset went back (a deliberate rewind on the source, which MM2
// follows too). A lower target offset for a source offset that did not go
// back is translation imprecision and never replaces prev.
func newerCheckpoint(cp, prev offsets.Checkpoint) bool {
	return cp.DownstreamOffset > prev.DownstreamOffset || cp.UpstreamOffset < prev.UpstreamOffset
}

// Poll implements connect.SourceTask: it returns the next batch of
// checkpoints, or (nil, nil) after consumer.poll.timeout.ms.
func (t *MirrorCheckpointTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	timer := time.NewTimer(t.cfg.PollTimeout)
	defer timer.Stop()
	select {
	case recs := <-t.batches:
		return recs, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	return nil, nil
}

// Stop implements connect.SourceTask.
func (t *MirrorCheckpointTask) Stop(context.Context) error {
	t.close()
	return nil
}

// close ends the loop and closes the clients. It is idempotent.
func (t *MirrorCheckpointTask) close() {
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
	t.wg.Wait()
	if t.tail != nil {
		t.tail.Close()
		t.tail = nil
	}
	if t.src != nil {
		t.src.Close()
		t.src = nil
	}
	if t.tgt != nil {
		t.tgt.Close()
		t.tgt = nil
	}
}
