package offsets_test

import (
	"slices"
	"testing"

	"github.com/mm2go/mm2go/offsets"
)

// TestIndex_RunsAndSegments covers a crash and a re-copy: a first lifetime
// copied 0..14 at 0..14 but confirmed only 0..9; the next lifetime copied
// again from 10 at 15..; a transaction marker at source offset 30 shifts the
// rest by one more.
func TestIndex_RunsAndSegments(t *testing.T) {
	x := offsets.NewIndex()
	for _, e := range []offsets.IndexEntry{
		{Topic: "t", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 9},
		{Topic: "t", Partition: 0, Upstream: 10, Downstream: 15, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 20},
		{Topic: "t", Partition: 0, Upstream: 31, Downstream: 35, PrevUpstream: 29, PrevDownstream: 34, LastUpstream: 40},
	} {
		if err := x.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	wantRuns := []offsets.IndexRun{
		{Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, KnownUpstream: 9},
		// Raised to 29 by the next entry's previous record.
		{Upstream: 10, Downstream: 15, PrevUpstream: -1, PrevDownstream: -1, KnownUpstream: 29},
		{Upstream: 31, Downstream: 35, PrevUpstream: 29, PrevDownstream: 34, KnownUpstream: 40},
	}
	if got := x.Runs("t", 0); !slices.Equal(got, wantRuns) {
		t.Errorf("Runs = %+v\nwant %+v", got, wantRuns)
	}
	wantSegs := []offsets.IndexSegment{
		{Upstream: 0, LastUpstream: 9, Downstream: 0},
		{Upstream: 10, LastUpstream: 29, Downstream: 15},
		{Upstream: 31, LastUpstream: 40, Downstream: 35},
	}
	if got := x.Segments("t", 0); !slices.Equal(got, wantSegs) {
		t.Errorf("Segments = %+v\nwant %+v", got, wantSegs)
	}
	if x.Runs("t", 1) != nil || x.Segments("u", 0) != nil {
		t.Error("Runs and Segments of an unknown partition are not nil")
	}
}
