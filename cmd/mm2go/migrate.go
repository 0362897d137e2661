package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mm2go/mm2go/flows"
	"github.com/mm2go/mm2go/inspect"
	"github.com/mm2go/mm2go/offsets"
)

// migrateSubcommands are the subcommands of `mm2go migrate`.
var migrateSubcommands = []command{
	{"plan", "show (and with --apply create) what a flow needs on its target before data moves: topics, configs, ACLs, groups", runMigratePlan},
	{"cutover", "move consumer groups from a flow's source to its target, checked and resumable", runMigrateCutover},
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	help := func(w io.Writer) {
		fmt.Fprintln(w, "Usage: mm2go migrate <plan|cutover> --config FILE --flow A->B [flags]")
		fmt.Fprintln(w, "\nA guided migration from cluster A to cluster B:")
		for _, c := range migrateSubcommands {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
		fmt.Fprintln(w, "\nRun 'mm2go migrate <subcommand> --help' for its flags.")
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			args = []string{args[1], "--help"}
		} else {
			help(stdout)
			if len(args) == 0 {
				return exitUsage
			}
			return exitOK
		}
	}
	for _, c := range migrateSubcommands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "mm2go migrate: unknown subcommand %q\n\n", args[0])
	help(stderr)
	return exitUsage
}

// groupList is a flag that may be given several times.
type groupList []string

func (g *groupList) String() string { return strings.Join(*g, ",") }

func (g *groupList) Set(v string) error {
	if v == "" {
		return errors.New("empty group name")
	}
	*g = append(*g, v)
	return nil
}

// verifyGroupTopics returns the verification a cut-over asks for before a
// group is ready: `mm2go verify`'s comparison of the topics the group
// consumes (every record on the source against its copy), which must be
// clean. The lag is not a difference: records not copied yet are counted
// apart, and the cut-over's wait covers them.
func verifyGroupTopics(f *flows.File, source, target string) func(ctx context.Context, group string, ts []offsets.PartitionTranslation) (string, error) {
	return func(ctx context.Context, group string, ts []offsets.PartitionTranslation) (string, error) {
		var topics []string
		for _, t := range ts {
			if q := regexp.QuoteMeta(t.SourceTopic); !slices.Contains(topics, q) {
				topics = append(topics, q)
			}
		}
		fl, err := inspect.FlowFromFile(f, source, target)
		if err != nil {
			return "", err
		}
		in, err := inspect.New(fl)
		if err != nil {
			return "", err
		}
		defer in.Close()
		expr := strings.Join(topics, "|")
		re, err := inspect.WholeName(expr)
		if err != nil {
			return "", err
		}
		rep, err := in.Verify(ctx, inspect.VerifyOptions{Topics: re})
		if err != nil {
			return "", err
		}
		t := rep.Totals
		if !rep.Clean {
			return "", fmt.Errorf("the copy of group %s's topics differs: %d missing, %d differing, %d extra (mm2go verify --flow %s->%s --topics '%s' lists them; --no-verify skips this check)",
				group, t.Missing, t.Differing, t.Extra, source, target, expr)
		}
		return fmt.Sprintf("%d record(s) of %d topic(s) compared, all equal", t.Compared, len(topics)), nil
	}
}

// cutoverOutput is what `mm2go migrate cutover --json` prints.
type cutoverOutput struct {
	Source string         `json:"source"`
	Target string         `json:"target"`
	DryRun bool           `json:"dry_run"`
	Topic  string         `json:"cutover_topic"`
	Groups []cutoverGroup `json:"groups"`
}

type cutoverGroup struct {
	Group string                 `json:"group"`
	Done  bool                   `json:"done"`
	Error string                 `json:"error,omitempty"`
	Steps []offsets.CutoverEvent `json:"steps"`
}

const cutoverSynopsis = "migrate cutover --config FILE --flow A->B --group G [--group G2 ...] [--max-lag 1000] [--no-verify] [--dry-run] [--restart] [--json] [--timeout 10m]"

func runMigrateCutover(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("migrate cutover", cutoverSynopsis, stdout)
	config := fs.String("config", "", "flow file: YAML (.yaml, .yml) or MM2's mm2.properties (.properties)")
	flow := fs.String("flow", "", "the flow SOURCE->TARGET the groups move along")
	var groups groupList
	fs.Var(&groups, "group", "consumer group to move (repeat for several); its consumers must be stopped on SOURCE")
	maxLag := fs.Int64("max-lag", 1000, "readiness: the most records of a group's partitions that may still be missing on TARGET when its cut-over begins")
	dryRun := fs.Bool("dry-run", false, "check and print each step without recording, waiting or committing anything")
	restart := fs.Bool("restart", false, "forget the steps earlier runs recorded for the groups and start over")
	noVerify := fs.Bool("no-verify", false, "do not compare the groups' topics on both clusters before a cut-over (mm2go verify; it reads them whole)")
	jsonOut := fs.Bool("json", false, "print the outcome as JSON (progress goes to stderr)")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the whole command, waits included; rerun to resume")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "mm2go migrate cutover: %s\nRun 'mm2go migrate cutover --help' for usage.\n", msg)
		return exitUsage
	}
	switch {
	case *config == "":
		return usage("--config is required: the flow file that names the clusters")
	case *flow == "":
		return usage("--flow is required: the flow SOURCE->TARGET the groups move along")
	case len(groups) == 0:
		return usage("--group is required: the consumer group(s) to move")
	case *maxLag < 0:
		return usage("--max-lag must not be negative")
	case *timeout <= 0:
		return usage("--timeout must be positive")
	}
	source, target, err := parseFlowArg(*flow)
	if err != nil {
		return usage(err.Error())
	}
	env, code := openFlowEnv("migrate cutover", *config, source, target, stderr, usage)
	if env == nil {
		return code
	}
	defer env.close()
	src, tgt := env.src, env.tgt
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	progressOut := stdout
	if *jsonOut {
		progressOut = stderr
	}
	req := offsets.CutoverRequest{
		Source: src, Target: tgt, SourceAlias: source, TargetAlias: target, RemoteTopic: env.policy.FormatRemoteTopic,
		Groups: groups, MaxLag: *maxLag, DryRun: *dryRun, Restart: *restart,
		Progress: newCutoverPrinter(progressOut).print,
	}
	if !*noVerify {
		req.Verify = verifyGroupTopics(env.file, source, target)
	}
	res, err := offsets.Cutover(ctx, req)
	out := cutoverOutput{Source: source, Target: target, DryRun: *dryRun, Topic: offsets.CutoverTopic(source), Groups: []cutoverGroup{}}
	for _, gc := range res {
		g := cutoverGroup{Group: gc.Group, Steps: gc.Steps, Done: gc.Err == nil && !*dryRun}
		if gc.Err != nil {
			g.Error = gc.Err.Error()
		}
		out.Groups = append(out.Groups, g)
	}
	if err != nil && len(res) == 0 {
		switch {
		case errors.Is(err, offsets.ErrIndexNotFound):
			fmt.Fprintf(stderr, "mm2go migrate cutover: offset index topic %s not found on %s: has a worker replicated %s->%s yet?\n",
				offsets.IndexTopic(source), target, source, target)
		default:
			fmt.Fprintf(stderr, "mm2go migrate cutover: %v\n", err)
		}
		return exitFailure
	}
	if *jsonOut {
		if err := writeJSON(stdout, out); err != nil {
			fmt.Fprintf(stderr, "mm2go migrate cutover: %v\n", err)
			return exitFailure
		}
	} else {
		for _, g := range out.Groups {
			switch {
			case g.Error != "":
				fmt.Fprintf(stdout, "%s: not moved: %s\n", g.Group, g.Error)
			case *dryRun:
				fmt.Fprintf(stdout, "%s: dry run; rerun without --dry-run to move it\n", g.Group)
			default:
				fmt.Fprintf(stdout, "%s: moved to %s; start its consumers on %s now. Once producers write to %s and the copy is idle, stop the flow %s->%s.\n",
					g.Group, target, target, target, source, target)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "mm2go migrate cutover: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// cutoverPrinter prints cut-over events for people: one line per step, and
// while waiting one line every few seconds.
type cutoverPrinter struct {
	w        io.Writer
	lastWait time.Time
}

func newCutoverPrinter(w io.Writer) *cutoverPrinter { return &cutoverPrinter{w: w} }

func (p *cutoverPrinter) print(ev offsets.CutoverEvent) {
	if ev.Status == offsets.StepWaiting {
		if time.Since(p.lastWait) < 5*time.Second {
			return
		}
		p.lastWait = time.Now()
	}
	at := ""
	if ev.Status == offsets.StepResumed {
		at = " (recorded " + ev.At.UTC().Format(time.RFC3339) + ")"
	}
	fmt.Fprintf(p.w, "%s  %-9s  %-7s  %s%s\n", ev.Group, ev.Step, ev.Status, ev.Detail, at)
	if (ev.Status == offsets.StepDone || ev.Status == offsets.StepDryRun) && ev.Step != offsets.CutoverCaughtUp {
		for _, o := range ev.Offset {
			exact := "exact"
			if !o.Exact {
				exact = "not exact yet"
			}
			fmt.Fprintf(p.w, "    %s[%d] at %d -> %s[%d] at %d (%s)\n", o.SourceTopic, o.Partition, o.SourceOffset, o.TargetTopic, o.Partition, o.TargetOffset, exact)
		}
	}
}
