package test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

// BenchmarkReplicate_1KB measures the whole data path, fetch -> rename ->
// produce -> ack -> commit, on in-process fake clusters: each iteration
// copies 16 partitions x 2,000 records of 1 KB. The fake brokers run in this
// process, so CPU seconds and allocations include theirs; compare numbers
// within one run only.
func BenchmarkReplicate_1KB(b *testing.B) {
	const parts, perPart, size = 16, 2000, 1024
	value := make([]byte, size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	var cpu time.Duration
	b.ReportAllocs()
	b.SetBytes(int64(parts * perPart * size))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		src, err := kfake.NewCluster(kfake.ClusterID("bench-src"), kfake.NumBrokers(1))
		if err != nil {
			b.Fatal(err)
		}
		dst, err := kfake.NewCluster(kfake.ClusterID("bench-dst"), kfake.NumBrokers(1))
		if err != nil {
			b.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(src.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), parts, 1, nil, "bench"); err != nil {
			b.Fatal(err)
		}
		for p := range int32(parts) {
			recs := make([]*kgo.Record, perPart)
			for j := range recs {
				recs[j] = &kgo.Record{Topic: "bench", Partition: p, Key: fmt.Appendf(nil, "k%d", j), Value: value}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
		cl.Close()
		reg := connect.NewRegistry()
		connectors.Register(reg)
		w := connect.NewWorker(connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
			connect.WithRegistry(reg), connect.WithLogger(hclog.NewNullLogger()))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		before := cpuTime()
		b.StartTimer()
		go func() { done <- w.Run(ctx, []connect.ConnectorSpec{sourceSpec("A", "B", nil)}) }()
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			var acked int64
			for _, cs := range w.Status() {
				for _, ts := range cs.Tasks {
					acked += ts.RecordsAcked
				}
			}
			if acked >= parts*perPart {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		b.StopTimer()
		cpu += cpuTime() - before
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		src.Close()
		dst.Close()
		b.StartTimer()
	}
	records := float64(b.N * parts * perPart)
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(cpu.Seconds()/(records*size/1e9), "cpu-s/GB")
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
