package offsets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// IndexTail keeps an Index in step with its topic for a long-running reader
// such as a checkpoint task: each CatchUp reads only what was written to the
// topic since the previous one, where LoadIndex would read the whole topic
// again. It keeps one consumer open between calls.
//
// An IndexTail is not safe for concurrent use; its Index is.
type IndexTail struct {
	topic string
	ix    *Index
	adm   *kadm.Client
	cl    *kgo.Client
	next  map[int32]int64 // next offset to read, by partition of the topic
}

// NewIndexTail returns a tail of the index topic on the cluster that opts
// reach, with an empty Index. It does not contact the cluster; the first
// CatchUp reads the topic from its start. Close it when done.
func NewIndexTail(opts []kgo.Opt, topic string) (*IndexTail, error) {
	fresh := kgo.MetadataMinAge(250 * time.Millisecond) // a topic created since the last call shows within 250ms
	adm, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...), fresh)...)
	if err != nil {
		return nil, fmt.Errorf("new offset index client: %w", err)
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.KeepControlRecords(), // they take offsets; counting them ends a read at a marker
		fresh,
	)...)
	if err != nil {
		adm.Close()
		return nil, fmt.Errorf("new offset index consumer: %w", err)
	}
	return &IndexTail{topic: topic, ix: NewIndex(), adm: kadm.NewClient(adm), cl: cl, next: make(map[int32]int64)}, nil
}

// Index returns the index that CatchUp fills.
func (t *IndexTail) Index() *Index { return t.ix }

// CatchUp adds to the index every entry written to the topic up to the end
// offsets the topic has when CatchUp begins. A topic that does not exist yet
// (or was created less than 250ms ago) adds nothing: no source task has
// copied anything. Records that fail to
// decode are skipped, as in LoadIndex. ctx bounds the read; after an error
// the next CatchUp goes on from where this one stopped.
func (t *IndexTail) CatchUp(ctx context.Context) error {
	ends, err := t.adm.ListEndOffsets(ctx, t.topic)
	if err == nil {
		err = ends.Error()
	}
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return nil
	case err != nil:
		return fmt.Errorf("list end offsets of %s: %w", t.topic, err)
	}
	remaining := make(map[int32]int64)
	add := make(map[int32]kgo.Offset)
	ends.Each(func(o kadm.ListedOffset) {
		next, consuming := t.next[o.Partition]
		if !consuming {
			t.next[o.Partition] = 0
			add[o.Partition] = kgo.NewOffset().AtStart()
		}
		if o.Offset > next {
			remaining[o.Partition] = o.Offset
		}
	})
	if len(add) > 0 {
		t.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{t.topic: add})
	}
	for len(remaining) > 0 {
		fetches := t.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s to its end: %w", t.topic, err)
		}
		var ferr error
		fetches.EachError(func(topic string, p int32, err error) {
			if !kerr.IsRetriable(err) && !errors.Is(err, context.Canceled) {
				ferr = errors.Join(ferr, fmt.Errorf("fetch %s[%d]: %w", topic, p, err))
			}
		})
		if ferr != nil {
			return ferr
		}
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, r := range fp.Records {
				t.next[fp.Partition] = r.Offset + 1
				if r.Attrs.IsControl() || r.Value == nil {
					continue
				}
				e, err := DecodeIndexEntry(r.Key, r.Value)
				if err == nil {
					err = t.ix.Add(e)
				}
				if err != nil {
					t.ix.mu.Lock()
					t.ix.skipped++
					t.ix.mu.Unlock()
				}
			}
			if fp.LogStartOffset > t.next[fp.Partition] {
				t.next[fp.Partition] = fp.LogStartOffset // deleted before it was read
			}
			if end, ok := remaining[fp.Partition]; ok && t.next[fp.Partition] >= end {
				delete(remaining, fp.Partition)
			}
		})
	}
	return nil
}

// Close closes the tail's clients. The Index stays usable.
func (t *IndexTail) Close() {
	t.cl.Close()
	t.adm.Close()
}
