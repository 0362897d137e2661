package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // bad arguments or a bad flow file; nothing started
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"worker", "run the flows of a flow file until interrupted", runWorker},
		{"validate", "check a flow file and print every problem", runValidate},
		{"translate-offsets", "translate consumer group offsets to the target (and commit them with --apply)", runTranslate},
		{"migrate", "plan a migration's topics, ACLs and groups on the target, and cut consumer groups over", runMigrate},
		{"status", "show how far each flow's copy is: lag, RPO, lost records, group offsets (or wait until caught up)", runStatus},
		{"verify", "compare the records on both clusters of a flow, record by record", runVerify},
		{"demo", "replicate between two embedded clusters and verify the copy", runDemo},
		{"bench", "measure mm2go's throughput, latency and memory against a raw copy loop", runBench},
		{"version", "print the mm2go version", runVersion},
	}
}

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 && args[0] == "help" {
		// "mm2go help worker" is "mm2go worker --help".
		args = []string{args[1], "--help"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "mm2go: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mm2go replicates Kafka topics, consumer-group offsets and metadata between clusters.")
	fmt.Fprintln(w, "\nUsage: mm2go <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'mm2go <command> --help' for a command's flags.")
}

// newFlagSet returns a flag set whose --help prints the command's summary.
func newFlagSet(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mm2go %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns (code, false) when the command should
// stop: -h asked for help (0) or the flags were bad (2).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return exitOK, false
	case err != nil:
		fmt.Fprintf(stderr, "mm2go %s: %v\n", fs.Name(), err)
		fmt.Fprintf(stderr, "Run 'mm2go %s --help' for usage.\n", fs.Name())
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "mm2go %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return exitOK, true
}

// parseFlowArg parses a --flow argument, SOURCE->TARGET: two cluster
// aliases, not the same.
func parseFlowArg(s string) (source, target string, err error) {
	source, target, ok := strings.Cut(s, "->")
	source, target = strings.TrimSpace(source), strings.TrimSpace(target)
	if !ok || source == "" || target == "" || strings.Contains(target, "->") {
		return "", "", fmt.Errorf("--flow %q is not SOURCE->TARGET (for example --flow 'legacy->cloud')", s)
	}
	if source == target {
		return "", "", fmt.Errorf("--flow %q names the same cluster twice", s)
	}
	return source, target, nil
}

// logFlags are the logging flags every long-running command takes.
type logFlags struct {
	level string
	json  bool
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.BoolVar(&l.json, "log-json", false, "log JSON lines instead of text")
}

// logger builds the root logger; the only place mm2go makes one.
func (l *logFlags) logger(w io.Writer) (hclog.Logger, error) {
	level := hclog.LevelFromString(l.level)
	if level == hclog.NoLevel {
		return nil, fmt.Errorf("--log-level: %q is not one of trace, debug, info, warn, error", l.level)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "mm2go",
		Level:      level,
		Output:     w,
		JSONFormat: l.json,
		Color:      hclog.ColorOff,
	}), nil
}

// isTerminal reports whether w is a terminal, for live progress output.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}
