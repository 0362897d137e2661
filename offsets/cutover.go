package offsets

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/internal/ktopic"
)

// This file is a guided cut-over: moving consumer groups from a flow's
// source to its target while the flow runs, with every step checked and
// recorded in Kafka so that an interrupted cut-over resumes where it
// stopped.
//
//	ready      the group has no members on the source, the records of its
//	           partitions not yet on the target are at most MaxLag, and
//	           Verify (if any) is clean. Its committed source offsets are
//	           recorded: from here on it must not move on the source.
//	caught-up  the copy reached those offsets and the index knows it: every
//	           partition translates exactly. Waits for it, showing progress.
//	committed  the exact offsets are committed into the group on the target
//	           (never into a group with members there, never backwards).
//
// A consumer of the group started on the target after "committed" reads
// exactly what it had not read on the source: nothing twice, nothing
// skipped.

// CutoverTopic returns the name of the topic on the target where cut-overs
// of groups from sourceAlias record their steps:
// "mm2go-cutover.<source>.internal", compacted, one partition, one record
// per group and step. The ".internal" suffix keeps MM2 and mm2go from
// replicating it.
func CutoverTopic(sourceAlias string) string {
	return "mm2go-cutover." + sourceAlias + ".internal"
}

// CutoverStep names a step of a cut-over.
type CutoverStep string

// The steps of a cut-over, in order.
const (
	CutoverReady     CutoverStep = "ready"
	CutoverCaughtUp  CutoverStep = "caught-up"
	CutoverCommitted CutoverStep = "committed"
)

// CutoverSteps are the steps in the order Cutover takes them.
var CutoverSteps = []CutoverStep{CutoverReady, CutoverCaughtUp, CutoverCommitted}

// CutoverStatus is what happened to a step in one run of Cutover.
type CutoverStatus string

const (
	// StepDone: the step was done now and recorded.
	StepDone CutoverStatus = "done"
	// StepResumed: an earlier run recorded the step; it was not done again.
	StepResumed CutoverStatus = "resumed"
	// StepWaiting: the step waits (for the copy to catch up); sent to
	// Progress while it does.
	StepWaiting CutoverStatus = "waiting"
	// StepDryRun: with DryRun, what the step would do now; nothing recorded
	// or committed.
	StepDryRun CutoverStatus = "dry-run"
	// StepFailed: the step could not be done; GroupCutover.Err says why.
	StepFailed CutoverStatus = "failed"
)

// CutoverOffset is one partition of a group in a recorded step.
type CutoverOffset struct {
	SourceTopic  string `json:"source_topic"`
	TargetTopic  string `json:"target_topic"`
	Partition    int32  `json:"partition"`
	SourceOffset int64  `json:"source_offset"`
	// TargetOffset is the translation when the step was recorded; exact
	// from "caught-up" on. -1: none yet.
	TargetOffset int64 `json:"target_offset"`
	Exact        bool  `json:"exact"`
}

// CutoverRecord is the value of a record of the cut-over topic: a step of a
// group's cut-over, done. Its key is the JSON {"group": ..., "step": ...}.
// Both are JSON so an operator can read them with any Kafka tool.
type CutoverRecord struct {
	Source  string          `json:"source"`
	Target  string          `json:"target"`
	Group   string          `json:"group"`
	Step    CutoverStep     `json:"step"`
	At      time.Time       `json:"at"`
	Detail  string          `json:"detail,omitempty"`
	Offsets []CutoverOffset `json:"offsets"`
}

type cutoverKey struct {
	Group string      `json:"group"`
	Step  CutoverStep `json:"step"`
}

// Key returns the record key of r.
func (r CutoverRecord) Key() []byte {
	k, _ := json.Marshal(cutoverKey{r.Group, r.Step}) // strings only: never fails
	return k
}

// DecodeCutoverKey parses a cut-over record key.
func DecodeCutoverKey(key []byte) (group string, step CutoverStep, err error) {
	var k cutoverKey
	dec := json.NewDecoder(bytes.NewReader(key))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil || k.Group == "" || k.Step == "" {
		return "", "", fmt.Errorf("decode cut-over key %q: not {\"group\":...,\"step\":...}", key)
	}
	return k.Group, k.Step, nil
}

// CutoverEvent is what Cutover reports of a step: to Progress as it goes,
// and the last one of each step in GroupCutover.Steps.
type CutoverEvent struct {
	Group  string        `json:"group"`
	Step   CutoverStep   `json:"step"`
	Status CutoverStatus `json:"status"`
	// At is when the step was recorded (done now or resumed), or when the
	// event was sent.
	At     time.Time       `json:"at"`
	Detail string          `json:"detail"`
	Offset []CutoverOffset `json:"offsets,omitempty"`
}

// GroupCutover is the outcome of one group's cut-over.
type GroupCutover struct {
	Group string `json:"group"`
	// Steps has the last event of each step reached, in order.
	Steps []CutoverEvent `json:"steps"`
	// Commit is what the committed step did on the target, when it ran.
	Commit *CommitResult `json:"-"`
	// Err says why the cut-over stopped; nil when it finished (or, with
	// DryRun, when every check passed).
	Err error `json:"-"`
}

// CutoverRequest says which groups to cut over, between which clusters.
type CutoverRequest struct {
	// Source and Target are clients of the flow's clusters; the caller owns
	// them. Cutover commits into Target's groups and writes the cut-over
	// topic there; it only reads Source.
	Source, Target *kgo.Client
	// SourceAlias and TargetAlias are the flow's cluster aliases.
	SourceAlias, TargetAlias string
	// RemoteTopic names a source topic on the target (the policy's
	// FormatRemoteTopic).
	RemoteTopic func(sourceAlias, topic string) string
	// IndexTopic is the offset index topic; "" means IndexTopic(SourceAlias).
	IndexTopic string
	// Topic is the cut-over topic; "" means CutoverTopic(SourceAlias).
	Topic string
	// ReplicationFactor is used when Cutover creates Topic; 0 means the
	// broker's default.
	ReplicationFactor int16
	// Groups are the consumer groups to move, named as on both clusters.
	Groups []string
	// MaxLag is the readiness threshold: the most records of a group's
	// partitions that may still be missing on the target when its
	// cut-over begins (the wait for them is the consumers' downtime).
	MaxLag int64
	// Verify, when set, is a further readiness check of a group's copy (the
	// verify command's): an error makes the group not ready; the summary
	// goes into the ready step's detail. When nil, the detail says the copy
	// was not verified.
	Verify func(ctx context.Context, group string, ts []PartitionTranslation) (summary string, err error)
	// DryRun checks and reports each step without recording or committing
	// anything, and without waiting.
	DryRun bool
	// Restart forgets what earlier runs recorded for the groups and starts
	// over (it writes tombstones for their steps).
	Restart bool
	// Progress, when set, is called with every event from the goroutine
	// that called Cutover: each step as it is done or resumed, and every
	// PollInterval while waiting.
	Progress func(CutoverEvent)
	// PollInterval is how often the wait for the copy checks; 0 means 1s.
	PollInterval time.Duration
}

func (r *CutoverRequest) check() error {
	return checkRequired("cut over",
		required{"Source", r.Source != nil}, required{"Target", r.Target != nil}, required{"SourceAlias", r.SourceAlias != ""},
		required{"TargetAlias", r.TargetAlias != ""}, required{"RemoteTopic", r.RemoteTopic != nil}, required{"Groups", len(r.Groups) > 0})
}

// ErrCutoverNotReady is wrapped by a GroupCutover's Err when a readiness
// check failed: the group is not moved and nothing is recorded for it.
var ErrCutoverNotReady = errors.New("not ready for cut-over")

// ErrGroupMovedOnSource is wrapped by a GroupCutover's Err when the group
// committed on the source after its cut-over became ready: a consumer ran
// there, and the recorded offsets no longer say where it stopped.
var ErrGroupMovedOnSource = errors.New("the group committed on the source after its cut-over began")

// Cutover moves each group of req.Groups from the flow's source to its
// target, step by step (see the steps at the top of this file), and
// records each step in the cut-over topic on the target. A step an earlier
// run recorded is not done again, so an interrupted cut-over (a crash, a
// timeout, Ctrl-C while waiting) resumes where it stopped when run again;
// the checks that keep it safe are made again all the same: the group
// must have no members on the source, and its committed source offsets
// must be those recorded when it became ready.
//
// Groups are moved one after the other. The result has an entry for every
// group that was reached; the error joins the groups' errors, or is the
// reason nothing could start (bad request, unreadable index or cut-over
// topic).
func Cutover(ctx context.Context, req CutoverRequest) ([]GroupCutover, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	c := &cutover{req: req, topic: cmp.Or(req.Topic, CutoverTopic(req.SourceAlias))}
	if c.req.PollInterval <= 0 {
		c.req.PollInterval = time.Second
	}
	indexTopic := cmp.Or(req.IndexTopic, IndexTopic(req.SourceAlias))
	if err := indexExists(ctx, req.Target, indexTopic); err != nil {
		return nil, fmt.Errorf("cut over: %w", err)
	}
	tail, err := NewIndexTail(req.Target.Opts(), indexTopic)
	if err != nil {
		return nil, fmt.Errorf("cut over: %w", err)
	}
	defer tail.Close()
	c.tail = tail
	if c.recorded, err = loadCutoverRecords(ctx, req.Target.Opts(), c.topic, req.Groups); err != nil {
		return nil, fmt.Errorf("cut over: %w", err)
	}
	var out []GroupCutover
	var errs []error
	for _, g := range req.Groups {
		if ctx.Err() != nil {
			break
		}
		gc := c.group(ctx, g)
		out = append(out, gc)
		if gc.Err != nil {
			errs = append(errs, gc.Err)
		}
	}
	if err := ctx.Err(); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("cut over: %w", err))
	}
	return out, errors.Join(errs...)
}

// cutover is one run of Cutover.
type cutover struct {
	req      CutoverRequest
	topic    string
	tail     *IndexTail
	recorded map[string]map[CutoverStep]CutoverRecord
	created  bool // the cut-over topic is known to exist
}

// loadCutoverRecords reads the cut-over topic and returns the recorded
// steps of groups. A missing topic holds none.
func loadCutoverRecords(ctx context.Context, opts []kgo.Opt, topic string, groups []string) (map[string]map[CutoverStep]CutoverRecord, error) {
	want := make(map[string]bool, len(groups))
	for _, g := range groups {
		want[g] = true
	}
	out := make(map[string]map[CutoverStep]CutoverRecord)
	err := kread.ReadToEnd(ctx, opts, topic, []int32{0}, func(r *kgo.Record) error {
		group, step, err := DecodeCutoverKey(r.Key)
		if err != nil || !want[group] {
			return nil // not a step of ours: another tool's record, or another group
		}
		if r.Value == nil {
			delete(out[group], step)
			return nil
		}
		var rec CutoverRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			return fmt.Errorf("decode cut-over record of group %s, step %s at offset %d: %w", group, step, r.Offset, err)
		}
		if out[group] == nil {
			out[group] = make(map[CutoverStep]CutoverRecord)
		}
		out[group][step] = rec
		return nil
	})
	if err != nil && !errors.Is(err, kread.ErrTopicNotFound) {
		return nil, fmt.Errorf("read cut-over steps from %s: %w", topic, err)
	}
	return out, nil
}

// group runs one group's cut-over.
func (c *cutover) group(ctx context.Context, group string) GroupCutover {
	gc := GroupCutover{Group: group}
	prior := c.recorded[group]
	if c.req.Restart && len(prior) > 0 {
		if !c.req.DryRun {
			if err := c.forget(ctx, group); err != nil {
				return c.fail(gc, CutoverReady, err)
			}
		}
		prior = nil
	}

	// ready
	if err := c.sourceInactive(ctx, group); err != nil {
		return c.fail(gc, CutoverReady, err)
	}
	ts, err := c.translate(ctx, group)
	if err != nil {
		return c.fail(gc, CutoverReady, err)
	}
	ready, resumed := prior[CutoverReady]
	if resumed {
		if err := movedSince(ready, ts); err != nil {
			return c.fail(gc, CutoverReady, err)
		}
		gc = c.emit(gc, CutoverReady, StepResumed, ready.At, ready.Detail, ready.Offsets)
	} else {
		detail, err := c.readiness(ctx, group, ts)
		if err != nil {
			return c.fail(gc, CutoverReady, err)
		}
		if gc, err = c.record(ctx, gc, CutoverReady, detail, ts); err != nil {
			return c.fail(gc, CutoverReady, err)
		}
		ready = CutoverRecord{At: time.Now(), Offsets: cutoverOffsets(ts)}
	}

	// caught-up
	if rec, ok := prior[CutoverCaughtUp]; ok {
		gc = c.emit(gc, CutoverCaughtUp, StepResumed, rec.At, rec.Detail, rec.Offsets)
	} else {
		if c.req.DryRun {
			n, exact := len(ts), countExact(ts)
			detail := fmt.Sprintf("%d of %d partition(s) translate exactly now; would wait for the rest", exact, n)
			if exact == n {
				detail = fmt.Sprintf("all %d partition(s) translate exactly now", n)
			}
			gc = c.emit(gc, CutoverCaughtUp, StepDryRun, time.Now(), detail, cutoverOffsets(ts))
		} else {
			if ts, err = c.waitExact(ctx, group, ready, ts); err != nil {
				return c.fail(gc, CutoverCaughtUp, err)
			}
			if gc, err = c.record(ctx, gc, CutoverCaughtUp, fmt.Sprintf("all %d partition(s) on %s and known to the index: the translation is exact", len(ts), c.req.TargetAlias), ts); err != nil {
				return c.fail(gc, CutoverCaughtUp, err)
			}
		}
	}

	// committed
	if rec, ok := prior[CutoverCommitted]; ok {
		return c.emit(gc, CutoverCommitted, StepResumed, rec.At, rec.Detail, rec.Offsets)
	}
	if c.req.DryRun {
		return c.emit(gc, CutoverCommitted, StepDryRun, time.Now(),
			fmt.Sprintf("would commit the exact offsets into group %s on %s (if it has no members there; never backwards)", group, c.req.TargetAlias), nil)
	}
	if err := c.sourceInactive(ctx, group); err != nil {
		return c.fail(gc, CutoverCommitted, err)
	}
	// The translation once more, now that the copy caught up: the offsets
	// still are those recorded, and exact.
	if ts, err = c.translate(ctx, group); err != nil {
		return c.fail(gc, CutoverCommitted, err)
	}
	if err := movedSince(ready, ts); err != nil {
		return c.fail(gc, CutoverCommitted, err)
	}
	if n := countExact(ts); n != len(ts) {
		return c.fail(gc, CutoverCommitted, fmt.Errorf("only %d of %d partition(s) of group %s translate exactly now (the target was truncated?)", n, len(ts), group))
	}
	res, err := CommitTranslated(ctx, c.req.Target, group, ts)
	gc.Commit = &res
	detail := fmt.Sprintf("%d partition(s) committed on %s, %d already at or past the translation", res.Count(Committed), c.req.TargetAlias, res.Count(SkippedNotBehind))
	var active *ActiveGroupError
	if errors.As(err, &active) {
		// An earlier run may have committed and died before recording it,
		// and the consumers may have started since: then the group is
		// where it belongs.
		if at, ferr := c.atOrPast(ctx, group, ts); ferr == nil && at {
			detail, err = fmt.Sprintf("already committed: the group is active on %s at or past every translated offset", c.req.TargetAlias), nil
		}
	}
	if err != nil {
		return c.fail(gc, CutoverCommitted, err)
	}
	if gc, err = c.record(ctx, gc, CutoverCommitted, detail, ts); err != nil {
		return c.fail(gc, CutoverCommitted, err)
	}
	return gc
}

// readiness checks a group that is not ready yet: every partition is
// replicated, the lag is at most MaxLag, Verify is clean. It returns the
// ready step's detail.
func (c *cutover) readiness(ctx context.Context, group string, ts []PartitionTranslation) (string, error) {
	var lag int64
	for _, t := range ts {
		switch {
		case t.Err != nil:
			return "", fmt.Errorf("%w: %s[%d]: %w", ErrCutoverNotReady, t.SourceTopic, t.Partition, t.Err)
		case t.Lag < 0:
			return "", fmt.Errorf("%w: the lag of %s[%d] is not known", ErrCutoverNotReady, t.SourceTopic, t.Partition)
		}
		lag += t.Lag
	}
	if lag > c.req.MaxLag {
		return "", fmt.Errorf("%w: %d record(s) of group %s's partitions are not on %s yet, more than the %d allowed: wait for the copy to catch up, or allow more (the wait is the consumers' downtime)",
			ErrCutoverNotReady, lag, group, c.req.TargetAlias, c.req.MaxLag)
	}
	verified := "copy not verified (no verify check)"
	if c.req.Verify != nil {
		summary, err := c.req.Verify(ctx, group, ts)
		if err != nil {
			return "", fmt.Errorf("%w: verify: %w", ErrCutoverNotReady, err)
		}
		verified = "verified: " + summary
	}
	return fmt.Sprintf("no members on %s; %d record(s) to copy (at most %d allowed); %s", c.req.SourceAlias, lag, c.req.MaxLag, verified), nil
}

// waitExact waits until every partition of the group translates exactly,
// reporting progress every PollInterval.
func (c *cutover) waitExact(ctx context.Context, group string, ready CutoverRecord, ts []PartitionTranslation) ([]PartitionTranslation, error) {
	began := time.Now()
	for {
		if err := movedSince(ready, ts); err != nil {
			return nil, err
		}
		n, exact := len(ts), countExact(ts)
		if exact == n {
			return ts, nil
		}
		var lag, behind int64
		for _, t := range ts {
			lag += max(0, t.Lag)
			behind += max(0, t.IndexBehind)
		}
		c.progress(CutoverEvent{Group: group, Step: CutoverCaughtUp, Status: StepWaiting, At: time.Now(),
			Detail: fmt.Sprintf("%d of %d partition(s) exact; %d record(s) still to copy, %d copied but not yet in the index; waiting %v",
				exact, n, lag, behind, time.Since(began).Round(time.Second))})
		interrupted := func() error {
			return fmt.Errorf("interrupted while waiting for the copy (%d of %d partition(s) exact): %w; run the cut-over again to resume", exact, n, ctx.Err())
		}
		t := time.NewTimer(c.req.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, interrupted()
		case <-t.C:
		}
		var err error
		if ts, err = c.translate(ctx, group); err != nil {
			if ctx.Err() != nil {
				return nil, interrupted()
			}
			return nil, err
		}
	}
}

// translate catches the index up and translates the group's committed
// source offsets.
func (c *cutover) translate(ctx context.Context, group string) ([]PartitionTranslation, error) {
	if err := c.tail.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("read the offset index: %w", err)
	}
	ts, err := TranslateGroup(ctx, TranslateRequest{
		Source: c.req.Source, Target: c.req.Target, SourceAlias: c.req.SourceAlias, RemoteTopic: c.req.RemoteTopic,
		Index: c.tail.Index(), Group: group,
	})
	if errors.Is(err, ErrGroupNotFound) {
		return nil, fmt.Errorf("%w: group %s has no committed offsets on %s", ErrCutoverNotReady, group, c.req.SourceAlias)
	}
	return ts, err
}

// sourceInactive fails unless the group has no members on the source.
func (c *cutover) sourceInactive(ctx context.Context, group string) error {
	err := checkInactive(ctx, kadm.NewClient(c.req.Source), []string{group})[group]
	var active *ActiveGroupError
	if errors.As(err, &active) {
		active.Cluster = c.req.SourceAlias
		return fmt.Errorf("%w: %w", ErrCutoverNotReady, active)
	}
	if err != nil {
		return fmt.Errorf("check group %s on %s: %w", group, c.req.SourceAlias, err)
	}
	return nil
}

// atOrPast reports whether the group's offsets on the target are at or past
// every translation of ts.
func (c *cutover) atOrPast(ctx context.Context, group string, ts []PartitionTranslation) (bool, error) {
	got, err := kadm.NewClient(c.req.Target).FetchOffsets(ctx, group)
	if err != nil {
		return false, err
	}
	for _, t := range ts {
		if o, ok := got.Lookup(t.TargetTopic, t.Partition); !ok || o.Err != nil || o.At < t.TargetOffset {
			return false, nil
		}
	}
	return true, nil
}

// movedSince fails when the group's committed offsets in ts are not those
// recorded when it became ready.
func movedSince(ready CutoverRecord, ts []PartitionTranslation) error {
	was := make(map[TopicPartition]int64, len(ready.Offsets))
	for _, o := range ready.Offsets {
		was[TopicPartition{o.SourceTopic, o.Partition}] = o.SourceOffset
	}
	var moved []string
	for _, t := range ts {
		tp := TopicPartition{t.SourceTopic, t.Partition}
		switch w, ok := was[tp]; {
		case !ok:
			moved = append(moved, fmt.Sprintf("%s[%d]: new, at %d", t.SourceTopic, t.Partition, t.SourceOffset))
		case w != t.SourceOffset:
			moved = append(moved, fmt.Sprintf("%s[%d]: %d then %d", t.SourceTopic, t.Partition, w, t.SourceOffset))
		}
	}
	if len(moved) == 0 {
		return nil
	}
	when := ""
	if !ready.At.IsZero() {
		when = " at " + ready.At.UTC().Format(time.RFC3339)
	}
	return fmt.Errorf("%w%s (%s): a consumer ran there; stop it, then start the cut-over over (restart)", ErrGroupMovedOnSource, when, strings.Join(moved, ", "))
}

// record writes a step of the group to the cut-over topic (unless DryRun)
// and reports it.
func (c *cutover) record(ctx context.Context, gc GroupCutover, step CutoverStep, detail string, ts []PartitionTranslation) (GroupCutover, error) {
	offs := cutoverOffsets(ts)
	if c.req.DryRun {
		return c.emit(gc, step, StepDryRun, time.Now(), detail, offs), nil
	}
	rec := CutoverRecord{Source: c.req.SourceAlias, Target: c.req.TargetAlias, Group: gc.Group, Step: step,
		At: time.Now().UTC().Truncate(time.Millisecond), Detail: detail, Offsets: offs}
	value, err := json.Marshal(rec)
	if err != nil {
		return gc, fmt.Errorf("encode cut-over step %s: %w", step, err)
	}
	if err := c.produce(ctx, &kgo.Record{Topic: c.topic, Partition: 0, Key: rec.Key(), Value: value, Timestamp: rec.At}); err != nil {
		return gc, fmt.Errorf("record cut-over step %s of group %s in %s on %s: %w", step, gc.Group, c.topic, c.req.TargetAlias, err)
	}
	return c.emit(gc, step, StepDone, rec.At, detail, offs), nil
}

// forget writes tombstones for every step of the group.
func (c *cutover) forget(ctx context.Context, group string) error {
	var recs []*kgo.Record
	for _, s := range CutoverSteps {
		recs = append(recs, &kgo.Record{Topic: c.topic, Partition: 0, Key: CutoverRecord{Group: group, Step: s}.Key()})
	}
	if err := c.produce(ctx, recs...); err != nil {
		return fmt.Errorf("forget the recorded cut-over steps of group %s in %s: %w", group, c.topic, err)
	}
	return nil
}

// produce writes recs to the cut-over topic, creating it the first time
// (compacted, one partition).
func (c *cutover) produce(ctx context.Context, recs ...*kgo.Record) error {
	if !c.created {
		rf := c.req.ReplicationFactor
		if rf == 0 {
			rf = -1
		}
		_, err := ktopic.CreateCompacted(ctx, kadm.NewClient(c.req.Target), ktopic.Compacted{
			Topic: c.topic, Cluster: c.req.TargetAlias, ReplicationFactor: rf, ReplicationFactorKey: "the cut-over's replication factor",
		}, hclog.NewNullLogger())
		if err != nil {
			return err
		}
		c.created = true
	}
	return c.req.Target.ProduceSync(ctx, recs...).FirstErr()
}

func (c *cutover) emit(gc GroupCutover, step CutoverStep, status CutoverStatus, at time.Time, detail string, offs []CutoverOffset) GroupCutover {
	ev := CutoverEvent{Group: gc.Group, Step: step, Status: status, At: at, Detail: detail, Offset: offs}
	gc.Steps = append(gc.Steps, ev)
	c.progress(ev)
	return gc
}

func (c *cutover) fail(gc GroupCutover, step CutoverStep, err error) GroupCutover {
	gc.Err = fmt.Errorf("cut over group %s: %s: %w", gc.Group, step, err)
	return c.emit(gc, step, StepFailed, time.Now(), err.Error(), nil)
}

func (c *cutover) progress(ev CutoverEvent) {
	if c.req.Progress != nil {
		c.req.Progress(ev)
	}
}

func cutoverOffsets(ts []PartitionTranslation) []CutoverOffset {
	out := make([]CutoverOffset, 0, len(ts))
	for _, t := range ts {
		out = append(out, CutoverOffset{SourceTopic: t.SourceTopic, TargetTopic: t.TargetTopic, Partition: t.Partition,
			SourceOffset: t.SourceOffset, TargetOffset: t.TargetOffset, Exact: t.Exact && t.Err == nil})
	}
	return out
}

func countExact(ts []PartitionTranslation) int {
	n := 0
	for _, t := range ts {
		if t.Err == nil && t.Exact {
			n++
		}
	}
	return n
}
