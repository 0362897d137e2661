package offsets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// This file is the translation API for Go services and the translate-offsets
// command: what MM2's RemoteClusterUtils.translateOffsets offers, but exact,
// and read straight from the clusters and the offset index instead of from
// checkpoints that are up to a minute old. When the source is down (a
// failover), it translates from the target alone: the group's last
// checkpoints and the same exact index.
//
//	ix, err := offsets.OpenIndex(ctx, target, offsets.IndexTopic("A"))
//	req := offsets.TranslateRequest{
//		Source: source, Target: target, Index: ix, Group: "billing",
//		RemoteTopic: policy.Default{}.FormatRemoteTopic, SourceAlias: "A",
//	}
//	if err := offsets.ProbeCluster(ctx, source, 0); err != nil {
//		req.FromTarget = true // the source is down: checkpoints + index
//	}
//	ts, err := offsets.TranslateGroup(ctx, req)
//	res, err := offsets.CommitTranslated(ctx, target, "billing", ts)

// ErrGroupNotFound is wrapped by TranslateGroup when the group has no
// committed offsets on the source cluster: it does not exist there, or never
// committed.
var ErrGroupNotFound = errors.New("no committed offsets on the source cluster")

// ErrIndexNotFound is wrapped by OpenIndex when the offset index topic does
// not exist on the target cluster: no mm2go source task has copied anything
// from that source yet, or the alias is wrong.
var ErrIndexNotFound = errors.New("offset index topic not found")

// Basis says which data a translation's source offsets come from.
type Basis string

const (
	// BasisSourceCommits: the group's committed offsets, fetched from the
	// source cluster, translated with the index. The normal cut-over.
	BasisSourceCommits Basis = "source-commits"
	// BasisCheckpoints: the group's last checkpoints, read from the
	// checkpoints topic on the target, translated again with the index.
	// A failover with the source down; commits the group made on the
	// source after the last checkpoint cycle are not known.
	BasisCheckpoints Basis = "checkpoints"
	// BasisTargetCommits: the group's committed offsets on the flow's
	// target, translated back to the flow's source with the index in
	// reverse (TranslateGroupBack): a fail-back.
	BasisTargetCommits Basis = "target-commits"
)

// ErrNotReplicated is wrapped by the Err of a PartitionTranslation whose
// topic-partition the index knows nothing about: the flow does not copy the
// topic, or has not copied any of it yet.
var ErrNotReplicated = errors.New("not replicated")

// TranslateError is the Err of a PartitionTranslation that could not be
// translated. Err wraps ErrNoTranslation (the group is behind the first
// copied record), ErrNotReplicated, or the error the source returned for
// that partition's committed offset.
type TranslateError struct {
	Group     string
	Topic     string // source topic
	Partition int32
	Offset    int64 // the group's committed offset on the source
	Err       error
}

// Error implements error.
func (e *TranslateError) Error() string {
	return fmt.Sprintf("translate group %s offset %d of %s[%d]: %v", e.Group, e.Offset, e.Topic, e.Partition, e.Err)
}

// Unwrap returns the cause.
func (e *TranslateError) Unwrap() error { return e.Err }

// TranslateCommitted translates a consumer group's committed offset of a
// source partition, that is the offset of the next record the group reads,
// to the target offset where the group resumes on the copy. Unlike MM2's
// translation, which lands up to offset.lag.max records before the truth,
// the result is exact wherever the index knows the records:
//
//   - committed is a copied record: its copy's offset (the latest copy, if
//     it was copied more than once). Exact.
//   - committed is in a gap of the source (compaction, transaction markers,
//     deleted records): the offset of the next copied record. Exact.
//   - committed is right after the last record the index knows (a group
//     that has read everything copied): the target offset after that
//     record's copy. Exact: the group re-reads nothing and skips nothing.
//   - committed is further on: records the group read were copied since the
//     index last learned of them (it does at each source-offset commit), or
//     not yet. The result is the target offset after the last known record,
//     which never skips a record the group has not read but may re-read up to
//     committed - 1 - (last known upstream offset) records; Exact is false.
//     Wait a source-offset flush interval for an exact answer.
//   - nothing at or before committed was copied (the copy of this partition
//     starts after it, for instance after a takeover from Java MM2 or a start
//     at the end): an error wrapping ErrNoTranslation, as MM2 gives no
//     checkpoint then either.
//
// Exact here means resuming at Downstream neither re-reads nor skips a
// record, which is slightly wider than Translation.Exact of Index.Translate.
// Upstream is the source offset Downstream stands for.
func (x *Index) TranslateCommitted(topic string, partition int32, committed int64) (Translation, error) {
	tr, err := x.Translate(topic, partition, committed)
	if err != nil || tr.Exact {
		return tr, err
	}
	lu, ld, _ := x.LastKnown(topic, partition) // known: Translate found the partition
	return Translation{Upstream: lu + 1, Downstream: ld + 1, Exact: committed == lu+1}, nil
}

// OpenIndex loads the offset index topic (IndexTopic(sourceAlias)) from the
// target cluster that target reaches. Unlike LoadIndex, a missing topic is
// an error wrapping ErrIndexNotFound, since translating against an empty
// index would answer "not replicated" for every partition. The index is read
// with a new client built from target.Opts(), so target must not consume
// (no group, no consumed topics or partitions); target itself is used only
// to check that the topic exists.
func OpenIndex(ctx context.Context, target *kgo.Client, topic string) (*Index, error) {
	if err := indexExists(ctx, target, topic); err != nil {
		return nil, err
	}
	return LoadIndex(ctx, target.Opts(), topic)
}

// indexExists returns nil when the index topic exists on the cluster of
// target, an error wrapping ErrIndexNotFound when it does not.
func indexExists(ctx context.Context, target *kgo.Client, topic string) error {
	details, err := kadm.NewClient(target).ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("look up offset index topic %s: %w", topic, err)
	}
	if d, ok := details[topic]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("%s: %w", topic, ErrIndexNotFound)
	} else if d.Err != nil {
		return fmt.Errorf("look up offset index topic %s: %w", topic, d.Err)
	}
	return nil
}

// TranslateRequest says which group to translate, between which clusters.
type TranslateRequest struct {
	// Source and Target are clients of the source and target clusters of
	// the flow; the caller owns them. TranslateGroup only reads.
	Source, Target *kgo.Client
	// SourceAlias is the source cluster's alias in the flow (MM2's cluster
	// alias): the prefix of remote topic names under the default policy and
	// part of the index topic's name.
	SourceAlias string
	// RemoteTopic names a source topic on the target: the replication
	// policy's FormatRemoteTopic, such as policy.Default{}.FormatRemoteTopic
	// (offsets does not import the policy package).
	RemoteTopic func(sourceAlias, topic string) string
	// Index is the offset index to translate with. When nil, TranslateGroup
	// opens IndexTopic with OpenIndex; open it once yourself to translate
	// many groups.
	Index *Index
	// IndexTopic is the offset index topic on the target; "" means
	// IndexTopic(SourceAlias). Unused when Index is set.
	IndexTopic string
	// Group is the consumer group, named as on both clusters.
	Group string
	// Syncs, when set, translates offsets the index knows nothing of with
	// MM2's offset syncs, MM2's way: records copied by Java MM2 before
	// mm2go took the flow over. Such translations are flagged
	// FromOffsetSyncs and are exact only when a sync hits the offset.
	Syncs *SyncStore
	// FromTarget translates from the target cluster alone: the group's last
	// checkpoints instead of its committed offsets on the source, which is
	// asked nothing (Source may be nil). This is a failover with the
	// source down; ProbeCluster tells whether it is.
	FromTarget bool
	// CheckpointsTopic is the checkpoints topic on the target; "" means
	// DefaultCheckpointsTopic(SourceAlias). Used with FromTarget when
	// Checkpoints is nil.
	CheckpointsTopic string
	// Checkpoints, when set, is used with FromTarget instead of reading
	// CheckpointsTopic: load it once to translate many groups.
	Checkpoints *CheckpointStore
}

func (r *TranslateRequest) check() error {
	return checkRequired("translate group",
		required{"Source", r.Source != nil || r.FromTarget}, required{"Target", r.Target != nil},
		required{"SourceAlias", r.SourceAlias != ""}, required{"RemoteTopic", r.RemoteTopic != nil}, required{"Group", r.Group != ""})
}

// indexOr returns ix when a caller passed one in, or opens the index topic
// (IndexTopic(sourceAlias) when topic is "") on the target of cl.
func indexOr(ctx context.Context, ix *Index, cl *kgo.Client, topic, sourceAlias string) (*Index, error) {
	if ix != nil {
		return ix, nil
	}
	return OpenIndex(ctx, cl, cmp.Or(topic, IndexTopic(sourceAlias)))
}

// required is a field a request must have, and whether it has it.
type required struct {
	name string
	set  bool
}

// checkRequired returns "<op>: A, B not set", naming every field not set,
// or nil when all are.
func checkRequired(op string, fields ...required) error {
	var missing []string
	for _, f := range fields {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %s not set", op, strings.Join(missing, ", "))
	}
	return nil
}

// PartitionTranslation is a group's committed offset of one source
// partition, translated to the target.
type PartitionTranslation struct {
	// Group is the consumer group.
	Group string
	// SourceTopic and TargetTopic name the partition's topic on each side.
	SourceTopic, TargetTopic string
	// Partition is the partition number, the same on both sides.
	Partition int32
	// SourceOffset is the group's committed offset on the source.
	SourceOffset int64
	// TargetOffset is where the group resumes on the target, or -1 when Err
	// is set. See Index.TranslateCommitted.
	TargetOffset int64
	// Exact reports that resuming at TargetOffset re-reads no record the
	// group already read on the source and skips none it did not.
	Exact bool
	// Lag is how many records of the source partition are not on the target
	// yet: the source's end offset minus the upstream position the copy has
	// reached (the index's last known record, plus what the target holds
	// past its copy, counted one for one). Offsets count, so transaction
	// markers among the uncopied records do too, except when they are all
	// that is left (then Lag is 0). -1 when unknown.
	Lag int64
	// Metadata is the metadata of the group's commit on the source.
	Metadata string
	// FromOffsetSyncs reports that TargetOffset comes from MM2's offset
	// syncs (TranslateRequest.Syncs), not from the exact index.
	FromOffsetSyncs bool
	// Err says why there is no TargetOffset: a *TranslateError.
	Err error

	// Basis says which data SourceOffset comes from.
	Basis Basis
	// CheckpointTime is when the checkpoint SourceOffset comes from was
	// written (BasisCheckpoints), the zero time otherwise. See
	// CheckpointStore for what its age does and does not mean.
	CheckpointTime time.Time
	// FromCheckpoint reports that TargetOffset is the checkpoint's own
	// translation (BasisCheckpoints), used because neither the index nor
	// the offset syncs translate SourceOffset (records copied by Java MM2
	// before mm2go took the flow over): MM2's precision, not exact.
	FromCheckpoint bool
	// IndexBehind is how many records the target partition holds past the
	// last one the index knows: records copied since the source task's
	// last source-offset commit, which is when the index learns of them
	// (offset.flush.interval.ms). A translation past what the index knows
	// may read up to that many records again, and Lag counts them one for
	// one. 0 when the index knows every record on the target; -1 when
	// unknown.
	IndexBehind int64
	// PastSourceEnd reports that SourceOffset is past the end of the
	// source partition (BasisSourceCommits): the topic was deleted and
	// re-created or truncated, or the offset was set by hand. TargetOffset
	// is then right after the last copied record, and not exact.
	PastSourceEnd bool
	// NotOnTarget (BasisCheckpoints) is how many source offsets lie between
	// the last record the target holds and SourceOffset when the group read
	// past it: transaction markers, or records the group read on the
	// source that never reached the target, which the target alone cannot
	// tell apart. Resuming at TargetOffset skips and re-reads nothing the
	// target holds (Exact); records the source never delivered are lost with
	// it. 0 otherwise.
	NotOnTarget int64
}

// TranslateGroup translates the committed offsets of req.Group on the
// source cluster to the target cluster, partition by partition, sorted by
// source topic and partition: the offsets a consumer of the group must start
// from on the target to read exactly what it has not read on the source
// (see Index.TranslateCommitted for the rules).
//
// Where the index alone cannot tell whether a translation is exact (the
// group committed past the last record the index knows), TranslateGroup
// reads the few source offsets in between, with a new client built from
// Source.Opts(): a group that read to the end of a transaction committed
// past its commit marker, which is not copied, and is exact all the same.
// The same read keeps a trailing marker out of Lag.
//
// A partition that cannot be translated is returned with Err set, so that a
// caller sees it; the function fails only when the group has no committed
// offsets on the source (ErrGroupNotFound), the index cannot be opened
// (ErrIndexNotFound), the request is incomplete, or a cluster cannot be
// asked.
//
// With FromTarget, the source is not asked: see translateFromCheckpoints.
func TranslateGroup(ctx context.Context, req TranslateRequest) ([]PartitionTranslation, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	ix, err := indexOr(ctx, req.Index, req.Target, req.IndexTopic, req.SourceAlias)
	if err != nil {
		return nil, fmt.Errorf("translate group %s: %w", req.Group, err)
	}
	if req.FromTarget {
		return translateFromCheckpoints(ctx, req, ix)
	}
	src, tgt := kadm.NewClient(req.Source), kadm.NewClient(req.Target)
	committed, err := src.FetchOffsets(ctx, req.Group)
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		return nil, fmt.Errorf("translate group %s: %w", req.Group, ErrGroupNotFound)
	case err != nil:
		return nil, fmt.Errorf("translate group %s: fetch committed offsets from the source: %w", req.Group, err)
	}
	var out []PartitionTranslation
	sourceTopics := make(map[string]bool)
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At < 0 {
			return // no commit for this partition
		}
		t := PartitionTranslation{
			Group: req.Group, SourceTopic: o.Topic, TargetTopic: req.RemoteTopic(req.SourceAlias, o.Topic),
			Partition: o.Partition, SourceOffset: o.At, TargetOffset: -1, Lag: -1, Metadata: o.Metadata,
			Basis: BasisSourceCommits, IndexBehind: -1,
		}
		if o.Err != nil {
			t.Err = &TranslateError{Group: req.Group, Topic: o.Topic, Partition: o.Partition, Offset: o.At, Err: o.Err}
		}
		sourceTopics[o.Topic] = true
		out = append(out, t)
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("translate group %s: %w", req.Group, ErrGroupNotFound)
	}
	slices.SortFunc(out, func(a, b PartitionTranslation) int {
		return cmp.Or(cmp.Compare(a.SourceTopic, b.SourceTopic), cmp.Compare(a.Partition, b.Partition))
	})
	var srcNames, tgtNames []string
	for t := range sourceTopics {
		srcNames = append(srcNames, t)
		tgtNames = append(tgtNames, req.RemoteTopic(req.SourceAlias, t))
	}
	srcEnds, err := src.ListEndOffsets(ctx, srcNames...)
	if err != nil {
		return nil, fmt.Errorf("translate group %s: list end offsets on the source: %w", req.Group, err)
	}
	tgtEnds, err := tgt.ListEndOffsets(ctx, tgtNames...)
	if err != nil {
		return nil, fmt.Errorf("translate group %s: list end offsets on the target: %w", req.Group, err)
	}
	for i := range out {
		t := &out[i]
		t.IndexBehind = indexBehind(ix, t.SourceTopic, t.TargetTopic, t.Partition, tgtEnds)
		if t.Err == nil {
			srcEnd := int64(-1)
			if se, ok := srcEnds.Lookup(t.SourceTopic, t.Partition); ok && se.Err == nil {
				srcEnd = se.Offset
			}
			if err := translateOne(ctx, req, ix, t, srcEnd); err != nil {
				return nil, err
			}
		}
		if t.Lag, err = lag(ctx, req, ix, t, srcEnds, tgtEnds); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// indexBehind returns how many records the target partition holds past the
// last one the index knows, or -1 when either is unknown.
func indexBehind(ix *Index, sourceTopic, targetTopic string, partition int32, tgtEnds kadm.ListedOffsets) int64 {
	_, ld, known := ix.LastKnown(sourceTopic, partition)
	te, ok := tgtEnds.Lookup(targetTopic, partition)
	if !known || !ok || te.Err != nil {
		return -1
	}
	return max(0, te.Offset-(ld+1))
}

// translateFromCheckpoints is TranslateGroup with FromTarget: a failover
// with the source down. Each of the group's last checkpoints carries the
// group's committed source offset at the checkpoint task's last cycle that
// saw it move; that offset is translated again with the index, which may
// know more than it did when the checkpoint was written (a checkpoint of a
// group ahead of the index is a lower bound; the index makes it exact).
// Where neither the index nor the offset syncs can translate it, the
// checkpoint's own translation is used (FromCheckpoint).
//
// Without the source, a group that committed past the last record the index
// knows cannot be checked for transaction markers in between. Its
// translation is exact all the same when the target holds nothing past that
// record (IndexBehind 0): nothing on the target is read twice or skipped,
// and NotOnTarget says how many source offsets the target has no trace of.
// When the target holds records the index does not know (the worker died
// before its last source-offset commit), the translation is the safe lower
// bound and up to IndexBehind records are read again.
//
// Lag is -1: the source's end is not known.
func translateFromCheckpoints(ctx context.Context, req TranslateRequest, ix *Index) ([]PartitionTranslation, error) {
	cps := req.Checkpoints
	if cps == nil {
		topic := cmp.Or(req.CheckpointsTopic, DefaultCheckpointsTopic(req.SourceAlias))
		var err error
		if cps, err = LoadCheckpointStore(ctx, req.Target.Opts(), topic); err != nil {
			return nil, fmt.Errorf("translate group %s from the target: %w", req.Group, err)
		}
	}
	latest := cps.Latest(req.Group)
	if len(latest) == 0 {
		return nil, fmt.Errorf("translate group %s from the target: %w in %s", req.Group, ErrNoCheckpoints, cps.Topic())
	}
	// The checkpoints name target-side topics; the index names source ones.
	upstream := make(map[string]string)
	for _, t := range ix.Topics() {
		upstream[req.RemoteTopic(req.SourceAlias, t)] = t
	}
	var names []string
	for _, cp := range latest {
		if len(names) == 0 || names[len(names)-1] != cp.Topic {
			names = append(names, cp.Topic)
		}
	}
	tgtEnds, err := kadm.NewClient(req.Target).ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("translate group %s: list end offsets on the target: %w", req.Group, err)
	}
	out := make([]PartitionTranslation, 0, len(latest))
	for _, cp := range latest {
		t := PartitionTranslation{
			Group: req.Group, SourceTopic: upstream[cp.Topic], TargetTopic: cp.Topic, Partition: cp.Partition,
			SourceOffset: cp.UpstreamOffset, TargetOffset: -1, Lag: -1, Metadata: cp.Metadata,
			Basis: BasisCheckpoints, CheckpointTime: cp.Time, IndexBehind: -1,
		}
		if t.SourceTopic == "" {
			// The index knows no copy of this topic: the checkpoint's own
			// translation is all there is.
			t.TargetOffset, t.FromCheckpoint = cp.DownstreamOffset, true
			out = append(out, t)
			continue
		}
		t.IndexBehind = indexBehind(ix, t.SourceTopic, t.TargetTopic, t.Partition, tgtEnds)
		tr, fromSyncs, err := TranslateCommittedOrSyncs(ix, req.Syncs, t.SourceTopic, t.Partition, t.SourceOffset)
		switch {
		case err != nil:
			t.TargetOffset, t.FromCheckpoint = cp.DownstreamOffset, true
		case fromSyncs:
			t.TargetOffset, t.Exact, t.FromOffsetSyncs = tr.Downstream, tr.Exact, true
		default:
			t.TargetOffset, t.Exact = tr.Downstream, tr.Exact
			if !tr.Exact && t.IndexBehind == 0 {
				// Nothing on the target past the last known record, which
				// the group has read: it resumes after it and re-reads or
				// skips nothing there.
				t.Exact, t.NotOnTarget = true, t.SourceOffset-tr.Upstream
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// TranslateCommittedOrSyncs is Index.TranslateCommitted, with MM2's offset
// syncs (syncs, nil for none) answering where the index cannot: for records
// Java MM2 copied before mm2go took the flow over. fromSyncs says the syncs
// answered; when neither can, the error is the index's.
func TranslateCommittedOrSyncs(ix *Index, syncs *SyncStore, topic string, partition int32, committed int64) (tr Translation, fromSyncs bool, err error) {
	tr, err = ix.TranslateCommitted(topic, partition, committed)
	if err != nil && syncs != nil {
		if str, serr := syncs.Translate(topic, partition, committed); serr == nil {
			return str, true, nil
		}
	}
	return tr, false, err
}

// translateOne fills in t's translation, or its Err. srcEnd is the source
// partition's end offset, -1 when unknown.
func translateOne(ctx context.Context, req TranslateRequest, ix *Index, t *PartitionTranslation, srcEnd int64) error {
	tr, fromSyncs, err := TranslateCommittedOrSyncs(ix, req.Syncs, t.SourceTopic, t.Partition, t.SourceOffset)
	if fromSyncs {
		t.TargetOffset, t.Exact, t.FromOffsetSyncs = tr.Downstream, tr.Exact, true
		return nil
	}
	if err != nil {
		if _, _, known := ix.LastKnown(t.SourceTopic, t.Partition); !known {
			err = fmt.Errorf("%w: the index knows no copied record of this partition", ErrNotReplicated)
		}
		t.Err = &TranslateError{Group: req.Group, Topic: t.SourceTopic, Partition: t.Partition, Offset: t.SourceOffset, Err: err}
		return nil
	}
	t.TargetOffset, t.Exact = tr.Downstream, tr.Exact
	if srcEnd >= 0 && t.SourceOffset > srcEnd {
		// Nothing to read on the source between: the offset is not one
		// the group reached by consuming.
		t.PastSourceEnd, t.Exact = true, false
		return nil
	}
	if !tr.Exact {
		// A group that read to the end of a transaction has committed past
		// its commit marker, which the copy does not have: the lower bound
		// is exact if only markers lie in between.
		t.Exact, err = onlyMarkers(ctx, req.Source.Opts(), t.SourceTopic, t.Partition, tr.Upstream, t.SourceOffset)
		if err != nil {
			return fmt.Errorf("translate group %s: read %s[%d] on the source: %w", req.Group, t.SourceTopic, t.Partition, err)
		}
	}
	return nil
}

// markerCheckTimeout bounds onlyMarkers' wait for records that may not
// exist; a variable for tests.
var markerCheckTimeout = 5 * time.Second

// onlyMarkers reports whether offsets from..to-1 of a source partition hold
// no record a source task copies: only transaction markers, or nothing
// (removed by compaction or retention). It reads them with a new client
// built from opts. When it cannot tell within markerCheckTimeout (a range
// emptied by compaction at the very end of the partition), it answers
// false, which only costs the exact flag.
func onlyMarkers(ctx context.Context, opts []kgo.Opt, topic string, partition int32, from, to int64) (bool, error) {
	if from >= to {
		return true, nil
	}
	// No client for a request already given up: besides the dial, a
	// kgo direct consumer closed before its first metadata update
	// assigned its partition races that assignment's fetch (franz-go
	// v1.22.3: Close reads the fetch session the new fetch loop writes).
	if err := ctx.Err(); err != nil {
		return false, err
	}
	cl, err := kgo.NewClient(append(slices.Clone(opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // from was deleted: what is left
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return false, fmt.Errorf("new client: %w", err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, markerCheckTimeout)
	defer cancel()
	for {
		fetches := cl.PollFetches(cctx)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if cctx.Err() != nil {
			return false, nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !kerr.IsRetriable(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				ferr = errors.Join(ferr, fmt.Errorf("fetch %s[%d]: %w", t, p, err))
			}
		})
		if ferr != nil {
			return false, ferr
		}
		for _, r := range fetches.Records() {
			switch {
			case r.Offset >= to:
				return true, nil
			case !r.Attrs.IsControl():
				return false, nil
			case r.Offset == to-1:
				return true, nil
			}
		}
	}
}

// lag estimates how many records of t's source partition are not on the
// target yet, or returns -1 when it cannot tell. Uncopied offsets that hold
// only transaction markers count for nothing (a transactional topic at rest
// ends with one); otherwise every offset counts, markers included.
func lag(ctx context.Context, req TranslateRequest, ix *Index, t *PartitionTranslation, srcEnds, tgtEnds kadm.ListedOffsets) (int64, error) {
	se, ok := srcEnds.Lookup(t.SourceTopic, t.Partition)
	if !ok || se.Err != nil {
		return -1, nil
	}
	lu, ld, known := ix.LastKnown(t.SourceTopic, t.Partition)
	if !known {
		return -1, nil
	}
	reached := lu + 1
	if te, ok := tgtEnds.Lookup(t.TargetTopic, t.Partition); ok && te.Err == nil && te.Offset > ld+1 {
		reached += te.Offset - (ld + 1) // copied since the index last heard: one for one
	}
	if t.Err == nil && t.Exact {
		// Everything before the group's offset is on the target (only
		// markers lie between the last known record and it).
		reached = max(reached, t.SourceOffset)
	}
	if se.Offset <= reached {
		return 0, nil
	}
	empty, err := onlyMarkers(ctx, req.Source.Opts(), t.SourceTopic, t.Partition, reached, se.Offset)
	if err != nil {
		return -1, fmt.Errorf("translate group %s: read %s[%d] on the source: %w", req.Group, t.SourceTopic, t.Partition, err)
	}
	if empty {
		return 0, nil
	}
	return se.Offset - reached, nil
}
