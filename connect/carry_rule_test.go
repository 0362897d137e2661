package connect

import (
	"testing"
	"time"
)

// TestCarriedOffset_Unchanged: a carried offset is committed only while
// nobody but its run wrote the key: the stored value's record is the one it
// was, or the value is one of the run's own failed commits written late.
func TestCarriedOffset_Unchanged(t *testing.T) {
	id := []OffsetField{StrField("topicId", "AAAAAAAAAAAAAAAAAAAAAA")}
	o := carriedOffset{value: OffsetValue{Offset: 199, Fields: id}, committed: 99, pos: 7,
		tried: []OffsetValue{{Offset: 149, Fields: id}, {Offset: 179, Fields: id}}}
	for _, c := range []struct {
		name   string
		stored OffsetValue
		has    bool
		pos    int64
		want   bool
	}{
		{"nothing written since", OffsetValue{Offset: 99, Fields: id}, true, 7, true},
		{"nothing stored, nothing written", OffsetValue{}, false, 7, true},
		{"the run's own failed commit, written late", OffsetValue{Offset: 179, Fields: id}, true, 9, true},
		{"an earlier failed commit of the run, written late", OffsetValue{Offset: 149, Fields: id}, true, 8, true},
		{"another value before the carried one", OffsetValue{Offset: 120, Fields: id}, true, 9, false},
		{"another value past the carried one", OffsetValue{Offset: 250, Fields: id}, true, 9, false},
		{"the run's value of another topic ID", OffsetValue{Offset: 179, Fields: []OffsetField{StrField("topicId", "BBBBBBBBBBBBBBBBBBBBBB")}}, true, 9, false},
		{"deleted since (an offsets reset)", OffsetValue{}, false, 9, false},
	} {
		if got := o.unchanged(c.stored, c.has, c.pos); got != c.want {
			t.Errorf("%s: unchanged = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCommitFailed_RemembersTheLatest: the values of failed commits are
// remembered once each, the latest maxTried of them, only in a group.
func TestCommitFailed_RemembersTheLatest(t *testing.T) {
	sp := newSourcePartition([]byte("k"))
	alone := &taskRunner{entries: []commitEntry{{sp: sp, value: OffsetValue{Offset: 1}}}}
	alone.commitFailed()
	if alone.tried != nil {
		t.Errorf("a worker alone remembered %v", alone.tried)
	}
	r := &taskRunner{owns: func() (time.Time, bool) { return time.Time{}, false }}
	for i := range int64(12) {
		for range 2 { // the same value failing twice counts once
			r.entries = []commitEntry{{sp: sp, value: OffsetValue{Offset: i}}, {sp: newSourcePartition([]byte("gone")), forget: true}}
			r.commitFailed()
		}
	}
	got := r.tried["k"]
	if len(got) != maxTried || got[0].Offset != 12-maxTried || got[len(got)-1].Offset != 11 {
		t.Errorf("remembered %v, want offsets %d to 11", got, 12-maxTried)
	}
	if _, ok := r.tried["gone"]; ok {
		t.Errorf("a deletion was remembered: %v", r.tried["gone"])
	}
}
