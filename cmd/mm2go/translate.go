package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/flows"
	"github.com/mm2go/mm2go/offsets"
)

// translateOutput is what `mm2go translate-offsets --json` prints.
type translateOutput struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Apply  bool   `json:"apply"`
	// Basis is where the groups' offsets come from: "source-commits" (their
	// commits on the source), "checkpoints" (their last checkpoints on the
	// target: the source is down or --from-target) or "target-commits"
	// (--fail-back: their commits on the flow's target).
	Basis string `json:"basis"`
	// SourceReachable is what the probe of the source found; false with
	// --from-target, which skips it. SourceError says why it is not.
	SourceReachable bool   `json:"source_reachable"`
	SourceError     string `json:"source_error,omitempty"`
	// CheckpointsTopic is the topic the checkpoints were read from.
	CheckpointsTopic string           `json:"checkpoints_topic,omitempty"`
	Groups           []translateGroup `json:"groups"`
}

type translateGroup struct {
	Group      string               `json:"group"`
	Error      string               `json:"error,omitempty"`
	Partitions []translatePartition `json:"partitions"`
	// Applied is set with --apply when the commit went through; Committed
	// and Skipped count its partitions (see each partition's commit).
	Applied   bool `json:"applied"`
	Committed int  `json:"committed"`
	Skipped   int  `json:"skipped"`
}

type translatePartition struct {
	SourceTopic  string `json:"source_topic"`
	TargetTopic  string `json:"target_topic"`
	Partition    int32  `json:"partition"`
	SourceOffset int64  `json:"source_offset"`
	TargetOffset int64  `json:"target_offset"` // -1: no translation
	Exact        bool   `json:"exact"`
	Lag          int64  `json:"lag"` // -1: unknown
	// IndexBehind: records on the target the index does not know yet
	// (-1 unknown); Lag counts them one for one.
	IndexBehind int64  `json:"index_behind"`
	Metadata    string `json:"metadata"`
	// FromOffsetSyncs: translated with MM2's offset syncs (records copied
	// before mm2go's index existed), MM2's approximate way.
	FromOffsetSyncs bool `json:"from_offset_syncs,omitempty"`
	// CheckpointTime and CheckpointAgeSeconds: when the checkpoint the
	// source offset comes from was written (basis "checkpoints").
	CheckpointTime       *time.Time `json:"checkpoint_time,omitempty"`
	CheckpointAgeSeconds *float64   `json:"checkpoint_age_seconds,omitempty"`
	// FromCheckpoint: the target offset is the checkpoint's own translation.
	FromCheckpoint bool `json:"from_checkpoint,omitempty"`
	// PastSourceEnd: the group's offset is past the source partition's end.
	PastSourceEnd bool `json:"past_source_end,omitempty"`
	// NotOnTarget: source offsets between the last copied record and the
	// group's offset that the target has no trace of (basis "checkpoints").
	NotOnTarget int64 `json:"not_on_target,omitempty"`
	// Notes say in words what is known and what is not.
	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
	// Commit and PreviousTargetOffset are set with --apply.
	Commit               string `json:"commit,omitempty"`
	PreviousTargetOffset *int64 `json:"previous_target_offset,omitempty"`
}

const translateSynopsis = "translate-offsets --config FILE --source A --target B (--group G | --groups REGEX) [--json] [--apply] [--from-target | --probe-timeout 5s] [--fail-back]"

func runTranslate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("translate-offsets", translateSynopsis, stdout)
	config := fs.String("config", "", "flow file: YAML (.yaml, .yml) or MM2's mm2.properties (.properties)")
	source := fs.String("source", "", "source cluster alias: where the groups consumed until now")
	target := fs.String("target", "", "target cluster alias: where the groups will consume")
	group := fs.String("group", "", "consumer group to translate")
	groupsRe := fs.String("groups", "", "regular expression matching whole group names on the source (instead of --group)")
	jsonOut := fs.Bool("json", false, "print JSON for scripts instead of a table")
	apply := fs.Bool("apply", false, "commit the translated offsets into the groups on the target; refused for a group with active members there, and never backwards")
	fromTarget := fs.Bool("from-target", false, "do not contact the source: translate from the groups' last checkpoints and the offset index on the target (disaster recovery)")
	probeTimeout := fs.Duration("probe-timeout", offsets.DefaultProbeTimeout, "how long to wait for the source to answer before translating from the target alone")
	failBack := fs.Bool("fail-back", false, "move the groups back against the flow TARGET->SOURCE after a failover: translate their offsets on --source (the flow's target) "+
		"to --target (the flow's source) with that flow's offset index in reverse, for the records that came from --target")
	timeout := fs.Duration("timeout", 2*time.Minute, "bound on the whole command")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "mm2go translate-offsets: %s\n", msg)
		fmt.Fprintln(stderr, "Run 'mm2go translate-offsets --help' for usage.")
		return exitUsage
	}
	switch {
	case *config == "":
		return usage("--config is required: the flow file that names the clusters")
	case *source == "" || *target == "":
		return usage("--source and --target are required: the cluster aliases of the flow")
	case *source == *target:
		return usage("--source and --target name the same cluster")
	case (*group == "") == (*groupsRe == ""):
		return usage("give exactly one of --group and --groups")
	case *timeout <= 0:
		return usage("--timeout must be positive")
	case *probeTimeout <= 0:
		return usage("--probe-timeout must be positive")
	case *failBack && *fromTarget:
		return usage("--fail-back and --from-target do not go together: a fail-back reads the groups' commits on --source and needs --target up")
	}
	var match *regexp.Regexp
	if *groupsRe != "" {
		var err error
		if match, err = regexp.Compile("^(?:" + *groupsRe + ")$"); err != nil {
			return usage(fmt.Sprintf("--groups: %v", err))
		}
	}
	flowSource, flowTarget := *source, *target
	if *failBack {
		flowSource, flowTarget = *target, *source
	}
	env, code := openFlowEnv("translate-offsets", *config, flowSource, flowTarget, stderr, usage)
	if env == nil {
		return code
	}
	defer env.close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tr := &translateRun{env: env, src: env.src, tgt: env.tgt, stderr: stderr,
		out: translateOutput{Source: *source, Target: *target, Apply: *apply, Groups: []translateGroup{}}}
	if *failBack {
		return tr.failBack(ctx, *group, match, *groupsRe, *jsonOut, stdout)
	}
	return tr.forward(ctx, *group, match, *groupsRe, *fromTarget, *probeTimeout, *jsonOut, stdout)
}

// translateRun is one run of translate-offsets.
type translateRun struct {
	env      *flowEnv
	src, tgt *kgo.Client // of the flow's source and target
	stderr   io.Writer
	out      translateOutput
}

func (r *translateRun) fail(err error) int {
	fmt.Fprintf(r.stderr, "mm2go translate-offsets: %v\n", err)
	return exitFailure
}

// forward translates the groups over the flow source->target, from their
// commits on the source or, when the source does not answer the probe (or
// with fromTarget), from their checkpoints on the target.
func (r *translateRun) forward(ctx context.Context, group string, match *regexp.Regexp, groupsRe string, fromTarget bool,
	probeTimeout time.Duration, jsonOut bool, stdout io.Writer) int {
	source, target := r.env.source.alias, r.env.target.alias
	if !fromTarget {
		if err := offsets.ProbeCluster(ctx, r.src, probeTimeout); err != nil {
			if ctx.Err() != nil {
				return r.fail(err)
			}
			fromTarget, r.out.SourceError = true, err.Error()
			fmt.Fprintf(r.stderr, "mm2go translate-offsets: source %s does not answer (%v): translating from the checkpoints and the offset index on %s\n",
				source, err, target)
		} else {
			r.out.SourceReachable = true
		}
	} else {
		r.out.SourceError = "not asked (--from-target)"
	}
	r.out.Basis = string(offsets.BasisSourceCommits)
	var cps *offsets.CheckpointStore
	if fromTarget {
		r.out.Basis = string(offsets.BasisCheckpoints)
		r.out.CheckpointsTopic = r.env.policy.CheckpointsTopic(source)
		var err error
		cps, err = offsets.LoadCheckpointStore(ctx, r.tgt.Opts(), r.out.CheckpointsTopic)
		switch {
		case errors.Is(err, offsets.ErrTopicNotFound):
			return r.fail(fmt.Errorf("checkpoints topic %s not found on %s: no checkpoint connector of %s->%s has written one (is emit.checkpoints.enabled off?); without %s there is nothing to translate from",
				r.out.CheckpointsTopic, target, source, target, source))
		case err != nil:
			return r.fail(fmt.Errorf("read checkpoints %s on %s: %w", r.out.CheckpointsTopic, target, err))
		}
	}

	groups := []string{group}
	if match != nil {
		var err error
		if fromTarget {
			groups = slices.DeleteFunc(cps.Groups(), func(g string) bool { return !match.MatchString(g) })
		} else if groups, err = matchingGroups(ctx, r.src, match); err != nil {
			return r.fail(fmt.Errorf("list groups on %s: %w", source, err))
		}
		if len(groups) == 0 {
			where := "consumer group on " + source
			if fromTarget {
				where = "group with checkpoints in " + r.out.CheckpointsTopic + " on " + target
			}
			return r.fail(fmt.Errorf("no %s matches --groups %q", where, groupsRe))
		}
	}
	indexTopic := offsets.IndexTopic(source)
	ix, err := offsets.OpenIndex(ctx, r.tgt, indexTopic)
	switch {
	case errors.Is(err, offsets.ErrIndexNotFound):
		return r.fail(fmt.Errorf("offset index topic %s not found on %s: has a worker replicated %s->%s yet?", indexTopic, target, source, target))
	case err != nil:
		return r.fail(fmt.Errorf("read offset index %s on %s: %w", indexTopic, target, err))
	}

	var syncs *offsets.SyncStore
	if !fromTarget || r.env.syncsOnTarget { // with the source down, syncs kept there cannot be read
		if syncs, err = r.env.loadSyncs(ctx); err != nil {
			// Only a fallback: translate with the index alone, and say so.
			fmt.Fprintf(r.stderr, "mm2go translate-offsets: warning: cannot read MM2 offset syncs of %s->%s (%v); offsets copied before mm2go's index will not translate\n",
				source, target, err)
			syncs = nil
		}
	}
	return r.translateGroups(ctx, groups, jsonOut, stdout, func(g string) ([]offsets.PartitionTranslation, error) {
		ts, err := offsets.TranslateGroup(ctx, offsets.TranslateRequest{
			Source: r.src, Target: r.tgt, SourceAlias: source, RemoteTopic: r.env.policy.FormatRemoteTopic, Index: ix, Group: g,
			Syncs: syncs, FromTarget: fromTarget, Checkpoints: cps,
		})
		switch {
		case errors.Is(err, offsets.ErrGroupNotFound):
			return ts, fmt.Errorf("group %s has no committed offsets on %s (is the name right?)", g, source)
		case errors.Is(err, offsets.ErrNoCheckpoints):
			return ts, fmt.Errorf("group %s has no checkpoints in %s on %s: the checkpoint connector never saw it commit on a replicated topic, so without %s there is nothing to translate it from",
				g, r.out.CheckpointsTopic, target, source)
		}
		return ts, err
	}, r.tgt)
}

// failBack translates the groups back against the flow: from their commits
// on the flow's target (--source) to the flow's source (--target), with the
// flow's index in reverse.
func (r *translateRun) failBack(ctx context.Context, group string, match *regexp.Regexp, groupsRe string, jsonOut bool, stdout io.Writer) int {
	flowSource, flowTarget := r.env.source.alias, r.env.target.alias
	r.out.Basis = string(offsets.BasisTargetCommits)
	// The group consumes on the flow's target now: ask there, and the flow's
	// source (where the offsets are committed) only with --apply.
	if err := offsets.ProbeCluster(ctx, r.tgt, offsets.DefaultProbeTimeout); err != nil {
		return r.fail(fmt.Errorf("cluster %s, where the groups consume now, does not answer: %w", flowTarget, err))
	}
	groups := []string{group}
	if match != nil {
		var err error
		if groups, err = matchingGroups(ctx, r.tgt, match); err != nil {
			return r.fail(fmt.Errorf("list groups on %s: %w", flowTarget, err))
		}
		if len(groups) == 0 {
			return r.fail(fmt.Errorf("no consumer group on %s matches --groups %q", flowTarget, groupsRe))
		}
	}
	indexTopic := offsets.IndexTopic(flowSource)
	ix, err := offsets.OpenIndex(ctx, r.tgt, indexTopic)
	switch {
	case errors.Is(err, offsets.ErrIndexNotFound):
		return r.fail(fmt.Errorf("offset index topic %s not found on %s: no worker replicated %s->%s, so nothing on %s came from %s",
			indexTopic, flowTarget, flowSource, flowTarget, flowTarget, flowSource))
	case err != nil:
		return r.fail(fmt.Errorf("read offset index %s on %s: %w", indexTopic, flowTarget, err))
	}
	r.out.SourceReachable = true // the cluster the groups leave: the flow's target
	return r.translateGroups(ctx, groups, jsonOut, stdout, func(g string) ([]offsets.PartitionTranslation, error) {
		ts, err := offsets.TranslateGroupBack(ctx, offsets.TranslateBackRequest{
			FlowSource: r.src, FlowTarget: r.tgt, SourceAlias: flowSource, RemoteTopic: r.env.policy.FormatRemoteTopic, Index: ix, Group: g,
		})
		if errors.Is(err, offsets.ErrGroupNotFoundOnTarget) {
			return ts, fmt.Errorf("group %s has no committed offsets on %s (is the name right?)", g, flowTarget)
		}
		return ts, err
	}, r.src)
}

// translateGroups translates each group with translate, commits on commitTo
// with --apply, and prints the result.
func (r *translateRun) translateGroups(ctx context.Context, groups []string, jsonOut bool, stdout io.Writer,
	translate func(group string) ([]offsets.PartitionTranslation, error), commitTo *kgo.Client) int {
	now := time.Now()
	failed := 0
	progress := len(groups) > 1
	for i, g := range groups {
		if progress {
			fmt.Fprintf(r.stderr, "[%d/%d] %s\n", i+1, len(groups), g)
		}
		res := translateGroup{Group: g, Partitions: []translatePartition{}}
		ts, err := translate(g)
		if err != nil {
			res.Error = err.Error()
		}
		byTP := make(map[offsets.TopicPartition]int)
		for _, t := range ts {
			p := translatePartition{
				SourceTopic: t.SourceTopic, TargetTopic: t.TargetTopic, Partition: t.Partition,
				SourceOffset: t.SourceOffset, TargetOffset: t.TargetOffset, Exact: t.Exact, Lag: t.Lag, IndexBehind: t.IndexBehind,
				Metadata: t.Metadata, FromOffsetSyncs: t.FromOffsetSyncs, FromCheckpoint: t.FromCheckpoint,
				PastSourceEnd: t.PastSourceEnd, NotOnTarget: t.NotOnTarget,
			}
			if !t.CheckpointTime.IsZero() {
				at, age := t.CheckpointTime.UTC(), now.Sub(t.CheckpointTime).Seconds()
				p.CheckpointTime, p.CheckpointAgeSeconds = &at, &age
			}
			if t.Err != nil {
				p.Error = untranslatedReason(t.Err)
			}
			p.Notes = translationNotes(t, r.out.Source, r.out.Target)
			byTP[offsets.TopicPartition{Topic: t.TargetTopic, Partition: t.Partition}] = len(res.Partitions)
			res.Partitions = append(res.Partitions, p)
		}
		if r.out.Apply && res.Error == "" {
			cr, err := offsets.CommitTranslated(ctx, commitTo, g, ts)
			res.Committed = cr.Count(offsets.Committed)
			res.Skipped = cr.Count(offsets.SkippedNotBehind) + cr.Count(offsets.SkippedUntranslated)
			for _, pc := range cr.Partitions {
				p := &res.Partitions[byTP[offsets.TopicPartition{Topic: pc.TargetTopic, Partition: pc.Partition}]]
				p.Commit = pc.Status.String()
				if pc.CommitErr != nil {
					p.Commit += ": " + pc.CommitErr.Error()
				}
				prev := pc.Previous
				p.PreviousTargetOffset = &prev
			}
			if err != nil {
				res.Error = err.Error()
			} else {
				res.Applied = true
			}
		}
		if res.Error != "" {
			failed++
			fmt.Fprintf(r.stderr, "mm2go translate-offsets: %s\n", res.Error)
		}
		r.out.Groups = append(r.out.Groups, res)
	}

	if jsonOut {
		if err := writeJSON(stdout, r.out); err != nil {
			return r.fail(err)
		}
	} else {
		printTranslations(stdout, r.out)
	}
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

// translationNotes says in words what a translation leaves open.
func translationNotes(t offsets.PartitionTranslation, from, to string) []string {
	var notes []string
	if t.Err != nil {
		return nil
	}
	switch {
	case t.PastSourceEnd:
		notes = append(notes, fmt.Sprintf("the group's offset %d is past the end of the source partition (topic re-created or truncated, or the offset set by hand): it resumes after the last copied record", t.SourceOffset))
	case t.FromCheckpoint:
		notes = append(notes, "the checkpoint's own translation (records copied before mm2go's index): up to offset.lag.max records may be read again")
	case t.FromOffsetSyncs && !t.Exact:
		notes = append(notes, "from MM2's offset syncs (copied before mm2go's index): up to offset.lag.max records may be read again")
	case t.Basis == offsets.BasisTargetCommits && !t.Exact:
		notes = append(notes, fmt.Sprintf("the group read records of %s past the last one the index knows was copied (written on %s after the failover, or copied after the index's last update): it resumes on %s after the last copied record",
			t.SourceTopic, from, to))
	case !t.Exact && t.IndexBehind > 0:
		notes = append(notes, fmt.Sprintf("the index does not know the last %d record(s) on the target yet (it learns at each source-offset commit, offset.flush.interval.ms): up to %d may be read again", t.IndexBehind, t.IndexBehind))
	case !t.Exact:
		notes = append(notes, "records after the index's last known one may be read again")
	case t.IndexBehind > 0 && t.Lag >= 0:
		notes = append(notes, fmt.Sprintf("lag counts %d record(s) on the target the index does not know yet one for one", t.IndexBehind))
	}
	if t.NotOnTarget > 0 {
		notes = append(notes, fmt.Sprintf("%d offset(s) between the last copied record and the group's offset are not on the target: transaction markers, or records read on %s that were never copied", t.NotOnTarget, from))
	}
	return notes
}

// flowEnv is what the commands that work on one flow (translate-offsets,
// migrate plan and cutover) need of the flow file, and admin clients of
// the flow's clusters.
type flowEnv struct {
	file           *flows.File
	source, target clusterOpts
	policy         policy.ReplicationPolicy
	// syncsOnTarget is offset-syncs.topic.location=target.
	syncsOnTarget bool
	// props are the flow's connector props, as the worker gets them.
	props connect.Props
	// src and tgt are admin clients of the flow's source and target, set
	// by openFlowEnv; close closes them.
	src, tgt *kgo.Client
}

func (e *flowEnv) close() {
	e.src.Close()
	e.tgt.Close()
}

// loadSyncs reads the flow's MM2 offset syncs, the fallback for offsets
// copied before mm2go's index existed (a takeover from Java MM2).
func (e *flowEnv) loadSyncs(ctx context.Context) (*offsets.SyncStore, error) {
	c, topic := e.source, e.policy.OffsetSyncsTopic(e.target.alias)
	if e.syncsOnTarget {
		c, topic = e.target, e.policy.OffsetSyncsTopic(e.source.alias)
	}
	opts := append(append([]kgo.Opt(nil), c.opts.Common...), c.opts.Consumer...)
	return offsets.LoadSyncStore(ctx, opts, topic)
}

// clusterOpts are the client options of one cluster.
type clusterOpts struct {
	alias string
	opts  flows.ClientOptions
}

// openFlowEnv loads the flow file at path and finds the flow
// source->target in it, even if it is disabled (after a cut-over or a
// failover it may well be), with its clusters and replication policy, and
// opens admin clients of both clusters. When it cannot, it has said why on
// stderr and returns nil and the exit code: usage's for a file or a flow
// that is wrong, 1 for a client that cannot be made. cmd names the command
// in messages.
func openFlowEnv(cmd, path, source, target string, stderr io.Writer, usage func(string) int) (*flowEnv, int) {
	f, code := loadFlowFile(path, stderr, cmd)
	if f == nil {
		return nil, code
	}
	env, err := newFlowEnv(f, path, source, target)
	if err != nil {
		return nil, usage(err.Error())
	}
	if env.src, env.tgt, err = env.clients(); err != nil {
		fmt.Fprintf(stderr, "mm2go %s: %v\n", cmd, err)
		return nil, exitFailure
	}
	return env, exitOK
}

// newFlowEnv is openFlowEnv's look at the flow file: no clients yet.
func newFlowEnv(f *flows.File, path, source, target string) (*flowEnv, error) {
	e, fc, err := f.ExpandFlow(path, source, target)
	if err != nil {
		return nil, err
	}
	// The clusters' client options, as the worker gets them (Plan), but
	// without Plan's checks of worker settings that do not matter here.
	env := &flowEnv{file: f}
	for _, c := range []struct {
		dst   *clusterOpts
		alias string
	}{{&env.source, source}, {&env.target, target}} {
		opts, err := e.Clusters[c.alias].ClientOpts()
		if err != nil {
			return nil, err
		}
		*c.dst = clusterOpts{alias: c.alias, opts: opts}
	}
	if env.policy, err = policy.FromProps(fc.Props); err != nil {
		return nil, fmt.Errorf("flow %s->%s: %w", source, target, err)
	}
	env.syncsOnTarget = strings.EqualFold(strings.TrimSpace(fc.Props["offset-syncs.topic.location"]), "target")
	env.props = connect.Props(fc.Props).Clone()
	return env, nil
}

// clients opens admin clients of both clusters.
func (e *flowEnv) clients() (src, tgt *kgo.Client, err error) {
	open := func(c clusterOpts) (*kgo.Client, error) {
		opts := append(append([]kgo.Opt(nil), c.opts.Common...), c.opts.Admin...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("client for cluster %s: %w", c.alias, err)
		}
		return cl, nil
	}
	if src, err = open(e.source); err != nil {
		return nil, nil, err
	}
	if tgt, err = open(e.target); err != nil {
		src.Close()
		return nil, nil, err
	}
	return src, tgt, nil
}

// matchingGroups returns the consumer groups of the cluster of cl whose
// whole name match matches, sorted.
func matchingGroups(ctx context.Context, cl *kgo.Client, match *regexp.Regexp) ([]string, error) {
	listed, err := kadm.NewClient(cl).ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range listed.Sorted() {
		if g.GroupType != "share" && g.GroupType != "streams" && match.MatchString(g.Group) {
			out = append(out, g.Group)
		}
	}
	return out, nil
}

// untranslatedReason says in a few words why a partition has no target
// offset.
func untranslatedReason(err error) string {
	var te *offsets.TranslateError
	switch {
	case errors.Is(err, offsets.ErrNotReplicated):
		return "not replicated: the flow has copied nothing of this partition"
	case errors.Is(err, offsets.ErrNoTranslation):
		return "behind the copy: no record at or before the committed offset was copied"
	case errors.As(err, &te):
		return te.Err.Error()
	}
	return err.Error()
}

// printTranslations prints the table for people.
func printTranslations(w io.Writer, out translateOutput) {
	switch offsets.Basis(out.Basis) {
	case offsets.BasisCheckpoints:
		fmt.Fprintf(w, "basis: checkpoints in %s on %s + offset index (source %s not asked: %s)\n", out.CheckpointsTopic, out.Target, out.Source, out.SourceError)
	case offsets.BasisTargetCommits:
		fmt.Fprintf(w, "basis: committed offsets on %s + offset index of %s->%s in reverse (fail-back)\n", out.Source, out.Target, out.Source)
	default:
		fmt.Fprintf(w, "basis: committed offsets on %s + offset index on %s\n", out.Source, out.Target)
	}
	fromCheckpoints := offsets.Basis(out.Basis) == offsets.BasisCheckpoints
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "GROUP\tTOPIC\tPARTITION\tSOURCE OFFSET\tTARGET TOPIC\tTARGET OFFSET\tEXACT\tLAG"
	if fromCheckpoints {
		header += "\tCHECKPOINT AGE"
	}
	if out.Apply {
		header += "\tCOMMIT"
	}
	fmt.Fprintln(tw, header+"\tNOTE")
	for _, g := range out.Groups {
		for _, p := range g.Partitions {
			target, exact := "-", "-"
			if p.Error == "" {
				target, exact = strconv.FormatInt(p.TargetOffset, 10), "no"
				if p.Exact {
					exact = "yes"
				}
			}
			lag := "?"
			if p.Lag >= 0 {
				lag = strconv.FormatInt(p.Lag, 10)
				if p.IndexBehind > 0 {
					lag = "~" + lag // counted one for one past the index
				}
			}
			line := fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s", g.Group, cmp.Or(p.SourceTopic, "?"), p.Partition, p.SourceOffset, p.TargetTopic, target, exact, lag)
			if fromCheckpoints {
				age := "-"
				if p.CheckpointAgeSeconds != nil {
					age = time.Duration(*p.CheckpointAgeSeconds * float64(time.Second)).Round(time.Second).String()
				}
				line += "\t" + age
			}
			if out.Apply {
				line += "\t" + cmp.Or(p.Commit, "-")
			}
			note := p.Error
			if note == "" {
				note = strings.Join(p.Notes, "; ")
			}
			fmt.Fprintln(tw, line+"\t"+note)
		}
	}
	tw.Flush()
	for _, g := range out.Groups {
		switch {
		case g.Error != "":
			fmt.Fprintf(w, "%s: %s\n", g.Group, g.Error)
		case out.Apply && g.Applied:
			fmt.Fprintf(w, "%s: %d partition(s) committed on %s, %d skipped\n", g.Group, g.Committed, out.Target, g.Skipped)
		case !out.Apply:
			fmt.Fprintf(w, "%s: dry run; rerun with --apply to commit on %s\n", g.Group, out.Target)
		}
	}
	if fromCheckpoints {
		fmt.Fprintf(w, "checkpoints are written when a group's offset moves: an old one of an idle group is still current; commits made on %s after the last checkpoint cycle are not known, and those records are read again\n", out.Source)
	}
}
