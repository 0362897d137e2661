package offsets

import (
	"errors"
	"testing"
)

func TestSyncStore_TranslatesLikeMM2(t *testing.T) {
	s := &SyncStore{syncs: make(map[TopicPartition][]OffsetSync)}
	for _, o := range []OffsetSync{
		{Topic: "t", Partition: 0, UpstreamOffset: 100, DownstreamOffset: 10},
		{Topic: "t", Partition: 0, UpstreamOffset: 200, DownstreamOffset: 110},
		{Topic: "t", Partition: 0, UpstreamOffset: 200, DownstreamOffset: 111}, // a later copy of the same record
		{Topic: "t", Partition: 0, UpstreamOffset: 350, DownstreamOffset: 260},
	} {
		s.Add(o)
	}
	tests := []struct {
		committed int64
		want      Translation
		err       error
	}{
		{99, Translation{}, ErrNoTranslation},
		{100, Translation{Upstream: 100, Downstream: 10, Exact: true}, nil},
		{150, Translation{Upstream: 150, Downstream: 11}, nil},
		{200, Translation{Upstream: 200, Downstream: 111, Exact: true}, nil},
		{349, Translation{Upstream: 349, Downstream: 112}, nil},
		{1000, Translation{Upstream: 1000, Downstream: 261}, nil},
	}
	for _, tc := range tests {
		got, err := s.Translate("t", 0, tc.committed)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("Translate(%d) = %+v, %v; want %+v, %v", tc.committed, got, err, tc.want, tc.err)
		}
	}
	if _, err := s.Translate("other", 0, 5); !errors.Is(err, ErrNoTranslation) {
		t.Errorf("unknown partition: %v, want ErrNoTranslation", err)
	}
	// A rewind (the target was truncated, or the topic re-created) replaces
	// the history.
	s.Add(OffsetSync{Topic: "t", Partition: 0, UpstreamOffset: 5, DownstreamOffset: 500})
	if got, err := s.Translate("t", 0, 150); err != nil || got.Downstream != 501 {
		t.Errorf("after a rewind Translate(150) = %+v, %v; want downstream 501", got, err)
	}
}
