package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// where says where a latency row's copier ran, for tables and plots.
func (l LatencyResult) where() string {
	switch {
	case l.Copier == CopierNone:
		return "-"
	case l.InProcess:
		return "one process"
	default:
		return "own process"
	}
}

// stampLen is the prefix of a latency record's value: the send time (Unix
// nanoseconds, big endian) and the phase the record belongs to.
const stampLen = 9

// LatencyResult is the end-to-end latency of one copier at one offered load:
// from the moment the harness's producer hands a record to its client on the
// source to the moment the harness's consumer on the target sees it.
type LatencyResult struct {
	Copier string `json:"copier"`
	// InProcess: the copier ran in one fresh process with the brokers and
	// the probe, on one Go scheduler, rather than as its own process.
	// Where cores are few, the operating system's scheduling of several
	// busy processes adds tens of milliseconds to every copier's tail;
	// these rows show what the copier's own path adds.
	InProcess   bool    `json:"in_process"`
	LoadPercent int     `json:"load_percent"` // of the raw copy's records/s
	OfferedRate float64 `json:"offered_rate"` // records/s asked for
	SentRate    float64 `json:"sent_rate"`    // records/s the source acknowledged
	Samples     int     `json:"samples"`
	Lost        int64   `json:"lost"` // acknowledged on the source, never seen on the target
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
}

// loadLevel is one offered load of the latency measurement.
type loadLevel struct {
	percent int
	rate    float64 // records/s
}

// latencyProbe produces stamped records to a source topic at fixed rates
// and measures how long each takes to show up in a target topic.
type latencyProbe struct {
	copier     string
	inProcess  bool
	src, dst   *cluster
	srcTopic   string
	dstTopic   string
	partitions int32
	pool       *valuePool
	levels     []loadLevel
	dur        time.Duration // of each level
	timeout    time.Duration // bound on the warm-up and on the drain
	say        func(format string, args ...any)

	// Phase 0 is the warm-up, phase i the i-th level.
	acked []atomic.Int64 // records the source acknowledged, by phase
	seen  []atomic.Int64 // records seen on the target, by phase
	// samples by phase; the consumer goroutine's until it has returned
	samples [][]time.Duration
}

func (lp *latencyProbe) run(ctx context.Context) ([]LatencyResult, error) {
	phases := len(lp.levels) + 1
	lp.acked = make([]atomic.Int64, phases)
	lp.seen = make([]atomic.Int64, phases)
	lp.samples = make([][]time.Duration, phases)

	cons, err := lp.dst.client(kgo.ConsumeTopics(lp.dstTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second)) // find a new remote topic quickly
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	// Linger 0: the probe's own batching must not add to what is measured.
	prod, err := lp.src.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return nil, err
	}
	defer prod.Close()

	cctx, stopConsumer := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { lp.consume(cctx, cons) })
	err = lp.produce(ctx, prod)
	if err == nil {
		err = lp.drain(ctx)
	}
	stopConsumer()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	out := make([]LatencyResult, len(lp.levels))
	for i, l := range lp.levels {
		s := lp.samples[i+1]
		slices.Sort(s)
		acked := lp.acked[i+1].Load()
		out[i] = LatencyResult{
			Copier: lp.copier, InProcess: lp.inProcess, LoadPercent: l.percent, OfferedRate: l.rate,
			SentRate: float64(acked) / lp.dur.Seconds(), Samples: len(s), Lost: max(0, acked-int64(len(s))),
			P50Ms: ms(quantile(s, 0.50)), P99Ms: ms(quantile(s, 0.99)), P999Ms: ms(quantile(s, 0.999)), MaxMs: ms(quantile(s, 1)),
		}
	}
	return out, nil
}

// consume records the latency of every stamped record it sees.
func (lp *latencyProbe) consume(ctx context.Context, cons *kgo.Client) {
	for ctx.Err() == nil {
		fetches := cons.PollFetches(ctx)
		now := time.Now()
		fetches.EachRecord(func(r *kgo.Record) {
			if len(r.Value) < stampLen || int(r.Value[8]) >= len(lp.samples) {
				return
			}
			phase := r.Value[8]
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(r.Value)))
			lp.samples[phase] = append(lp.samples[phase], now.Sub(sent))
			lp.seen[phase].Add(1)
		})
	}
}

// produce warms the copier up at the first level's rate until records come
// through (and a second more, or lp.dur if shorter), then offers each level's rate for lp.dur.
func (lp *latencyProbe) produce(ctx context.Context, prod *kgo.Client) error {
	var failed atomic.Pointer[error]
	promises := make([]func(*kgo.Record, error), len(lp.acked))
	for ph := range promises {
		promises[ph] = func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
				return
			}
			lp.acked[ph].Add(1)
		}
	}
	var n int64
	send := func(phase int) {
		v := append([]byte(nil), lp.pool.next()...)
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
		v[8] = byte(phase)
		prod.Produce(ctx, &kgo.Record{Topic: lp.srcTopic, Partition: int32(n % int64(lp.partitions)), Value: v}, promises[phase])
		n++
	}
	// pace sends at rate until done says stop, and reports once a second.
	pace := func(phase int, rate float64, done func(time.Duration) bool, label string) error {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		start, lastSay := time.Now(), time.Now()
		var sent int64
		for {
			el := time.Since(start)
			if done(el) {
				return nil
			}
			if p := failed.Load(); p != nil {
				return fmt.Errorf("latency probe: produce to %s: %w", lp.srcTopic, *p)
			}
			for due := int64(rate * el.Seconds()); sent < due; sent++ {
				send(phase)
			}
			if time.Since(lastSay) >= time.Second {
				lastSay = time.Now()
				lp.say("latency %s %s: %d sent, %d seen on the target", lp.copier, label, lp.acked[phase].Load(), lp.seen[phase].Load())
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
	}
	var throughAt time.Duration // when the first warm-up record came through
	warm := func(el time.Duration) bool {
		if throughAt == 0 && lp.seen[0].Load() > 0 {
			throughAt = el
		}
		return throughAt > 0 && el >= throughAt+min(time.Second, lp.dur) || el >= lp.timeout
	}
	if err := pace(0, lp.levels[0].rate, warm, "warm-up"); err != nil {
		return err
	}
	if throughAt == 0 {
		return fmt.Errorf("latency probe: no record reached %s on the target within %s", lp.dstTopic, lp.timeout)
	}
	for i, l := range lp.levels {
		label := fmt.Sprintf("%d%% (%.0f records/s)", l.percent, l.rate)
		lp.say("latency %s: offering %s for %s", lp.copier, label, lp.dur)
		if err := pace(i+1, l.rate, func(el time.Duration) bool { return el >= lp.dur }, label); err != nil {
			return err
		}
	}
	fctx, cancel := context.WithTimeout(ctx, lp.timeout)
	defer cancel()
	if err := prod.Flush(fctx); err != nil {
		return fmt.Errorf("latency probe: flush: %w", err)
	}
	if p := failed.Load(); p != nil {
		return fmt.Errorf("latency probe: produce to %s: %w", lp.srcTopic, *p)
	}
	return nil
}

// drain waits until every measured record has been seen on the target, or
// lp.timeout; records not seen by then count as lost.
func (lp *latencyProbe) drain(ctx context.Context) error {
	deadline := time.Now().Add(lp.timeout)
	for time.Now().Before(deadline) {
		behind := false
		for ph := 1; ph < len(lp.acked); ph++ {
			behind = behind || lp.seen[ph].Load() < lp.acked[ph].Load()
		}
		if !behind {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// quantile returns the q-quantile of sorted s (nearest rank), or 0.
func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
