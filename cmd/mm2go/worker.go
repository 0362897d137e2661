package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/flows"
)

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("worker", "worker --config FILE [flags]", stdout)
	config := fs.String("config", "", "flow file: YAML (.yaml, .yml) or MM2's mm2.properties (.properties)")
	shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "one deadline for the whole graceful stop (commit offsets, flush producers, commit again, stop tasks); a second signal stops at once")
	var rf restFlags
	rf.register(fs)
	var lf logFlags
	lf.register(fs)
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *config == "" {
		fmt.Fprintln(stderr, "mm2go worker: --config is required: the flow file to run")
		return exitUsage
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mm2go worker: %v\n", err)
		return exitUsage
	}
	f, code := loadFlowFile(*config, stderr, "worker")
	if f == nil {
		return code
	}
	for _, w := range f.Warnings {
		log.Warn("flow file setting ignored", "detail", w)
	}
	listener, serve, err := rf.listener(f, log)
	if err != nil {
		fmt.Fprintf(stderr, "mm2go worker: %v\n", err)
		return exitUsage
	}
	var rest *connect.RESTServer
	if serve {
		if rest, err = connect.ListenREST(listener); err != nil {
			fmt.Fprintf(stderr, "mm2go worker: REST API: %v\n", err)
			return exitUsage
		}
		defer rest.Close()
	}
	w, specs, err := newWorker(f, log, func(c *connect.WorkerConfig) {
		c.ShutdownTimeout = *shutdown
		if rest != nil {
			c.WorkerID = rest.WorkerID()
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "mm2go worker: %v\n", err)
		return exitUsage
	}
	if len(specs) == 0 {
		fmt.Fprintln(stderr, "mm2go worker: no enabled flows in the flow file; nothing to run")
		return exitUsage
	}
	if rest != nil {
		bi := readBuildInfo()
		rest.Serve(w.RESTHandler(connect.RESTConfig{Version: bi.Version, Commit: bi.Commit, Token: listener.Token,
			Client: rest.Client(), Logger: log.Named("rest"), GroupCluster: groupCluster(f)}))
		log.Info("serving the REST API, health and metrics", "address", rest.Addr().String(), "url", rest.URL(),
			"worker_id", rest.WorkerID(), "token", listener.Token != "", "tls", listener.CertFile != "")
	}
	log.Info("starting worker", "version", versionString(), "flows", flowNames(specs))
	if err := w.Run(ctx, specs); err != nil {
		log.Error("worker stopped with errors", "error", err)
		return exitFailure
	}
	log.Info("worker stopped")
	return exitOK
}

// loadFlowFile loads and validates a flow file. On a problem it prints every
// problem to stderr and returns (nil, exit code).
func loadFlowFile(path string, stderr io.Writer, cmd string) (*flows.File, int) {
	f, err := flows.Load(path)
	if err == nil {
		err = f.Check()
	}
	if err != nil {
		printProblems(stderr, cmd, path, err)
		return nil, exitUsage
	}
	return f, exitOK
}

// printProblems prints one line per problem of a flow file.
func printProblems(w io.Writer, cmd, path string, err error) {
	problems := splitErrors(err)
	fmt.Fprintf(w, "mm2go %s: %s has %d problem(s); nothing was started:\n", cmd, path, len(problems))
	for _, p := range problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

// splitErrors flattens joined errors into their messages.
func splitErrors(err error) []string {
	var out []string
	for _, e := range flattenErrors(err) {
		out = append(out, e.Error())
	}
	return out
}

// newWorker builds a worker for the enabled flows of a validated file.
func newWorker(f *flows.File, log hclog.Logger, tweak ...func(*connect.WorkerConfig)) (*connect.Worker, []connect.ConnectorSpec, error) {
	e, err := f.Expand()
	if err != nil {
		return nil, nil, err
	}
	cfg, specs, err := e.Plan()
	if err != nil {
		return nil, nil, err
	}
	for _, t := range tweak {
		t(&cfg)
	}
	reg := connect.NewRegistry()
	connectors.Register(reg)
	return connect.NewWorker(cfg, connect.WithLogger(log), connect.WithRegistry(reg)), specs, nil
}

func flowNames(specs []connect.ConnectorSpec) string {
	var names []string
	seen := map[string]bool{}
	for _, s := range specs {
		if !seen[s.Herder()] {
			seen[s.Herder()] = true
			names = append(names, s.Herder())
		}
	}
	return strings.Join(names, ", ")
}

var errNoFlows = errors.New("no enabled flows: set enabled: true on a flow (YAML) or A->B.enabled = true (mm2.properties)")

// serveStatus serves w's REST status paths and Prometheus metrics on addr
// until stop is called.
func serveStatus(w *connect.Worker, addr string, log hclog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: w.Handler(versionString()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("serving REST and metrics", "address", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
