package connectors

import (
	"testing"

	"github.com/mm2go/mm2go/offsets"
)

// TestUncommitted_Entries: Uncommitted gives the index entries handed to
// the index producer since the last commit, then every partition's run up
// to its last ack; past maxUnflushed entries it refuses, saying why, so
// the worker copies the range again rather than commit offsets the index
// might not cover.
func TestUncommitted_Entries(t *testing.T) {
	tk := &MirrorSourceTask{shifts: offsets.NewShiftTracker(offsets.DefaultOffsetLagMax, false), indexTopic: "mm2-offset-index.A.internal"}
	p := tk.shifts.Partition("t", 0)
	p.Acked(0, 10)
	for _, e := range tk.shifts.TakeEntries(nil) { // what Poll sent
		tk.keepUnflushed(e)
	}
	p.Acked(1, 11)
	p.Acked(2, 12)
	recs, err := tk.Uncommitted()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2: the entry sent and the run's extent", len(recs))
	}
	var last offsets.IndexEntry
	for i, r := range recs {
		if r.Topic != tk.indexTopic {
			t.Errorf("record %d for topic %s, want %s", i, r.Topic, tk.indexTopic)
		}
		e, err := offsets.DecodeIndexEntry(r.Key, r.Value)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		last = e
	}
	if last.Upstream != 0 || last.Downstream != 10 || last.LastUpstream != 2 {
		t.Errorf("last entry %+v, want the run from 0 (at 10) up to 2", last)
	}

	for range maxUnflushed + 1 {
		tk.keepUnflushed(offsets.IndexEntry{Topic: "t"})
	}
	if _, err := tk.Uncommitted(); err == nil {
		t.Errorf("Uncommitted after %d entries without a commit: no error", maxUnflushed+1)
	}
	if len(tk.unflushed) != 0 {
		t.Errorf("%d entries kept past the bound", len(tk.unflushed))
	}
}
