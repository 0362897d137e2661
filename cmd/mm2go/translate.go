package main

import (
	"cmp"
	"context"
	"encoding/json"
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

	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/flows"
	"github.com/mm2go/mm2go/offsets"
)

// translateOutput is what `mm2go translate-offsets --json` prints.
type translateOutput struct {
	Source string           `json:"source"`
	Target string           `json:"target"`
	Apply  bool             `json:"apply"`
	Groups []translateGroup `json:"groups"`
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
	Metadata     string `json:"metadata"`
	// FromOffsetSyncs: translated with MM2's offset syncs (records copied
	// before mm2go's index existed), MM2's approximate way.
	FromOffsetSyncs bool   `json:"from_offset_syncs,omitempty"`
	Error           string `json:"error,omitempty"`
	// Commit and PreviousTargetOffset are set with --apply.
	Commit               string `json:"commit,omitempty"`
	PreviousTargetOffset *int64 `json:"previous_target_offset,omitempty"`
}

func runTranslate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("translate-offsets",
		"translate-offsets --config FILE --source A --target B (--group G | --groups REGEX) [--json] [--apply]", stdout)
	config := fs.String("config", "", "flow file: YAML (.yaml, .yml) or MM2's mm2.properties (.properties)")
	source := fs.String("source", "", "source cluster alias: where the groups consumed until now")
	target := fs.String("target", "", "target cluster alias: where the groups will consume")
	group := fs.String("group", "", "consumer group to translate")
	groupsRe := fs.String("groups", "", "regular expression matching whole group names on the source (instead of --group)")
	jsonOut := fs.Bool("json", false, "print JSON for scripts instead of a table")
	apply := fs.Bool("apply", false, "commit the translated offsets into the groups on the target; refused for a group with active members there")
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
	}
	var match *regexp.Regexp
	if *groupsRe != "" {
		var err error
		if match, err = regexp.Compile("^(?:" + *groupsRe + ")$"); err != nil {
			return usage(fmt.Sprintf("--groups: %v", err))
		}
	}
	f, code := loadFlowFile(*config, stderr, "translate-offsets")
	if f == nil {
		return code
	}
	env, err := openTranslateEnv(f, *config, *source, *target)
	if err != nil {
		return usage(err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	src, tgt, err := env.clients()
	if err != nil {
		fmt.Fprintf(stderr, "mm2go translate-offsets: %v\n", err)
		return exitFailure
	}
	defer src.Close()
	defer tgt.Close()

	fail := func(err error) int {
		fmt.Fprintf(stderr, "mm2go translate-offsets: %v\n", err)
		return exitFailure
	}
	groups := []string{*group}
	if match != nil {
		if groups, err = matchingGroups(ctx, src, match); err != nil {
			return fail(fmt.Errorf("list groups on %s: %w", *source, err))
		}
		if len(groups) == 0 {
			return fail(fmt.Errorf("no consumer group on %s matches --groups %q", *source, *groupsRe))
		}
	}
	indexTopic := offsets.IndexTopic(*source)
	ix, err := offsets.OpenIndex(ctx, tgt, indexTopic)
	switch {
	case errors.Is(err, offsets.ErrIndexNotFound):
		return fail(fmt.Errorf("offset index topic %s not found on %s: has a worker replicated %s->%s yet?", indexTopic, *target, *source, *target))
	case err != nil:
		return fail(fmt.Errorf("read offset index %s on %s: %w", indexTopic, *target, err))
	}

	syncs, err := env.loadSyncs(ctx)
	if err != nil {
		// Only a fallback: translate with the index alone, and say so.
		fmt.Fprintf(stderr, "mm2go translate-offsets: warning: cannot read MM2 offset syncs of %s->%s (%v); offsets copied before mm2go's index will not translate\n",
			*source, *target, err)
		syncs = nil
	}

	out := translateOutput{Source: *source, Target: *target, Apply: *apply, Groups: []translateGroup{}}
	failed := 0
	progress := len(groups) > 1
	for i, g := range groups {
		if progress {
			fmt.Fprintf(stderr, "[%d/%d] %s\n", i+1, len(groups), g)
		}
		res := translateGroup{Group: g, Partitions: []translatePartition{}}
		ts, err := offsets.TranslateGroup(ctx, offsets.TranslateRequest{
			Source: src, Target: tgt, SourceAlias: *source, RemoteTopic: env.policy.FormatRemoteTopic, Index: ix, Group: g,
			Syncs: syncs,
		})
		switch {
		case errors.Is(err, offsets.ErrGroupNotFound):
			res.Error = fmt.Sprintf("group %s has no committed offsets on %s (is the name right?)", g, *source)
		case err != nil:
			res.Error = err.Error()
		}
		byTP := make(map[offsets.TopicPartition]int)
		for _, t := range ts {
			p := translatePartition{
				SourceTopic: t.SourceTopic, TargetTopic: t.TargetTopic, Partition: t.Partition,
				SourceOffset: t.SourceOffset, TargetOffset: t.TargetOffset, Exact: t.Exact, Lag: t.Lag, Metadata: t.Metadata,
				FromOffsetSyncs: t.FromOffsetSyncs,
			}
			if t.Err != nil {
				p.Error = untranslatedReason(t.Err)
			}
			byTP[offsets.TopicPartition{Topic: t.TargetTopic, Partition: t.Partition}] = len(res.Partitions)
			res.Partitions = append(res.Partitions, p)
		}
		if *apply && res.Error == "" {
			cr, err := offsets.CommitTranslated(ctx, tgt, g, ts)
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
			fmt.Fprintf(stderr, "mm2go translate-offsets: %s\n", res.Error)
		}
		out.Groups = append(out.Groups, res)
	}

	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fail(err)
		}
	} else {
		printTranslations(stdout, out)
	}
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

// translateEnv is what translate-offsets needs of the flow file.
type translateEnv struct {
	source, target clusterOpts
	policy         policy.ReplicationPolicy
	// syncsOnTarget is offset-syncs.topic.location=target.
	syncsOnTarget bool
}

// loadSyncs reads the flow's MM2 offset syncs, the fallback for offsets
// copied before mm2go's index existed (a takeover from Java MM2).
func (e *translateEnv) loadSyncs(ctx context.Context) (*offsets.SyncStore, error) {
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

// openTranslateEnv finds the flow source->target in f, even if it is
// disabled (after a failover it may well be), and returns its clusters and
// replication policy.
func openTranslateEnv(f *flows.File, path, source, target string) (*translateEnv, error) {
	for _, alias := range []string{source, target} {
		if _, ok := f.Clusters[alias]; !ok {
			names := make([]string, 0, len(f.Clusters))
			for a := range f.Clusters {
				names = append(names, a)
			}
			slices.Sort(names)
			return nil, fmt.Errorf("cluster %q is not in %s (its clusters: %s)", alias, path, strings.Join(names, ", "))
		}
	}
	var flow *flows.Flow
	for _, fl := range f.Flows {
		if fl.Source == source && fl.Target == target {
			flow = fl
		}
	}
	if flow == nil {
		return nil, fmt.Errorf("%s has no flow %s->%s", path, source, target)
	}
	// Expand resolves only enabled flows; the file is this command's own
	// copy, so enabling the flow here changes nothing else.
	flow.Enabled = true
	e, err := f.Expand()
	if err != nil {
		return nil, err
	}
	// The clusters' client options, as the worker gets them (Plan), but
	// without Plan's checks of worker settings that do not matter here.
	env := &translateEnv{}
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
	for _, fc := range e.Flows {
		if fc.Source == source && fc.Target == target {
			if env.policy, err = policy.FromProps(fc.Props); err != nil {
				return nil, fmt.Errorf("flow %s->%s: %w", source, target, err)
			}
			env.syncsOnTarget = strings.EqualFold(strings.TrimSpace(fc.Props["offset-syncs.topic.location"]), "target")
		}
	}
	return env, nil
}

// clients opens admin clients of both clusters.
func (e *translateEnv) clients() (src, tgt *kgo.Client, err error) {
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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "GROUP\tTOPIC\tPARTITION\tSOURCE OFFSET\tTARGET TOPIC\tTARGET OFFSET\tEXACT\tLAG"
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
			}
			line := fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s", g.Group, p.SourceTopic, p.Partition, p.SourceOffset, p.TargetTopic, target, exact, lag)
			if out.Apply {
				line += "\t" + cmp.Or(p.Commit, "-")
			}
			note := p.Error
			switch {
			case note != "":
			case p.FromOffsetSyncs && !p.Exact:
				note = "from MM2's offset syncs (copied before mm2go's index): up to offset.lag.max records may be read again"
			case !p.Exact:
				note = "records after the index's last known one may be read again"
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
}
