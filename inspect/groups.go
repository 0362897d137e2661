package inspect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/offsets"
)

// Group states, from best to worst.
const (
	// GroupSynced: every partition's committed offset on the target is
	// the exact translation of the group's committed offset on the source.
	GroupSynced = "synced"
	// GroupCheckpointed: every partition has a checkpoint of the group's
	// current source offset, but the target group is not at it (group
	// offset sync is off, or has not run since).
	GroupCheckpointed = "checkpointed"
	// GroupBehind: a checkpoint trails the group's source offset.
	GroupBehind = "behind"
	// GroupNoCheckpoint: a partition has no checkpoint yet.
	GroupNoCheckpoint = "no_checkpoint"
)

// GroupStatus is how far one consumer group's offsets are on the target.
type GroupStatus struct {
	Group  string `json:"group"`
	State  string `json:"state"`
	Synced bool   `json:"synced"`
	// LastCheckpoint is when the group's newest checkpoint was written,
	// and CheckpointAgeSeconds its age (-1 when there is none).
	LastCheckpoint       *time.Time `json:"last_checkpoint,omitempty"`
	CheckpointAgeSeconds float64    `json:"checkpoint_age_seconds"`
	// LagOnTarget is how many records a consumer of the group would have
	// to read on the target: the sum over partitions with a known
	// position, -1 when none is known.
	LagOnTarget int64 `json:"lag_on_target"`
	// RPO is what the checkpoints trail the group's source offsets by: the
	// records the group read on the source since the checkpoints it would
	// resume from on the target (read again after a failover), and the age
	// of the oldest such checkpoint.
	RPO        RPO              `json:"rpo"`
	Partitions []GroupPartition `json:"partitions"`
	// Error says why the group's offsets could not be read.
	Error string `json:"error,omitempty"`
}

// GroupPartition is one partition of a group.
type GroupPartition struct {
	Topic       string `json:"topic"`
	TargetTopic string `json:"target_topic"`
	Partition   int32  `json:"partition"`
	// SourceOffset is the group's committed offset on the source.
	SourceOffset int64 `json:"source_offset"`
	// Checkpoint is the partition's last checkpoint, nil when none.
	Checkpoint *CheckpointRef `json:"checkpoint,omitempty"`
	// TranslatedOffset is SourceOffset translated exactly to the target
	// (by the offset index, or by a checkpoint of that very offset); -1
	// when no exact translation is known.
	TranslatedOffset int64 `json:"translated_offset"`
	// TargetOffset is the group's committed offset on the target, -1 when
	// none.
	TargetOffset int64 `json:"target_offset"`
	// Synced reports TargetOffset == TranslatedOffset.
	Synced bool `json:"synced"`
	// CheckpointBehind is SourceOffset minus the checkpoint's upstream
	// offset: records the group read since its checkpoint; -1 when there
	// is no checkpoint.
	CheckpointBehind int64 `json:"checkpoint_behind"`
	// LagOnTarget is the target partition's end minus where the group
	// would resume there (TargetOffset, else the checkpoint's downstream
	// offset); -1 when neither is known.
	LagOnTarget int64 `json:"lag_on_target"`
}

// CheckpointRef is a checkpoint and when it was written.
type CheckpointRef struct {
	UpstreamOffset   int64     `json:"upstream_offset"`
	DownstreamOffset int64     `json:"downstream_offset"`
	Time             time.Time `json:"time"`
	AgeSeconds       float64   `json:"age_seconds"`
}

// tombstoneCheckpointValue lets DecodeCheckpoint read a tombstone's key.
var tombstoneCheckpointValue = make([]byte, 20)

// applyCheckpoint folds one checkpoints-topic record into checkpoints.
func (in *Inspector) applyCheckpoint(r *kgo.Record) {
	value := r.Value
	if value == nil {
		value = tombstoneCheckpointValue
	}
	cp, err := offsets.DecodeCheckpoint(r.Key, value)
	if err != nil {
		return // skipped, as MM2's readers skip it
	}
	k := cpKey{cp.ConsumerGroupID, cp.Topic, cp.Partition}
	if r.Value == nil {
		delete(in.checkpoints, k)
		return
	}
	in.checkpoints[k] = checkpointSeen{cp: cp, at: r.Timestamp}
}

// groupStatus reads the flow's groups: their committed offsets on both
// sides (one OffsetFetch per coordinator and side), their checkpoints and
// the offset index (both tailed since the last call).
func (in *Inspector) groupStatus(ctx context.Context, opts StatusOptions, now time.Time) ([]GroupStatus, error) {
	fl := in.flow
	listed, err := in.srcAdm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups on %s: %w", fl.Source, err)
	}
	var groups []string
	for _, g := range listed.Sorted() {
		if g.Group == "" || g.GroupType == "share" || g.GroupType == "streams" || (g.ProtocolType != "" && g.ProtocolType != "consumer") {
			continue
		}
		if fl.Groups.ShouldReplicateGroup(g.Group) && matches(opts.Groups, g.Group) {
			groups = append(groups, g.Group)
		}
	}
	out := []GroupStatus{}
	if len(groups) == 0 {
		return out, nil
	}
	switch err := in.cpTail.CatchUp(ctx, in.applyCheckpoint); {
	case errors.Is(err, kread.ErrTopicNotFound):
	case err != nil:
		return nil, fmt.Errorf("read checkpoints from %s on %s: %w", fl.CheckpointsTopic, fl.Target, err)
	}
	if err := in.index.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("read the offset index %s on %s: %w", fl.IndexTopic, fl.Target, err)
	}
	srcOffs := in.srcAdm.FetchManyOffsets(ctx, groups...)
	tgtOffs := in.tgtAdm.FetchManyOffsets(ctx, groups...)
	tgtEnds, err := in.groupTargetEnds(ctx, opts, srcOffs)
	if err != nil {
		return nil, err
	}
	ix := in.index.Index()
	for _, g := range groups {
		gs := GroupStatus{Group: g, CheckpointAgeSeconds: -1, LagOnTarget: -1, Partitions: []GroupPartition{}}
		so, ok := srcOffs[g]
		switch {
		case !ok || errors.Is(so.Err, kerr.GroupIDNotFound):
			continue // gone since the listing
		case so.Err != nil:
			gs.Error = fmt.Sprintf("fetch its offsets on %s: %v", fl.Source, so.Err)
			out = append(out, gs)
			continue
		}
		to := tgtOffs[g]
		if to.Err != nil && !errors.Is(to.Err, kerr.GroupIDNotFound) {
			gs.Error = fmt.Sprintf("fetch its offsets on %s: %v", fl.Target, to.Err)
		}
		so.Fetched.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil || o.At < 0 || !fl.Topics.ShouldReplicateTopic(o.Topic) || !matches(opts.Topics, o.Topic) {
				return
			}
			gs.Partitions = append(gs.Partitions, in.groupPartition(g, o, to.Fetched, ix, tgtEnds, now))
		})
		if len(gs.Partitions) == 0 && gs.Error == "" {
			continue // nothing the flow checkpoints
		}
		slices.SortFunc(gs.Partitions, func(a, b GroupPartition) int {
			return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
		summarizeGroup(&gs, now)
		out = append(out, gs)
	}
	return out, nil
}

// groupTargetEnds reads the end offsets of the target partitions the
// groups committed to on the source (-1 for none there). They are read
// after the groups' offsets on the target, so that a lag counts from an end
// at least as new as the offset it is measured from: the ends of the
// partitions' listing, read before, may predate the copy and the group
// offset sync that the offsets already show.
func (in *Inspector) groupTargetEnds(ctx context.Context, opts StatusOptions, srcOffs kadm.FetchOffsetsResponses) (map[tp]int64, error) {
	fl := in.flow
	seen := map[string]bool{}
	var remote []string
	for _, r := range srcOffs {
		r.Fetched.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil || o.At < 0 || !fl.Topics.ShouldReplicateTopic(o.Topic) || !matches(opts.Topics, o.Topic) {
				return
			}
			if t := fl.RemoteTopic(o.Topic); !seen[t] {
				seen[t] = true
				remote = append(remote, t)
			}
		})
	}
	out := make(map[tp]int64)
	if len(remote) == 0 {
		return out, nil
	}
	ends, err := in.tgtAdm.ListEndOffsets(ctx, remote...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets on %s: %w", fl.Target, err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	return out, nil
}

// groupPartition is one partition of group g, committed at o on the source.
func (in *Inspector) groupPartition(g string, o kadm.OffsetResponse, target kadm.OffsetResponses, ix *offsets.Index, tgtEnds map[tp]int64, now time.Time) GroupPartition {
	remote := in.flow.RemoteTopic(o.Topic)
	gp := GroupPartition{Topic: o.Topic, TargetTopic: remote, Partition: o.Partition, SourceOffset: o.At,
		TranslatedOffset: -1, TargetOffset: -1, CheckpointBehind: -1, LagOnTarget: -1}
	if seen, ok := in.checkpoints[cpKey{g, remote, o.Partition}]; ok {
		gp.Checkpoint = &CheckpointRef{UpstreamOffset: seen.cp.UpstreamOffset, DownstreamOffset: seen.cp.DownstreamOffset,
			Time: seen.at, AgeSeconds: max(0, now.Sub(seen.at).Seconds())}
		gp.CheckpointBehind = max(0, o.At-seen.cp.UpstreamOffset)
	}
	if tr, err := ix.TranslateCommitted(o.Topic, o.Partition, o.At); err == nil && tr.Exact {
		gp.TranslatedOffset = tr.Downstream
	} else if gp.Checkpoint != nil && gp.Checkpoint.UpstreamOffset == o.At {
		gp.TranslatedOffset = gp.Checkpoint.DownstreamOffset
	}
	if t, ok := target.Lookup(remote, o.Partition); ok && t.Err == nil && t.At >= 0 {
		gp.TargetOffset = t.At
	}
	gp.Synced = gp.TargetOffset >= 0 && gp.TargetOffset == gp.TranslatedOffset
	pos := gp.TargetOffset
	if pos < 0 && gp.Checkpoint != nil {
		pos = gp.Checkpoint.DownstreamOffset
	}
	if end, ok := tgtEnds[tp{remote, o.Partition}]; ok && end >= 0 && pos >= 0 {
		gp.LagOnTarget = max(0, end-pos)
	}
	return gp
}

// summarizeGroup sets a group's state, RPO, lag and newest checkpoint from
// its partitions.
func summarizeGroup(gs *GroupStatus, now time.Time) {
	synced, noCheckpoint, behind := len(gs.Partitions) > 0, false, false
	for _, p := range gs.Partitions {
		synced = synced && p.Synced
		if p.Checkpoint == nil {
			noCheckpoint = true
		} else {
			if gs.LastCheckpoint == nil || p.Checkpoint.Time.After(*gs.LastCheckpoint) {
				t := p.Checkpoint.Time
				gs.LastCheckpoint = &t
			}
			if p.CheckpointBehind > 0 {
				behind = true
				gs.RPO.Records += p.CheckpointBehind
				gs.RPO.Seconds = max(gs.RPO.Seconds, p.Checkpoint.AgeSeconds)
			}
		}
		if p.LagOnTarget >= 0 {
			gs.LagOnTarget = max(gs.LagOnTarget, 0) + p.LagOnTarget
		}
	}
	if gs.LastCheckpoint != nil {
		gs.CheckpointAgeSeconds = max(0, now.Sub(*gs.LastCheckpoint).Seconds())
	}
	gs.Synced = synced
	switch {
	case synced:
		gs.State = GroupSynced
	case noCheckpoint:
		gs.State = GroupNoCheckpoint
	case behind:
		gs.State = GroupBehind
	default:
		gs.State = GroupCheckpointed
	}
}
