package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mm2go/mm2go/flows"
	"github.com/mm2go/mm2go/inspect"
)

// statusOutput is what `mm2go status --json` prints (one per look with
// --watch, on one line each).
type statusOutput struct {
	Time  time.Time             `json:"time"`
	Flows []*inspect.FlowStatus `json:"flows"`
	// CaughtUp is set with --wait-caught-up: whether every partition got
	// within --max-lag records before --timeout.
	CaughtUp *bool `json:"caught_up,omitempty"`
}

const statusSynopsis = "status --config FILE [--flow A->B] [--topics REGEX] [--groups REGEX] [--json] [--watch] [--worker URL]\n" +
	"       mm2go status --config FILE --wait-caught-up [--max-lag N] [--timeout 10m] [flags]"

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", statusSynopsis, stdout)
	config := fs.String("config", "", "flow file: YAML (.yaml, .yml) or MM2's mm2.properties (.properties)")
	flowArg := fs.String("flow", "", "the flow to show, as source->target (default: every enabled flow of the file)")
	topics := fs.String("topics", "", "regular expression matching whole source topic names to show (default: every topic the flow copies)")
	groups := fs.String("groups", "", "regular expression matching whole consumer group names to show (default: every group the flow checkpoints)")
	noGroups := fs.Bool("no-groups", false, "leave consumer groups out")
	heartbeats := fs.Bool("heartbeats", false, "include the heartbeats topics the flow copies (written every second, so never quite caught up)")
	all := fs.Bool("all", false, "list every partition in the table, not only those behind")
	jsonOut := fs.Bool("json", false, "print JSON for scripts instead of a table (one line per look with --watch)")
	watch := fs.Bool("watch", false, "look again every --interval until interrupted")
	interval := fs.Duration("interval", 2*time.Second, "time between two looks with --watch and --wait-caught-up")
	worker := fs.String("worker", "", "a worker's REST address (mm2go worker --http-addr), e.g. http://127.0.0.1:8083: says why a copy is stopped")
	workerToken := fs.String("worker-token-file", "", "file holding the worker's REST bearer token (default: "+tokenEnv+" when set)")
	wait := fs.Bool("wait-caught-up", false, "wait until every partition is within --max-lag records; exit 0 then, 1 at --timeout")
	maxLag := fs.Int64("max-lag", 0, "records a partition may be behind and count as caught up, with --wait-caught-up")
	timeout := fs.Duration("timeout", 0, "with --wait-caught-up, how long to wait (default 10m); otherwise the bound on one look (default 1m)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "mm2go status: %s\n", msg)
		fmt.Fprintln(stderr, "Run 'mm2go status --help' for usage.")
		return exitUsage
	}
	switch {
	case *config == "":
		return usage("--config is required: the flow file that names the clusters")
	case *watch && *wait:
		return usage("--watch and --wait-caught-up do not go together")
	case *maxLag < 0:
		return usage("--max-lag must not be negative")
	case *timeout < 0:
		return usage("--timeout must be positive")
	case *interval <= 0:
		return usage("--interval must be positive")
	case *worker != "" && !strings.HasPrefix(*worker, "http://") && !strings.HasPrefix(*worker, "https://"):
		return usage(fmt.Sprintf("--worker %q: want a URL such as http://127.0.0.1:8083", *worker))
	}
	opts := inspect.StatusOptions{NoGroups: *noGroups, Heartbeats: *heartbeats}
	hc, err := workerClient(*workerToken)
	if err != nil {
		return usage(err.Error())
	}
	if opts.Topics, err = compileWhole("--topics", *topics); err != nil {
		return usage(err.Error())
	}
	if opts.Groups, err = compileWhole("--groups", *groups); err != nil {
		return usage(err.Error())
	}
	f, code := loadFlowFile(*config, stderr, "status")
	if f == nil {
		return code
	}
	ins, err := openInspectors(f, *config, *flowArg)
	if err != nil {
		return usage(err.Error())
	}
	defer func() {
		for _, in := range ins {
			in.Close()
		}
	}()
	p := statusPrinter{w: stdout, json: *jsonOut, all: *all, color: useColor(stdout)}

	if *wait {
		return waitCaughtUp(ctx, ins, inspect.WaitOptions{MaxLag: *maxLag, Interval: *interval, Status: opts, WorkerURL: *worker, HTTPClient: hc},
			orDefault(*timeout, 10*time.Minute), p, stderr)
	}
	look := func() int {
		lctx, cancel := context.WithTimeout(ctx, orDefault(*timeout, time.Minute))
		defer cancel()
		o := opts
		if *worker != "" {
			o.Worker = inspect.FetchWorkerStatus(lctx, hc, *worker)
		}
		out := statusOutput{Time: time.Now(), Flows: []*inspect.FlowStatus{}}
		for _, in := range ins {
			st, err := in.Status(lctx, o)
			if err != nil {
				fmt.Fprintf(stderr, "mm2go status: flow %s: %v\n", in.Flow().Name(), err)
				return exitFailure
			}
			out.Flows = append(out.Flows, st)
		}
		if err := p.print(out, *watch); err != nil {
			fmt.Fprintf(stderr, "mm2go status: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	if !*watch {
		return look()
	}
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		if code := look(); code != exitOK && ctx.Err() == nil {
			fmt.Fprintln(stderr, "mm2go status: will look again")
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-tick.C:
		}
	}
}

// waitCaughtUp runs --wait-caught-up: progress on stderr, the last status
// on stdout.
func waitCaughtUp(ctx context.Context, ins []*inspect.Inspector, wo inspect.WaitOptions, timeout time.Duration, p statusPrinter, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	tty := isTerminal(stderr)
	wo.Progress = func(sts []*inspect.FlowStatus, err error) {
		line := progressLine(sts, err, wo.MaxLag, time.Until(deadline))
		if tty {
			fmt.Fprintf(stderr, "\r\x1b[2K%s", line)
		} else {
			fmt.Fprintln(stderr, line)
		}
	}
	sts, err := inspect.WaitCaughtUp(ctx, ins, wo)
	if tty {
		fmt.Fprintln(stderr)
	}
	caughtUp := err == nil
	out := statusOutput{Time: time.Now(), Flows: sts, CaughtUp: &caughtUp}
	if out.Flows == nil {
		out.Flows = []*inspect.FlowStatus{}
	}
	if perr := p.print(out, false); perr != nil {
		fmt.Fprintf(stderr, "mm2go status: %v\n", perr)
		return exitFailure
	}
	var nc *inspect.NotCaughtUpError
	switch {
	case err == nil:
		fmt.Fprintf(stderr, "mm2go status: caught up: every partition within %d record(s)\n", wo.MaxLag)
		return exitOK
	case errors.As(err, &nc) && len(nc.Behind) == 0:
		fmt.Fprintf(stderr, "mm2go status: after %v: %v\n", timeout, err)
		return exitFailure
	case errors.As(err, &nc):
		fmt.Fprintf(stderr, "mm2go status: not caught up after %v: %d partition(s) more than %d record(s) behind:\n", timeout, len(nc.Behind), wo.MaxLag)
		for _, b := range nc.Behind {
			fmt.Fprintf(stderr, "  %s %s[%d]: %s\n", b.Flow, b.Topic, b.Partition, b.Describe())
		}
		if nc.LastErr != nil {
			fmt.Fprintf(stderr, "  the last look failed: %v\n", nc.LastErr)
		}
		return exitFailure
	default:
		fmt.Fprintf(stderr, "mm2go status: %v\n", err)
		return exitFailure
	}
}

// progressLine says in one line how far the flows are from caught up.
func progressLine(sts []*inspect.FlowStatus, err error, maxLag int64, left time.Duration) string {
	if err != nil {
		return fmt.Sprintf("waiting: look failed (%v); %s left", err, left.Round(time.Second))
	}
	var parts, behind int
	var records int64
	var oldest float64
	var why []string
	for _, st := range sts {
		for _, p := range st.Partitions {
			parts++
			if p.State == inspect.StateUnknown || p.RecordsBehind > maxLag {
				behind++
				records += max(0, p.RecordsBehind)
				oldest = max(oldest, p.SecondsBehind)
			}
		}
		if st.State != inspect.StateCaughtUp && st.State != inspect.StateCopying && st.State != inspect.StateBehind {
			why = append(why, st.Flow+" "+strings.ReplaceAll(st.State, "_", " "))
		}
	}
	line := fmt.Sprintf("waiting: %d of %d partition(s) behind, %d record(s), oldest %s",
		behind, parts, records, seconds(oldest))
	if len(why) > 0 {
		line += " (" + strings.Join(why, ", ") + ")"
	}
	return line + fmt.Sprintf("; %s left", max(0, left).Round(time.Second))
}

// openInspectors opens an Inspector for --flow, or for every enabled flow.
func openInspectors(f *flows.File, path, flowArg string) ([]*inspect.Inspector, error) {
	var fls []*inspect.Flow
	if flowArg != "" {
		source, target, err := parseFlowArg(flowArg)
		if err != nil {
			return nil, err
		}
		fl, err := inspect.FlowFromFile(f, source, target)
		if err != nil {
			return nil, fmt.Errorf("--flow %s: %w", flowArg, err)
		}
		fls = []*inspect.Flow{fl}
	} else {
		var err error
		if fls, err = inspect.EnabledFlows(f); err != nil {
			return nil, err
		}
		if len(fls) == 0 {
			return nil, fmt.Errorf("%s has no enabled flow; name one with --flow A->B", path)
		}
	}
	var ins []*inspect.Inspector
	for _, fl := range fls {
		in, err := inspect.New(fl)
		if err != nil {
			for _, in := range ins {
				in.Close()
			}
			return nil, err
		}
		ins = append(ins, in)
	}
	return ins, nil
}

// compileWhole compiles a --topics or --groups expression, "" for none.
func compileWhole(flag, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := inspect.WholeName(expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", flag, err)
	}
	return re, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// useColor reports whether w is a terminal that wants colour: not when
// NO_COLOR is set (https://no-color.org).
func useColor(w io.Writer) bool {
	_, noColor := os.LookupEnv("NO_COLOR")
	return !noColor && isTerminal(w)
}

// seconds formats a number of seconds for a table: "?" for unknown.
func seconds(s float64) string {
	switch {
	case s < 0:
		return "?"
	case s == 0:
		return "0s"
	case s < 1:
		return strconv.Itoa(max(1, int(s*1000))) + "ms"
	case s < 10:
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	}
	return (time.Duration(s) * time.Second).String()
}

// statusPrinter prints statuses as tables or JSON.
type statusPrinter struct {
	w     io.Writer
	json  bool
	all   bool
	color bool
}

func (p statusPrinter) print(out statusOutput, watch bool) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetEscapeHTML(false)
		if !watch {
			enc.SetIndent("", "  ")
		}
		return enc.Encode(out)
	}
	var b strings.Builder
	if watch && isTerminal(p.w) {
		b.WriteString("\x1b[H\x1b[2J")
	}
	if watch {
		fmt.Fprintf(&b, "%s\n", out.Time.Format(time.RFC3339))
	}
	for i, st := range out.Flows {
		if i > 0 {
			b.WriteString("\n")
		}
		p.flow(&b, st)
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}

// flow writes one flow's status as text.
func (p statusPrinter) flow(b *strings.Builder, st *inspect.FlowStatus) {
	c := colorizer(p.color)
	fmt.Fprintf(b, "flow %s: %s", st.Flow, c.state(st.State))
	if st.Reason != "" {
		fmt.Fprintf(b, " (%s)", st.Reason)
	}
	fmt.Fprintf(b, "\n  %d of %d partition(s) caught up; %d record(s) behind; RPO %d record(s), %s",
		st.Summary.CaughtUp, st.Summary.Partitions, st.Summary.RecordsBehind, st.RPO.Records, seconds(st.RPO.Seconds))
	if st.Summary.LostRecords > 0 {
		fmt.Fprintf(b, "; %s", c.paint(red, fmt.Sprintf("%d record(s) lost", st.Summary.LostRecords)))
	}
	b.WriteString("\n")
	if st.Worker != nil {
		fmt.Fprintf(b, "  worker %s: %s", st.Worker.URL, c.state(st.Worker.State))
		if st.Worker.Reason != "" {
			fmt.Fprintf(b, " (%s)", st.Worker.Reason)
		}
		if st.Worker.Error != "" {
			fmt.Fprintf(b, " (%s)", st.Worker.Error)
		}
		if st.Summary.WorkerLostRecords > 0 {
			fmt.Fprintf(b, "; %s", c.paint(red, fmt.Sprintf("it reported %d record(s) lost", st.Summary.WorkerLostRecords)))
		}
		b.WriteString("\n")
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(b, "  warning: %s\n", w)
	}
	t := table{header: []string{"TOPIC", "PARTITION", "SOURCE END", "COMMITTED", "BEHIND", "OLDEST", "LOST", "STATE", "REASON"}}
	hidden := 0
	for _, ps := range st.Partitions {
		if !p.all && ps.State == inspect.StateCaughtUp {
			hidden++
			continue
		}
		behind := strconv.FormatInt(ps.RecordsBehind, 10)
		if !ps.RecordsBehindExact {
			behind = "~" + behind
		}
		committed := "-"
		if ps.Committed >= 0 {
			committed = strconv.FormatInt(ps.Committed, 10)
		}
		t.add([]string{ps.Topic, strconv.Itoa(int(ps.Partition)), strconv.FormatInt(ps.SourceEnd, 10), committed,
			behind, seconds(ps.SecondsBehind), strconv.FormatInt(ps.LostRecords, 10), ps.State, ps.Reason},
			map[int]string{7: stateColor(ps.State), 6: lostColor(ps.LostRecords)})
	}
	if len(t.rows) > 0 {
		b.WriteString("\n")
		t.write(b, c)
	}
	if hidden > 0 && len(t.rows) > 0 {
		fmt.Fprintf(b, "  (%d partition(s) caught up not listed; --all lists them)\n", hidden)
	}
	if len(st.Groups) == 0 {
		return
	}
	g := table{header: []string{"GROUP", "STATE", "LAST CHECKPOINT", "LAG ON TARGET", "RPO", "NOTE"}}
	for _, gs := range st.Groups {
		last := "never"
		if gs.LastCheckpoint != nil {
			last = seconds(gs.CheckpointAgeSeconds) + " ago"
		}
		lag := "?"
		if gs.LagOnTarget >= 0 {
			lag = strconv.FormatInt(gs.LagOnTarget, 10)
		}
		rpo := fmt.Sprintf("%d record(s), %s", gs.RPO.Records, seconds(gs.RPO.Seconds))
		g.add([]string{gs.Group, gs.State, last, lag, rpo, gs.Error}, map[int]string{1: stateColor(gs.State)})
	}
	b.WriteString("\n")
	g.write(b, c)
}

// ANSI colours.
const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	reset  = "\x1b[0m"
)

func stateColor(state string) string {
	switch state {
	case inspect.StateCaughtUp, inspect.GroupSynced, "running":
		return green
	case inspect.StateCopying, inspect.StateBehind, inspect.StateNotStarted, inspect.GroupCheckpointed, "degraded": // GroupBehind is StateBehind
		return yellow
	}
	return red
}

func lostColor(n int64) string {
	if n > 0 {
		return red
	}
	return ""
}

// colorizer paints states when on.
type colorizer bool

func (c colorizer) paint(color, s string) string {
	if !c || color == "" {
		return s
	}
	return color + s + reset
}

func (c colorizer) state(s string) string { return c.paint(stateColor(s), s) }

// table is a text table whose columns are sized by their plain text, so
// that colours do not upset the alignment.
type table struct {
	header []string
	rows   [][]string
	colors []map[int]string
}

func (t *table) add(cells []string, colors map[int]string) {
	t.rows = append(t.rows, cells)
	t.colors = append(t.colors, colors)
}

func (t *table) write(b *strings.Builder, c colorizer) {
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = len(h)
	}
	for _, r := range t.rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len(cell))
		}
	}
	line := func(cells []string, colors map[int]string) {
		var l strings.Builder
		l.WriteString("  ")
		for i, cell := range cells {
			l.WriteString(c.paint(colors[i], cell))
			if i < len(cells)-1 {
				l.WriteString(strings.Repeat(" ", widths[i]-len(cell)+2))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ")) // no trailing spaces after empty cells
		b.WriteString("\n")
	}
	line(t.header, nil)
	for i, r := range t.rows {
		line(r, t.colors[i])
	}
}
