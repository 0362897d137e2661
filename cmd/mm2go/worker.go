package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/group"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/flows"
)

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("worker", "worker --config FILE [flags]", stdout)
	config := fs.String("config", "", "flow file: YAML (.yaml, .yml) or MM2's mm2.properties (.properties)")
	shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "one deadline for the whole graceful stop (commit offsets, flush producers, commit again, stop tasks); a second signal stops at once")
	only := fs.String("clusters", "", "run only the flows whose target is one of these cluster aliases (comma-separated), as MM2's --clusters: one deployment per target data centre; each list forms its own worker group")
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
	workerID, url := group.DefaultWorkerID(""), ""
	if serve {
		if rest, err = connect.ListenREST(listener); err != nil {
			fmt.Fprintf(stderr, "mm2go worker: REST API: %v\n", err)
			return exitUsage
		}
		defer rest.Close()
		workerID, url = rest.WorkerID(), rest.URL()
	}
	gw, err := newGroupWorker(f, *config, splitList(*only), workerID, url, log, *shutdown)
	if err != nil {
		fmt.Fprintf(stderr, "mm2go worker: %v\n", err)
		return exitUsage
	}
	if rest != nil {
		bi := readBuildInfo()
		rest.Serve(gw.w.RESTHandler(connect.RESTConfig{Version: bi.Version, Commit: bi.Commit, Token: listener.Token,
			Client: rest.Client(), Logger: log.Named("rest"), GroupCluster: gw.group.Cluster}))
		log.Info("serving the REST API, health and metrics", "address", rest.Addr().String(), "url", rest.URL(),
			"worker_id", rest.WorkerID(), "token", listener.Token != "", "tls", listener.CertFile != "")
	}
	log.Info("starting worker", "version", versionString(), "flows", flowNames(gw.specs), "worker_id", workerID,
		"group", gw.group.ID, "group_cluster", gw.group.Cluster, "config", gw.group.Fingerprint.String())
	if err := gw.w.RunGroup(ctx, gw.specs, gw.group); err != nil {
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

// groupWorker is a worker of a worker group, with what it runs.
type groupWorker struct {
	w     *connect.Worker
	specs []connect.ConnectorSpec
	group connect.GroupConfig
}

// newGroupWorker builds the worker `mm2go worker` runs: the enabled flows
// whose target is in only (all when empty, as MM2's --clusters), in the
// group the file places them in, named workerID and reached at url (its
// REST API; "" without one).
func newGroupWorker(f *flows.File, path string, only []string, workerID, url string, log hclog.Logger, shutdown time.Duration) (*groupWorker, error) {
	e, err := f.Expand()
	if err != nil {
		return nil, err
	}
	var unknown []string
	for _, a := range only {
		if _, ok := e.Clusters[a]; !ok {
			unknown = append(unknown, a)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("--clusters: %s not in the flow file's clusters (%s)", strings.Join(unknown, ", "), strings.Join(slices.Sorted(maps.Keys(e.Clusters)), ", "))
	}
	w, specs, err := newWorker(f, log, func(c *connect.WorkerConfig) { c.ShutdownTimeout, c.WorkerID = shutdown, workerID })
	if err != nil {
		return nil, err
	}
	if len(only) > 0 {
		kept := specs[:0]
		for _, s := range specs {
			if slices.Contains(only, s.Target) {
				kept = append(kept, s)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("--clusters %s: no enabled flow targets these clusters; nothing to run", strings.Join(only, ","))
		}
		specs = kept
	}
	if len(specs) == 0 {
		return nil, errors.New("no enabled flows in the flow file; nothing to run")
	}
	clusters := only
	if len(clusters) == 0 {
		clusters = slices.Collect(maps.Keys(e.Clusters))
	}
	// The group lives on a target of the file's flows; a cluster that is
	// only the target of MM2's reverse heartbeats (B->A for a flow A->B)
	// is the source of the real flows, whose groups the checkpoint
	// connector and translate-offsets list.
	var targets []string
	for _, fl := range e.Flows {
		if len(only) == 0 || slices.Contains(only, fl.Target) {
			targets = append(targets, fl.Target)
		}
	}
	if len(targets) == 0 {
		for _, s := range specs {
			targets = append(targets, s.Target)
		}
	}
	gs := e.Group()
	place, err := group.Place(clusters, targets, gs.ID, gs.Cluster)
	if err != nil {
		return nil, fmt.Errorf("worker group (mm2go.group.id, mm2go.group.cluster): %w", err)
	}
	// The fingerprint is the flows this worker runs, as the file expands
	// them, and the clusters it reaches them on: workers agree on it when
	// they run the same flows the same way.
	hash, err := group.Hash(struct {
		Clusters map[string]*flows.Cluster
		Flows    []flows.FlowConfig
		Only     []string
	}{e.Clusters, e.Flows, only})
	if err != nil {
		return nil, err
	}
	gc := connect.GroupConfig{ID: place.ID, Cluster: place.Cluster,
		Fingerprint:    group.Fingerprint{Hash: hash, Label: filepath.Base(path)},
		SessionTimeout: gs.SessionTimeout, RebalanceTimeout: gs.RebalanceTimeout, HeartbeatInterval: gs.HeartbeatInterval,
		ConfigTopicReplication: gs.ConfigReplication}
	gc.URL = url
	return &groupWorker{w: w, specs: specs, group: gc}, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

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
