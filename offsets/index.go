package offsets

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
)

// IndexTopic returns the name of mm2go's offset index topic for the flows
// from sourceAlias: "mm2go-offset-index.<source>.internal", on the target
// cluster. The ".internal" suffix makes it an internal topic by MM2's rules,
// so neither MM2 nor mm2go ever replicates it, whatever the separator.
func IndexTopic(sourceAlias string) string {
	return "mm2go-offset-index." + sourceAlias + ".internal"
}

// IndexEntry is a record of mm2go's offset index topic ([IndexTopic]). A
// source task writes one wherever the offset shift of a source partition
// changes, that is at the first record of a run: a stretch of records copied
// one after the other with consecutive offsets on both sides. Records
// Upstream, Upstream+1, ... were written at Downstream, Downstream+1, ...
// until the next entry of the same partition in target order.
//
// Key: topic STRING, partition INT32 (an [OffsetSync] key), upstream INT64.
// Value: version INT16 (0), upstream INT64, downstream INT64, prevUpstream
// INT64, prevDownstream INT64, lastUpstream INT64. Readers ignore bytes after
// the last field, as for MM2's records.
//
// The index topic is compacted. A run's entry is written again, with the same
// key, whenever its known extent grows, so compaction keeps one record per
// run. Two runs share a key only when a later task lifetime copied again from
// the upstream offset where an earlier one had begun a run after its last
// source-offset commit; the later run holds the later copy of those records,
// so compaction loses nothing that translation needs.
type IndexEntry struct {
	// Topic is the source-cluster topic name, not renamed.
	Topic string
	// Partition is the partition, the same on both sides.
	Partition int32
	// Upstream and Downstream are the source and target offsets of the run's
	// first record.
	Upstream, Downstream int64
	// PrevUpstream and PrevDownstream are the offsets of the record the same
	// task acknowledged just before this one, or -1 when unknown (the first
	// record of a task lifetime). They end the previous run exactly, which
	// tells a gap in the source from a run that went on. PrevDownstream at or
	// past Downstream means the target partition was truncated or re-created.
	PrevUpstream, PrevDownstream int64
	// LastUpstream is the upstream offset of the last record known to belong
	// to the run (at least Upstream): the task raises it at each
	// source-offset commit.
	LastUpstream int64
}

// indexValueVersion is the only version of an index entry value.
const indexValueVersion = 0

// AppendKey appends the record key of e to dst and returns the extended
// slice. It fails only when the topic is longer than [MaxStringLen] bytes,
// and then returns dst unchanged.
func (e IndexEntry) AppendKey(dst []byte) ([]byte, error) {
	dst, err := appendString(dst, e.Topic, "offset index key", "topic")
	if err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(e.Partition))
	return binary.BigEndian.AppendUint64(dst, uint64(e.Upstream)), nil
}

// AppendValue appends the record value of e to dst and returns the extended
// slice. It does not allocate when dst has 42 bytes of spare capacity.
func (e IndexEntry) AppendValue(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, indexValueVersion)
	for _, v := range [...]int64{e.Upstream, e.Downstream, e.PrevUpstream, e.PrevDownstream, e.LastUpstream} {
		dst = binary.BigEndian.AppendUint64(dst, uint64(v))
	}
	return dst
}

// Key returns the record key of e in a new slice; see AppendKey.
func (e IndexEntry) Key() ([]byte, error) { return e.AppendKey(make([]byte, 0, 14+len(e.Topic))) }

// Value returns the record value of e in a new slice.
func (e IndexEntry) Value() []byte { return e.AppendValue(make([]byte, 0, 42)) }

// check reports the first way in which e is not an entry a task could write.
func (e IndexEntry) check() error {
	switch {
	case e.Partition < 0:
		return fmt.Errorf("partition %d is negative", e.Partition)
	case e.Upstream < 0 || e.Downstream < 0:
		return fmt.Errorf("offsets %d -> %d: negative", e.Upstream, e.Downstream)
	case (e.PrevUpstream < 0 || e.PrevDownstream < 0) && (e.PrevUpstream != -1 || e.PrevDownstream != -1):
		return fmt.Errorf("previous record %d -> %d: want both offsets or both -1", e.PrevUpstream, e.PrevDownstream)
	case e.LastUpstream < e.Upstream:
		return fmt.Errorf("last upstream offset %d is before the first %d", e.LastUpstream, e.Upstream)
	}
	return nil
}

// ErrInvalidIndexEntry is wrapped by DecodeIndexEntry and Index.Add when an
// entry is well-formed but could not have been written by a task: negative
// offsets, a half-known previous record, a key that disagrees with the value.
var ErrInvalidIndexEntry = errors.New("invalid offset index entry")

// DecodeIndexEntry parses an index record's key and value. It never panics.
// Truncated input is an error wrapping [ErrTruncated] or [ErrNegativeLength];
// a version other than 0 an [*UnsupportedVersionError]; an entry no task
// could have written one wrapping [ErrInvalidIndexEntry].
func DecodeIndexEntry(key, value []byte) (IndexEntry, error) {
	var e IndexEntry
	d := decoder{b: key, what: "offset index key"}
	e.Topic = d.string("topic")
	e.Partition = d.int32("partition")
	keyUp := d.int64("upstream offset")
	if d.err != nil {
		return IndexEntry{}, d.err
	}
	d = decoder{b: value, what: "offset index value"}
	d.version("offset index entry")
	e.Upstream = d.int64("upstream offset")
	e.Downstream = d.int64("downstream offset")
	e.PrevUpstream = d.int64("previous upstream offset")
	e.PrevDownstream = d.int64("previous downstream offset")
	e.LastUpstream = d.int64("last upstream offset")
	if d.err != nil {
		return IndexEntry{}, d.err
	}
	if keyUp != e.Upstream {
		return IndexEntry{}, fmt.Errorf("decode offset index entry: key upstream offset %d, value %d: %w", keyUp, e.Upstream, ErrInvalidIndexEntry)
	}
	if err := e.check(); err != nil {
		return IndexEntry{}, fmt.Errorf("decode offset index entry: %v: %w", err, ErrInvalidIndexEntry)
	}
	return e, nil
}

// ErrNoTranslation is wrapped by Index.Translate when the index knows nothing
// at or below the offset in that partition: no record copied from it or from
// an earlier offset (the partition is not copied, or not yet, or only from a
// later offset, say after a takeover from Java MM2 or a start at the end).
var ErrNoTranslation = errors.New("no translation known")

// Translation is an upstream offset of a source partition translated to the
// target partition.
type Translation struct {
	// Upstream is the source offset that Downstream belongs to: the offset
	// asked for, or, when that fell in a gap of the source (records removed
	// by compaction or retention, transaction markers), the offset of the
	// next record copied after the gap.
	Upstream int64
	// Downstream is the target offset of the record copied from Upstream.
	Downstream int64
	// Exact reports that the index knows the record at Downstream is a copy
	// of the record at Upstream. It is false only when Upstream is past the
	// last record known in the partition's newest run (in target order) and
	// no other run knows it; Downstream is then the newest run's shift
	// applied to Upstream. That is right if the source had no gap and the
	// task no restart between the last known record and Upstream, and too
	// high otherwise, so a caller that must not skip records resumes from
	// LastKnown's downstream offset + 1 instead. A running task makes the
	// index know every record up to its committed source offsets, so only
	// records copied since the last commit, or not yet copied, are inexact.
	Exact bool
}

// Index answers, for any upstream offset of a copied source partition, which
// target offset holds its copy. Build it with LoadIndex from the index topic,
// or with Add from entries in the order they were written.
//
// Translate follows these rules, partition by partition:
//   - A record that was copied translates to its exact target offset; if it
//     was copied more than once (a task restarted and copied again from its
//     last committed offset), to the latest copy the index knows, from which
//     a consumer reads every later record.
//   - An offset in a gap (compaction, transaction markers, deleted records)
//     translates to the next copied record.
//   - An offset past the last known record translates by the newest run's
//     shift, with Exact false (see Translation).
//   - Nothing known at or below the offset: ErrNoTranslation.
//
// # Size
//
// The index holds one entry per run, that is per shift change: each task
// start copies a partition from its committed offset (one run), each stretch
// of records that compaction or retention removed before the copy (one run
// after it), and each transaction, since its commit or abort marker takes an
// offset on the source and none on the target. A non-transactional topic
// copied without gaps costs one entry per partition per task start, whatever
// its volume. A transactional producer that commits N transactions per
// second, each writing to one partition, costs 86,400·N entries a day: at 10
// transactions/s, 864,000 entries a day.
//
// An entry takes 14 + len(topic) bytes of key, 42 bytes of value and record
// framing: 71 bytes on disk for a 6-byte topic name without compression
// (measured, batch headers included); in batches of many entries 32 with
// snappy and 9 with zstd, which source tasks use (lingering up to 500 ms to
// fill batches) since consecutive entries differ in a few bytes. The 10
// transactions/s example thus writes 7.5 to 61 MB a day. Loaded, an entry
// takes 64 bytes of memory (40 for its run, 24 for its resolved range) plus
// slice growth: about 55 MB per day of that example. Each source-offset
// commit (every 5 s by default) also rewrites the current run of every
// partition that moved: up to 17,280 records per partition a day, which
// compaction folds into one per run.
//
// The index topic is compacted with no retention: it keeps every shift change
// for as long as it exists, far more history than MM2's offset syncs (one per
// partition after compaction) or MM2's 64 in-memory sync slots. To bound it,
// set cleanup.policy=compact,delete and retention.ms at least as long as the
// longest retention of the remote topics: entries of target records that
// retention already deleted are the only ones it then drops, since a run that
// is still growing is rewritten at every commit.
//
// An Index is safe for concurrent use.
type Index struct {
	mu      sync.Mutex // guards parts and skipped
	parts   map[trackedTP]*partIndex
	skipped int
}

// partIndex is the index of one source partition.
type partIndex struct {
	runs  []run     // target order once built; entries appended by Add after that
	dirty bool      // runs changed since segs was built
	segs  []segment // resolved: by upstream offset, disjoint, each offset mapped to its latest known copy
	ends  []int64   // ends[i]: the upstream offset of the last record known in runs[i]
	last  segment   // the newest run (highest downstream offset) and its known extent
}

// run is one entry: a run of records starting at u (upstream) and d
// (downstream), preceded in its task's stream by pu, pd (-1 unknown), known
// to extend at least to upstream offset last.
type run struct{ u, d, pu, pd, last int64 }

// segment says upstream offsets u..end are known to be at downstream d..
type segment struct{ u, end, d int64 }

// NewIndex returns an empty Index.
func NewIndex() *Index { return &Index{parts: make(map[trackedTP]*partIndex)} }

// Add adds an entry to the index. Add entries in the order they were written
// to the index topic: an entry that shows the target partition was truncated
// or re-created (PrevDownstream at or past Downstream) drops every entry of
// the partition added before it. An entry whose key (topic, partition,
// Upstream, Downstream) was added before only raises that run's
// LastUpstream. An invalid entry is refused with an error wrapping
// ErrInvalidIndexEntry.
func (x *Index) Add(e IndexEntry) error {
	if err := e.check(); err != nil {
		return fmt.Errorf("add offset index entry for %s[%d]: %v: %w", e.Topic, e.Partition, err, ErrInvalidIndexEntry)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	k := trackedTP{e.Topic, e.Partition}
	pi := x.parts[k]
	if pi == nil {
		pi = &partIndex{}
		x.parts[k] = pi
	}
	if e.PrevDownstream >= e.Downstream {
		pi.runs = pi.runs[:0]
	}
	pi.dirty = true
	// A run's extent is rewritten at every commit while it is the newest of
	// its partition, so the entry it repeats is nearly always the last one.
	if n := len(pi.runs); n > 0 && pi.runs[n-1].u == e.Upstream && pi.runs[n-1].d == e.Downstream {
		pi.runs[n-1].last = max(pi.runs[n-1].last, e.LastUpstream)
		return nil
	}
	pi.runs = append(pi.runs, run{u: e.Upstream, d: e.Downstream, pu: e.PrevUpstream, pd: e.PrevDownstream, last: e.LastUpstream})
	return nil
}

// build puts the runs in target order, merges repeated entries, works out how
// far each run is known to go, and resolves which copy each upstream offset
// translates to.
func (pi *partIndex) build() {
	if !pi.dirty {
		return
	}
	pi.dirty = false
	slices.SortStableFunc(pi.runs, func(a, b run) int { return cmp.Compare(a.d, b.d) })
	runs := pi.runs[:0]
	for _, r := range pi.runs {
		if n := len(runs); n > 0 && runs[n-1].d == r.d {
			if runs[n-1].u == r.u {
				runs[n-1].last = max(runs[n-1].last, r.last)
				if runs[n-1].pd < 0 {
					runs[n-1].pu, runs[n-1].pd = r.pu, r.pd
				}
			} else {
				runs[n-1] = r // two claims for one target offset: the later write wins
			}
			continue
		}
		runs = append(runs, r)
	}
	pi.runs = runs
	pi.segs = pi.segs[:0]
	pi.ends = pi.ends[:0]
	for i, r := range runs {
		known := max(r.u, r.last)
		if i+1 < len(runs) {
			next := runs[i+1]
			// The next entry's previous record lies inside this run: the
			// run went on, shift unchanged, exactly up to it.
			if next.pd >= r.d && next.pd < next.d && next.pu-r.u == next.pd-r.d {
				known = max(known, next.pu)
			}
			// Nothing of this run can sit at or past the next entry's
			// target offset.
			known = min(known, r.u+(next.d-1-r.d))
		}
		pi.ends = append(pi.ends, known)
		s := segment{u: r.u, end: known, d: r.d}
		pi.segs = overlay(pi.segs, s)
		pi.last = s
	}
}

// overlay adds s to segs (sorted by upstream offset, disjoint), replacing
// whatever segs said about s's offsets: s comes from a later copy.
func overlay(segs []segment, s segment) []segment {
	n := len(segs)
	if n == 0 || segs[n-1].end < s.u {
		return append(segs, s) // the common case: copies go forward
	}
	lo := sort.Search(n, func(i int) bool { return segs[i].end >= s.u })
	hi := sort.Search(n, func(i int) bool { return segs[i].u > s.end })
	var repl [3]segment
	k := 0
	if lo < hi && segs[lo].u < s.u {
		repl[k] = segment{u: segs[lo].u, end: s.u - 1, d: segs[lo].d}
		k++
	}
	repl[k] = s
	k++
	if lo < hi && segs[hi-1].end > s.end {
		r := segs[hi-1]
		repl[k] = segment{u: s.end + 1, end: r.end, d: r.d + (s.end + 1 - r.u)}
		k++
	}
	return slices.Replace(segs, lo, hi, repl[:k]...)
}

// Translate translates upstream, an offset of source partition (topic,
// partition), to the target partition, by the rules in the Index doc. When
// nothing is known at or below upstream it returns an error wrapping
// ErrNoTranslation.
func (x *Index) Translate(topic string, partition int32, upstream int64) (Translation, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	pi := x.parts[trackedTP{topic, partition}]
	if pi == nil || len(pi.runs) == 0 {
		return Translation{}, fmt.Errorf("translate %s[%d] offset %d: %w", topic, partition, upstream, ErrNoTranslation)
	}
	pi.build()
	segs := pi.segs
	i := sort.Search(len(segs), func(i int) bool { return segs[i].end >= upstream })
	switch {
	case i < len(segs) && segs[i].u <= upstream:
		return Translation{Upstream: upstream, Downstream: segs[i].d + (upstream - segs[i].u), Exact: true}, nil
	case pi.last.u <= upstream:
		// Past what the newest run is known to hold (it is never covered by
		// an older run, so upstream is past its known end).
		return Translation{Upstream: upstream, Downstream: pi.last.d + (upstream - pi.last.u)}, nil
	case i == 0:
		return Translation{}, fmt.Errorf("translate %s[%d] offset %d: %w", topic, partition, upstream, ErrNoTranslation)
	default:
		// A gap: every run that started at or before upstream is known to
		// have ended before it, and segs[i] holds the next copied record
		// (the newest run starts after upstream, so i < len(segs)).
		return Translation{Upstream: segs[i].u, Downstream: segs[i].d, Exact: true}, nil
	}
}

// LastKnown returns the last record known in the newest run (in target
// order) of a source partition: its upstream and downstream offsets. ok is
// false when the index has nothing for the partition. A caller that must not
// skip records and gets an inexact Translation resumes at downstream + 1.
func (x *Index) LastKnown(topic string, partition int32) (upstream, downstream int64, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	pi := x.parts[trackedTP{topic, partition}]
	if pi == nil || len(pi.runs) == 0 {
		return 0, 0, false
	}
	pi.build()
	return pi.last.end, pi.last.d + (pi.last.end - pi.last.u), true
}

// Topics returns the source topics the index knows a copied record of,
// sorted.
func (x *Index) Topics() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	seen := make(map[string]bool)
	var out []string
	for tp, pi := range x.parts {
		if len(pi.runs) > 0 && !seen[tp.topic] {
			seen[tp.topic] = true
			out = append(out, tp.topic)
		}
	}
	slices.Sort(out)
	return out
}

// Len returns the number of runs the index holds, repeated entries of a run
// counted once.
func (x *Index) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, pi := range x.parts {
		pi.build()
		n += len(pi.runs)
	}
	return n
}

// Skipped returns how many records LoadIndex skipped because they failed to
// decode.
func (x *Index) Skipped() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.skipped
}

// LoadIndex reads the offset index topic (IndexTopic(source) on the target
// cluster that opts reach) from its start to its current end and returns
// the index it holds. A topic that does not exist is an empty index: nothing
// has been copied yet. Records that fail to decode are skipped and counted
// (Index.Skipped); tombstones are ignored.
func LoadIndex(ctx context.Context, opts []kgo.Opt, topic string) (*Index, error) {
	x := NewIndex()
	err := kread.ReadToEnd(ctx, opts, topic, nil, func(r *kgo.Record) error {
		if r.Value == nil {
			return nil
		}
		e, err := DecodeIndexEntry(r.Key, r.Value)
		if err == nil {
			err = x.Add(e)
		}
		if err != nil {
			x.skipped++ // no other goroutine has x yet
		}
		return nil
	})
	if err != nil && !errors.Is(err, kread.ErrTopicNotFound) {
		return nil, fmt.Errorf("load offset index from %s: %w", topic, err)
	}
	return x, nil
}
