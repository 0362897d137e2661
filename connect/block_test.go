package connect

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFenceLogger_KgoReportsRefusedBatch pins what the fence relies on: kgo
// logs kgoBatchFailed with the refused batch's topic and partition (at Info,
// before it fails the partition's records), so the fence hears of a refusal
// before the promise does.
func TestFenceLogger_KgoReportsRefusedBatch(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{1}, Err: kerr.InvalidRecord, Count: -1})
	var mu sync.Mutex
	var fenced []targetKey
	var promised bool
	log := fenceLogger{Logger: KgoLogger(hclog.NewNullLogger()), fence: func(topic string, p int32) {
		mu.Lock()
		defer mu.Unlock()
		if promised {
			t.Errorf("fence called after the promise")
		}
		fenced = append(fenced, targetKey{topic, p})
	}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.WithLogger(log), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: 0, Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	cl.Produce(ctx, &kgo.Record{Topic: "t", Partition: 1, Value: []byte("refused")}, func(_ *kgo.Record, err error) {
		mu.Lock()
		promised = true
		mu.Unlock()
		done <- err
	})
	if err := <-done; !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("produce = %v, want INVALID_RECORD", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fenced) != 1 || fenced[0] != (targetKey{"t", 1}) {
		t.Fatalf("fenced %v, want [t 1] once", fenced)
	}
}

// TestSourcePartition_FailureCancelsContext: the first failure cancels the
// partition's produce context, so the producer fails its later records too;
// reset gives it a new one.
func TestSourcePartition_FailureCancelsContext(t *testing.T) {
	sp := newSourcePartition([]byte("k"))
	ctx := sp.ctx
	sp.mu.Lock()
	for o := int64(0); o < 3; o++ {
		sp.pushLocked(o)
	}
	sp.mu.Unlock()
	sp.ack(100, 0, nil)
	if ctx.Err() != nil {
		t.Fatal("context cancelled by a success")
	}
	sp.ack(-1, 70, kerr.MessageTooLarge)
	if ctx.Err() == nil {
		t.Fatal("context not cancelled by the failure")
	}
	sp.ack(-1, 0, context.Canceled) // a record failed by the cancelled context
	f := sp.takeFailure()
	if !errors.Is(f.err, kerr.MessageTooLarge) || f.offset != 1 || f.failCount != 1 || f.failBytes != 70 {
		t.Fatalf("failure = %+v, want MESSAGE_TOO_LARGE at 1, one record of 70 bytes", f)
	}
	sp.reset()
	if sp.ctx.Err() != nil || sp.failure() != nil || sp.Acked() != 0 {
		t.Fatalf("after reset: ctx err %v, failure %v, acked %d; want a live context, no failure, acked 0", sp.ctx.Err(), sp.failure(), sp.Acked())
	}
}

// TestSourcePartition_CountsRecordsAhead: a record acknowledged after an
// earlier one failed is counted as written ahead, with its offsets.
func TestSourcePartition_CountsRecordsAhead(t *testing.T) {
	sp := newSourcePartition(nil)
	sp.mu.Lock()
	for o := int64(10); o < 14; o++ {
		sp.pushLocked(o)
	}
	sp.mu.Unlock()
	sp.ack(-1, 10, kerr.InvalidRecord)
	sp.ack(5, 0, nil)
	sp.ack(6, 0, nil)
	f := sp.takeFailure()
	if f.ahead != 2 || f.aheadFirst != 11 || f.aheadLast != 12 || f.offset != 10 {
		t.Fatalf("failure = %+v, want 2 ahead (11-12) of 10", f)
	}
	if f := sp.takeFailure(); f.ahead != 0 {
		t.Fatalf("records ahead reported twice: %+v", f)
	}
}

// TestRecordBatchSize_BoundsKgo: the runner's size bound is never below
// what kgo needs, so a record it lets through fits a batch of that size.
func TestRecordBatchSize_BoundsKgo(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		key, value int
		headers    int
	}{{0, 0, 0}, {10, 1000, 0}, {200, 5000, 3}, {0, 127, 0}, {0, 128, 0}, {16384, 0, 10}} {
		rec := &kgo.Record{Topic: "t", Key: make([]byte, tc.key), Value: make([]byte, tc.value)}
		for range tc.headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "header", Value: make([]byte, 100)})
		}
		size := recordBatchSize(rec)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchMaxBytes(int32(max(size, 512))))
		if err != nil {
			t.Fatal(err)
		}
		err = cl.ProduceSync(context.Background(), rec).FirstErr()
		cl.Close()
		if err != nil {
			t.Errorf("record of key %d, value %d, %d headers: kgo refused it in a batch of %d bytes: %v", tc.key, tc.value, tc.headers, size, err)
		}
	}
}

// TestLimits: the producer's limits as the runner reads them.
func TestLimits(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.ProducerBatchMaxBytes(8192), kgo.MaxBufferedBytes(1<<20),
		kgo.ClientID("abc"), kgo.BrokerMaxWriteBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	l := limitsOf(cl, 64<<10)
	if got := l.batchFor("topic"); got != 8192 {
		t.Errorf("batchFor = %d, want 8192", got)
	}
	if l.bufferedMax != 1<<20 || l.recordMax != 64<<10 || l.clientIDLen != 3 {
		t.Errorf("limits = %+v", l)
	}
	// A batch never exceeds what fits in a request of BrokerMaxWriteBytes.
	l.batchMax = func(string) int32 { return 1 << 20 }
	if got := l.batchFor("topic"); got >= 1<<20 || got < 1<<20-200 {
		t.Errorf("batchFor with batches as large as requests = %d, want a little less than %d", got, 1<<20)
	}
	rec := &kgo.Record{Value: make([]byte, 100)}
	if recordBatchSize(rec) < 100+61 || userSize(rec) != 100 {
		t.Errorf("sizes of a 100-byte record: %d in a batch, %d to the buffer", recordBatchSize(rec), userSize(rec))
	}
}
