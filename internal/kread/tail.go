package kread

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Tail reads a topic again and again, each CatchUp only what was written
// since the previous one: what a long-running reader of a compacted state
// topic (a status watcher, a checkpoint task) needs, where ReadToEnd would
// read the whole topic each time. It keeps one consumer open between calls.
//
// A Tail is not safe for concurrent use.
type Tail struct {
	topic string
	adm   *kadm.Client
	cl    *kgo.Client
	next  map[int32]int64 // next offset to read, by partition
}

// NewTail returns a tail of topic on the cluster that opts reach. It does
// not contact the cluster; the first CatchUp reads the topic from its start.
// opts must not consume (no group, topics or partitions). Close it when
// done.
func NewTail(opts []kgo.Opt, topic string) (*Tail, error) {
	fresh := kgo.MetadataMinAge(250 * time.Millisecond) // a topic created since the last call shows within 250ms
	adm, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...), fresh)...)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.KeepControlRecords(), // they take offsets; counting them ends a read at a marker
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		fresh,
	)...)
	if err != nil {
		adm.Close()
		return nil, fmt.Errorf("new consumer: %w", err)
	}
	return &Tail{topic: topic, adm: kadm.NewClient(adm), cl: cl, next: make(map[int32]int64)}, nil
}

// Topic returns the topic the tail reads.
func (t *Tail) Topic() string { return t.topic }

// CatchUp is CatchUpTo until the last stable offset (UntilStable).
func (t *Tail) CatchUp(ctx context.Context, fn func(*kgo.Record)) error {
	return t.CatchUpTo(ctx, UntilStable, fn)
}

// CatchUpTo calls fn for every record written to the topic since the
// previous catch-up, up to the end offsets that until names as of when it
// begins, partition by partition in offset order. Records of aborted or
// open transactions are not read (see Read); transaction markers are counted
// but not passed to fn; tombstones are passed. A topic that does not exist
// (yet) is an error wrapping ErrTopicNotFound. ctx bounds the read; after an
// error the next catch-up goes on from where this one stopped.
func (t *Tail) CatchUpTo(ctx context.Context, until Until, fn func(*kgo.Record)) error {
	ends, err := listEnds(ctx, t.adm, t.topic, until)
	if err == nil {
		err = ends.Error()
	}
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("%s: %w", t.topic, ErrTopicNotFound)
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
				if !r.Attrs.IsControl() {
					fn(r)
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

// Close closes the tail's clients.
func (t *Tail) Close() {
	t.cl.Close()
	t.adm.Close()
}
