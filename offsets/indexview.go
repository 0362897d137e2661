package offsets

// IndexRun is one run of a source partition's offset index, as Index
// resolves it: records Upstream..KnownUpstream of the source partition were
// written at Downstream, Downstream+1, ... of the target partition, one
// after the other.
type IndexRun struct {
	// Upstream and Downstream are the source and target offsets of the
	// run's first record.
	Upstream, Downstream int64
	// PrevUpstream and PrevDownstream are those of the record the same task
	// acknowledged just before the run, -1 when unknown (the first record
	// of a task lifetime); see IndexEntry.
	PrevUpstream, PrevDownstream int64
	// KnownUpstream is the last upstream offset the run is known to hold:
	// the extent its task confirmed at a source-offset commit, or that the
	// next run's previous record shows, and never past the next run's
	// first target offset. Target offsets of the run past
	// Downstream+(KnownUpstream-Upstream) and before the next run were
	// written after the task's last commit, or by someone else.
	KnownUpstream int64
}

// Runs returns the runs the index holds for a source partition in target
// order (by Downstream), repeated entries of a run merged; nil when it has
// none. What a verifier needs to tell, for each target offset, which source
// record it should be a copy of.
func (x *Index) Runs(topic string, partition int32) []IndexRun {
	x.mu.Lock()
	defer x.mu.Unlock()
	pi := x.parts[trackedTP{topic, partition}]
	if pi == nil || len(pi.runs) == 0 {
		return nil
	}
	pi.build()
	out := make([]IndexRun, len(pi.runs))
	for i, r := range pi.runs {
		out[i] = IndexRun{Upstream: r.u, Downstream: r.d, PrevUpstream: r.pu, PrevDownstream: r.pd, KnownUpstream: pi.ends[i]}
	}
	return out
}

// IndexSegment says that upstream offsets Upstream..LastUpstream of a source
// partition have their latest known copies at Downstream,
// Downstream+1, ... of the target partition.
type IndexSegment struct {
	Upstream, LastUpstream, Downstream int64
}

// Segments returns what Translate answers exactly for a source partition:
// disjoint segments sorted by upstream offset, each upstream offset mapped
// to its latest known copy (in target order). Offsets between segments are
// gaps: no record known to be copied. nil when the index has nothing for the
// partition.
func (x *Index) Segments(topic string, partition int32) []IndexSegment {
	x.mu.Lock()
	defer x.mu.Unlock()
	pi := x.parts[trackedTP{topic, partition}]
	if pi == nil || len(pi.runs) == 0 {
		return nil
	}
	pi.build()
	out := make([]IndexSegment, len(pi.segs))
	for i, s := range pi.segs {
		out[i] = IndexSegment{Upstream: s.u, LastUpstream: s.end, Downstream: s.d}
	}
	return out
}
