package offsets_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/mm2go/mm2go/offsets"
)

func TestIndexTopic(t *testing.T) {
	if got := offsets.IndexTopic("us-west"); got != "mm2go-offset-index.us-west.internal" {
		t.Fatalf("IndexTopic(us-west) = %q", got)
	}
}

func TestIndexEntry_Encoding(t *testing.T) {
	e := offsets.IndexEntry{Topic: "t", Partition: 3, Upstream: 1000, Downstream: 500, PrevUpstream: 999, PrevDownstream: 498, LastUpstream: 1010}
	wantKey := unhex(t, "00 01 74  00 00 00 03  00 00 00 00 00 00 03 e8")
	wantValue := unhex(t, `00 00
		00 00 00 00 00 00 03 e8  00 00 00 00 00 00 01 f4
		00 00 00 00 00 00 03 e7  00 00 00 00 00 00 01 f2
		00 00 00 00 00 00 03 f2`)
	k, kerr := e.Key()
	ak, akerr := e.AppendKey(withPrefix())
	checkEncoded(t, "Key", k, kerr, ak, akerr, wantKey)
	checkEncoded(t, "Value", e.Value(), nil, e.AppendValue(withPrefix()), nil, wantValue)
	// The key starts with the partition's OffsetSync key.
	sk, _ := offsets.OffsetSync{Topic: "t", Partition: 3}.Key()
	if !bytes.HasPrefix(k, sk) {
		t.Fatalf("key % x does not start with the offset sync key % x", k, sk)
	}
	got, err := offsets.DecodeIndexEntry(k, append(e.Value(), 0xff)) // trailing bytes ignored
	if err != nil || got != e {
		t.Fatalf("DecodeIndexEntry = %+v, %v; want %+v", got, err, e)
	}
	unknown := offsets.IndexEntry{Topic: "orders", Partition: 0, Upstream: 0, Downstream: 7, PrevUpstream: -1, PrevDownstream: -1}
	k, _ = unknown.Key()
	if got, err := offsets.DecodeIndexEntry(k, unknown.Value()); err != nil || got != unknown {
		t.Fatalf("DecodeIndexEntry(first record of a lifetime) = %+v, %v", got, err)
	}
	if _, err := (offsets.IndexEntry{Topic: strings.Repeat("x", offsets.MaxStringLen+1)}).Key(); !errors.Is(err, offsets.ErrStringTooLong) {
		t.Fatalf("Key() of a too long topic: %v, want ErrStringTooLong", err)
	}
}

func TestDecodeIndexEntry_Errors(t *testing.T) {
	good := offsets.IndexEntry{Topic: "t", Partition: 1, Upstream: 10, Downstream: 20, PrevUpstream: 8, PrevDownstream: 19, LastUpstream: 12}
	key, _ := good.Key()
	value := good.Value()
	with := func(f func(*offsets.IndexEntry)) (k, v []byte) {
		e := good
		f(&e)
		k, _ = e.Key()
		return k, e.Value()
	}
	badVersion := slices.Clone(value)
	badVersion[1] = 1
	otherKey, _ := offsets.IndexEntry{Topic: "t", Partition: 1, Upstream: 11}.Key()
	tests := []struct {
		name       string
		key, value []byte
		is         error
		msg        string
	}{
		{"empty key", nil, value, offsets.ErrTruncated, "decode offset index key: topic: truncated"},
		{"short key", key[:len(key)-1], value, offsets.ErrTruncated, "decode offset index key: upstream offset: truncated"},
		{"negative topic length", []byte{0xff, 0xff, 0, 0, 0, 0}, value, offsets.ErrNegativeLength, "topic"},
		{"empty value", key, nil, offsets.ErrTruncated, "decode offset index value: version: truncated"},
		{"short value", key, value[:len(value)-1], offsets.ErrTruncated, "last upstream offset: truncated"},
		{"version", key, badVersion, nil, "unsupported version 1"},
		{"key and value disagree", otherKey, value, offsets.ErrInvalidIndexEntry, "key upstream offset 11, value 10"},
		{"negative partition", nil, nil, offsets.ErrInvalidIndexEntry, "partition -1 is negative"},
		{"negative offset", nil, nil, offsets.ErrInvalidIndexEntry, "negative"},
		{"half-known previous record", nil, nil, offsets.ErrInvalidIndexEntry, "want both offsets or both -1"},
		{"last before first", nil, nil, offsets.ErrInvalidIndexEntry, "last upstream offset 9 is before the first 10"},
	}
	tests[7].key, tests[7].value = with(func(e *offsets.IndexEntry) { e.Partition = -1 })
	tests[8].key, tests[8].value = with(func(e *offsets.IndexEntry) { e.Downstream = -5 })
	tests[9].key, tests[9].value = with(func(e *offsets.IndexEntry) { e.PrevUpstream = -1 })
	tests[10].key, tests[10].value = with(func(e *offsets.IndexEntry) { e.LastUpstream = 9 })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := offsets.DecodeIndexEntry(tc.key, tc.value)
			if err == nil {
				t.Fatal("DecodeIndexEntry: no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			var verr *offsets.UnsupportedVersionError
			if tc.name == "version" && !errors.As(err, &verr) {
				t.Errorf("error %q is not an UnsupportedVersionError", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

// FuzzDecodeIndexEntry checks that DecodeIndexEntry never panics, and that a
// decoded entry encodes to a prefix of its input and decodes to itself again.
func FuzzDecodeIndexEntry(f *testing.F) {
	for _, e := range []offsets.IndexEntry{
		{Topic: "t", Partition: 3, Upstream: 1000, Downstream: 500, PrevUpstream: 999, PrevDownstream: 498, LastUpstream: 1010},
		{Topic: "orders", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1},
		{Topic: "B.t", Partition: 12, Upstream: 1 << 40, Downstream: 3, PrevUpstream: 2, PrevDownstream: 9, LastUpstream: 1<<40 + 5},
	} {
		k, _ := e.Key()
		f.Add(k, e.Value())
		f.Add(k[:len(k)-1], e.Value())
		f.Add(k, e.Value()[:20])
	}
	f.Add([]byte{0x80, 0x00}, []byte{})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		e, err := offsets.DecodeIndexEntry(key, value)
		if err != nil {
			return
		}
		k, err := e.Key()
		if err != nil {
			t.Fatalf("Key() of decoded %+v: %v", e, err)
		}
		v := e.Value()
		checkPrefix(t, k, key, v, value)
		e2, err := offsets.DecodeIndexEntry(k, v)
		if err != nil || e2 != e {
			t.Fatalf("DecodeIndexEntry(re-encoded) = %+v, %v; want %+v", e2, err, e)
		}
	})
}

// ie is an index entry of partition "t"-0.
func ie(u, d, pu, pd, last int64) offsets.IndexEntry {
	return offsets.IndexEntry{Topic: "t", Partition: 0, Upstream: u, Downstream: d, PrevUpstream: pu, PrevDownstream: pd, LastUpstream: last}
}

func TestIndex_Translate(t *testing.T) {
	const none = -2 // want ErrNoTranslation
	type q struct {
		up    int64
		u, d  int64 // want Translation{u, d, exact}; u == none: ErrNoTranslation
		exact bool
	}
	tests := []struct {
		name    string
		entries []offsets.IndexEntry
		queries []q
	}{
		{"one run", []offsets.IndexEntry{ie(0, 0, -1, -1, 99)}, []q{
			{0, 0, 0, true}, {50, 50, 50, true}, {99, 99, 99, true},
			{100, 100, 100, false}, {5000, 5000, 5000, false},
		}},
		{"shifted run", []offsets.IndexEntry{ie(1000, 20, -1, -1, 1499)}, []q{
			{999, none, 0, false}, {1000, 1000, 20, true}, {1499, 1499, 519, true}, {1500, 1500, 520, false},
		}},
		{"gap: the next copied record", []offsets.IndexEntry{ie(0, 0, -1, -1, 0), ie(20, 10, 9, 9, 29)}, []q{
			{9, 9, 9, true}, {10, 20, 10, true}, {19, 20, 10, true}, {20, 20, 10, true}, {29, 29, 19, true}, {30, 30, 20, false},
		}},
		{"transaction markers", []offsets.IndexEntry{ie(0, 0, -1, -1, 0), ie(4, 3, 2, 2, 4), ie(8, 6, 6, 5, 10)}, []q{
			{2, 2, 2, true}, {3, 4, 3, true}, {6, 6, 5, true}, {7, 8, 6, true}, {10, 10, 8, true}, {11, 11, 9, false},
		}},
		{"restart after a graceful stop", []offsets.IndexEntry{ie(0, 0, -1, -1, 50), ie(51, 51, -1, -1, 80)}, []q{
			{50, 50, 50, true}, {51, 51, 51, true}, {80, 80, 80, true},
		}},
		{"restart after a crash: the later copy", []offsets.IndexEntry{
			// Copied 0..60 at 0..60, committed 50, crashed; copied again from 51 at 61.
			ie(0, 0, -1, -1, 50), ie(51, 61, -1, -1, 100),
		}, []q{
			{40, 40, 40, true}, {50, 50, 50, true}, {51, 51, 61, true}, {55, 55, 65, true}, {100, 100, 110, true}, {101, 101, 111, false},
		}},
		{"crash, then a gap where the copy resumed", []offsets.IndexEntry{
			// Copied 0..30 at 0..30, committed 20, crashed; 21..24 compacted
			// away before the next lifetime read them; it copied 25.. at 31.
			ie(0, 0, -1, -1, 20), ie(25, 31, -1, -1, 40),
		}, []q{
			{20, 20, 20, true}, {21, 25, 31, true}, {24, 25, 31, true}, {27, 27, 33, true},
		}},
		{"crash, nothing copied since", []offsets.IndexEntry{ie(0, 0, -1, -1, 20)}, []q{
			{20, 20, 20, true}, {25, 25, 25, false},
		}},
		{"later copy that ends earlier", []offsets.IndexEntry{ie(0, 0, -1, -1, 100), ie(50, 101, -1, -1, 60)}, []q{
			{55, 55, 106, true}, {60, 60, 111, true}, {70, 70, 70, true}, {100, 100, 100, true}, {101, 101, 152, false},
		}},
		{"re-copy inside a lifetime", []offsets.IndexEntry{ie(0, 0, -1, -1, 0), ie(2, 5, 4, 4, 9)}, []q{
			{1, 1, 1, true}, {2, 2, 5, true}, {4, 4, 7, true}, {9, 9, 12, true},
		}},
		{"extent past the next entry is clamped", []offsets.IndexEntry{ie(0, 0, -1, -1, 50), ie(60, 10, 9, 9, 70)}, []q{
			{9, 9, 9, true}, {30, 60, 10, true},
		}},
		{"two tasks writing one partition during a reassignment", []offsets.IndexEntry{
			// d0..4 = A's u0..4; d5,6 = B's u3,4; d7 = A's u5; d8.. = B's u5..
			ie(0, 0, -1, -1, 4), ie(3, 5, -1, -1, 4), ie(5, 7, 4, 4, 5), ie(5, 8, 4, 6, 9),
		}, []q{
			{2, 2, 2, true}, {3, 3, 5, true}, {4, 4, 6, true}, {5, 5, 8, true}, {9, 9, 12, true},
		}},
		{"target truncated: older entries dropped", []offsets.IndexEntry{ie(0, 100, -1, -1, 5), ie(6, 0, 5, 105, 10)}, []q{
			{3, none, 0, false}, {6, 6, 0, true}, {8, 8, 2, true},
		}},
		{"repeated extents", []offsets.IndexEntry{ie(0, 0, -1, -1, 0), ie(0, 0, -1, -1, 10), ie(20, 11, 10, 10, 20), ie(0, 0, -1, -1, 5), ie(20, 11, 10, 10, 30)}, []q{
			{10, 10, 10, true}, {15, 20, 11, true}, {30, 30, 21, true}, {31, 31, 22, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := offsets.NewIndex()
			for _, e := range tc.entries {
				if err := x.Add(e); err != nil {
					t.Fatalf("Add(%+v): %v", e, err)
				}
			}
			for _, q := range tc.queries {
				got, err := x.Translate("t", 0, q.up)
				if q.u == none {
					if !errors.Is(err, offsets.ErrNoTranslation) {
						t.Errorf("Translate(%d) = %+v, %v; want ErrNoTranslation", q.up, got, err)
					}
					continue
				}
				want := offsets.Translation{Upstream: q.u, Downstream: q.d, Exact: q.exact}
				if err != nil || got != want {
					t.Errorf("Translate(%d) = %+v, %v; want %+v", q.up, got, err, want)
				}
			}
		})
	}
}

func TestIndex_Misc(t *testing.T) {
	x := offsets.NewIndex()
	if _, err := x.Translate("t", 0, 0); !errors.Is(err, offsets.ErrNoTranslation) {
		t.Fatalf("Translate on an empty index: %v, want ErrNoTranslation", err)
	}
	if _, _, ok := x.LastKnown("t", 0); ok {
		t.Fatal("LastKnown on an empty index: ok")
	}
	for _, e := range []offsets.IndexEntry{ie(0, 0, -1, -1, 10), ie(0, 0, -1, -1, 20), ie(30, 21, 20, 20, 35)} {
		if err := x.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if u, d, ok := x.LastKnown("t", 0); !ok || u != 35 || d != 26 {
		t.Fatalf("LastKnown = %d, %d, %v; want 35, 26, true", u, d, ok)
	}
	if n := x.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2 runs", n)
	}
	if _, err := x.Translate("t", 1, 5); !errors.Is(err, offsets.ErrNoTranslation) {
		t.Fatalf("Translate of an unknown partition: %v", err)
	}
	if err := x.Add(ie(5, 5, 3, -1, 5)); !errors.Is(err, offsets.ErrInvalidIndexEntry) {
		t.Fatalf("Add(half-known previous record) = %v, want ErrInvalidIndexEntry", err)
	}
	// Adding after a Translate rebuilds.
	if err := x.Add(ie(40, 30, 39, 29, 45)); err != nil {
		t.Fatal(err)
	}
	if got, err := x.Translate("t", 0, 45); err != nil || got != (offsets.Translation{Upstream: 45, Downstream: 35, Exact: true}) {
		t.Fatalf("Translate(45) after Add = %+v, %v", got, err)
	}
}

// copyModel is a source partition copied by a sequence of task lifetimes
// that restart, crash, and lose index entries the way a real task can.
type copyModel struct {
	present []bool  // source: present[u] is a record that a read finds
	target  []int64 // target partition: target[d] is the upstream offset copied there
	durable []offsets.IndexEntry
	syncs   []offsets.OffsetSync

	tracker   *offsets.ShiftTracker
	part      *offsets.PartitionTracker
	pos       int64 // next offset the current lifetime reads
	committed int64 // source offset committed last; -1 none
	lastAck   int64 // last acknowledged upstream offset of the lifetime; -1 none
	logStart  int64
	produced  []offsets.IndexEntry // entries handed to the index producer since the last flush
}

func (m *copyModel) start(lagMax int64) {
	m.tracker = offsets.NewShiftTracker(lagMax, true)
	m.part = m.tracker.Partition("t", 0)
	m.pos = max(m.committed+1, m.logStart)
	m.lastAck = -1
	m.produced = nil
}

// copyN reads up to n offsets and copies the records among them.
func (m *copyModel) copyN(n int) {
	for ; n > 0 && m.pos < int64(len(m.present)); n-- {
		if m.present[m.pos] {
			d := int64(len(m.target))
			m.target = append(m.target, m.pos)
			m.part.Acked(m.pos, d)
			m.lastAck = m.pos
		}
		m.pos++
	}
}

// poll hands queued entries and syncs to the producers, as Poll does.
func (m *copyModel) poll() {
	m.produced = m.tracker.TakeEntries(m.produced)
	m.syncs = m.tracker.TakeSyncs(m.syncs)
}

// commit is Committer.Commit then the source-offset commit.
func (m *copyModel) commit() {
	acked := m.lastAck // the runner reads the acknowledged offset first
	m.tracker.Commit()
	m.poll()
	m.durable = append(m.durable, m.produced...) // flushed
	m.produced = m.produced[:0]
	if acked >= 0 {
		m.committed = acked
	}
}

// crash ends the lifetime without a commit: a prefix of what was produced
// since the last flush reached the index topic.
func (m *copyModel) crash(keep int) {
	m.poll()
	m.durable = append(m.durable, m.produced[:min(keep, len(m.produced))]...)
}

// TestIndex_Property copies a source partition through random lifetimes
// (copies, gaps, compaction between reads, retention, graceful restarts,
// crashes that lose unflushed entries), then checks every translation
// against where the records really went.
func TestIndex_Property(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &copyModel{committed: -1}
		lagMax := rapid.Int64Range(0, 8).Draw(t, "lagMax")
		grow := func() {
			n := rapid.IntRange(0, 30).Draw(t, "produce")
			gapPct := rapid.IntRange(0, 60).Draw(t, "gapPct")
			for range n {
				m.present = append(m.present, rapid.IntRange(0, 99).Draw(t, "roll") >= gapPct)
			}
		}
		grow()
		m.start(lagMax)
		for range rapid.IntRange(0, 40).Draw(t, "steps") {
			switch rapid.IntRange(0, 7).Draw(t, "action") {
			case 0, 1:
				m.copyN(rapid.IntRange(1, 20).Draw(t, "copy"))
			case 2:
				m.poll()
			case 3:
				m.commit()
			case 4:
				grow()
			case 5: // compaction: records vanish, copied or not
				for range rapid.IntRange(1, 5).Draw(t, "removed") {
					if len(m.present) > 0 {
						m.present[rapid.IntRange(0, len(m.present)-1).Draw(t, "remove")] = false
					}
				}
			case 6: // retention
				if len(m.present) > 0 {
					m.logStart = max(m.logStart, rapid.Int64Range(0, int64(len(m.present))).Draw(t, "logStart"))
					for u := range m.logStart {
						m.present[u] = false
					}
				}
			case 7:
				if rapid.Bool().Draw(t, "graceful") {
					m.commit()
				} else {
					m.crash(rapid.IntRange(0, 10).Draw(t, "keep"))
				}
				m.start(lagMax)
			}
		}
		// A last lifetime catches up and stops gracefully.
		m.copyN(len(m.present))
		m.commit()
		m.poll()

		for _, s := range m.syncs {
			if s.DownstreamOffset >= int64(len(m.target)) || m.target[s.DownstreamOffset] != s.UpstreamOffset {
				t.Fatalf("offset sync %d -> %d: the target record there is not a copy of it", s.UpstreamOffset, s.DownstreamOffset)
			}
		}
		x := offsets.NewIndex()
		for _, e := range m.durable {
			if err := x.Add(e); err != nil {
				t.Fatalf("Add(%+v): %v", e, err)
			}
		}
		latest := make(map[int64]int64) // upstream -> downstream of its latest copy
		for d, u := range m.target {
			latest[u] = int64(d)
		}
		for u := int64(0); u < int64(len(m.present))+3; u++ {
			retained := u < int64(len(m.present)) && m.present[u]
			tr, err := x.Translate("t", 0, u)
			if err != nil {
				if !errors.Is(err, offsets.ErrNoTranslation) {
					t.Fatalf("Translate(%d): %v", u, err)
				}
				for r := int64(0); r <= u && r < int64(len(m.present)); r++ {
					if m.present[r] {
						t.Fatalf("Translate(%d): %v, but record %d is retained and copied", u, err, r)
					}
				}
				continue
			}
			if !tr.Exact {
				if tr.Upstream != u || m.lastAck >= 0 && u <= m.lastAck {
					t.Fatalf("Translate(%d) = %+v: inexact, last lifetime acknowledged up to %d", u, tr, m.lastAck)
				}
				if retained {
					t.Fatalf("Translate(%d) = %+v: inexact for a retained record", u, tr)
				}
				continue
			}
			if tr.Upstream < u || tr.Downstream >= int64(len(m.target)) || m.target[tr.Downstream] != tr.Upstream {
				t.Fatalf("Translate(%d) = %+v: the target record there came from %v", u, tr, targetAt(m.target, tr.Downstream))
			}
			if retained && (tr.Upstream != u || tr.Downstream != latest[u]) {
				t.Fatalf("Translate(%d) = %+v, want the latest copy at %d", u, tr, latest[u])
			}
			for r := u; r < tr.Upstream; r++ {
				if r < int64(len(m.present)) && m.present[r] {
					t.Fatalf("Translate(%d) = %+v skips retained record %d", u, tr, r)
				}
			}
		}
	})
}

func targetAt(target []int64, d int64) any {
	if d < 0 || d >= int64(len(target)) {
		return "nothing (past the end)"
	}
	return target[d]
}
