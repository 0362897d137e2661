package harness

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
)

// Rec is one record of a Log: where it is, its key (the record's id) and a
// checksum of what replication must keep (value, headers, timestamp).
type Rec struct {
	Offset int64
	Key    string
	Sum    uint64
}

// Log is a whole topic, partition by partition, in offset order.
type Log struct {
	Topic string
	Parts map[int32][]Rec
}

// Len is the number of records of every partition together.
func (l *Log) Len() int {
	n := 0
	for _, rs := range l.Parts {
		n += len(rs)
	}
	return n
}

// Append adds other's records after l's, partition by partition (the two
// generations of a re-created topic, as a target holds them).
func (l *Log) Append(other *Log) {
	for p, rs := range other.Parts {
		l.Parts[p] = append(l.Parts[p], rs...)
	}
}

// sum checksums a record's value, headers and timestamp.
func sum(r *kgo.Record) uint64 {
	h := fnv.New64a()
	var n [8]byte
	writeBytes := func(b []byte) {
		if b == nil {
			binary.LittleEndian.PutUint64(n[:], ^uint64(0))
		} else {
			binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		}
		h.Write(n[:])
		h.Write(b)
	}
	writeBytes(r.Value)
	for _, hd := range r.Headers {
		writeBytes([]byte(hd.Key))
		writeBytes(hd.Value)
	}
	binary.LittleEndian.PutUint64(n[:], uint64(r.Timestamp.UnixMilli()))
	h.Write(n[:])
	return h.Sum64()
}

// ReadTopic reads every record of topic that is on the cluster when it is
// called, from each partition's start to its end offset, as a
// read_uncommitted consumer sees them: records of aborted transactions too.
// Transaction markers are not in the Log.
func ReadTopic(ctx context.Context, opts []kgo.Opt, topic string) (*Log, error) {
	adm, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	log := &Log{Topic: topic, Parts: make(map[int32][]Rec)}
	want := make(map[int32]int64)
	start := make(map[int32]kgo.Offset)
	ends.Each(func(o kadm.ListedOffset) {
		log.Parts[o.Partition] = nil
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			start[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return log, nil
	}
	cl, err := kgo.NewClient(append(slices.Clone(opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.KeepControlRecords(), // markers take offsets: a log may end in one
		kgo.FetchMaxBytes(16<<20))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read %s: %w (still to read: %v)", topic, ctx.Err(), want)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("read %s[%d]: %w", t, p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				log.Parts[r.Partition] = append(log.Parts[r.Partition], Rec{Offset: r.Offset, Key: string(r.Key), Sum: sum(r)})
			}
			if r.Offset == end-1 {
				delete(want, r.Partition)
			}
		})
	}
	return log, nil
}

// ReadTopicCommitted reads topic as a read_committed consumer sees it: no
// records of aborted transactions, up to each partition's last stable
// offset when it is called.
func ReadTopicCommitted(ctx context.Context, opts []kgo.Opt, topic string) (*Log, error) {
	log := &Log{Topic: topic, Parts: make(map[int32][]Rec)}
	err := kread.ReadToEnd(ctx, opts, topic, nil, func(r *kgo.Record) error {
		log.Parts[r.Partition] = append(log.Parts[r.Partition], Rec{Offset: r.Offset, Key: string(r.Key), Sum: sum(r)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s read_committed: %w", topic, err)
	}
	return log, nil
}

// Span is an inclusive range of offsets.
type Span struct{ From, To int64 }

func (s Span) String() string {
	if s.From == s.To {
		return fmt.Sprint(s.From)
	}
	return fmt.Sprintf("%d-%d", s.From, s.To)
}

// Len is the number of offsets in the span.
func (s Span) Len() int64 { return s.To - s.From + 1 }

// KeySpan is a span of wanted records with the keys of its first and last.
type KeySpan struct {
	Span
	FirstKey, LastKey string
}

func (s KeySpan) String() string {
	if s.From == s.To {
		return fmt.Sprintf("%d (%s)", s.From, s.FirstKey)
	}
	return fmt.Sprintf("%s (%s .. %s)", s.Span, s.FirstKey, s.LastKey)
}

// DupSpan is a run of duplicates: got records Got repeat want records Want.
type DupSpan struct{ Got, Want Span }

// PartReport is how one partition of a copy compares with the original.
type PartReport struct {
	Partition int32
	Want, Got int
	// Missing are offsets (and keys) of wanted records that are not in the
	// copy.
	Missing []KeySpan
	// Duplicated are copies of records already in the copy before them.
	Duplicated []DupSpan
	// OutOfOrder are offsets (in the copy) of first copies that come after
	// the copy of a record that follows them in the original.
	OutOfOrder []Span
	// Foreign are offsets of records whose key is not in this partition of
	// the original.
	Foreign []Span
	// Changed are offsets of copies whose value, headers or timestamp
	// differ from the original's.
	Changed []Span
	// WantOf maps each record of the copy, in order, to the offset of the
	// original it copies (-1 for a foreign record).
	WantOf []int64
	// GotOffsets are the offsets of the copy's records, in order.
	GotOffsets []int64
}

// Counts returns the number of records missing, duplicated, out of order,
// foreign and changed.
func (pr *PartReport) Counts() (missing, duplicated, outOfOrder, foreign, changed int64) {
	for _, s := range pr.Missing {
		missing += s.Len()
	}
	for _, s := range pr.Duplicated {
		duplicated += s.Got.Len()
	}
	for _, s := range pr.OutOfOrder {
		outOfOrder += s.Len()
	}
	for _, s := range pr.Foreign {
		foreign += s.Len()
	}
	for _, s := range pr.Changed {
		changed += s.Len()
	}
	return
}

// Report compares a copy with its original, partition by partition.
type Report struct {
	Want, Got string // topic names
	Parts     []*PartReport
}

// Part is the report of partition p, nil if neither log has it.
func (r *Report) Part(p int32) *PartReport {
	for _, pr := range r.Parts {
		if pr.Partition == p {
			return pr
		}
	}
	return nil
}

// Totals sums the partitions' counts.
func (r *Report) Totals() (want, got int, missing, duplicated, outOfOrder, foreign, changed int64) {
	for _, pr := range r.Parts {
		m, d, o, f, c := pr.Counts()
		want += pr.Want
		got += pr.Got
		missing += m
		duplicated += d
		outOfOrder += o
		foreign += f
		changed += c
	}
	return
}

// Clean reports whether nothing is missing, out of order, foreign or
// changed; duplicates are judged by each scenario's bound.
func (r *Report) Clean() bool {
	_, _, m, _, o, f, c := r.Totals()
	return m == 0 && o == 0 && f == 0 && c == 0
}

// Summary is the report's one-line total.
func (r *Report) Summary() string {
	want, got, m, d, o, f, c := r.Totals()
	return fmt.Sprintf("%s -> %s: %d partitions, %d records wanted, %d copied: missing %d, duplicated %d, out of order %d, foreign %d, changed %d",
		r.Want, r.Got, len(r.Parts), want, got, m, d, o, f, c)
}

// String is the summary and a line per partition with every anomaly's
// exact offsets (the first 20 runs of each kind).
func (r *Report) String() string {
	var b strings.Builder
	b.WriteString(r.Summary())
	for _, pr := range r.Parts {
		m, d, o, f, c := pr.Counts()
		fmt.Fprintf(&b, "\n  [%d] wanted %d, copied %d: missing %d, duplicated %d, out of order %d, foreign %d, changed %d",
			pr.Partition, pr.Want, pr.Got, m, d, o, f, c)
		spans := func(what string, ss []Span) {
			if len(ss) > 0 {
				fmt.Fprintf(&b, "\n      %s at %s", what, joinSpans(ss, func(s Span) string { return s.String() }))
			}
		}
		if len(pr.Missing) > 0 {
			fmt.Fprintf(&b, "\n      missing: wanted offsets %s", joinSpans(pr.Missing, KeySpan.String))
		}
		if len(pr.Duplicated) > 0 {
			fmt.Fprintf(&b, "\n      duplicated: %s", joinSpans(pr.Duplicated, func(s DupSpan) string {
				return fmt.Sprintf("copy %s repeats wanted %s", s.Got, s.Want)
			}))
		}
		spans("out of order: copy offsets", pr.OutOfOrder)
		spans("foreign: copy offsets", pr.Foreign)
		spans("changed: copy offsets", pr.Changed)
	}
	return b.String()
}

func joinSpans[S any](ss []S, f func(S) string) string {
	const show = 20
	var parts []string
	for i, s := range ss {
		if i == show {
			parts = append(parts, fmt.Sprintf("... and %d more runs", len(ss)-show))
			break
		}
		parts = append(parts, f(s))
	}
	return strings.Join(parts, ", ")
}

// Compare compares got, a copy, with want, the original, partition for
// partition (mm2go keeps partition numbers). Records are matched by key:
// the k-th copy of a key matches the k-th record with that key in want; a
// copy beyond want's count is a duplicate.
func Compare(want, got *Log) *Report {
	r := &Report{Want: want.Topic, Got: got.Topic}
	parts := make(map[int32]bool)
	for p := range want.Parts {
		parts[p] = true
	}
	for p := range got.Parts {
		parts[p] = true
	}
	for _, p := range slices.Sorted(maps.Keys(parts)) {
		r.Parts = append(r.Parts, comparePart(p, want.Parts[p], got.Parts[p]))
	}
	return r
}

// spanAdder merges consecutive offsets into spans.
type spanAdder struct{ spans []Span }

func (a *spanAdder) add(off int64) {
	if n := len(a.spans); n > 0 && a.spans[n-1].To+1 == off {
		a.spans[n-1].To = off
		return
	}
	a.spans = append(a.spans, Span{off, off})
}

func comparePart(p int32, want, got []Rec) *PartReport {
	pr := &PartReport{Partition: p, Want: len(want), Got: len(got), WantOf: make([]int64, len(got)), GotOffsets: make([]int64, len(got))}
	idx := make(map[string][]int, len(want)) // key -> indexes in want
	for i, w := range want {
		idx[w.Key] = append(idx[w.Key], i)
	}
	seen := make(map[string]int, len(want))
	matched := make([]bool, len(want))
	var ooo, foreign, changed spanAdder
	maxIdx := -1
	lastDup := -2 // want index of the previous duplicate, to merge runs
	for gi, g := range got {
		pr.GotOffsets[gi] = g.Offset
		is := idx[g.Key]
		if len(is) == 0 {
			pr.WantOf[gi] = -1
			foreign.add(g.Offset)
			lastDup = -2
			continue
		}
		k := seen[g.Key]
		seen[g.Key]++
		if k >= len(is) {
			i := is[len(is)-1]
			pr.WantOf[gi] = want[i].Offset
			n := len(pr.Duplicated)
			if n > 0 && lastDup == i-1 && pr.Duplicated[n-1].Got.To+1 == g.Offset {
				pr.Duplicated[n-1].Got.To = g.Offset
				pr.Duplicated[n-1].Want.To = want[i].Offset
			} else {
				pr.Duplicated = append(pr.Duplicated, DupSpan{Got: Span{g.Offset, g.Offset}, Want: Span{want[i].Offset, want[i].Offset}})
			}
			lastDup = i
			if g.Sum != want[i].Sum {
				changed.add(g.Offset)
			}
			continue
		}
		lastDup = -2
		i := is[k]
		pr.WantOf[gi] = want[i].Offset
		matched[i] = true
		if g.Sum != want[i].Sum {
			changed.add(g.Offset)
		}
		if i < maxIdx {
			ooo.add(g.Offset)
		} else {
			maxIdx = i
		}
	}
	var missing []KeySpan
	for i, m := range matched {
		if m {
			continue
		}
		if n := len(missing); n > 0 && i > 0 && !matched[i-1] {
			missing[n-1].To, missing[n-1].LastKey = want[i].Offset, want[i].Key
			continue
		}
		missing = append(missing, KeySpan{Span{want[i].Offset, want[i].Offset}, want[i].Key, want[i].Key})
	}
	pr.Missing, pr.OutOfOrder, pr.Foreign, pr.Changed = missing, ooo.spans, foreign.spans, changed.spans
	return pr
}
