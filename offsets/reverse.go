package offsets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// This file is fail-back: after a failover from A to B, consumer groups
// that consumed the copies on B go back to A. MM2 cannot translate in this
// direction (its offset syncs and checkpoints only go A->B; spec §8 item 5).
// mm2go's index of the flow A->B knows, for every copied record, its offset
// on A and on B, so it answers the question backwards as exactly as
// forwards.

// ErrGroupNotFoundOnTarget is wrapped by TranslateGroupBack when the group
// has no committed offsets on the flow's target: it never consumed there,
// or the name is wrong.
var ErrGroupNotFoundOnTarget = errors.New("no committed offsets on the flow's target cluster")

// TranslateBack translates a consumer group's committed offset of the copy
// of source partition (topic, partition) on the flow's target, that is the
// target offset of the next record the group reads there, back to the
// source partition: the offset the group resumes from on the source to read
// exactly the records it has not read on the target.
//
//   - committed is the copy of a known record: that record's source offset.
//     Exact. A record copied twice (a task restarted after its last commit)
//     has two copies; whichever the group stopped at, everything before its
//     source record was read.
//   - committed is right after the last record the index knows in its run:
//     the source offset after that record. Exact.
//   - committed is further on: the group read target records the index does
//     not know (copied since the last source-offset commit of a task that
//     then died, or, with the identity policy, records written on the
//     target itself after the failover). The result is the source offset
//     after the last known record, which skips nothing that came from the
//     source; Exact is false.
//   - committed is before the first copied record: an error wrapping
//     ErrNoTranslation (the group read nothing that came from the source).
//
// Upstream is the source offset, Downstream is committed.
func (x *Index) TranslateBack(topic string, partition int32, committed int64) (Translation, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	pi := x.parts[trackedTP{topic, partition}]
	if pi == nil || len(pi.runs) == 0 {
		return Translation{}, fmt.Errorf("translate %s[%d] target offset %d back: %w", topic, partition, committed, ErrNoTranslation)
	}
	pi.build()
	// The run that holds target offset committed: runs are in target order
	// and each holds the target offsets up to the next one's start.
	k := sort.Search(len(pi.runs), func(i int) bool { return pi.runs[i].d > committed }) - 1
	if k < 0 {
		return Translation{}, fmt.Errorf("translate %s[%d] target offset %d back: %w", topic, partition, committed, ErrNoTranslation)
	}
	r, end := pi.runs[k], pi.ends[k]
	up := r.u + (committed - r.d)
	switch {
	case up <= end+1:
		// A known record, or right after the last known one: everything
		// before it on the source was read (earlier runs hold the rest).
		return Translation{Upstream: up, Downstream: committed, Exact: true}, nil
	default:
		return Translation{Upstream: end + 1, Downstream: committed}, nil
	}
}

// TranslateBackRequest says which group to translate back, over which flow.
// Cluster roles are those of the flow: FlowSource is the cluster the flow
// copied from (A, where the group goes back to), FlowTarget the one it
// copied to (B, where the group consumes now).
type TranslateBackRequest struct {
	// FlowSource and FlowTarget are clients of the flow's clusters; the
	// caller owns them. TranslateGroupBack only reads.
	FlowSource, FlowTarget *kgo.Client
	// SourceAlias is the flow's source alias: the prefix of remote topic
	// names under the default policy and part of the index topic's name.
	SourceAlias string
	// RemoteTopic names a source topic on the flow's target: the
	// replication policy's FormatRemoteTopic.
	RemoteTopic func(sourceAlias, topic string) string
	// Index is the flow's offset index; when nil, TranslateGroupBack opens
	// IndexTopic (or IndexTopic(SourceAlias)) on FlowTarget.
	Index      *Index
	IndexTopic string
	// Group is the consumer group, named as on both clusters.
	Group string
}

func (r *TranslateBackRequest) check() error {
	return checkRequired("translate group back",
		required{"FlowSource", r.FlowSource != nil}, required{"FlowTarget", r.FlowTarget != nil},
		required{"SourceAlias", r.SourceAlias != ""}, required{"RemoteTopic", r.RemoteTopic != nil}, required{"Group", r.Group != ""})
}

// TranslateGroupBack translates the committed offsets of req.Group on the
// flow's target back to the flow's source, partition by partition, for the
// topics that are copies of source topics (see Index.TranslateBack), sorted
// by topic and partition. In each PartitionTranslation the group moves from
// SourceTopic (the copy, on the flow's target) to TargetTopic (the original,
// on the flow's source), with Basis BasisTargetCommits: pass the result to
// CommitTranslated with a client of the flow's source. Lag is -1.
// IndexBehind counts the records on the flow's target past the last one
// the index knows.
//
// Partitions of topics that are not copies from the flow's source (topics
// of the target's own) come back with Err wrapping ErrNotReplicated. The
// function fails when the group has no committed offsets on the flow's
// target (ErrGroupNotFoundOnTarget), the index cannot be opened, the
// request is incomplete, or the flow's target cannot be asked. The flow's
// source is not asked anything.
func TranslateGroupBack(ctx context.Context, req TranslateBackRequest) ([]PartitionTranslation, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	ix, err := indexOr(ctx, req.Index, req.FlowTarget, req.IndexTopic, req.SourceAlias)
	if err != nil {
		return nil, fmt.Errorf("translate group %s back: %w", req.Group, err)
	}
	upstream := make(map[string]string)
	for _, t := range ix.Topics() {
		upstream[req.RemoteTopic(req.SourceAlias, t)] = t
	}
	adm := kadm.NewClient(req.FlowTarget)
	committed, err := adm.FetchOffsets(ctx, req.Group)
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		return nil, fmt.Errorf("translate group %s back: %w", req.Group, ErrGroupNotFoundOnTarget)
	case err != nil:
		return nil, fmt.Errorf("translate group %s back: fetch committed offsets from the flow's target: %w", req.Group, err)
	}
	var out []PartitionTranslation
	var copies []string
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At < 0 {
			return
		}
		src, isCopy := upstream[o.Topic]
		t := PartitionTranslation{
			Group: req.Group, SourceTopic: o.Topic, TargetTopic: src, Partition: o.Partition,
			SourceOffset: o.At, TargetOffset: -1, Lag: -1, Metadata: o.Metadata, Basis: BasisTargetCommits, IndexBehind: -1,
		}
		switch {
		case o.Err != nil:
			t.Err = &TranslateError{Group: req.Group, Topic: o.Topic, Partition: o.Partition, Offset: o.At, Err: o.Err}
		case !isCopy:
			t.Err = &TranslateError{Group: req.Group, Topic: o.Topic, Partition: o.Partition, Offset: o.At,
				Err: fmt.Errorf("%w: not a copy of a topic of %s that the index knows", ErrNotReplicated, req.SourceAlias)}
		default:
			if !slices.Contains(copies, o.Topic) {
				copies = append(copies, o.Topic)
			}
		}
		out = append(out, t)
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("translate group %s back: %w", req.Group, ErrGroupNotFoundOnTarget)
	}
	slices.SortFunc(out, func(a, b PartitionTranslation) int {
		return cmp.Or(cmp.Compare(a.SourceTopic, b.SourceTopic), cmp.Compare(a.Partition, b.Partition))
	})
	var ends kadm.ListedOffsets
	if len(copies) > 0 {
		if ends, err = adm.ListEndOffsets(ctx, copies...); err != nil {
			return nil, fmt.Errorf("translate group %s back: list end offsets on the flow's target: %w", req.Group, err)
		}
	}
	for i := range out {
		t := &out[i]
		if t.Err != nil {
			continue
		}
		t.IndexBehind = indexBehind(ix, t.TargetTopic, t.SourceTopic, t.Partition, ends)
		tr, err := ix.TranslateBack(t.TargetTopic, t.Partition, t.SourceOffset)
		if err != nil {
			t.Err = &TranslateError{Group: req.Group, Topic: t.SourceTopic, Partition: t.Partition, Offset: t.SourceOffset, Err: err}
			continue
		}
		t.TargetOffset, t.Exact = tr.Upstream, tr.Exact
	}
	return out, nil
}
