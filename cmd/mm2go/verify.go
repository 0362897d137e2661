package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mm2go/mm2go/inspect"
)

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("verify", "verify --config FILE --flow A->B [--topics REGEX] [--json] [--parallel 4]", stdout)
	config := fs.String("config", "", "flow file: YAML (.yaml, .yml) or MM2's mm2.properties (.properties)")
	flowArg := fs.String("flow", "", "the flow to verify, as source->target")
	topics := fs.String("topics", "", "regular expression matching whole source topic names to verify (default: every topic the flow copies)")
	heartbeats := fs.Bool("heartbeats", false, "verify the heartbeats topics the flow copies too")
	jsonOut := fs.Bool("json", false, "print JSON for scripts instead of a table")
	parallel := fs.Int("parallel", 4, "partitions compared at once")
	maxDiffs := fs.Int("max-differences", 100, "differences listed per partition (all are counted)")
	timeout := fs.Duration("timeout", time.Hour, "bound on the whole comparison")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "mm2go verify: %s\n", msg)
		fmt.Fprintln(stderr, "Run 'mm2go verify --help' for usage.")
		return exitUsage
	}
	switch {
	case *config == "":
		return usage("--config is required: the flow file that names the clusters")
	case *flowArg == "":
		return usage("--flow is required: the flow to verify, as source->target")
	case *parallel < 1:
		return usage("--parallel must be at least 1")
	case *maxDiffs < 1:
		return usage("--max-differences must be at least 1")
	case *timeout <= 0:
		return usage("--timeout must be positive")
	}
	re, err := compileWhole("--topics", *topics)
	if err != nil {
		return usage(err.Error())
	}
	f, code := loadFlowFile(*config, stderr, "verify")
	if f == nil {
		return code
	}
	ins, err := openInspectors(f, *config, *flowArg)
	if err != nil {
		return usage(err.Error())
	}
	in := ins[0]
	defer in.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var progress inspect.VerifyProgress
	stop := showVerifyProgress(stderr, &progress)
	rep, err := in.Verify(ctx, inspect.VerifyOptions{Topics: re, Heartbeats: *heartbeats, Parallel: *parallel,
		MaxReported: *maxDiffs, Progress: &progress})
	stop()
	if err != nil {
		fmt.Fprintf(stderr, "mm2go verify: %v\n", err)
		return exitFailure
	}
	if *jsonOut {
		if err := writeJSON(stdout, rep); err != nil {
			fmt.Fprintf(stderr, "mm2go verify: %v\n", err)
			return exitFailure
		}
	} else if err := printVerify(stdout, rep, useColor(stdout)); err != nil {
		fmt.Fprintf(stderr, "mm2go verify: %v\n", err)
		return exitFailure
	}
	if !rep.Clean {
		return exitFailure
	}
	return exitOK
}

// showVerifyProgress draws a progress bar on w (a terminal), or prints a
// line every 10s (anything else), until the returned function is called.
func showVerifyProgress(w io.Writer, p *inspect.VerifyProgress) (stop func()) {
	tty := isTerminal(w)
	every := 10 * time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	draw := func(final bool) {
		total, n := p.Total.Load(), p.Done.Load()
		parts, partsDone := p.Partitions.Load(), p.PartitionsDone.Load()
		rate := float64(n) / max(time.Since(start).Seconds(), 1e-3)
		frac := 1.0
		if total > 0 {
			frac = min(1, float64(n)/float64(total))
		}
		line := fmt.Sprintf("%3.0f%% %d/%d records, %d/%d partitions, %.0f records/s", 100*frac, n, total, partsDone, parts, rate)
		if tty {
			const width = 30
			bar := strings.Repeat("#", int(frac*width)) + strings.Repeat("-", width-int(frac*width))
			fmt.Fprintf(w, "\r\x1b[2K[%s] %s", bar, line)
			if final {
				fmt.Fprintln(w)
			}
			return
		}
		fmt.Fprintf(w, "verify: %s\n", line)
	}
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				draw(true)
				return
			case <-t.C:
				draw(false)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// printVerify prints the report for people.
func printVerify(w io.Writer, rep *inspect.VerifyReport, color bool) error {
	c := colorizer(color)
	var b strings.Builder
	fmt.Fprintf(&b, "verify %s: %d partition(s)\n\n", rep.Flow, len(rep.Partitions))
	t := table{header: []string{"TOPIC", "PARTITION", "CHECKED OFFSETS", "COMPARED", "MATCHED", "MISSING", "DIFFERING", "EXTRA", "DUPLICATES", "NOTE"}}
	for _, p := range rep.Partitions {
		checked := "-"
		if p.CheckedTo > p.CheckedFrom {
			checked = fmt.Sprintf("%d..%d", p.CheckedFrom, p.CheckedTo-1)
		}
		note := p.Note
		if p.Error != "" {
			note = "error: " + p.Error
		}
		bad := func(n int64) string {
			if n > 0 {
				return red
			}
			return ""
		}
		t.add([]string{p.Topic, strconv.Itoa(int(p.Partition)), checked, strconv.FormatInt(p.Compared, 10),
			strconv.FormatInt(p.Matched, 10), strconv.FormatInt(p.Missing, 10), strconv.FormatInt(p.Differing, 10),
			strconv.FormatInt(p.Extra, 10), strconv.FormatInt(p.Duplicates, 10), note},
			map[int]string{5: bad(p.Missing), 6: bad(p.Differing), 7: bad(p.Extra), 9: bad(int64(len(p.Error)))})
	}
	t.write(&b, c)
	var diffs []string
	for _, p := range rep.Partitions {
		for _, d := range p.Differences {
			where := fmt.Sprintf("%s[%d]", p.Topic, p.Partition)
			switch {
			case d.SourceOffset >= 0 && d.TargetOffset >= 0:
				where += fmt.Sprintf(" source offset %d, target %s[%d] offset %d", d.SourceOffset, p.TargetTopic, p.Partition, d.TargetOffset)
			case d.SourceOffset >= 0:
				where += fmt.Sprintf(" source offset %d", d.SourceOffset)
			default:
				where = fmt.Sprintf("%s[%d] target offset %d", p.TargetTopic, p.Partition, d.TargetOffset)
			}
			diffs = append(diffs, fmt.Sprintf("  %-9s %s: %s", d.Kind, where, d.Detail))
		}
		if n := p.Missing + p.Differing + p.Extra; n > int64(len(p.Differences)) {
			diffs = append(diffs, fmt.Sprintf("  ... and %d more in %s[%d] (--max-differences lists more)", n-int64(len(p.Differences)), p.Topic, p.Partition))
		}
	}
	if len(diffs) > 0 {
		b.WriteString("\ndifferences:\n" + strings.Join(diffs, "\n") + "\n")
	}
	if len(rep.NotChecked) > 0 {
		b.WriteString("\nnot compared:\n")
		for _, n := range rep.NotChecked {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	tot := rep.Totals
	if rep.Clean {
		fmt.Fprintf(&b, "\n%s: %d record(s) compared, all equal", c.paint(green, "clean"), tot.Compared)
		if tot.Duplicates > 0 {
			fmt.Fprintf(&b, " (%d earlier copies from task restarts, also equal)", tot.Duplicates)
		}
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "\n%s: %d record(s) compared; %d missing, %d differing, %d extra on the target",
			c.paint(red, "NOT CLEAN"), tot.Compared, tot.Missing, tot.Differing, tot.Extra)
		errs := 0
		for _, p := range rep.Partitions {
			if p.Error != "" {
				errs++
			}
		}
		if errs > 0 {
			fmt.Fprintf(&b, "; %d partition(s) could not be compared", errs)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
