package offsets

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
)

// SyncStore holds MM2's offset syncs of a flow, read from its offset-syncs
// topic: what Java MM2 (or mm2go) recorded about where records went. mm2go
// translates with its exact Index; SyncStore is the fallback for offsets
// the index cannot know, such as those copied by Java MM2 before mm2go took
// over a flow. It keeps every sync the topic still holds, not only MM2's 64
// per partition.
type SyncStore struct {
	mu      sync.Mutex // guards syncs
	syncs   map[TopicPartition][]OffsetSync
	skipped int
}

// LoadSyncStore reads partition 0 of an offset-syncs topic
// ("mm2-offset-syncs.<target>.internal", on the source cluster by default)
// to its end. A missing topic gives an empty store; records that do not
// decode are skipped and counted.
func LoadSyncStore(ctx context.Context, opts []kgo.Opt, topic string) (*SyncStore, error) {
	s := &SyncStore{syncs: make(map[TopicPartition][]OffsetSync)}
	err := kread.ReadToEnd(ctx, opts, topic, []int32{0}, func(r *kgo.Record) error {
		sync, err := DecodeOffsetSync(r.Key, r.Value)
		if err != nil {
			s.skipped++
			return nil
		}
		s.Add(sync)
		return nil
	})
	if err != nil && !errors.Is(err, kread.ErrTopicNotFound) {
		return nil, err
	}
	return s, nil
}

// Add records a sync, as the topic's later records do: a sync whose
// upstream offset is below the partition's newest one means the target was
// truncated or the topic re-created, and replaces what came before (MM2's
// rewind rule).
func (s *SyncStore) Add(sync OffsetSync) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := TopicPartition{Topic: sync.Topic, Partition: sync.Partition}
	list := s.syncs[tp]
	if n := len(list); n > 0 && sync.UpstreamOffset < list[n-1].UpstreamOffset {
		list = list[:0]
	}
	s.syncs[tp] = append(list, sync)
}

// Skipped returns how many records LoadSyncStore could not decode.
func (s *SyncStore) Skipped() int { return s.skipped }

// Translate translates a consumer group's committed offset of a source
// partition the way MM2 does (spec: OffsetSyncStore.translate): the newest
// sync at or below committed gives its downstream offset when it is exactly
// committed, and downstream + 1 otherwise, since the group already read the
// synced record and guessing further could skip records. Exact is true only
// in the first case. An offset older than every sync is ErrNoTranslation.
func (s *SyncStore) Translate(topic string, partition int32, committed int64) (Translation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.syncs[TopicPartition{Topic: topic, Partition: partition}]
	i, found := slices.BinarySearchFunc(list, committed, func(o OffsetSync, up int64) int {
		switch {
		case o.UpstreamOffset < up:
			return -1
		case o.UpstreamOffset > up:
			return 1
		}
		return 0
	})
	if found {
		// The last of equal syncs is the newest.
		for i+1 < len(list) && list[i+1].UpstreamOffset == committed {
			i++
		}
		return Translation{Upstream: committed, Downstream: list[i].DownstreamOffset, Exact: true}, nil
	}
	if i == 0 {
		return Translation{}, ErrNoTranslation
	}
	o := list[i-1]
	return Translation{Upstream: committed, Downstream: o.DownstreamOffset + 1}, nil
}
