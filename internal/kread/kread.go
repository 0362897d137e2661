// Package kread reads a Kafka topic from its start to its end offsets: the way
// mm2go loads compacted state topics (Connect source offsets, checkpoints,
// the offset-translation index) when a worker or a command starts.
package kread

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrTopicNotFound is returned by ReadToEnd when the topic does not exist.
var ErrTopicNotFound = errors.New("topic not found")

// ReadToEnd calls fn for every record of topic, partition by partition in
// offset order, from each partition's log start to the end offset it had when
// ReadToEnd began. Control records (transaction markers) are skipped but
// counted, so a log that ends in a marker is still read to its end. opts must
// reach the topic's cluster (seed brokers, TLS, SASL).
//
// partitions limits the read to those partitions; nil reads all of them.
func ReadToEnd(ctx context.Context, opts []kgo.Opt, topic string, partitions []int32, fn func(*kgo.Record) error) error {
	adm, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		return fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("%s: %w", topic, ErrTopicNotFound)
		}
		return fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	want := make(map[int32]bool, len(partitions))
	for _, p := range partitions {
		want[p] = true
	}
	remaining := make(map[int32]int64) // partition -> end offset still to reach
	start := make(map[int32]kgo.Offset)
	ends.Each(func(o kadm.ListedOffset) {
		if partitions != nil && !want[o.Partition] {
			return
		}
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
			start[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(remaining) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	defer cl.Close()
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s to end: %w", topic, err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !kerr.IsRetriable(err) && !errors.Is(err, context.Canceled) {
				ferr = errors.Join(ferr, fmt.Errorf("fetch %s[%d]: %w", t, p, err))
			}
		})
		if ferr != nil {
			return ferr
		}
		var cbErr error
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			end, ok := remaining[fp.Partition]
			if !ok {
				return
			}
			for _, r := range fp.Records {
				if r.Offset >= end {
					break
				}
				if r.Attrs.IsControl() {
					continue
				}
				if cbErr == nil {
					cbErr = fn(r)
				}
			}
			if n := len(fp.Records); n > 0 && fp.Records[n-1].Offset+1 >= end {
				delete(remaining, fp.Partition)
			} else if fp.LogStartOffset >= end {
				// Everything up to end was deleted meanwhile.
				delete(remaining, fp.Partition)
			}
		})
		if cbErr != nil {
			return cbErr
		}
	}
	return nil
}
