package connect

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pushRun hands records with the given offsets and timestamps (ms) to the
// partition as the runner does, at nowMs.
func pushRun(sp *SourcePartition, nowMs int64, offs []int64, ts []int64, value []byte) {
	recs := make([]SourceRecord, len(offs))
	for i := range offs {
		recs[i] = SourceRecord{Record: &kgo.Record{Value: value, Timestamp: time.UnixMilli(ts[i])}, Partition: sp, Offset: offs[i]}
	}
	sp.mu.Lock()
	sp.pushRecordsLocked(recs, nowMs)
	sp.mu.Unlock()
}

func TestPartMetrics_MirrorSource(t *testing.T) {
	sp := newSourcePartition([]byte("k"))
	if _, ok := sp.snapshot(0); ok {
		t.Fatal("a partition without ExportMetrics exports series")
	}
	sp.ExportMetrics(PartitionMetrics{Kind: MirrorSourcePartition, Topic: "t", Partition: 3, TargetTopic: "A.t"})
	const t0 = int64(1_800_000_000_000)
	// Three records of 10 value bytes, 900, 600 and 300 ms old when polled.
	pushRun(sp, t0, []int64{10, 11, 12}, []int64{t0 - 900, t0 - 600, t0 - 300}, make([]byte, 10))
	sp.ObserveFetch(20, 13) // 7 more records on the source
	s, ok := sp.snapshot(t0)
	if !ok || s.labels.TargetTopic != "A.t" || s.labels.Partition != 3 {
		t.Fatalf("snapshot = %+v, %v", s, ok)
	}
	if s.ageV != 300 || s.ageMax != 900 || s.ageMin != 300 || s.ageAvg != 600 || s.bytes != 30 {
		t.Errorf("record age value/max/min/avg %v/%v/%v/%v bytes %v, want 300/900/300/600 and 30", s.ageV, s.ageMax, s.ageMin, s.ageAvg, s.bytes)
	}
	if s.records != 0 || !math.IsNaN(s.latAvg) {
		t.Errorf("before any ack: records %v, latency avg %v; want 0 and NaN", s.records, s.latAvg)
	}
	if s.consumerLag != 7 || s.lagRecords != 10 || s.lagSeconds != 0.9 {
		t.Errorf("lag: consumer %d, records %d, seconds %v; want 7, 10 (7 + 3 in flight), 0.9 (the oldest in flight)", s.consumerLag, s.lagRecords, s.lagSeconds)
	}
	// Acks 100 ms later: latency is ack time - timestamp.
	sp.ackAt(100, 0, t0-900, t0+100, nil)
	sp.ackAt(101, 0, t0-600, t0+100, nil)
	s, _ = sp.snapshot(t0 + 100)
	if s.records != 2 || s.latV != 700 || s.latMax != 1000 || s.latMin != 700 || s.latAvg != 850 {
		t.Errorf("after 2 acks: count %v latency %v/%v/%v/%v, want 2 and 700/1000/700/850", s.records, s.latV, s.latMax, s.latMin, s.latAvg)
	}
	// Kafka's rates: a new sensor counts as one whole window (30 s) old.
	// (The records meter was measured at t0, which started its sample.)
	if math.Abs(s.recordRate-2/30.1) > 1e-12 || math.Abs(s.byteRate-30/30.1) > 1e-12 {
		t.Errorf("rates %v records/s, %v bytes/s; want 2/30.1 and 30/30.1", s.recordRate, s.byteRate)
	}
	if s.lagRecords != 8 || s.lagSeconds != 0.7 {
		t.Errorf("after 2 acks: lag %d records %v s, want 8 and 0.7 (record 12 is at least as new as record 11)", s.lagRecords, s.lagSeconds)
	}
	sp.ackAt(102, 0, t0-300, t0+100, nil)
	sp.ObserveFetch(20, 20)
	s, _ = sp.snapshot(t0 + 200)
	if s.lagRecords != 0 || s.lagSeconds != 0 || s.consumerLag != 0 {
		t.Errorf("caught up: lag %d records, %v s, consumer %d; want 0", s.lagRecords, s.lagSeconds, s.consumerLag)
	}
	// An hour of quiet, then one record: its own age is the lag, not the
	// hour since the last one.
	t1 := t0 + 3_600_000
	pushRun(sp, t1, []int64{20}, []int64{t1 - 50}, nil)
	sp.ObserveFetch(21, 21)
	if s, _ = sp.snapshot(t1); s.lagRecords != 1 || s.lagSeconds != 0.05 {
		t.Errorf("after a quiet hour: lag %d records, %v s; want 1 and 0.05", s.lagRecords, s.lagSeconds)
	}
	// Not fetched yet, nothing in flight: the records are newer than the
	// last one fetched.
	sp.ackAt(103, 0, t1-50, t1, nil)
	sp.ObserveFetch(30, 21)
	if s, _ = sp.snapshot(t1 + 1000); s.lagRecords != 9 || s.lagSeconds != 1.05 {
		t.Errorf("behind, nothing in flight: lag %d records, %v s; want 9 and 1.05", s.lagRecords, s.lagSeconds)
	}
	sp.StopMetrics()
	if _, ok := sp.snapshot(t1); ok {
		t.Error("a stopped partition still exports series")
	}
	sp.ExportMetrics(PartitionMetrics{Kind: MirrorSourcePartition, Topic: "t", Partition: 3, TargetTopic: "A.t"})
	if s, ok = sp.snapshot(t1); !ok || s.records != 4 {
		t.Errorf("exported again: %v records (%v), want the 4 counted before", s.records, ok)
	}
}

func TestPartMetrics_NotFetchedHasNoLag(t *testing.T) {
	sp := newSourcePartition(nil)
	sp.ExportMetrics(PartitionMetrics{Kind: CheckpointPartition, Group: "g", Topic: "A.t"})
	if s, ok := sp.snapshot(1); !ok || s.hasFetch || s.lagRecords != -1 {
		t.Fatalf("never fetched: %+v %v, want no lag", s, ok)
	}
}

// TestPartMetrics_HotPathAllocatesNothing pushes and acknowledges records
// of a partition that exports metrics, as the runner does.
func TestPartMetrics_HotPathAllocatesNothing(t *testing.T) {
	sp := newSourcePartition([]byte("k"))
	sp.ExportMetrics(PartitionMetrics{Kind: MirrorSourcePartition, Topic: "t", TargetTopic: "A.t"})
	recs := make([]SourceRecord, 500)
	for i := range recs {
		recs[i] = SourceRecord{Record: &kgo.Record{Value: make([]byte, 100), Timestamp: time.UnixMilli(int64(i))}, Partition: sp}
	}
	var clock coarseClock
	var off int64
	allocs := testing.AllocsPerRun(100, func() {
		now := clock.nowMs()
		sp.mu.Lock()
		idle := sp.head >= len(sp.runs)
		for i := range recs {
			recs[i].Offset = off + int64(i)
			sp.pushLocked(recs[i].Offset)
		}
		sp.metrics.Load().pushedLocked(recs, idle, now)
		sp.mu.Unlock()
		sp.ObserveFetch(off+1000, off+int64(len(recs)))
		for i := range recs {
			sp.ackAt(off+int64(i), 0, recs[i].Record.Timestamp.UnixMilli(), clock.nowMs(), nil)
		}
		off += int64(len(recs))
	})
	if allocs > 0 {
		t.Fatalf("push, fetch and ack of 500 records with metrics allocate %.1f times, want 0", allocs)
	}
}

// BenchmarkSourcePartition_PushAckMetrics is BenchmarkSourcePartition_PushAck
// with the partition's metrics on, as the runner records them: compare the
// two for the per-record cost of the metrics.
func BenchmarkSourcePartition_PushAckMetrics(b *testing.B) {
	sp := newSourcePartition([]byte("k"))
	sp.ExportMetrics(PartitionMetrics{Kind: MirrorSourcePartition, Topic: "t", TargetTopic: "A.t"})
	const batch = 500
	recs := make([]SourceRecord, batch)
	for i := range recs {
		recs[i] = SourceRecord{Record: &kgo.Record{Value: make([]byte, 100), Timestamp: time.UnixMilli(1_800_000_000_000 + int64(i))}, Partition: sp}
	}
	var clock coarseClock
	stop := clock.start()
	defer stop()
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		sp.mu.Lock()
		idle := sp.head >= len(sp.runs)
		for i := range recs {
			recs[i].Offset = off + int64(i)
			sp.pushLocked(recs[i].Offset)
		}
		sp.metrics.Load().pushedLocked(recs, idle, clock.nowMs())
		sp.mu.Unlock()
		for i := range recs {
			sp.ackAt(recs[i].Offset, 0, recs[i].Record.Timestamp.UnixMilli(), clock.nowMs(), nil)
		}
		off += batch
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
