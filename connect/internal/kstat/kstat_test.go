package kstat

import (
	"math"
	"testing"
)

func TestDist_WindowsAsKafka(t *testing.T) {
	var d Dist
	if v, hi, lo, avg := d.Measure(0); v != 0 || !math.IsNaN(hi) || !math.IsNaN(lo) || !math.IsNaN(avg) {
		t.Fatalf("empty Dist = %v %v %v %v, want 0 NaN NaN NaN", v, hi, lo, avg)
	}
	d.Record(10, 0)
	d.Record(20, 1000)
	check := func(now int64, wv, whi, wlo, wavg float64) {
		t.Helper()
		v, hi, lo, avg := d.Measure(now)
		same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
		if !same(v, wv) || !same(hi, whi) || !same(lo, wlo) || !same(avg, wavg) {
			t.Fatalf("at %d ms: value,max,min,avg = %v,%v,%v,%v, want %v,%v,%v,%v", now, v, hi, lo, avg, wv, whi, wlo, wavg)
		}
	}
	check(1000, 20, 20, 10, 15)
	check(60_999, 20, 20, 10, 15) // last event at 1000: live until 61000
	check(61_000, 20, math.NaN(), math.NaN(), math.NaN())

	// A second sample starts a window after the first; a third one reuses
	// the spare slot; the first expires samples x window after its last event.
	var e Dist
	e.Record(5, 100_000)
	e.Record(7, 130_000)
	e.Record(9, 160_000)
	if _, hi, lo, avg := e.Measure(160_000); hi != 9 || lo != 7 || avg != 8 {
		t.Fatalf("after 3 windows: max,min,avg = %v,%v,%v, want 9,7,8", hi, lo, avg)
	}
	e.Record(11, 190_000) // wraps to slot 0
	if _, hi, lo, avg := e.Measure(190_000); hi != 11 || lo != 9 || avg != 10 {
		t.Fatalf("after the ring wrapped: max,min,avg = %v,%v,%v, want 11,9,10", hi, lo, avg)
	}
}

func TestDist_RecordNIsNRecords(t *testing.T) {
	var a, b Dist
	vals := []float64{3, 1, 4, 1, 5, 9, 2, 6}
	var sum float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		a.Record(v, 42_000)
		sum += v
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	b.RecordN(int64(len(vals)), sum, lo, hi, vals[len(vals)-1], 42_000)
	av, ahi, alo, aavg := a.Measure(50_000)
	bv, bhi, blo, bavg := b.Measure(50_000)
	if av != bv || ahi != bhi || alo != blo || aavg != bavg {
		t.Fatalf("RecordN = %v %v %v %v, one by one = %v %v %v %v", bv, bhi, blo, bavg, av, ahi, alo, aavg)
	}
	b.RecordN(0, 0, 0, 0, 0, 43_000) // nothing
	if v, _, _, _ := b.Measure(50_000); v != 6 {
		t.Fatalf("RecordN(0) changed the value to %v", v)
	}
}

func TestMeter_RateAsKafka(t *testing.T) {
	var z Meter
	if r := z.Rate(0); r != 0 {
		t.Fatalf("empty rate = %v, want 0", r)
	}
	var m Meter
	m.Record(30, 1_000)
	for _, c := range []struct {
		now  int64
		want float64
	}{
		{1_000, 1},          // 0 s elapsed, counted as one whole window: 30/30
		{16_000, 30.0 / 45}, // 15 s + one window
		{46_000, 30.0 / 45}, // 45 s: one full window, no padding
		{61_000, 0},         // the sample expired
	} {
		if r := m.Rate(c.now); math.Abs(r-c.want) > 1e-9 {
			t.Fatalf("rate at %d ms = %v, want %v", c.now, r, c.want)
		}
	}
	if m.Total() != 30 {
		t.Fatalf("total = %v, want 30", m.Total())
	}
	// A steady 100/s over several windows reads 100/s.
	var s Meter
	for ms := int64(0); ms <= 200_000; ms += 10 {
		s.Record(1, ms)
	}
	if r := s.Rate(200_000); math.Abs(r-100) > 2 {
		t.Fatalf("steady 100/s reads %v/s", r)
	}
	if s.Total() != 20_001 {
		t.Fatalf("total = %v, want 20001", s.Total())
	}
}

func TestDist_NoAllocs(t *testing.T) {
	var d Dist
	var m Meter
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() {
		now += 7
		d.Record(float64(now%100), now)
		m.Record(1, now)
		d.Measure(now)
		m.Rate(now)
	}); n != 0 {
		t.Fatalf("allocations per record+measure = %v, want 0", n)
	}
}
