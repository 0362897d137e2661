package offsets_test

import (
	"math"
	"slices"
	"testing"

	"github.com/mm2go/mm2go/offsets"
)

// ack is one acknowledged record, or a commit when commit is set.
type ack struct {
	u, d   int64
	commit bool
}

func acks(pairs ...int64) []ack {
	out := make([]ack, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, ack{u: pairs[i], d: pairs[i+1]})
	}
	return out
}

// run returns n acks of consecutive records from (u, d).
func run(u, d int64, n int) []ack {
	out := make([]ack, n)
	for i := range out {
		out[i] = ack{u: u + int64(i), d: d + int64(i)}
	}
	return out
}

var commit = []ack{{commit: true}}

func seq(parts ...[]ack) []ack { return slices.Concat(parts...) }

// sync is an offset sync of partition "t"-0 as (upstream, downstream).
type sync struct{ u, d int64 }

func TestShiftTracker_MM2Syncs(t *testing.T) {
	tests := []struct {
		name   string
		lagMax int64
		in     []ack
		want   []sync
	}{
		{"first record of the lifetime", 100, acks(5, 10), []sync{{5, 10}}},
		{"first record at offset zero", 100, acks(0, 0, 1, 1), []sync{{0, 0}}},
		{"offset.lag.max reached", 100, run(0, 0, 250),
			// d - (lastSyncD+1) >= 100: 101 after 0, 202 after 101.
			[]sync{{0, 0}, {101, 101}, {202, 202}}},
		{"lag counts downstream offsets", 10, seq(acks(0, 0), run(1, 1, 9), acks(20, 10), run(21, 11, 20)),
			// 20 skips upstream (sync, lastSyncD=10); then 10 more target offsets: d=21.
			[]sync{{0, 0}, {20, 10}, {31, 21}}},
		{"gap upstream", 100, acks(0, 0, 1, 1, 2, 2, 5, 3, 6, 4), []sync{{0, 0}, {5, 3}}},
		{"target truncated", 100, acks(0, 100, 1, 101, 2, 5, 3, 6), []sync{{0, 100}, {2, 5}}},
		{"downstream jump alone is no MM2 sync", 100, acks(0, 0, 1, 1, 2, 7, 3, 8), []sync{{0, 0}}},
		{"restart inside the lifetime (upstream goes back)", 100, acks(0, 0, 1, 1, 2, 2, 1, 3, 2, 4), []sync{{0, 0}, {1, 3}}},
		{"delayed sync promoted on commit", 100, seq(run(0, 0, 10), commit), []sync{{0, 0}, {9, 9}}},
		{"nothing new, nothing promoted", 100, seq(run(0, 0, 10), commit, commit), []sync{{0, 0}, {9, 9}}},
		{"promoted sync does not reset the lag", 100, seq(run(0, 0, 50), commit, run(50, 50, 60)),
			// lastSyncD stays 0 after the promotion of 49, so 101 syncs.
			[]sync{{0, 0}, {49, 49}, {101, 101}}},
		{"immediate sync drops the delayed one", 100, seq(run(0, 0, 3), acks(10, 3), commit), []sync{{0, 0}, {10, 3}}},
		{"delayed after a sync", 100, seq(run(0, 0, 3), acks(10, 3, 11, 4), commit), []sync{{0, 0}, {10, 3}, {11, 4}}},
		{"offset.lag.max 0 syncs every record", 0, run(7, 0, 4), []sync{{7, 0}, {8, 1}, {9, 2}, {10, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := offsets.NewShiftTracker(tc.lagMax, true)
			p := tr.Partition("t", 0)
			for _, a := range tc.in {
				if a.commit {
					tr.Commit()
				} else {
					p.Acked(a.u, a.d)
				}
			}
			var got []sync
			for _, s := range tr.TakeSyncs(nil) {
				if s.Topic != "t" || s.Partition != 0 {
					t.Fatalf("sync for %s[%d], want t[0]", s.Topic, s.Partition)
				}
				got = append(got, sync{s.UpstreamOffset, s.DownstreamOffset})
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("syncs = %v, want %v", got, tc.want)
			}
			if more := tr.TakeSyncs(nil); len(more) != 0 {
				t.Fatalf("TakeSyncs again = %v, want nothing", more)
			}
		})
	}
}

// entry is an index entry of partition "t"-0 as (u, d, prevU, prevD, last).
type entry struct{ u, d, pu, pd, last int64 }

func TestShiftTracker_IndexEntries(t *testing.T) {
	tests := []struct {
		name string
		in   []ack
		want []entry
	}{
		{"first record", run(0, 0, 5), []entry{{0, 0, -1, -1, 0}}},
		{"one run", run(1000, 20, 500), []entry{{1000, 20, -1, -1, 1000}}},
		{"gap upstream", seq(run(0, 0, 3), run(10, 3, 3)), []entry{{0, 0, -1, -1, 0}, {10, 3, 2, 2, 10}}},
		{"gap downstream", seq(run(0, 0, 3), run(3, 9, 3)), []entry{{0, 0, -1, -1, 0}, {3, 9, 2, 2, 3}}},
		{"transaction markers", seq(run(0, 0, 3), run(4, 3, 3), run(8, 6, 1)),
			[]entry{{0, 0, -1, -1, 0}, {4, 3, 2, 2, 4}, {8, 6, 6, 5, 8}}},
		{"re-copy", seq(run(0, 0, 5), run(2, 5, 5)), []entry{{0, 0, -1, -1, 0}, {2, 5, 4, 4, 2}}},
		{"truncated target", seq(run(0, 100, 2), run(2, 0, 2)), []entry{{0, 100, -1, -1, 0}, {2, 0, 1, 101, 2}}},
		{"commit writes the extent of the current run", seq(run(0, 0, 5), commit, run(5, 5, 5), commit, commit),
			[]entry{{0, 0, -1, -1, 0}, {0, 0, -1, -1, 4}, {0, 0, -1, -1, 9}}},
		{"commit right after a shift change writes nothing new", seq(run(0, 0, 5), acks(9, 5), commit),
			[]entry{{0, 0, -1, -1, 0}, {9, 5, 4, 4, 9}}},
		{"extent of the new run only", seq(run(0, 0, 5), run(9, 5, 3), commit),
			[]entry{{0, 0, -1, -1, 0}, {9, 5, 4, 4, 9}, {9, 5, 4, 4, 11}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := offsets.NewShiftTracker(100, true)
			p := tr.Partition("t", 0)
			for _, a := range tc.in {
				if a.commit {
					tr.Commit()
				} else {
					p.Acked(a.u, a.d)
				}
			}
			var got []entry
			for _, e := range tr.TakeEntries(nil) {
				got = append(got, entry{e.Upstream, e.Downstream, e.PrevUpstream, e.PrevDownstream, e.LastUpstream})
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("entries = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestShiftTracker_Partitions(t *testing.T) {
	tr := offsets.NewShiftTracker(100, true)
	a, b := tr.Partition("a", 0), tr.Partition("a", 1)
	if tr.Partition("a", 0) != a {
		t.Fatal("Partition(a, 0) returned a new tracker on the second call")
	}
	a.Acked(0, 0)
	b.Acked(7, 3)
	a.Acked(1, 1)
	b.Acked(8, 4)
	tr.Commit()
	syncs := tr.TakeSyncs(nil)
	want := []offsets.OffsetSync{
		{Topic: "a", Partition: 0, UpstreamOffset: 0, DownstreamOffset: 0},
		{Topic: "a", Partition: 1, UpstreamOffset: 7, DownstreamOffset: 3},
		{Topic: "a", Partition: 0, UpstreamOffset: 1, DownstreamOffset: 1},
		{Topic: "a", Partition: 1, UpstreamOffset: 8, DownstreamOffset: 4},
	}
	if !slices.Equal(syncs, want) {
		t.Fatalf("syncs = %+v, want %+v", syncs, want)
	}
	entries := tr.TakeEntries(nil)
	wantE := []offsets.IndexEntry{
		{Topic: "a", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 0},
		{Topic: "a", Partition: 1, Upstream: 7, Downstream: 3, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 7},
		{Topic: "a", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 1},
		{Topic: "a", Partition: 1, Upstream: 7, Downstream: 3, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 8},
	}
	if !slices.Equal(entries, wantE) {
		t.Fatalf("entries = %+v, want %+v", entries, wantE)
	}
}

func TestShiftTracker_SyncsOff(t *testing.T) {
	tr := offsets.NewShiftTracker(100, false)
	p := tr.Partition("t", 0)
	for _, a := range seq(run(0, 0, 3), run(5, 3, 3)) {
		p.Acked(a.u, a.d)
	}
	tr.Commit()
	if s := tr.TakeSyncs(nil); len(s) != 0 {
		t.Fatalf("syncs with emit.offset-syncs.enabled=false: %v", s)
	}
	if e := tr.TakeEntries(nil); len(e) != 3 { // two runs and the extent of the second
		t.Fatalf("entries = %+v, want 3", e)
	}
}

// TestShiftTracker_AckedDoesNotAllocate checks the hot path: an acknowledged
// record that changes no shift allocates nothing, syncs on or off.
func TestShiftTracker_AckedDoesNotAllocate(t *testing.T) {
	for _, syncs := range []bool{true, false} {
		tr := offsets.NewShiftTracker(math.MaxInt64, syncs)
		p := tr.Partition("orders", 3)
		p.Acked(0, 0)
		next := int64(1)
		allocs := testing.AllocsPerRun(10000, func() {
			p.Acked(next, next)
			next++
		})
		if allocs != 0 {
			t.Errorf("syncs=%v: Acked allocates %.2f times per record, want 0", syncs, allocs)
		}
	}
}

func BenchmarkShiftTracker_Acked(b *testing.B) {
	tr := offsets.NewShiftTracker(offsets.DefaultOffsetLagMax, true)
	p := tr.Partition("orders", 3)
	var buf []offsets.OffsetSync
	b.ReportAllocs()
	for i := range int64(b.N) {
		p.Acked(i, i)
		if i%10000 == 0 {
			buf = tr.TakeSyncs(buf[:0])
		}
	}
}
