package offsets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
)

// ErrNoCheckpoints is wrapped by TranslateGroup with FromTarget when the
// checkpoints topic holds no checkpoint of the group: the checkpoint
// connector never saw it commit on a replicated topic (a new group, a group
// the flow's groups filter leaves out, or emit.checkpoints.enabled=false).
// With the source down there is then nothing to translate from.
var ErrNoCheckpoints = errors.New("no checkpoints of the group")

// DefaultCheckpointsTopic is the checkpoints topic of the flows from
// sourceAlias with MM2's default separator: "<source>.checkpoints.internal"
// on the target. Pass the policy's CheckpointsTopic when the flow sets
// replication.policy.separator.
func DefaultCheckpointsTopic(sourceAlias string) string {
	return sourceAlias + ".checkpoints.internal"
}

// TimedCheckpoint is a checkpoint with the time its record was written.
type TimedCheckpoint struct {
	Checkpoint
	// Time is the record's timestamp: the start of the checkpoint cycle that
	// emitted it (mm2go), or when it was produced (Java MM2).
	Time time.Time
}

// CheckpointStore holds the last checkpoint of every group and target-side
// partition of a checkpoints topic, as compaction would leave them: what a
// failover translates from when the source cluster cannot be asked. Load it
// once with LoadCheckpointStore to translate many groups. It is read-only
// once loaded and safe for concurrent use.
//
// A checkpoint is written when the group's translated offset moves, so the
// last checkpoint of a group that stopped committing can be old and still
// current. What a checkpoint cannot know is a commit the group made on the
// source after the checkpoint task's last cycle (emit.checkpoints.interval.
// seconds, 5 s by default): a consumer that moves reads those records again.
type CheckpointStore struct {
	topic  string
	groups map[string]map[TopicPartition]TimedCheckpoint
	newest time.Time
	stats  ReadStats
}

// LoadCheckpointStore reads partition 0 of checkpointsTopic on the cluster
// that opts reach from its start to the end it had when the read began.
// Records that fail to decode are skipped and counted, as Java skips them; a
// tombstone removes its partition's checkpoint. A missing topic is an error
// wrapping ErrTopicNotFound. ctx bounds the read.
func LoadCheckpointStore(ctx context.Context, opts []kgo.Opt, checkpointsTopic string) (*CheckpointStore, error) {
	s, err := readCheckpointStore(ctx, opts, checkpointsTopic)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints from %s: %w", checkpointsTopic, err)
	}
	return s, nil
}

// readCheckpointStore is LoadCheckpointStore with the read's own error; the
// store holds what was read before it.
func readCheckpointStore(ctx context.Context, opts []kgo.Opt, checkpointsTopic string) (*CheckpointStore, error) {
	s := &CheckpointStore{topic: checkpointsTopic, groups: make(map[string]map[TopicPartition]TimedCheckpoint)}
	err := kread.ReadToEnd(ctx, opts, checkpointsTopic, []int32{0}, func(r *kgo.Record) error {
		s.stats.Records++
		value := r.Value
		if value == nil {
			value = tombstoneCheckpointValue
		}
		cp, err := DecodeCheckpoint(r.Key, value)
		if err != nil {
			s.stats.Skipped++
			return nil
		}
		tp := TopicPartition{cp.Topic, cp.Partition}
		g := s.groups[cp.ConsumerGroupID]
		if r.Value == nil {
			delete(g, tp)
			return nil
		}
		if g == nil {
			g = make(map[TopicPartition]TimedCheckpoint)
			s.groups[cp.ConsumerGroupID] = g
		}
		g[tp] = TimedCheckpoint{Checkpoint: cp, Time: r.Timestamp}
		if r.Timestamp.After(s.newest) {
			s.newest = r.Timestamp
		}
		return nil
	})
	return s, err
}

// Topic returns the checkpoints topic the store was read from.
func (s *CheckpointStore) Topic() string { return s.topic }

// Stats returns what the read found.
func (s *CheckpointStore) Stats() ReadStats { return s.stats }

// Newest returns the time of the newest checkpoint of any group, the zero
// time when there is none: the last time the checkpoint task saw a group
// move.
func (s *CheckpointStore) Newest() time.Time { return s.newest }

// Groups returns the groups that have at least one checkpoint, sorted.
func (s *CheckpointStore) Groups() []string {
	out := make([]string, 0, len(s.groups))
	for g, cps := range s.groups {
		if len(cps) > 0 {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// Latest returns the last checkpoint of each target-side partition of
// group, sorted by topic and partition; none when the group has none.
func (s *CheckpointStore) Latest(group string) []TimedCheckpoint {
	cps := s.groups[group]
	out := make([]TimedCheckpoint, 0, len(cps))
	for _, cp := range cps {
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b TimedCheckpoint) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}
