package connect

import (
	"errors"
	"testing"
)

type recordingObserver struct{ pairs [][2]int64 }

func (o *recordingObserver) Acked(u, d int64) { o.pairs = append(o.pairs, [2]int64{u, d}) }

func TestSourcePartition_AcksInOrder(t *testing.T) {
	sp := newSourcePartition([]byte("k"))
	obs := &recordingObserver{}
	sp.SetObserver(obs)
	sp.mu.Lock()
	for _, o := range []int64{5, 6, 7, 10, 11, 20} {
		sp.pushLocked(o)
	}
	sp.mu.Unlock()
	if got := len(sp.runs) - sp.head; got != 3 {
		t.Fatalf("in-flight runs = %d, want 3 (5-7, 10-11, 20)", got)
	}
	if n := sp.InFlight(); n != 6 {
		t.Fatalf("InFlight = %d, want 6", n)
	}
	for d := int64(100); d < 104; d++ {
		sp.ack(d, 0, nil)
	}
	if a := sp.Acked(); a != 10 {
		t.Fatalf("Acked = %d, want 10", a)
	}
	want := [][2]int64{{5, 100}, {6, 101}, {7, 102}, {10, 103}}
	for i, p := range want {
		if obs.pairs[i] != p {
			t.Fatalf("observer pair %d = %v, want %v", i, obs.pairs[i], p)
		}
	}
}

func TestSourcePartition_FailureStopsAcked(t *testing.T) {
	sp := newSourcePartition(nil)
	sp.mu.Lock()
	for o := int64(0); o < 4; o++ {
		sp.pushLocked(o)
	}
	sp.mu.Unlock()
	sp.ack(0, 0, nil)
	sp.ack(1, 0, errors.New("record too large"))
	sp.ack(2, 0, nil) // a later record that succeeded must not move past the failed one
	sp.ack(3, 0, nil)
	if a := sp.Acked(); a != 0 {
		t.Fatalf("Acked = %d after a failure at offset 1, want 0", a)
	}
	if err := sp.failure(); err == nil {
		t.Fatal("failure() = nil, want the produce error")
	}
	sp.ack(9, 0, nil) // nothing in flight: ignored
	if a := sp.Acked(); a != 0 {
		t.Fatalf("Acked = %d, want 0", a)
	}
}

func TestSourcePartition_QueueReusesStorage(t *testing.T) {
	sp := newSourcePartition(nil)
	allocs := testing.AllocsPerRun(100, func() {
		sp.mu.Lock()
		for o := int64(0); o < 1000; o++ {
			sp.pushLocked(o)
		}
		sp.mu.Unlock()
		for o := int64(0); o < 1000; o++ {
			sp.ack(o, 0, nil)
		}
	})
	if allocs > 0 {
		t.Fatalf("push+ack of 1000 contiguous offsets allocates %.1f times, want 0", allocs)
	}
}

// BenchmarkSourcePartition_PushAck is the per-record bookkeeping of the hot
// path: register a record as in flight, then acknowledge it.
func BenchmarkSourcePartition_PushAck(b *testing.B) {
	sp := newSourcePartition([]byte("k"))
	const batch = 500
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		sp.mu.Lock()
		for range batch {
			sp.pushLocked(off)
			off++
		}
		sp.mu.Unlock()
		for range batch {
			sp.ack(off, 0, nil)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
