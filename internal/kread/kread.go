// Package kread reads a Kafka topic from its start to its end offsets: the way
// mm2go loads compacted state topics (Connect source offsets, checkpoints,
// the offset-translation index) when a worker or a command starts.
//
// Every read is read_committed: records of aborted transactions are never
// passed on, and neither are records of transactions still open. In
// exactly-once mode the worker writes these topics in transactions, and a
// worker killed mid-transaction leaves records that are aborted later (when
// its successor fences it, or the transaction times out); a read that
// passed them on would resume from offsets that were never committed. A
// topic written without transactions reads the same either way.
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

// Until says where a read of a partition ends.
type Until int

const (
	// UntilStable ends at the partition's last stable offset when the read
	// begins: what non-transactional producers and committed transactions
	// wrote before the first transaction still open. Transactions open
	// then are not waited for, and what they write is not read. (One case
	// waits: when the records just below the end belong to a transaction
	// that was aborted after a later one began, the read waits for that
	// later one to end, since the consumer cannot see that it has passed
	// the aborted records.)
	UntilStable Until = iota
	// UntilWritten ends at the high watermark when the read begins: the
	// read also waits for the transactions open below it to commit or
	// abort, and reads what they commit. A transaction whose producer is
	// gone ends when a new producer with its transactional id fences it, or
	// when it times out (transaction.timeout.ms): until then the read
	// waits. Use it where the last committed value must not be missed:
	// the Connect offsets topic read by a task that has just fenced its
	// predecessor.
	UntilWritten
)

// ReadToEnd is Read until the last stable offset (UntilStable).
func ReadToEnd(ctx context.Context, opts []kgo.Opt, topic string, partitions []int32, fn func(*kgo.Record) error) error {
	return Read(ctx, opts, topic, partitions, UntilStable, fn)
}

// listEnds lists the end offsets of topic that until names.
func listEnds(ctx context.Context, adm *kadm.Client, topic string, until Until) (kadm.ListedOffsets, error) {
	if until == UntilWritten {
		return adm.ListEndOffsets(ctx, topic)
	}
	return adm.ListCommittedOffsets(ctx, topic)
}

// Read calls fn for every record of topic that is not in an aborted or
// open transaction, partition by partition in offset order, from each
// partition's log start to the end offset that until names, as of when Read
// began. Control records (transaction markers) are skipped but counted, so
// a log that ends in a marker is still read to its end. opts must reach the
// topic's cluster (seed brokers, TLS, SASL).
//
// partitions limits the read to those partitions; nil reads all of them.
func Read(ctx context.Context, opts []kgo.Opt, topic string, partitions []int32, until Until, fn func(*kgo.Record) error) error {
	adm, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	ends, err := listEnds(ctx, kadm.NewClient(adm), topic, until)
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
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
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
