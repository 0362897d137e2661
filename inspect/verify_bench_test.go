package inspect_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/inspect"
	"github.com/mm2go/mm2go/offsets"
)

// BenchmarkVerify compares 16 partitions of 100,000 records (key, a
// 100-byte value, two headers) with their copies, as a copy in one run per
// partition leaves them, and reports records compared per second. The copy
// is made by hand (the same records and one index entry per partition) to
// keep the setup short. It reports records/s and the process's CPU
// seconds per million records (brokers included).
//
//	go test -run - -bench Verify -benchtime 3x ./inspect/
func BenchmarkVerify(b *testing.B) {
	const partitions, perPartition = 16, 100_000
	e := newEnv(b, "", "")
	e.createTopic(b, "orders", partitions)
	ctx := context.Background()
	src := e.client(b, e.a, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<20))
	dst := e.client(b, e.b, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<20))
	adm := kadm.NewClient(dst)
	for _, topic := range []string{"a.orders", offsets.IndexTopic("a")} {
		if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
			b.Fatal(err)
		}
	}
	value := bytes.Repeat([]byte("v"), 100)
	ts := time.Now().Truncate(time.Millisecond)
	batch := make([]*kgo.Record, 0, 2*perPartition)
	for p := range int32(partitions) {
		batch = batch[:0]
		for i := range perPartition {
			k := fmt.Appendf(nil, "key-%d-%d", p, i)
			h := []kgo.RecordHeader{{Key: "trace", Value: k}, {Key: "type", Value: []byte("order")}}
			batch = append(batch,
				&kgo.Record{Topic: "orders", Partition: p, Key: k, Value: value, Headers: h, Timestamp: ts},
				&kgo.Record{Topic: "a.orders", Partition: p, Key: k, Value: value, Headers: h, Timestamp: ts})
		}
		for _, cl := range []*kgo.Client{src, dst} {
			topic := "orders"
			if cl == dst {
				topic = "a.orders"
			}
			recs := slices.DeleteFunc(slices.Clone(batch), func(r *kgo.Record) bool { return r.Topic != topic })
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
		ie := offsets.IndexEntry{Topic: "orders", Partition: p, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: perPartition - 1}
		k, _ := ie.Key()
		if err := dst.ProduceSync(ctx, &kgo.Record{Topic: offsets.IndexTopic("a"), Partition: p, Key: k, Value: ie.Value()}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	in := e.inspector(b)
	cpu0 := cpuTime()
	b.ResetTimer()
	var compared int64
	for b.Loop() {
		rep, err := in.Verify(ctx, inspect.VerifyOptions{})
		if err != nil || !rep.Clean || rep.Totals.Matched != partitions*perPartition {
			b.Fatalf("verify: %v, %+v", err, rep.Totals)
		}
		compared += rep.Totals.Compared
	}
	b.ReportMetric(float64(compared)/b.Elapsed().Seconds(), "records/s")
	// CPU time says more than wall time on a shared machine; it includes
	// the two in-process clusters serving the fetches.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(compared)*1e6, "cpu-s/Mrecords")
}

// cpuTime returns the CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
