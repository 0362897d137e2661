package inspect

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/offsets"
)

// Kinds of Difference.
const (
	// DiffMissing: a source record has no copy on the target.
	DiffMissing = "missing"
	// DiffDiffers: a source record's copy differs from it.
	DiffDiffers = "differs"
	// DiffExtra: a target record is not a copy of any source record.
	DiffExtra = "extra"
)

// VerifyOptions narrow and tune a Verify.
type VerifyOptions struct {
	// Topics, when set, keeps only source topics whose whole name it
	// matches.
	Topics *regexp.Regexp
	// Heartbeats includes the heartbeats topics the flow copies.
	Heartbeats bool
	// Parallel is how many partitions are compared at once; 0 means 4.
	Parallel int
	// MaxReported is how many differences are listed per partition (all
	// are counted); 0 means 100.
	MaxReported int
	// Progress, when set, is updated while Verify runs, for a progress
	// bar; read it from another goroutine.
	Progress *VerifyProgress
}

// VerifyProgress counts Verify's work as it goes.
type VerifyProgress struct {
	// Total is the number of source offsets to compare, known once the
	// partitions are planned; Done those compared so far.
	Total, Done atomic.Int64
	// Partitions and PartitionsDone count partitions.
	Partitions, PartitionsDone atomic.Int64
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Flow   string    `json:"flow"`
	Source string    `json:"source"`
	Target string    `json:"target"`
	Time   time.Time `json:"time"`
	// Clean is true when no record is missing, extra or different, and
	// every partition could be compared.
	Clean      bool              `json:"clean"`
	Totals     VerifyCounts      `json:"totals"`
	Partitions []PartitionVerify `json:"partitions"`
	// NotChecked says in words what was not compared, and why.
	NotChecked []string `json:"not_checked"`
}

// VerifyCounts count what a comparison found.
type VerifyCounts struct {
	// Compared are the source records whose latest copy was looked for;
	// Matched those whose copy is equal.
	Compared int64 `json:"compared"`
	Matched  int64 `json:"matched"`
	// Missing, Differing and Extra are the differences found.
	Missing   int64 `json:"missing"`
	Differing int64 `json:"differing"`
	Extra     int64 `json:"extra"`
	// Duplicates are earlier copies of a record equal to it: a task that
	// restarted copied it again (at-least-once). Not a difference.
	Duplicates int64 `json:"duplicates"`
	// Unchecked is what could not be compared.
	Unchecked Unchecked `json:"unchecked"`
}

// Unchecked counts offsets and records Verify could not compare, by reason.
type Unchecked struct {
	// SourceBeforeCopy: source offsets before the first record mm2go's
	// offset index knows as copied (copied by Java MM2 before mm2go took
	// over, or never: a copy that began at the end).
	SourceBeforeCopy int64 `json:"source_before_copy"`
	// SourceNotCopiedYet: source offsets after the last copy the worker
	// confirmed: the lag, which mm2go status reports.
	SourceNotCopiedYet int64 `json:"source_not_copied_yet"`
	// TargetBeforeCopy: target offsets before mm2go's copy (written by
	// another tool, or a copy of an earlier incarnation of the source
	// topic).
	TargetBeforeCopy int64 `json:"target_before_copy"`
	// TargetUnconfirmed: target offsets after the last confirmed copy
	// (copied since the last source-offset commit).
	TargetUnconfirmed int64 `json:"target_unconfirmed"`
	// TargetSourceGone: target records whose source record the source no
	// longer holds (retention, compaction).
	TargetSourceGone int64 `json:"target_source_gone"`
	// OutOfOrder: source records whose latest copy lies before a copy
	// already compared (a copy that went back); not compared.
	OutOfOrder int64 `json:"out_of_order"`
}

func (c *VerifyCounts) add(o VerifyCounts) {
	c.Compared += o.Compared
	c.Matched += o.Matched
	c.Missing += o.Missing
	c.Differing += o.Differing
	c.Extra += o.Extra
	c.Duplicates += o.Duplicates
	u, v := &c.Unchecked, o.Unchecked
	u.SourceBeforeCopy += v.SourceBeforeCopy
	u.SourceNotCopiedYet += v.SourceNotCopiedYet
	u.TargetBeforeCopy += v.TargetBeforeCopy
	u.TargetUnconfirmed += v.TargetUnconfirmed
	u.TargetSourceGone += v.TargetSourceGone
	u.OutOfOrder += v.OutOfOrder
}

// PartitionVerify is the comparison of one source partition with its copy.
type PartitionVerify struct {
	Topic       string `json:"topic"`
	TargetTopic string `json:"target_topic"`
	Partition   int32  `json:"partition"`
	// The log start and end offsets of both sides when Verify began; -1
	// for a target partition that does not exist.
	SourceStart int64 `json:"source_start_offset"`
	SourceEnd   int64 `json:"source_end_offset"`
	TargetStart int64 `json:"target_start_offset"`
	TargetEnd   int64 `json:"target_end_offset"`
	// CheckedFrom and CheckedTo bound the source offsets compared:
	// [CheckedFrom, CheckedTo), empty when they are equal.
	CheckedFrom int64 `json:"checked_from"`
	CheckedTo   int64 `json:"checked_to"`
	VerifyCounts
	// Differences lists the first MaxReported differences, in source
	// offset order.
	Differences []Difference `json:"differences"`
	// Note says why nothing or less was compared, when so.
	Note string `json:"note,omitempty"`
	// Error says why the comparison stopped.
	Error string `json:"error,omitempty"`
}

// Difference is one record that is not as it should be.
type Difference struct {
	Kind string `json:"kind"`
	// SourceOffset is the source record's offset, -1 for an extra record.
	SourceOffset int64 `json:"source_offset"`
	// TargetOffset is the target record's offset (where the copy should
	// be, for a missing record), -1 when there is none.
	TargetOffset int64  `json:"target_offset"`
	Detail       string `json:"detail"`
}

// Verify compares, for every partition the flow copies, the records both
// clusters still hold: each source record with its latest copy, found
// through the offset index (source offset -> exact target offset), on key,
// value, headers and timestamp (the timestamp only where the target keeps
// it: not under LogAppendTime; the mm2go-provenance header is left out).
// Target records that are not the latest copy of a source record must be an
// earlier copy of one (a task that restarted copied it again): equal ones
// count as duplicates, others as extra.
//
// Partitions are compared in parallel (opts.Parallel at a time), each as
// two streams read forward, so memory does not grow with a partition's
// size; earlier copies waiting for their source record are kept as 24-byte
// entries. What cannot be compared is counted in Unchecked: records the
// source no longer holds, records copied before mm2go's index began, and
// the tail not yet confirmed copied (the lag, reported as such, not as
// missing). The report is Clean when nothing is missing, extra or
// different and every partition was compared; it fails only when the
// clusters cannot be asked for the topics and offsets.
func (in *Inspector) Verify(ctx context.Context, opts VerifyOptions) (*VerifyReport, error) {
	fl := in.flow
	rep := &VerifyReport{Flow: fl.Name(), Source: fl.Source, Target: fl.Target, Time: in.now(),
		Partitions: []PartitionVerify{}, NotChecked: []string{}}
	parts, err := in.listPartitions(ctx, opts.Topics, opts.Heartbeats)
	if err != nil {
		return nil, err
	}
	if len(parts) > 0 {
		// Without the index nothing can be matched: say so, rather than
		// report every partition unchecked and the copy clean.
		details, err := in.tgtAdm.ListTopics(ctx, fl.IndexTopic)
		if err != nil {
			return nil, fmt.Errorf("look up the offset index %s on %s: %w", fl.IndexTopic, fl.Target, err)
		}
		switch d, ok := details[fl.IndexTopic]; {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			return nil, fmt.Errorf("verify %s: the offset index %s is not on %s (%w): has an mm2go worker copied this flow?",
				fl.Name(), fl.IndexTopic, fl.Target, offsets.ErrIndexNotFound)
		case d.Err != nil:
			return nil, fmt.Errorf("look up the offset index %s on %s: %w", fl.IndexTopic, fl.Target, d.Err)
		}
	}
	if err := in.index.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("read the offset index %s on %s: %w", fl.IndexTopic, fl.Target, err)
	}
	remote := make([]string, 0)
	for i, p := range parts {
		if i == 0 || parts[i-1].Topic != p.Topic {
			remote = append(remote, p.TargetTopic)
		}
	}
	tgtStarts, err := in.tgtAdm.ListStartOffsets(ctx, remote...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets on %s: %w", fl.Target, err)
	}
	ix := in.index.Index()
	plans := make([]*verifyPlan, 0, len(parts))
	for _, p := range parts {
		pv := PartitionVerify{Topic: p.Topic, TargetTopic: p.TargetTopic, Partition: p.Partition,
			SourceStart: p.SourceStart, SourceEnd: p.SourceEnd, TargetStart: -1, TargetEnd: p.TargetEnd, Differences: []Difference{}}
		if s, ok := tgtStarts.Lookup(p.TargetTopic, p.Partition); ok && s.Err == nil && p.TargetEnd >= 0 {
			pv.TargetStart = s.Offset
		}
		if p.State == StateUnknown {
			pv.Error = p.Reason
		}
		plans = append(plans, planPartition(pv, ix))
	}
	if opts.Progress != nil {
		opts.Progress.Partitions.Store(int64(len(plans)))
		var total int64
		for _, pl := range plans {
			total += pl.pv.CheckedTo - pl.pv.CheckedFrom
		}
		opts.Progress.Total.Store(total)
	}
	seed := maphash.MakeSeed()
	maxReported := cmp.Or(opts.MaxReported, 100)
	var next atomic.Int64
	var wg, closers sync.WaitGroup
	defer closers.Wait()
	for range min(cmp.Or(opts.Parallel, 4), len(plans)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(plans); i = int(next.Add(1) - 1) {
				pl := plans[i]
				if pl.pv.Error == "" && pl.pv.CheckedTo > pl.pv.CheckedFrom {
					w := &partitionWalk{plan: pl, seed: seed, maxReported: maxReported, progress: opts.Progress,
						srcOpts: fl.SourceOpts, tgtOpts: fl.TargetOpts, closers: &closers}
					if err := w.run(ctx); err != nil {
						pl.pv.Error = err.Error()
					}
				}
				if opts.Progress != nil {
					opts.Progress.PartitionsDone.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("verify %s: %w", fl.Name(), err)
	}
	rep.Clean = true
	for _, pl := range plans {
		pv := pl.pv
		rep.Totals.add(pv.VerifyCounts)
		if pv.Error != "" || pv.Missing+pv.Differing+pv.Extra > 0 {
			rep.Clean = false
		}
		rep.Partitions = append(rep.Partitions, *pv)
	}
	rep.NotChecked = notChecked(rep.Totals.Unchecked)
	return rep, nil
}

// notChecked says in words what the comparison left out.
func notChecked(u Unchecked) []string {
	out := []string{}
	for _, c := range []struct {
		n    int64
		what string
	}{
		{u.SourceBeforeCopy, "source offsets before the first record mm2go's offset index knows as copied (copied by another tool before mm2go, or never copied)"},
		{u.SourceNotCopiedYet, "source offsets not confirmed copied yet: the lag, which mm2go status reports"},
		{u.TargetBeforeCopy, "target offsets written before mm2go's copy (another tool, or an earlier incarnation of the source topic)"},
		{u.TargetUnconfirmed, "target offsets written after the last copy the worker confirmed"},
		{u.TargetSourceGone, "target records whose source record the source no longer holds (retention, compaction)"},
		{u.OutOfOrder, "source records whose latest copy lies before a copy already compared"},
	} {
		if c.n > 0 {
			out = append(out, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return out
}

// verifyPlan is what one partition's comparison walks.
type verifyPlan struct {
	pv *PartitionVerify
	// runs are the index's runs of the source topic's current
	// incarnation, in target order; segs their latest copies.
	runs []offsets.IndexRun
	segs []offsets.IndexSegment
	// The source offsets [pv.CheckedFrom, pv.CheckedTo) and target offsets
	// [ds, de) are walked.
	ds, de int64
}

// planPartition works out which offsets of a partition can be compared.
func planPartition(pv PartitionVerify, ix *offsets.Index) *verifyPlan {
	pl := &verifyPlan{pv: &pv}
	pv.CheckedFrom, pv.CheckedTo = pv.SourceStart, pv.SourceStart
	if pv.Error != "" {
		return pl
	}
	tgtStart, tgtEnd := max(pv.TargetStart, 0), max(pv.TargetEnd, 0)
	runs := ix.Runs(pv.Topic, pv.Partition)
	if len(runs) == 0 {
		pv.Unchecked.SourceBeforeCopy = pv.SourceEnd - pv.SourceStart
		pv.Unchecked.TargetBeforeCopy = tgtEnd - tgtStart
		if pv.SourceEnd > pv.SourceStart {
			pv.Note = "mm2go's offset index knows no copy of this partition"
		}
		return pl
	}
	// A run that starts at or before the previous run's start, or whose
	// previous record lies at or past its own start, begins a new
	// incarnation of the source topic (deleted and re-created, or copied
	// again from the start): the target records before it are copies of
	// records the source no longer has.
	i0 := 0
	for i := 1; i < len(runs); i++ {
		if runs[i].Upstream <= runs[i-1].Upstream || runs[i].PrevUpstream >= runs[i].Upstream {
			i0 = i
		}
	}
	cur := runs[i0:]
	first, last := cur[0], cur[len(cur)-1]
	pl.runs = cur
	for _, s := range ix.Segments(pv.Topic, pv.Partition) {
		if s.Downstream >= first.Downstream {
			pl.segs = append(pl.segs, s)
		}
	}
	lastCopy := last.Downstream + (last.KnownUpstream - last.Upstream)
	from := max(pv.SourceStart, first.Upstream)
	to := min(pv.SourceEnd, last.KnownUpstream+1)
	pv.Unchecked.SourceBeforeCopy = max(0, min(first.Upstream, pv.SourceEnd)-pv.SourceStart)
	pv.Unchecked.SourceNotCopiedYet = max(0, pv.SourceEnd-max(last.KnownUpstream+1, pv.SourceStart))
	pv.Unchecked.TargetBeforeCopy = max(0, min(first.Downstream, tgtEnd)-tgtStart)
	pv.Unchecked.TargetUnconfirmed = max(0, tgtEnd-max(lastCopy+1, tgtStart))
	pl.ds, pl.de = max(tgtStart, first.Downstream), min(tgtEnd, lastCopy+1)
	if from >= to {
		return pl
	}
	pv.CheckedFrom, pv.CheckedTo = from, to
	// Target records before the first retained source record's copy are
	// copies of records the source deleted: not read.
	if d, ok := firstCopyAtOrAfter(pl.segs, from); ok && d > pl.ds {
		pv.Unchecked.TargetSourceGone += min(d, pl.de) - pl.ds
		pl.ds = d
	}
	return pl
}

// firstCopyAtOrAfter returns the target offset of the latest copy of the
// first source offset at or after u that segs know.
func firstCopyAtOrAfter(segs []offsets.IndexSegment, u int64) (int64, bool) {
	i, _ := slices.BinarySearchFunc(segs, u, func(s offsets.IndexSegment, u int64) int { return cmp.Compare(s.LastUpstream, u) })
	if i == len(segs) {
		return 0, false
	}
	s := segs[i]
	return s.Downstream + max(0, u-s.Upstream), true
}

// partitionWalk compares one partition: it reads the source records in
// order, and for each looks for its latest copy on the target, reading the
// target forward too. Target records skipped on the way are earlier copies
// (or not copies at all), kept as pending entries until their source record
// comes by.
type partitionWalk struct {
	plan             *verifyPlan
	seed             maphash.Seed
	maxReported      int
	progress         *VerifyProgress
	srcOpts, tgtOpts []kgo.Opt
	closers          *sync.WaitGroup

	src, tgt   *partReader
	seg, runAt int // positions in plan.segs and plan.runs

	// confirmed are earlier copies the index ties to one source offset,
	// by that offset; loose are target records it cannot tie to one
	// (written after the last commit of a task that then died, or by
	// someone else), by content hash, matched by any later source record.
	confirmed pendingHeap
	loose     map[uint64][]pending
	nLoose    int
}

// pending is a target record waiting for the source record it copies.
type pending struct {
	d, claim int64
	hash     uint64
	ts       int64
	anyTS    bool // LogAppendTime: the timestamp is the target's own
}

type pendingHeap []pending

func (h pendingHeap) Len() int           { return len(h) }
func (h pendingHeap) Less(i, j int) bool { return h[i].claim < h[j].claim }
func (h pendingHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)        { *h = append(*h, x.(pending)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// maxPending bounds the earlier copies kept in memory per partition (24
// bytes each); past it they are counted as unchecked instead.
const maxPending = 4 << 20

func (w *partitionWalk) run(ctx context.Context) (err error) {
	pv := w.plan.pv
	if w.src, err = newPartReader(w.srcOpts, pv.Topic, pv.Partition, pv.CheckedFrom, pv.CheckedTo); err != nil {
		return fmt.Errorf("read %s[%d] on the source: %w", pv.Topic, pv.Partition, err)
	}
	defer w.src.close(w.closers)
	if w.tgt, err = newPartReader(w.tgtOpts, pv.TargetTopic, pv.Partition, w.plan.ds, w.plan.de); err != nil {
		return fmt.Errorf("read %s[%d] on the target: %w", pv.TargetTopic, pv.Partition, err)
	}
	defer w.tgt.close(w.closers)
	w.loose = make(map[uint64][]pending)
	var reported int64 = pv.CheckedFrom
	for {
		s, err := w.src.peek(ctx)
		if err != nil {
			return fmt.Errorf("read %s[%d] on the source: %w", pv.Topic, pv.Partition, err)
		}
		if s == nil {
			break
		}
		u := s.Offset
		w.settleBefore(u)
		if err := w.compareLatest(ctx, s); err != nil {
			return err
		}
		w.matchPending(s)
		w.src.pop()
		if w.progress != nil && u-reported >= 1024 {
			w.progress.Done.Add(u - reported)
			reported = u
		}
	}
	if w.src.stuckAt >= 0 {
		pv.Note = fmt.Sprintf("source offsets %d..%d could not be read (none came within %v)", w.src.stuckAt, pv.CheckedTo-1, readIdle)
	}
	// The target records after the last compared copy, up to the last
	// confirmed one, are earlier copies or extra.
	for {
		t, err := w.tgt.peek(ctx)
		if err != nil {
			return fmt.Errorf("read %s[%d] on the target: %w", pv.TargetTopic, pv.Partition, err)
		}
		if t == nil {
			break
		}
		w.hold(t)
		w.tgt.pop()
	}
	w.settleBefore(math.MaxInt64)
	var extra []pending
	for _, ps := range w.loose {
		extra = append(extra, ps...)
	}
	slices.SortFunc(extra, func(a, b pending) int { return cmp.Compare(a.d, b.d) })
	for _, p := range extra {
		w.diff(DiffExtra, -1, p.d, fmt.Sprintf("not a copy of any source record at or after offset %d", max(p.claim, pv.CheckedFrom)))
	}
	if w.progress != nil {
		w.progress.Done.Add(pv.CheckedTo - reported)
	}
	return nil
}

// latestCopy returns the target offset of the latest copy of source offset
// u, from the segments (walked forward as u grows).
func (w *partitionWalk) latestCopy(u int64) (int64, bool) {
	segs := w.plan.segs
	for w.seg < len(segs) && segs[w.seg].LastUpstream < u {
		w.seg++
	}
	if w.seg == len(segs) || segs[w.seg].Upstream > u {
		return 0, false
	}
	s := segs[w.seg]
	return s.Downstream + (u - s.Upstream), true
}

// compareLatest finds source record s's latest copy and compares it.
func (w *partitionWalk) compareLatest(ctx context.Context, s *kgo.Record) error {
	pv := w.plan.pv
	u := s.Offset
	pv.Compared++
	d, ok := w.latestCopy(u)
	switch {
	case !ok:
		w.diff(DiffMissing, u, -1, "not copied: the offset index knows no copy of this record")
		return nil
	case d < pv.TargetStart:
		w.diff(DiffMissing, u, d, fmt.Sprintf("deleted from the target (its log starts at %d)", pv.TargetStart))
		return nil
	case pv.TargetEnd < 0:
		w.diff(DiffMissing, u, d, "not on the target: the target partition does not exist")
		return nil
	case d >= w.plan.de:
		w.diff(DiffMissing, u, d, fmt.Sprintf("not on the target (its end offset is %d)", pv.TargetEnd))
		return nil
	case d < w.tgt.next:
		pv.Compared--
		pv.Unchecked.OutOfOrder++
		return nil
	}
	for {
		t, err := w.tgt.peek(ctx)
		if err != nil {
			return fmt.Errorf("read %s[%d] on the target: %w", pv.TargetTopic, pv.Partition, err)
		}
		switch {
		case t == nil || t.Offset > d:
			w.diff(DiffMissing, u, d, "not on the target: nothing at that offset")
			return nil
		case t.Offset < d:
			w.hold(t)
			w.tgt.pop()
		default:
			if why := differs(s, t); why != "" {
				w.diff(DiffDiffers, u, d, why)
			} else {
				pv.Matched++
			}
			w.tgt.pop()
			return nil
		}
	}
}

// hold keeps target record t, which is not the latest copy of the source
// record compared next, until the source record it copies comes by.
func (w *partitionWalk) hold(t *kgo.Record) {
	pv := w.plan.pv
	if w.confirmed.Len()+w.nLoose >= maxPending {
		pv.Unchecked.OutOfOrder++
		return
	}
	runs := w.plan.runs
	for w.runAt+1 < len(runs) && runs[w.runAt+1].Downstream <= t.Offset {
		w.runAt++
	}
	r := runs[w.runAt]
	p := pending{d: t.Offset, claim: r.Upstream + (t.Offset - r.Downstream), hash: w.hash(t),
		ts: t.Timestamp.UnixMilli(), anyTS: t.Attrs.TimestampType() == 1}
	if p.claim <= r.KnownUpstream {
		heap.Push(&w.confirmed, p)
		return
	}
	w.loose[p.hash] = append(w.loose[p.hash], p)
	w.nLoose++
}

// settleBefore settles the confirmed earlier copies of source offsets
// before u that no source record came by for: the source no longer holds
// them.
func (w *partitionWalk) settleBefore(u int64) {
	for w.confirmed.Len() > 0 && w.confirmed[0].claim < u {
		heap.Pop(&w.confirmed)
		w.plan.pv.Unchecked.TargetSourceGone++
	}
}

// matchPending compares the earlier copies waiting for source record s.
func (w *partitionWalk) matchPending(s *kgo.Record) {
	if w.confirmed.Len() == 0 && w.nLoose == 0 {
		return
	}
	pv := w.plan.pv
	h := w.hash(s)
	ts := s.Timestamp.UnixMilli()
	for w.confirmed.Len() > 0 && w.confirmed[0].claim == s.Offset {
		p := heap.Pop(&w.confirmed).(pending)
		if p.hash == h && (p.anyTS || p.ts == ts) {
			pv.Duplicates++
		} else {
			w.diff(DiffExtra, -1, p.d, fmt.Sprintf("an earlier copy of source offset %d by the offset index, but it differs from that record", s.Offset))
		}
	}
	if ps := w.loose[h]; len(ps) > 0 {
		for i, p := range ps {
			if p.claim <= s.Offset && (p.anyTS || p.ts == ts) {
				pv.Duplicates++
				w.nLoose--
				if len(ps) == 1 {
					delete(w.loose, h)
				} else {
					w.loose[h] = slices.Delete(ps, i, i+1)
				}
				break
			}
		}
	}
}

// diff counts a difference and lists it while there is room.
func (w *partitionWalk) diff(kind string, u, d int64, detail string) {
	pv := w.plan.pv
	switch kind {
	case DiffMissing:
		pv.Missing++
	case DiffDiffers:
		pv.Differing++
	case DiffExtra:
		pv.Extra++
	}
	if len(pv.Differences) < w.maxReported {
		pv.Differences = append(pv.Differences, Difference{Kind: kind, SourceOffset: u, TargetOffset: d, Detail: detail})
	}
}

// hash hashes what a copy keeps of a record but its timestamp: key, value
// (nil apart from empty) and headers, without mm2go's provenance header.
func (w *partitionWalk) hash(r *kgo.Record) uint64 {
	var h maphash.Hash
	h.SetSeed(w.seed)
	writeBytes := func(b []byte) {
		if b == nil {
			h.WriteByte(0)
			return
		}
		var n [9]byte
		n[0] = 1
		for i := range 8 {
			n[1+i] = byte(len(b) >> (8 * i))
		}
		h.Write(n[:])
		h.Write(b)
	}
	writeBytes(r.Key)
	writeBytes(r.Value)
	for _, hd := range r.Headers {
		if hd.Key == connectors.ProvenanceHeader {
			continue
		}
		writeBytes([]byte(hd.Key))
		writeBytes(hd.Value)
	}
	return h.Sum64()
}

// differs says how copy t differs from source record s, "" when it does
// not: key, value (nil apart from empty), headers (without mm2go's
// provenance header) and timestamp (unless the target topic stamps its
// own: LogAppendTime).
func differs(s, t *kgo.Record) string {
	switch {
	case !sameBytes(s.Key, t.Key):
		return "key differs"
	case !sameBytes(s.Value, t.Value):
		return "value differs"
	case t.Attrs.TimestampType() != 1 && !s.Timestamp.Equal(t.Timestamp):
		return fmt.Sprintf("timestamp differs: %d on the source, %d on the target", s.Timestamp.UnixMilli(), t.Timestamp.UnixMilli())
	}
	sh, th := withoutProvenance(s.Headers), withoutProvenance(t.Headers)
	if len(sh) != len(th) {
		return fmt.Sprintf("headers differ: %d on the source, %d on the target", len(sh), len(th))
	}
	for i := range sh {
		if sh[i].Key != th[i].Key || !sameBytes(sh[i].Value, th[i].Value) {
			return fmt.Sprintf("header %d (%q) differs", i, sh[i].Key)
		}
	}
	return ""
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// withoutProvenance returns hs without mm2go's provenance header, which a
// copy under the identity policy adds or extends. It allocates only when
// the header is there.
func withoutProvenance(hs []kgo.RecordHeader) []kgo.RecordHeader {
	for i := range hs {
		if hs[i].Key == connectors.ProvenanceHeader {
			return slices.DeleteFunc(slices.Clone(hs), func(h kgo.RecordHeader) bool { return h.Key == connectors.ProvenanceHeader })
		}
	}
	return hs
}

// readIdle is how long a partition reader waits for records it expects
// before it gives up on them (the log ends early: records deleted
// meanwhile); a variable for tests.
var readIdle = 30 * time.Second

// partReader reads one partition forward from one offset to an end offset,
// one fetch at a time, without transaction markers.
type partReader struct {
	cl      *kgo.Client
	end     int64
	buf     []*kgo.Record
	pos     int
	next    int64 // offset after the last record popped (or the start)
	stuckAt int64 // where reading gave up, -1 when it did not
}

func newPartReader(opts []kgo.Opt, topic string, partition int32, from, end int64) (*partReader, error) {
	r := &partReader{end: end, next: from, stuckAt: -1}
	if from >= end {
		return r, nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // deleted meanwhile: what is left
		kgo.FetchMaxBytes(8<<20),
		kgo.FetchMaxPartitionBytes(8<<20),
		// Reading stops at end, mostly the log's end, where the fetch kgo
		// keeps in flight waits: a short wait ends it soon after Close.
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	r.cl = cl
	return r, nil
}

// close closes the reader's client on closers: a client that read to the
// log's end closes only once its last fetch returns, which need not hold up
// the next partition.
func (r *partReader) close(closers *sync.WaitGroup) {
	if r.cl != nil {
		closers.Go(r.cl.Close)
	}
}

// peek returns the next record before end, nil at the end.
func (r *partReader) peek(ctx context.Context) (*kgo.Record, error) {
	for {
		for r.pos < len(r.buf) {
			rec := r.buf[r.pos]
			switch {
			case rec.Offset >= r.end:
				r.buf, r.pos, r.next = nil, 0, r.end
				return nil, nil
			case rec.Offset < r.next || rec.Attrs.IsControl():
				r.pos++
			default:
				return rec, nil
			}
		}
		if r.next >= r.end || r.stuckAt >= 0 {
			return nil, nil
		}
		pctx, cancel := context.WithTimeout(ctx, readIdle)
		fetches := r.cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !kerr.IsRetriable(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				ferr = errors.Join(ferr, err)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		r.buf, r.pos = fetches.Records(), 0
		if len(r.buf) == 0 && pctx.Err() != nil {
			r.stuckAt = r.next
		}
	}
}

// pop moves past the record peek returned.
func (r *partReader) pop() {
	r.next = r.buf[r.pos].Offset + 1
	r.pos++
}
