package connect

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
)

// RESTConfig configures the worker's REST API (Worker.RESTHandler).
type RESTConfig struct {
	// Version and Commit are what GET / and GET /connector-plugins say of
	// this mm2go.
	Version, Commit string
	// GroupCluster is the cluster the worker group lives on, whose id
	// GET / shows (Connect's kafka_cluster_id). Default: the first target
	// cluster of the worker's connectors in sorted order.
	GroupCluster string
	// Token, when set, is the bearer token (Authorization: Bearer <token>)
	// every request needs, but GET /health, GET /health/live and
	// GET /metrics (kubelet probes and Prometheus scrapes). It is compared
	// in constant time, sent with the requests the worker forwards to the
	// other workers of its group, and never logged.
	Token string
	// Client sends requests to the other workers of the group (forwarded
	// writes, the reads of a whole group); it carries the TLS settings
	// they need. Default: an http.Client without TLS settings.
	Client *http.Client
	// FanOutTimeout bounds how long a read waits for the other workers of
	// the group; a worker that does not answer in time shows its units
	// UNASSIGNED. Default 3s.
	FanOutTimeout time.Duration
	// RequestTimeout bounds a request that waits for the worker (a
	// restart stops a task gracefully) or is forwarded to another. Default
	// 90s, Connect's rest request timeout.
	RequestTimeout time.Duration
	// Logger. Default: the worker's logger, named "rest".
	Logger hclog.Logger
}

// Header names of the REST API.
const (
	// HeaderForwarded marks a request one worker forwarded to another (its
	// value is the forwarding worker's id): it is answered from the
	// worker's own state and never forwarded again.
	HeaderForwarded = "X-Mm2go-Forwarded"
)

// Handler returns RESTHandler(RESTConfig{Version: version}).
func (w *Worker) Handler(version string) http.Handler {
	return w.RESTHandler(RESTConfig{Version: version})
}

// RESTHandler returns the worker's HTTP API: Kafka Connect's REST API for
// the connectors the worker (or its group) runs, named
// "<source>-><target>.<connector>" as Strimzi names MM2's connectors
// (ConnectorName), MM2's dedicated-mode paths, health checks, and
// Prometheus metrics. Errors are Connect's {"error_code": N, "message":
// "..."}.
//
//	GET    /                                       {"version", "commit", "kafka_cluster_id"}
//	GET    /health                                 200 healthy; 503 starting, stopping, or cannot reach its group or clusters
//	GET    /health/live                            200 while the worker answers (liveness)
//	GET    /metrics                                Prometheus text format
//	GET    /connector-plugins                      [{"class", "type", "version"}]
//	GET    /connectors[?expand=status&expand=info] names, or {name: {"status", "info"}}
//	GET    /connectors/{name}                      {"name", "config", "tasks", "type"}
//	GET    /connectors/{name}/config               the connector's config
//	GET    /connectors/{name}/status               {"name", "connector", "tasks", "type"}
//	GET    /connectors/{name}/tasks                [{"id": {"connector", "task"}, "config"}]
//	GET    /connectors/{name}/tasks/{id}/status    {"id", "state", "worker_id", "trace"}
//	PUT    /connectors/{name}/pause                202
//	PUT    /connectors/{name}/resume               202
//	PUT    /connectors/{name}/stop                 204
//	POST   /connectors/{name}/restart              204; 202 and the status with ?includeTasks or ?onlyFailed
//	POST   /connectors/{name}/tasks/{id}/restart   204
//	GET    /connectors/{name}/offsets              {"offsets": [{"partition", "offset"}]}
//	PATCH  /connectors/{name}/offsets              a STOPPED connector's offsets: 200 {"message"}
//	DELETE /connectors/{name}/offsets              a STOPPED connector's offsets: 200 {"message"}
//	GET    /{source}/{target}/connectors[/{name}/...]  the same, per flow, by the short name (MM2's dedicated mode)
//
// In a group (Worker.Group has other members) reads answer for the whole
// group: the worker asks the others for what they run, in parallel, and a
// worker that does not answer shows its units UNASSIGNED with why. A
// restart goes to the worker that runs the unit; pause, resume, stop and
// offset changes go to the group's leader. A forwarded request
// (HeaderForwarded) is never forwarded again.
func (w *Worker) RESTHandler(cfg RESTConfig) http.Handler {
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.FanOutTimeout <= 0 {
		cfg.FanOutTimeout = 3 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 90 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = w.log.Named("rest")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(w.Collector(), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &restAPI{w: w, cfg: cfg, log: cfg.Logger, metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	if cfg.Token != "" {
		sum := sha256.Sum256([]byte(cfg.Token))
		a.tokenSum = sum[:]
	}
	return a
}

type restAPI struct {
	w        *Worker
	cfg      RESTConfig
	log      hclog.Logger
	metrics  http.Handler
	tokenSum []byte // SHA-256 of the token; nil without one

	clusterMu sync.Mutex // guards clusterID
	clusterID string     // the group cluster's id, once known
}

// restError is an error answer: Connect's ErrorMessage.
type restError struct {
	code int
	msg  string
}

func (e *restError) Error() string { return e.msg }

func httpErr(code int, format string, args ...any) *restError {
	return &restError{code, fmt.Sprintf(format, args...)}
}

func writeError(rw http.ResponseWriter, code int, msg string) {
	writeJSON(rw, code, map[string]any{"error_code": code, "message": msg})
}

// writeErr answers err: a restError as it is, a control error by its kind,
// a deadline as Connect's request timeout, anything else 500.
func writeErr(rw http.ResponseWriter, err error) {
	var re *restError
	switch {
	case errors.As(err, &re):
		writeError(rw, re.code, re.msg)
	case errors.Is(err, ErrNotFound):
		writeError(rw, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrConflict):
		writeError(rw, http.StatusConflict, err.Error())
	case errors.Is(err, ErrBadRequest):
		writeError(rw, http.StatusBadRequest, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(rw, http.StatusInternalServerError, "Request timed out: "+err.Error())
	default:
		writeError(rw, http.StatusInternalServerError, err.Error())
	}
}

// authorized checks the bearer token in constant time.
func (a *restAPI) authorized(r *http.Request) bool {
	if a.tokenSum == nil {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum) == 1 && ok
}

// forwarded reports whether another worker forwarded r.
func forwarded(r *http.Request) bool { return r.Header.Get(HeaderForwarded) != "" }

// splitPath splits an escaped URL path into unescaped segments.
func splitPath(escaped string) ([]string, bool) {
	escaped = strings.Trim(escaped, "/")
	if escaped == "" {
		return nil, true
	}
	segs := strings.Split(escaped, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

func (a *restAPI) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	segs, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		writeError(rw, http.StatusBadRequest, "the path is not a valid URL path")
		return
	}
	// Probes and scrapes need no token.
	switch {
	case r.Method == http.MethodGet && len(segs) == 1 && segs[0] == "health":
		a.health(rw)
		return
	case r.Method == http.MethodGet && len(segs) == 2 && segs[0] == "health" && segs[1] == "live":
		a.live(rw)
		return
	case r.Method == http.MethodGet && len(segs) == 1 && segs[0] == "metrics":
		a.metrics.ServeHTTP(rw, r)
		return
	}
	if !a.authorized(r) {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="mm2go"`)
		writeError(rw, http.StatusUnauthorized, "this worker's REST API needs a bearer token: send Authorization: Bearer <token>")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.RequestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	if len(segs) >= 3 && segs[0] != "connectors" && segs[2] == "connectors" {
		a.serveDedicated(rw, r, segs)
		return
	}
	a.route(rw, r, segs, "")
}

// serveDedicated serves MM2's dedicated-mode paths,
// /{source}/{target}/connectors/..., by the short connector name.
func (a *restAPI) serveDedicated(rw http.ResponseWriter, r *http.Request, segs []string) {
	source, target := segs[0], segs[1]
	if len(segs) == 3 {
		if r.Method != http.MethodGet {
			a.notAllowed(rw, r)
			return
		}
		snap, err := a.snapshot(r)
		if err != nil {
			writeErr(rw, err)
			return
		}
		names := []string{}
		for _, c := range snap.list() {
			if c.spec.Source == source && c.spec.Target == target {
				names = append(names, c.spec.Name)
			}
		}
		writeJSON(rw, http.StatusOK, names)
		return
	}
	full := append([]string{"connectors", connectName(source, target, segs[3])}, segs[4:]...)
	a.route(rw, r, full, segs[3])
}

// route serves the Connect paths; short, when set, is the name the
// answers use (dedicated mode).
func (a *restAPI) route(rw http.ResponseWriter, r *http.Request, segs []string, short string) {
	m := r.Method
	switch {
	case len(segs) == 0:
		if m != http.MethodGet {
			a.notAllowed(rw, r)
			return
		}
		a.serverInfo(rw, r)
		return
	case len(segs) == 1 && segs[0] == "connector-plugins":
		if m != http.MethodGet {
			a.notAllowed(rw, r)
			return
		}
		a.plugins(rw)
		return
	case len(segs) == 2 && segs[0] == "mm2go" && segs[1] == "local":
		if m != http.MethodGet {
			a.notAllowed(rw, r)
			return
		}
		writeJSON(rw, http.StatusOK, a.local())
		return
	case segs[0] != "connectors":
		writeError(rw, http.StatusNotFound, "HTTP 404 Not Found")
		return
	case len(segs) == 1:
		if m != http.MethodGet {
			a.notAllowed(rw, r)
			return
		}
		a.listConnectors(rw, r)
		return
	}
	name := segs[1]
	rest := strings.Join(segs[2:], "/")
	switch {
	case m == http.MethodGet && rest == "":
		a.getConnector(rw, r, name, short, func(c *restConnector) any { return c.info(short) })
	case m == http.MethodGet && rest == "config":
		a.getConnector(rw, r, name, short, func(c *restConnector) any { return c.config(short) })
	case m == http.MethodGet && rest == "status":
		a.getConnector(rw, r, name, short, func(c *restConnector) any { return c.status(short) })
	case m == http.MethodGet && rest == "tasks":
		a.getConnector(rw, r, name, short, func(c *restConnector) any { return c.taskInfos(short) })
	case m == http.MethodGet && rest == "tasks-config":
		a.getConnector(rw, r, name, short, func(c *restConnector) any { return c.tasksConfig(short) })
	case m == http.MethodGet && len(segs) == 5 && segs[2] == "tasks" && segs[4] == "status":
		a.taskStatus(rw, r, name, segs[3])
	case m == http.MethodPut && rest == "pause":
		a.setTarget(rw, r, name, TargetPaused)
	case m == http.MethodPut && rest == "resume":
		a.setTarget(rw, r, name, TargetStarted)
	case m == http.MethodPut && rest == "stop":
		a.setTarget(rw, r, name, TargetStopped)
	case m == http.MethodPost && rest == "restart":
		a.restartConnector(rw, r, name, short)
	case m == http.MethodPost && len(segs) == 5 && segs[2] == "tasks" && segs[4] == "restart":
		a.restartTask(rw, r, name, segs[3])
	case m == http.MethodGet && rest == "offsets":
		a.getOffsets(rw, r, name)
	case (m == http.MethodPatch || m == http.MethodDelete) && rest == "offsets":
		a.changeOffsets(rw, r, name)
	case rest == "topics" || rest == "topics/reset":
		// Connect's answer when topic tracking is off: mm2go does not
		// track topics per connector (its status and metrics name them).
		writeError(rw, http.StatusForbidden, "Topic tracking is disabled.")
	case rest == "" || rest == "config" || rest == "status" || rest == "tasks" || rest == "pause" || rest == "resume" ||
		rest == "stop" || rest == "restart" || rest == "offsets" || len(segs) == 5 && segs[2] == "tasks":
		a.notAllowed(rw, r)
	default:
		writeError(rw, http.StatusNotFound, "HTTP 404 Not Found")
	}
}

// notAllowed answers a method the path does not take. Connect's writes of
// connector configs are among them: mm2go's connectors come from the flow
// file.
func (a *restAPI) notAllowed(rw http.ResponseWriter, r *http.Request) {
	msg := fmt.Sprintf("HTTP 405 Method Not Allowed: %s %s", r.Method, r.URL.Path)
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodDelete {
		msg += ": mm2go runs the connectors of its flow file; to add, change or delete one, edit the flow file and restart the workers"
	}
	writeError(rw, http.StatusMethodNotAllowed, msg)
}

// serverInfo answers GET /: Connect's ServerInfo, with the id of the
// cluster the worker group lives on.
func (a *restAPI) serverInfo(rw http.ResponseWriter, r *http.Request) {
	id, err := a.groupClusterID(r.Context())
	out := map[string]any{"version": a.cfg.Version, "commit": a.cfg.Commit, "kafka_cluster_id": id}
	if err != nil {
		a.log.Warn("cannot read the group cluster's id", "error", err)
		out["kafka_cluster_id"] = nil
	}
	writeJSON(rw, http.StatusOK, out)
}

// groupCluster is the cluster the worker group lives on: the first target
// cluster in sorted order, as the group places itself by default.
func (w *Worker) groupCluster() string {
	var targets []string
	for _, s := range w.ConnectorSpecs() {
		targets = append(targets, s.Target)
	}
	sort.Strings(targets)
	if len(targets) == 0 {
		return ""
	}
	return targets[0]
}

func (a *restAPI) groupClusterID(ctx context.Context) (string, error) {
	a.clusterMu.Lock()
	defer a.clusterMu.Unlock()
	if a.clusterID != "" {
		return a.clusterID, nil
	}
	cluster := a.cfg.GroupCluster
	if cluster == "" {
		cluster = a.w.groupCluster()
	}
	if cluster == "" {
		return "", errors.New("the worker runs no flow yet")
	}
	cl, err := a.w.cfg.newClient(cluster, RoleAdmin)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return "", fmt.Errorf("metadata of cluster %s: %w", cluster, err)
	}
	a.clusterID = md.Cluster
	return md.Cluster, nil
}

// plugins answers GET /connector-plugins: the connector classes the worker
// can run.
func (a *restAPI) plugins(rw http.ResponseWriter) {
	out := []map[string]string{}
	for _, c := range a.w.reg.Classes() {
		out = append(out, map[string]string{"class": javaClass(c), "type": "source", "version": a.cfg.Version})
	}
	writeJSON(rw, http.StatusOK, out)
}

// javaClass is the Java class name Connect shows for a connector class:
// MM2's connectors are in org.apache.kafka.connect.mirror.
func javaClass(c string) string {
	if strings.HasPrefix(c, "Mirror") && !strings.Contains(c, ".") {
		return "org.apache.kafka.connect.mirror." + c
	}
	return c
}

// expansions returns the ?expand= values (repeated, or comma-separated).
func expansions(r *http.Request) (status, info bool) {
	for _, v := range r.URL.Query()["expand"] {
		for _, e := range strings.Split(v, ",") {
			switch strings.TrimSpace(e) {
			case "status":
				status = true
			case "info":
				info = true
			}
		}
	}
	return status, info
}

func (a *restAPI) listConnectors(rw http.ResponseWriter, r *http.Request) {
	snap, err := a.snapshot(r)
	if err != nil {
		writeErr(rw, err)
		return
	}
	status, info := expansions(r)
	if !status && !info {
		if _, ok := r.URL.Query()["expand"]; !ok {
			names := []string{}
			for _, c := range snap.list() {
				names = append(names, c.Name)
			}
			writeJSON(rw, http.StatusOK, names)
			return
		}
	}
	out := make(map[string]any)
	for _, c := range snap.list() {
		e := map[string]any{}
		if status {
			e["status"] = c.status("")
		}
		if info {
			e["info"] = c.info("")
		}
		out[c.Name] = e
	}
	writeJSON(rw, http.StatusOK, out)
}

func (a *restAPI) getConnector(rw http.ResponseWriter, r *http.Request, name, short string, answer func(*restConnector) any) {
	snap, err := a.snapshot(r)
	if err != nil {
		writeErr(rw, err)
		return
	}
	c, ok := snap.find(name)
	if !ok {
		writeError(rw, http.StatusNotFound, "Connector "+displayName(name, short)+" not found")
		return
	}
	writeJSON(rw, http.StatusOK, answer(c))
}

func displayName(name, short string) string {
	if short != "" {
		return short
	}
	return name
}

func (a *restAPI) taskStatus(rw http.ResponseWriter, r *http.Request, name, task string) {
	id, ok := parseTaskID(task)
	if !ok {
		writeError(rw, http.StatusNotFound, "HTTP 404 Not Found")
		return
	}
	snap, err := a.snapshot(r)
	if err != nil {
		writeErr(rw, err)
		return
	}
	c, ok := snap.find(name)
	if !ok {
		writeError(rw, http.StatusNotFound, "No status found for connector "+name)
		return
	}
	for _, t := range c.statusTasks() {
		if taskIDOf(t) == id {
			writeJSON(rw, http.StatusOK, t)
			return
		}
	}
	writeError(rw, http.StatusNotFound, fmt.Sprintf("No status found for task %s-%d", c.Name, id))
}

// setTarget serves pause, resume and stop: at the leader (which a group
// makes group-wide), answered 202 (pause, resume) or 204 (stop) as Connect
// does.
func (a *restAPI) setTarget(rw http.ResponseWriter, r *http.Request, name string, s TargetState) {
	if a.toLeader(rw, r) {
		return
	}
	if err := a.w.setTarget(r.Context(), name, s); err != nil {
		writeErr(rw, err)
		return
	}
	if s == TargetStopped {
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	rw.WriteHeader(http.StatusAccepted)
}

// boolParam parses a boolean query parameter, false when absent.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, httpErr(http.StatusBadRequest, "query parameter %s: %q is not true or false", name, v)
	}
	return b, nil
}

// restartConnector serves POST /connectors/{name}/restart: 204 once the
// connector restarted, or with includeTasks or onlyFailed, 202 and the
// status with what restarts RESTARTING, as Connect does.
func (a *restAPI) restartConnector(rw http.ResponseWriter, r *http.Request, name, short string) {
	include, err := boolParam(r, "includeTasks")
	if err == nil {
		var only bool
		only, err = boolParam(r, "onlyFailed")
		if err == nil {
			a.restart(rw, r, name, short, RestartOptions{IncludeTasks: include, OnlyFailed: only, Wait: !include && !only})
			return
		}
	}
	writeErr(rw, err)
}

func (a *restAPI) restartTask(rw http.ResponseWriter, r *http.Request, name, task string) {
	id, ok := parseTaskID(task)
	if !ok {
		writeError(rw, http.StatusNotFound, "HTTP 404 Not Found")
		return
	}
	spec, err := a.spec(name)
	if err != nil {
		writeErr(rw, err)
		return
	}
	if a.toOwner(rw, r, TaskUnit(spec.Source, spec.Target, spec.Name, id)) {
		return
	}
	if err := a.w.RestartTask(r.Context(), name, id); err != nil {
		writeErr(rw, err)
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}

// spec returns the connector's spec, ErrNotFound (Connect's message) when
// the worker has none.
func (a *restAPI) spec(name string) (ConnectorSpec, error) {
	h, ok := a.w.ctl.lookup(name)
	if !ok {
		return ConnectorSpec{}, notFound("Unknown connector: %s", name)
	}
	return h.spec, nil
}

// readBody reads a request body of at most 16 MiB.
func readBody(rw http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, 16<<20))
	if err != nil {
		return nil, httpErr(http.StatusBadRequest, "read the request body: %v", err)
	}
	return b, nil
}

// decodeJSON decodes a request body, 400 when it is not JSON of v's shape.
func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return httpErr(http.StatusBadRequest, "the request body is not valid JSON of the expected shape: %v", err)
	}
	return nil
}
