package harness

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	Topic      string
	Partitions int32
	// Tag starts every key, so that the records of two producers (two
	// generations of a re-created topic) never share an id.
	Tag string
	// Rate is records per second over all partitions; 0 means as fast as
	// the broker takes them.
	Rate int
	// Limit stops the producer after this many records; 0 means no limit.
	Limit int64
	// ValueBytes is the approximate size of a value (default 100).
	ValueBytes int
	// TxnRecords > 0 writes in transactions of that many records (the
	// client needs a kgo.TransactionalID); with AbortEvery > 0 every
	// AbortEvery-th transaction is aborted. Aborted records take keys too:
	// AbortedKeys lists them.
	TxnRecords, AbortEvery int
}

// Producer writes numbered records to a topic in the background, round
// robin over its partitions, each with a unique key "<tag>-<partition>-<seq>"
// (seq counts per partition from 0), a value starting with the key, two
// headers and the producer's timestamp. It uses the client it is given (an
// idempotent producer with unlimited retries, by kgo's defaults), so a
// broker going away stalls it rather than failing records.
type Producer struct {
	cfg    ProducerConfig
	cl     *kgo.Client
	cancel context.CancelFunc // stops making records
	abort  context.CancelFunc // fails records not yet sent (Stop's deadline)
	done   chan struct{}

	sent  atomic.Int64
	acked atomic.Int64
	mu    sync.Mutex
	errs  []error

	// Transactions (TxnRecords > 0); run goroutine only, but aborted,
	// guarded by mu.
	inTxn    bool
	txnKeys  []string
	txns     int
	txnAcked atomic.Int64
	aborted  []string
}

// StartProducer starts producing with cl, which must use
// kgo.ManualPartitioner. Stop it with Stop.
func StartProducer(cl *kgo.Client, cfg ProducerConfig) *Producer {
	if cfg.ValueBytes <= 0 {
		cfg.ValueBytes = 100
	}
	ctx, cancel := context.WithCancel(context.Background())
	pctx, abort := context.WithCancel(context.Background())
	p := &Producer{cfg: cfg, cl: cl, cancel: cancel, abort: abort, done: make(chan struct{})}
	go p.run(ctx, pctx)
	return p
}

// Key is the key of record seq of partition p of a producer with tag.
func Key(tag string, p int32, seq int64) string {
	return tag + "-" + strconv.Itoa(int(p)) + "-" + fmt.Sprintf("%09d", seq)
}

// run makes records until ctx ends; they are produced under pctx, which
// only Stop's deadline ends, so that stopping does not fail records that
// are waiting in the client's buffer.
func (p *Producer) run(ctx, pctx context.Context) {
	defer close(p.done)
	seqs := make([]int64, p.cfg.Partitions)
	var part int32
	produce := func() bool {
		if p.cfg.Limit > 0 && p.sent.Load() >= p.cfg.Limit {
			return false
		}
		seq := seqs[part]
		seqs[part]++
		key := Key(p.cfg.Tag, part, seq)
		r := &kgo.Record{
			Topic:     p.cfg.Topic,
			Partition: part,
			Key:       []byte(key),
			Value:     value(key, seq, p.cfg.ValueBytes),
			Headers:   []kgo.RecordHeader{{Key: "seq", Value: []byte(strconv.FormatInt(seq, 10))}, {Key: "empty"}},
		}
		part = (part + 1) % p.cfg.Partitions
		p.sent.Add(1)
		if p.cfg.TxnRecords > 0 {
			return p.produceTxn(ctx, pctx, r)
		}
		p.cl.Produce(pctx, r, p.onAck)
		return ctx.Err() == nil
	}
	if p.cfg.TxnRecords > 0 {
		defer p.endTxn(pctx, true)
	}
	if p.cfg.Rate <= 0 {
		for produce() {
		}
		return
	}
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	began := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			// Catch up to the rate since the start, so that a stall (a
			// broker away) does not lower the long-run rate.
			due := int64(now.Sub(began).Seconds() * float64(p.cfg.Rate))
			for p.sent.Load() < due {
				if !produce() {
					return
				}
			}
		}
	}
}

// value is key, '|', then filler up to about size bytes, varying with seq.
func value(key string, seq int64, size int) []byte {
	n := size/2 + int(seq*7919%int64(size))
	b := make([]byte, 0, len(key)+1+n)
	b = append(b, key...)
	b = append(b, '|')
	for i := range n {
		b = append(b, 'a'+byte((int64(i)+seq)%26))
	}
	return b
}

// produceTxn produces r in the open transaction (beginning one), and ends
// the transaction when it holds TxnRecords records.
func (p *Producer) produceTxn(ctx, pctx context.Context, r *kgo.Record) bool {
	if !p.inTxn {
		if err := p.cl.BeginTransaction(); err != nil {
			p.fail(err)
			return false
		}
		p.inTxn = true
	}
	p.txnKeys = append(p.txnKeys, string(r.Key))
	p.cl.Produce(pctx, r, p.onAck)
	if len(p.txnKeys) >= p.cfg.TxnRecords {
		p.txns++
		commit := p.cfg.AbortEvery <= 0 || p.txns%p.cfg.AbortEvery != 0
		if !p.endTxn(pctx, commit) {
			return false
		}
	}
	return ctx.Err() == nil
}

// endTxn ends the open transaction, if any: it waits for its records, then
// commits or aborts it.
func (p *Producer) endTxn(ctx context.Context, commit bool) bool {
	if !p.inTxn {
		return true
	}
	p.inTxn = false
	if err := p.cl.Flush(ctx); err != nil {
		p.fail(fmt.Errorf("flush transaction: %w", err))
		return false
	}
	if err := p.cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		p.fail(fmt.Errorf("end transaction: %w", err))
		return false
	}
	n := p.txnAcked.Swap(0)
	if commit {
		p.acked.Add(n)
	} else {
		p.mu.Lock()
		p.aborted = append(p.aborted, p.txnKeys...)
		p.mu.Unlock()
	}
	p.txnKeys = p.txnKeys[:0]
	return true
}

func (p *Producer) fail(err error) {
	p.mu.Lock()
	if len(p.errs) < 10 {
		p.errs = append(p.errs, err)
	}
	p.mu.Unlock()
}

// AbortedKeys returns the keys of the records of aborted transactions.
func (p *Producer) AbortedKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.aborted...)
}

func (p *Producer) onAck(_ *kgo.Record, err error) {
	if err == nil && p.cfg.TxnRecords > 0 {
		p.txnAcked.Add(1) // counted once the transaction commits
		return
	}
	if err != nil {
		p.mu.Lock()
		if len(p.errs) < 10 {
			p.errs = append(p.errs, err)
		}
		p.mu.Unlock()
		return
	}
	p.acked.Add(1)
}

// Acked is how many records the broker acknowledged so far (with
// TxnRecords, in committed transactions).
func (p *Producer) Acked() int64 { return p.acked.Load() }

// Done is closed when the producer has sent its Limit (or was stopped).
func (p *Producer) Done() <-chan struct{} { return p.done }

// Stop stops producing, waits up to within for the broker to acknowledge
// what was sent, and returns how many records it acknowledged, with the
// produce errors if there were any.
func (p *Producer) Stop(within time.Duration) (int64, error) {
	p.cancel()
	deadline := time.AfterFunc(within, p.abort)
	defer deadline.Stop()
	defer p.abort()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ferr := p.cl.Flush(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := append([]error(nil), p.errs...)
	if ferr != nil {
		errs = append(errs, fmt.Errorf("flush: %w", ferr))
	}
	if len(errs) > 0 {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return p.acked.Load(), fmt.Errorf("producer of %s: %s", p.cfg.Topic, strings.Join(msgs, "; "))
	}
	return p.acked.Load(), nil
}
