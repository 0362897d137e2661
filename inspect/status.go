package inspect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
)

// Partition and flow states, worst last. A flow's state is the worst of its
// partitions' (and StateStopped when the worker reports it stopped).
const (
	// StateCaughtUp: every record of the source partition is confirmed on
	// the target.
	StateCaughtUp = "caught_up"
	// StateCopying: records are behind and the worker reports the flow
	// running, or the copy moved since the previous look.
	StateCopying = "copying"
	// StateBehind: records are behind; nothing says whether the copy moves
	// (one look, no worker asked).
	StateBehind = "behind"
	// StateNotStarted: records are behind and the worker has committed no
	// source offset for the partition yet.
	StateNotStarted = "not_started"
	// StateStalled: records are behind and the committed source offset has
	// not moved for three offset-flush intervals.
	StateStalled = "stalled"
	// StateBlocked: the worker reports the partition stopped at a record
	// the target refuses.
	StateBlocked = "blocked"
	// StateStopped: the worker reports the flow's source connector or the
	// task failed or not running.
	StateStopped = "stopped"
	// StateUnknown: the partition's offsets could not be read.
	StateUnknown = "unknown"
)

var stateRank = map[string]int{
	StateCaughtUp: 0, StateCopying: 1, StateBehind: 2, StateNotStarted: 3,
	StateStalled: 4, StateBlocked: 5, StateStopped: 6, StateUnknown: 7,
}

// FlowStatus is how far one flow's copy is, read from its clusters (and a
// worker's REST status when given).
type FlowStatus struct {
	Flow   string    `json:"flow"`
	Source string    `json:"source"`
	Target string    `json:"target"`
	Time   time.Time `json:"time"`
	// State is the worst state of the flow's partitions, or StateStopped
	// when the worker reports the flow not running.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Summary adds up the partitions.
	Summary Summary `json:"summary"`
	// RPO is what a failover now would lose: records not yet confirmed on
	// the target, and the age of the oldest of them.
	RPO RPO `json:"rpo"`
	// Worker is what the worker's REST API said of the flow, when asked.
	Worker *FlowWorker `json:"worker,omitempty"`
	// Partitions are the source partitions the flow copies, sorted.
	Partitions []PartitionStatus `json:"partitions"`
	// Groups are the consumer groups the flow checkpoints, sorted; nil
	// when not asked for.
	Groups []GroupStatus `json:"groups"`
	// Warnings are things that limit what the status can tell.
	Warnings []string `json:"warnings,omitempty"`
}

// Summary adds up a flow's partitions.
type Summary struct {
	Partitions       int     `json:"partitions"`
	CaughtUp         int     `json:"caught_up"`
	RecordsBehind    int64   `json:"records_behind"`
	MaxSecondsBehind float64 `json:"max_seconds_behind"`
	// LostRecords are source records deleted before they were copied
	// that the status sees (LostRecords of the partitions).
	LostRecords int64 `json:"lost_records"`
	// WorkerLostRecords are the records the worker reported lost since it
	// started (records_lost of its source tasks); -1 when not asked.
	WorkerLostRecords int64 `json:"worker_lost_records"`
}

// RPO is a recovery-point estimate: what a failover now would lose or
// re-read.
type RPO struct {
	Records int64   `json:"records"`
	Seconds float64 `json:"seconds"`
}

// PartitionStatus is the copy of one source partition.
type PartitionStatus struct {
	Topic       string `json:"topic"`
	TargetTopic string `json:"target_topic"`
	Partition   int32  `json:"partition"`
	// SourceStart and SourceEnd are the source partition's log start and
	// end offsets (the last stable offset when the flow reads
	// read_committed).
	SourceStart int64 `json:"source_start_offset"`
	SourceEnd   int64 `json:"source_end_offset"`
	// TargetEnd is the target partition's end offset, -1 when it does not
	// exist.
	TargetEnd int64 `json:"target_end_offset"`
	// Committed is the last source offset the worker committed as copied
	// (the Connect offsets topic; MM2 stores the last copied record), -1
	// when none. It trails the copy by up to one offset-flush interval.
	Committed int64 `json:"committed_offset"`
	// RecordsBehind is how many source records are not confirmed on the
	// target: from the first offset after Committed to SourceEnd, without
	// transaction markers and compaction gaps where the read of the tail
	// saw them (RecordsBehindExact), counting offsets beyond. It is the
	// partition's RPO in records.
	RecordsBehind      int64 `json:"records_behind"`
	RecordsBehindExact bool  `json:"records_behind_exact"`
	// SecondsBehind is the age of the oldest record not confirmed on the
	// target (its timestamp against now): the partition's RPO in seconds.
	// 0 when caught up, -1 when it could not be read.
	SecondsBehind float64 `json:"seconds_behind"`
	// OldestUncopied is that record, when read.
	OldestUncopied *RecordRef `json:"oldest_uncopied,omitempty"`
	// LostRecords counts source offsets deleted (retention) after the
	// last committed one and before the worker copied them: records lost
	// to the target, unless they were copied since the last commit. The
	// worker reports them too when it reaches them.
	LostRecords int64  `json:"lost_records"`
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
}

// RecordRef is a record's offset and timestamp.
type RecordRef struct {
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
}

// StatusOptions narrow and enrich a Status.
type StatusOptions struct {
	// Topics, when set, keeps only source topics whose whole name it
	// matches.
	Topics *regexp.Regexp
	// Groups, when set, keeps only groups whose whole name it matches.
	Groups *regexp.Regexp
	// NoGroups leaves groups out (Groups is nil in the result).
	NoGroups bool
	// Heartbeats includes the heartbeats topics the flow copies. They are
	// left out by default: MM2's own liveness records, written every
	// second, so always a second or so from caught up.
	Heartbeats bool
	// Worker is a worker's REST status (FetchWorkerStatus), nil when none
	// was asked.
	Worker *WorkerStatus
	// ReadTimeout bounds the read of the oldest uncopied records; 0 means
	// 10s. Partitions not read by then have SecondsBehind -1.
	ReadTimeout time.Duration
}

// defaultFlushInterval is the worker's offset.flush.interval.ms default.
const defaultFlushInterval = 5 * time.Second

// stallAfter is how long a partition that is behind may keep its committed
// offset before it counts as stalled: three flush intervals and a margin.
func (in *Inspector) stallAfter() time.Duration {
	return 3*cmp.Or(in.flow.FlushInterval, defaultFlushInterval) + 2*time.Second
}

// Status reads how far the flow's copy is: per source partition, records
// and seconds behind, lost records and a state; per group, checkpoints and
// target offsets (see GroupStatus). It reads the clusters only (and uses a
// worker's REST status when opts.Worker is set), so it works with no worker
// running; many partitions cost a few batched requests: one ListOffsets per
// broker and side, one fetch per broker for the oldest uncopied records.
//
// It fails when a cluster cannot be asked for its topics, offsets or the
// flow's state topics; a partition whose offsets the source refuses is
// returned with StateUnknown and the reason.
func (in *Inspector) Status(ctx context.Context, opts StatusOptions) (*FlowStatus, error) {
	fl := in.flow
	now := in.now()
	st := &FlowStatus{Flow: fl.Name(), Source: fl.Source, Target: fl.Target, Time: now,
		Partitions: []PartitionStatus{}}
	st.Summary.WorkerLostRecords = -1

	var err error
	if st.Partitions, err = in.listPartitions(ctx, opts.Topics, opts.Heartbeats); err != nil {
		return nil, err
	}
	if !in.offsetsSeen {
		st.Warnings = append(st.Warnings, fmt.Sprintf("the Connect offsets topic %s does not exist on %s: no worker has run this flow yet", fl.OffsetsTopic, fl.Target))
	}
	if len(st.Partitions) > 0 {
		in.readTails(ctx, st, cmp.Or(opts.ReadTimeout, 10*time.Second))
	}
	worker := in.applyWorker(st, opts.Worker)
	in.setStates(st, worker, now)
	if !opts.NoGroups {
		if st.Groups, err = in.groupStatus(ctx, opts, now); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// matches reports whether re (nil: anything) matches the whole of s.
func matches(re *regexp.Regexp, s string) bool { return re == nil || re.MatchString(s) }

// WholeName compiles a regular expression that must match whole names, as
// the --topics and --groups flags take it.
func WholeName(expr string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + expr + ")$")
}

// catchUpCommitted reads what was written to the Connect offsets topic
// since the last call.
func (in *Inspector) catchUpCommitted(ctx context.Context) error {
	err := in.offsetsTail.CatchUp(ctx, in.applyOffsetRecord)
	switch {
	case errors.Is(err, kread.ErrTopicNotFound):
		in.offsetsSeen = false
		return nil
	case err != nil:
		return fmt.Errorf("read source offsets from %s on %s: %w", in.flow.OffsetsTopic, in.flow.Target, err)
	}
	in.offsetsSeen = true
	return nil
}

// listPartitions lists the source partitions the flow copies (of the topics
// re matches; heartbeats topics only with heartbeats), sorted, with the log
// start and end offsets of both sides and the committed source offsets: one
// metadata request, three ListOffsets rounds of one request per broker
// each, and what was written to the Connect offsets topic since the last
// call.
func (in *Inspector) listPartitions(ctx context.Context, re *regexp.Regexp, heartbeats bool) ([]PartitionStatus, error) {
	fl := in.flow
	details, err := in.srcAdm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics on %s: %w", fl.Source, err)
	}
	parts := []PartitionStatus{}
	var names, remote []string
	for _, d := range details.Sorted() {
		if d.Err != nil || d.IsInternal || !fl.replicates(d.Topic) || !matches(re, d.Topic) ||
			!heartbeats && fl.Policy.IsHeartbeatsTopic(d.Topic) {
			continue
		}
		names = append(names, d.Topic)
		remote = append(remote, fl.RemoteTopic(d.Topic))
		for p := range int32(len(d.Partitions)) {
			parts = append(parts, PartitionStatus{
				Topic: d.Topic, TargetTopic: fl.RemoteTopic(d.Topic), Partition: p, TargetEnd: -1, Committed: -1,
			})
		}
	}
	if err := in.catchUpCommitted(ctx); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return parts, nil
	}
	starts, err := in.srcAdm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets on %s: %w", fl.Source, err)
	}
	list := in.srcAdm.ListEndOffsets
	if fl.ReadCommitted {
		list = in.srcAdm.ListCommittedOffsets
	}
	ends, err := list(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets on %s: %w", fl.Source, err)
	}
	tgtEnds, err := in.tgtAdm.ListEndOffsets(ctx, remote...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets on %s: %w", fl.Target, err)
	}
	for i := range parts {
		p := &parts[i]
		s, sok := starts.Lookup(p.Topic, p.Partition)
		e, eok := ends.Lookup(p.Topic, p.Partition)
		switch {
		case !sok || !eok:
			p.State, p.Reason = StateUnknown, "the source did not answer for its offsets"
			continue
		case s.Err != nil || e.Err != nil:
			p.State, p.Reason = StateUnknown, fmt.Sprintf("the source refused its offsets: %v", cmp.Or(s.Err, e.Err))
			continue
		}
		p.SourceStart, p.SourceEnd = s.Offset, e.Offset
		if t, ok := tgtEnds.Lookup(p.TargetTopic, p.Partition); ok && t.Err == nil {
			p.TargetEnd = t.Offset
		}
		if c, ok := in.committed[tp{p.Topic, p.Partition}]; ok {
			p.Committed = c
		}
	}
	return parts, nil
}

// from returns the first source offset of p not confirmed on the target,
// and how many offsets before it retention deleted before they were copied.
func (in *Inspector) from(p *PartitionStatus) (from, lost int64) {
	switch {
	case wentBack(p):
		// The source topic was deleted and re-created: the worker copies
		// the new one from its start.
		return p.SourceStart, 0
	case p.Committed < 0 && in.flow.StartAtEnd:
		// No commit: the copy starts at the end whenever it starts.
		return p.SourceEnd, 0
	case p.Committed < 0:
		return p.SourceStart, 0
	case p.SourceStart > p.Committed+1:
		return p.SourceStart, p.SourceStart - (p.Committed + 1)
	}
	return p.Committed + 1, 0
}

// wentBack reports that p's committed offset is past the source's end: the
// source topic was re-created since (offsets start over).
func wentBack(p *PartitionStatus) bool { return p.Committed >= 0 && p.Committed >= p.SourceEnd }

// tailRead is what readTails learned of one partition's uncopied tail.
type tailRead struct {
	from, end int64
	first     RecordRef // the first record (not a marker) at or after from
	found     bool
	records   int64 // records (not markers) seen in [from, end)
	next      int64 // offset after the last one seen
	err       error
}

// tailPartitionBytes is how much of each partition's uncopied tail one
// fetch brings: enough to count a short tail exactly, little enough that a
// fetch of thousands of partitions stays small.
const tailPartitionBytes = 256 << 10

// readTails reads, for every partition that is behind, the first records
// after the confirmed copy, all partitions in one consumer (one fetch per
// broker at a time): the oldest uncopied record's timestamp, and how many
// records, not counting transaction markers and compaction gaps, lie
// between the copy and the end when the first fetch reaches it.
func (in *Inspector) readTails(ctx context.Context, st *FlowStatus, timeout time.Duration) {
	reads := make(map[tp]*tailRead)
	start := make(map[string]map[int32]kgo.Offset)
	for i := range st.Partitions {
		p := &st.Partitions[i]
		if p.State == StateUnknown {
			continue
		}
		from, lost := in.from(p)
		p.LostRecords = lost
		if from >= p.SourceEnd {
			p.RecordsBehindExact = true
			continue
		}
		reads[tp{p.Topic, p.Partition}] = &tailRead{from: from, end: p.SourceEnd, next: from}
		if start[p.Topic] == nil {
			start[p.Topic] = make(map[int32]kgo.Offset)
		}
		start[p.Topic][p.Partition] = kgo.NewOffset().At(from)
	}
	if len(reads) > 0 {
		if err := in.fetchTails(ctx, start, reads, timeout); err != nil {
			st.Warnings = append(st.Warnings, err.Error())
		}
	}
	for i := range st.Partitions {
		p := &st.Partitions[i]
		r, ok := reads[tp{p.Topic, p.Partition}]
		if !ok {
			continue
		}
		switch {
		case r.err != nil:
			p.RecordsBehind, p.SecondsBehind = r.end-r.from, -1
			p.Reason = fmt.Sprintf("cannot read the uncopied records on %s: %v", in.flow.Source, r.err)
		case r.next >= r.end:
			p.RecordsBehind, p.RecordsBehindExact = r.records, true
		default:
			p.RecordsBehind = r.records + (r.end - r.next)
		}
		switch {
		case r.err != nil:
		case r.found:
			ref := r.first
			p.OldestUncopied = &ref
			p.SecondsBehind = max(0, st.Time.Sub(ref.Timestamp).Seconds())
		case r.next >= r.end:
			p.SecondsBehind = 0 // only markers or gaps
		default:
			p.SecondsBehind = -1
			p.Reason = fmt.Sprintf("the oldest uncopied record was not read within %v", timeout)
		}
	}
}

// fetchTails runs the consumer of readTails until every partition of reads
// has its first record, reached its end, or failed, or timeout passed.
func (in *Inspector) fetchTails(ctx context.Context, start map[string]map[int32]kgo.Offset, reads map[tp]*tailRead, timeout time.Duration) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), in.flow.SourceOpts...),
		kgo.ConsumePartitions(start),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // deleted meanwhile: what is left
		kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(tailPartitionBytes),
		kgo.FetchMaxBytes(32<<20),
	)...)
	if err != nil {
		return fmt.Errorf("read uncopied records on %s: new client: %w", in.flow.Source, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := len(reads)
	finish := func(topic string, partition int32, r *tailRead) {
		pending--
		cl.RemoveConsumePartitions(map[string][]int32{topic: {partition}})
	}
	done := make(map[tp]bool, len(reads))
	for pending > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			k := tp{topic, partition}
			r, ok := reads[k]
			if !ok || done[k] || kerr.IsRetriable(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			r.err, done[k] = err, true
			finish(topic, partition, r)
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			k := tp{fp.Topic, fp.Partition}
			r, ok := reads[k]
			if !ok || done[k] {
				return
			}
			for _, rec := range fp.Records {
				if rec.Offset < r.next {
					continue
				}
				if rec.Offset >= r.end {
					r.next = r.end
					break
				}
				r.next = rec.Offset + 1
				if rec.Attrs.IsControl() {
					continue
				}
				r.records++
				if !r.found {
					r.first, r.found = RecordRef{Offset: rec.Offset, Timestamp: rec.Timestamp}, true
				}
			}
			if fp.LogStartOffset > r.next && fp.LogStartOffset <= r.end {
				r.next = fp.LogStartOffset // deleted before it was read
			}
			// Done at the end, or once the oldest record is known: counting
			// a long tail exactly would mean reading all of it.
			if r.next >= r.end || r.found {
				done[k] = true
				finish(fp.Topic, fp.Partition, r)
			}
		})
	}
	return nil
}

// setStates gives every partition its state and reason, remembers progress
// for stall detection, and adds up the flow.
func (in *Inspector) setStates(st *FlowStatus, w *flowWorkerView, now time.Time) {
	stall := in.stallAfter()
	for i := range st.Partitions {
		p := &st.Partitions[i]
		k := tp{p.Topic, p.Partition}
		var reasons []string
		if p.Reason != "" {
			reasons = append(reasons, p.Reason)
		}
		if wentBack(p) {
			reasons = append(reasons, fmt.Sprintf("the committed source offset %d is past the source's end %d: the topic was re-created, and is copied again from its start", p.Committed, p.SourceEnd))
		}
		if p.LostRecords > 0 {
			first := p.Committed + 1
			reasons = append(reasons, fmt.Sprintf("%d record(s) at offsets %d..%d were deleted on the source before they were copied",
				p.LostRecords, first, first+p.LostRecords-1))
		}
		next, _ := in.from(p)
		mark, seen := in.progress[k]
		if !seen || mark.next != next {
			mark = progressMark{next: next, since: now}
			in.progress[k] = mark
		}
		moved := seen && mark.since.Equal(now)
		blocked := w.blocked(p.Topic, p.Partition)
		switch {
		case p.State == StateUnknown:
		case p.RecordsBehind == 0:
			p.State = StateCaughtUp
			if p.Committed < 0 && in.flow.StartAtEnd && p.SourceEnd > p.SourceStart {
				reasons = append(reasons, "consumer.auto.offset.reset=latest: records before the copy began are not copied")
			}
		case blocked != "":
			p.State = StateBlocked
			reasons = append(reasons, blocked)
		case w.stopped != "":
			p.State = StateStopped
			reasons = append(reasons, w.stopped)
		case p.Committed < 0 && p.LostRecords == 0:
			p.State = StateNotStarted
			reasons = append(reasons, "no source offset committed yet")
		case seen && !moved && now.Sub(mark.since) >= stall:
			p.State = StateStalled
			reasons = append(reasons, fmt.Sprintf("the committed source offset has not moved for %s", now.Sub(mark.since).Round(time.Second)))
		case moved || w.running:
			p.State = StateCopying
		default:
			p.State = StateBehind
		}
		p.Reason = strings.Join(reasons, "; ")
		st.Summary.Partitions++
		if p.State == StateCaughtUp {
			st.Summary.CaughtUp++
		}
		st.Summary.RecordsBehind += max(0, p.RecordsBehind)
		st.Summary.MaxSecondsBehind = max(st.Summary.MaxSecondsBehind, p.SecondsBehind)
		st.Summary.LostRecords += p.LostRecords
		if stateRank[p.State] > stateRank[st.State] || st.State == "" {
			st.State = p.State
		}
	}
	if st.State == "" {
		st.State = StateCaughtUp
	}
	if w.stopped != "" {
		st.State, st.Reason = StateStopped, w.stopped
	} else if w.degraded != "" {
		st.Reason = w.degraded
	}
	st.RPO = RPO{Records: st.Summary.RecordsBehind, Seconds: st.Summary.MaxSecondsBehind}
	if w.lost >= 0 {
		st.Summary.WorkerLostRecords = w.lost
	}
}

// Behind returns the partitions of st that are more than maxLag records
// behind, or in StateUnknown.
func (st *FlowStatus) Behind(maxLag int64) []PartitionStatus {
	var out []PartitionStatus
	for _, p := range st.Partitions {
		if p.State == StateUnknown || p.RecordsBehind > maxLag {
			out = append(out, p)
		}
	}
	return out
}
