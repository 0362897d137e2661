package harness

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func recs(keys ...string) []Rec {
	out := make([]Rec, len(keys))
	for i, k := range keys {
		out[i] = Rec{Offset: int64(i), Key: k, Sum: uint64(len(k))}
	}
	return out
}

func TestCompare(t *testing.T) {
	want := &Log{Topic: "t", Parts: map[int32][]Rec{
		0: recs("a", "b", "c", "d", "e", "f"),
		1: recs("x", "y", "z"),
		2: recs("m"),
	}}
	got := &Log{Topic: "A.t", Parts: map[int32][]Rec{
		// A re-copy after a crash: c, d again, then the rest.
		0: recs("a", "b", "c", "d", "c", "d", "e", "f"),
		// z before y (out of order), a record of partition 0 (foreign),
		// and x changed.
		1: recs("x", "z", "y", "a"),
		// Partition 2: m missing. Partition 3: only on the copy.
		3: recs("q"),
	}}
	got.Parts[1][0].Sum++
	r := Compare(want, got)
	t.Log(r)

	p0 := r.Part(0)
	if m, d, o, f, c := p0.Counts(); m != 0 || d != 2 || o != 0 || f != 0 || c != 0 {
		t.Errorf("partition 0 counts %d %d %d %d %d, want 0 missing, 2 duplicated", m, d, o, f, c)
	}
	if want := []DupSpan{{Got: Span{4, 5}, Want: Span{2, 3}}}; !slices.Equal(p0.Duplicated, want) {
		t.Errorf("partition 0 duplicates %v, want %v", p0.Duplicated, want)
	}
	if want := []int64{0, 1, 2, 3, 2, 3, 4, 5}; !slices.Equal(p0.WantOf, want) {
		t.Errorf("partition 0 WantOf %v, want %v", p0.WantOf, want)
	}
	p1 := r.Part(1)
	if !slices.Equal(p1.OutOfOrder, []Span{{2, 2}}) || !slices.Equal(p1.Foreign, []Span{{3, 3}}) || !slices.Equal(p1.Changed, []Span{{0, 0}}) {
		t.Errorf("partition 1: out of order %v, foreign %v, changed %v; want [2], [3], [0]", p1.OutOfOrder, p1.Foreign, p1.Changed)
	}
	if p2 := r.Part(2); !slices.Equal(p2.Missing, []KeySpan{{Span{0, 0}, "m", "m"}}) {
		t.Errorf("partition 2 missing %v, want [0]", p2.Missing)
	}
	if p3 := r.Part(3); p3 == nil || !slices.Equal(p3.Foreign, []Span{{0, 0}}) {
		t.Errorf("partition 3 (copy only) should be foreign: %+v", p3)
	}
	if r.Clean() {
		t.Error("report with anomalies is Clean")
	}
	wantN, gotN, m, d, o, f, c := r.Totals()
	if wantN != 10 || gotN != 13 || m != 1 || d != 2 || o != 1 || f != 2 || c != 1 {
		t.Errorf("totals %d %d %d %d %d %d %d", wantN, gotN, m, d, o, f, c)
	}
	for _, s := range []string{"copy 4-5 repeats wanted 2-3", "missing: wanted offsets 0 (m)", "out of order: copy offsets at 2"} {
		if !strings.Contains(r.String(), s) {
			t.Errorf("report does not say %q:\n%s", s, r)
		}
	}
}

func TestCompare_MissingRunsAndSourceDuplicates(t *testing.T) {
	var keys []string
	for i := range 10 {
		keys = append(keys, fmt.Sprint(i))
	}
	// The original holds key 5 twice (a producer's retry): the copy must
	// hold it twice too, and a third copy is a duplicate.
	wantKeys := append(slices.Clone(keys[:6]), append([]string{"5"}, keys[6:]...)...)
	want := &Log{Topic: "t", Parts: map[int32][]Rec{0: recs(wantKeys...)}}
	gotKeys := []string{"0", "1", "4", "5", "5", "5", "9"} // 2-3 and 6-8 missing
	got := &Log{Topic: "A.t", Parts: map[int32][]Rec{0: recs(gotKeys...)}}
	for i := range got.Parts[0] {
		got.Parts[0][i].Sum = uint64(len(got.Parts[0][i].Key))
	}
	r := Compare(want, got)
	p := r.Part(0)
	if want := []KeySpan{{Span{2, 3}, "2", "3"}, {Span{7, 9}, "6", "8"}}; !slices.Equal(p.Missing, want) {
		t.Errorf("missing %v, want %v", p.Missing, want)
	}
	if want := []DupSpan{{Got: Span{5, 5}, Want: Span{6, 6}}}; !slices.Equal(p.Duplicated, want) {
		t.Errorf("duplicates %v, want %v", p.Duplicated, want)
	}
	if len(p.OutOfOrder) != 0 {
		t.Errorf("out of order %v, want none", p.OutOfOrder)
	}
}
