package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/mm2go/mm2go/connectors"
)

// planOutput is what `mm2go migrate plan --json` prints.
type planOutput struct {
	Plan    *connectors.TargetPlan  `json:"plan"`
	Applied *connectors.ApplyResult `json:"applied,omitempty"`
}

const planSynopsis = "migrate plan --config FILE --flow A->B [--json] [--apply]"

func runMigratePlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("migrate plan", planSynopsis, stdout)
	config := fs.String("config", "", "flow file: YAML (.yaml, .yml) or MM2's mm2.properties (.properties)")
	flow := fs.String("flow", "", "the flow SOURCE->TARGET to plan (it may be disabled in the file)")
	jsonOut := fs.Bool("json", false, "print the plan as JSON")
	apply := fs.Bool("apply", false, "create what the plan lists on TARGET (topics, partitions, configs, ACLs) before data moves")
	timeout := fs.Duration("timeout", 2*time.Minute, "bound on the whole command")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "mm2go migrate plan: %s\nRun 'mm2go migrate plan --help' for usage.\n", msg)
		return exitUsage
	}
	switch {
	case *config == "":
		return usage("--config is required: the flow file that names the clusters")
	case *flow == "":
		return usage("--flow is required: the flow SOURCE->TARGET to plan")
	case *timeout <= 0:
		return usage("--timeout must be positive")
	}
	source, target, err := parseFlowArg(*flow)
	if err != nil {
		return usage(err.Error())
	}
	env, code := openFlowEnv("migrate plan", *config, source, target, stderr, usage)
	if env == nil {
		return code
	}
	defer env.close()
	src, tgt := env.src, env.tgt
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	plan, err := connectors.PlanTarget(ctx, src, tgt, env.props)
	if err != nil {
		fmt.Fprintf(stderr, "mm2go migrate plan: %v\n", err)
		return exitFailure
	}
	out := planOutput{Plan: plan}
	var applyErr error
	if *apply {
		res, err := plan.Apply(ctx, tgt)
		out.Applied, applyErr = &res, err
	}
	if *jsonOut {
		if err := writeJSON(stdout, out); err != nil {
			fmt.Fprintf(stderr, "mm2go migrate plan: %v\n", err)
			return exitFailure
		}
	} else {
		printPlan(stdout, plan, out.Applied)
	}
	if applyErr != nil {
		fmt.Fprintf(stderr, "mm2go migrate plan: apply: %v\n", applyErr)
		return exitFailure
	}
	return exitOK
}

// printPlan prints the plan the way Terraform does: + create, ~ change,
// = as it should be.
func printPlan(w io.Writer, p *connectors.TargetPlan, applied *connectors.ApplyResult) {
	fmt.Fprintf(w, "mm2go migrate plan: %s->%s (+ create, ~ change, = already there)\n", p.Source, p.Target)
	fmt.Fprintf(w, "\ntopics on %s:\n", p.Target)
	if len(p.Topics) == 0 {
		fmt.Fprintln(w, "  (the flow replicates no topic of "+p.Source+" now)")
	}
	for _, t := range p.Topics {
		rf := fmt.Sprintf("replication factor %d", t.ReplicationFactor)
		if t.ReplicationFactor < 0 {
			rf = "the broker's default replication factor"
		}
		switch t.Change {
		case connectors.ChangeCreate:
			fmt.Fprintf(w, "  + %s (from %s): %d partition(s), %s\n", t.RemoteTopic, t.SourceTopic, t.Partitions, rf)
			for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
				fmt.Fprintf(w, "      %s = %q\n", k, t.Configs[k])
			}
		case connectors.ChangeUpdate:
			fmt.Fprintf(w, "  ~ %s (from %s)\n", t.RemoteTopic, t.SourceTopic)
			if t.CurrentPartitions < t.Partitions {
				fmt.Fprintf(w, "      partitions %d -> %d\n", t.CurrentPartitions, t.Partitions)
			}
			for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
				from := "(unset)"
				if v := t.Current[k]; v != "" {
					from = fmt.Sprintf("%q", v)
				}
				fmt.Fprintf(w, "      %s = %s -> %q\n", k, from, t.Configs[k])
			}
			for _, k := range t.Remove {
				fmt.Fprintf(w, "      %s = %q -> (removed: the source topic has no override)\n", k, t.Current[k])
			}
		default:
			fmt.Fprintf(w, "  = %s (from %s): %d partition(s), replication factor %d\n", t.RemoteTopic, t.SourceTopic, t.CurrentPartitions, t.CurrentReplicationFactor)
		}
	}
	fmt.Fprintf(w, "\ntopic ACLs on %s:\n", p.Target)
	switch {
	case p.ACLsSkipped != "":
		fmt.Fprintf(w, "  (not synced: %s)\n", p.ACLsSkipped)
	case len(p.ACLs) == 0:
		fmt.Fprintln(w, "  (none to copy)")
	}
	for _, a := range p.ACLs {
		fmt.Fprintf(w, "  %s %s %s %s from %s on %s topic %q\n", a.Change.Symbol(), a.Principal, a.Permission, a.Operation, a.Host, a.Pattern, a.Topic)
	}
	fmt.Fprintf(w, "\nconsumer groups (moved at cut-over: mm2go migrate cutover --flow %s->%s --group G):\n", p.Source, p.Target)
	if len(p.Groups) == 0 {
		fmt.Fprintln(w, "  (no group of "+p.Source+" has committed on a replicated topic)")
	}
	for _, g := range p.Groups {
		line := fmt.Sprintf("  %s %s: %d partition(s) on %s", g.Change.Symbol(), g.Group, g.Partitions, p.Source)
		if g.OnTarget > 0 {
			line += fmt.Sprintf("; %d already committed on %s (moved forward only)", g.OnTarget, p.Target)
		}
		if g.MembersOnTarget > 0 {
			line += fmt.Sprintf("; %d member(s) on %s: a cut-over refuses to commit until they stop", g.MembersOnTarget, p.Target)
		}
		fmt.Fprintln(w, line)
	}
	create, change := p.Count(connectors.ChangeCreate), p.Count(connectors.ChangeUpdate)
	fmt.Fprintf(w, "\nplan: %d to create, %d to change, %d already there (topics and ACLs).\n", create, change, p.Count(connectors.ChangeNone))
	switch {
	case applied != nil:
		fmt.Fprintf(w, "applied: %d topic(s) created, %d grown, %d config(s) set, %d ACL(s) created.\n",
			applied.TopicsCreated, applied.TopicsGrown, applied.ConfigsSet, applied.ACLsCreated)
	case create+change > 0:
		fmt.Fprintln(w, "rerun with --apply to make it so before any data moves.")
	}
}
