package offsets

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
)

// IndexTail keeps an Index in step with its topic for a long-running reader
// such as a checkpoint task: each CatchUp reads only what was written to the
// topic since the previous one, where LoadIndex would read the whole topic
// again. It keeps one consumer open between calls.
//
// An IndexTail is not safe for concurrent use; its Index is.
type IndexTail struct {
	ix   *Index
	tail *kread.Tail
}

// NewIndexTail returns a tail of the index topic on the cluster that opts
// reach, with an empty Index. It does not contact the cluster; the first
// CatchUp reads the topic from its start. Close it when done.
func NewIndexTail(opts []kgo.Opt, topic string) (*IndexTail, error) {
	tail, err := kread.NewTail(opts, topic)
	if err != nil {
		return nil, fmt.Errorf("new offset index client: %w", err)
	}
	return &IndexTail{ix: NewIndex(), tail: tail}, nil
}

// Index returns the index that CatchUp fills.
func (t *IndexTail) Index() *Index { return t.ix }

// CatchUp adds to the index every entry written to the topic up to the end
// offsets the topic has when CatchUp begins. A topic that does not exist yet
// (or was created less than 250ms ago) adds nothing: no source task has
// copied anything. Records that fail to decode are skipped, as in LoadIndex.
// ctx bounds the read; after an error the next CatchUp goes on from where
// this one stopped.
func (t *IndexTail) CatchUp(ctx context.Context) error {
	err := t.tail.CatchUp(ctx, func(r *kgo.Record) {
		if r.Value == nil {
			return
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
	})
	if errors.Is(err, kread.ErrTopicNotFound) {
		return nil
	}
	return err
}

// Close closes the tail's clients. The Index stays usable.
func (t *IndexTail) Close() { t.tail.Close() }
