package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RawCopyConfig configures RawCopy.
type RawCopyConfig struct {
	Source, Target []string // bootstrap addresses
	Topics         []string // source topics; the target topics have the same names
}

// RawCopy is the ceiling the harness compares mm2go with: the shortest
// franz-go program that copies records, and nothing else. One consumer
// reads the source topics from their start (no group, default settings), and
// each fetched record is produced as it is (same topic name, partition, key,
// value, headers, timestamp; no copy) by one producer with default settings
// (idempotent, acks=all, snappy, 10ms linger, as mm2go's producer). There is
// no offset bookkeeping, no commit and no topic creation: the target topics
// must exist. RawCopy runs until ctx is cancelled, then flushes; it fails on
// the first record the target refuses.
func RawCopy(ctx context.Context, cfg RawCopyConfig) error {
	cons, err := kgo.NewClient(kgo.SeedBrokers(cfg.Source...),
		kgo.ConsumeTopics(cfg.Topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return fmt.Errorf("new consumer: %w", err)
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(cfg.Target...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return fmt.Errorf("new producer: %w", err)
	}
	defer prod.Close()
	var failed atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	for ctx.Err() == nil && failed.Load() == nil {
		fetches := cons.PollFetches(ctx)
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				ferr = errors.Join(ferr, fmt.Errorf("fetch %s[%d]: %w", t, p, err))
			}
		})
		if ferr != nil {
			return ferr
		}
		// Background, not ctx: records buffered when ctx is cancelled are
		// still sent by the flush below, as mm2go's graceful stop does.
		fetches.EachRecord(func(r *kgo.Record) { prod.Produce(context.Background(), r, promise) })
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := prod.Flush(fctx); err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	if p := failed.Load(); p != nil {
		return fmt.Errorf("produce to %s: %w", strings.Join(cfg.Target, ","), *p)
	}
	return nil
}
