package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// This file is the REST API's view of a worker group: what each worker
// reports of the connectors it runs (GET /mm2go/local), merged into one
// answer for the whole group, and the forwarding of writes to the worker
// that can carry them out.

// restLocal is what one worker reports of its connectors: GET /mm2go/local.
type restLocal struct {
	WorkerID   string          `json:"worker_id"`
	Connectors []restConnector `json:"connectors"`
}

// restConnector is one connector in the REST API's answers.
type restConnector struct {
	Name string `json:"name"`
	// Status is Connect's ConnectorStateInfo, with mm2go's task fields
	// (records_acked, restarts, blocked_partitions, ...).
	Status map[string]any `json:"status"`
	// Config is the connector's config, secrets hidden.
	Config map[string]string `json:"config"`
	// Tasks are the task configs the connector gave its tasks.
	Tasks  []restTaskInfo `json:"tasks"`
	Target TargetState    `json:"target_state"`

	spec  ConnectorSpec
	known bool // this worker runs the connector (spec is set)
}

type restTaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

type restTaskInfo struct {
	ID     restTaskID        `json:"id"`
	Config map[string]string `json:"config"`
}

// redacted stands in for a secret in a shown config.
const redacted = "[hidden]"

// secretKey reports whether a config key holds a secret: a password, a
// JAAS config, a key, a token or a credential.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "jaas.config", "secret", "keystore.key", "token", "credential", "private"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// showConfig returns props as the REST API shows them: secrets (by key,
// or values a config provider resolved) hidden.
func showConfig(spec ConnectorSpec, props Props) map[string]string {
	out := make(map[string]string, len(props))
	for k, v := range props {
		if secretKey(k) {
			v = redacted
		}
		for _, s := range spec.Secrets {
			if s != "" && strings.Contains(v, s) {
				v = redacted
			}
		}
		out[k] = v
	}
	return out
}

// local is this worker's report of its connectors.
func (a *restAPI) local() restLocal {
	w := a.w
	wid := w.workerID()
	status := make(map[string]ConnectorStatus)
	for _, cs := range w.own() {
		status[ConnectorUnit(cs.Source, cs.Target, cs.Name)] = cs
	}
	out := restLocal{WorkerID: wid, Connectors: []restConnector{}}
	for _, h := range w.ctl.all() {
		spec := h.spec
		name := connectName(spec.Source, spec.Target, spec.Name)
		cs, ok := status[spec.id()]
		if !ok {
			cs = ConnectorStatus{Name: spec.Name, Source: spec.Source, Target: spec.Target, State: StateUnassigned}
		}
		st := connectStatus(cs)
		st["name"] = name
		cfg := showConfig(spec, spec.Props)
		cfg["name"] = name
		cfg["connector.class"] = javaClass(spec.Class)
		cfg["source.cluster.alias"], cfg["target.cluster.alias"] = spec.Source, spec.Target
		c := restConnector{Name: name, Status: st, Config: cfg, Tasks: []restTaskInfo{},
			Target: w.targetState(spec), spec: spec, known: true}
		h.mu.Lock()
		for i, p := range h.taskProps {
			tc := showConfig(spec, p)
			if class, ok := strings.CutSuffix(javaClass(spec.Class), "Connector"); ok {
				tc["task.class"] = class + "Task" // MM2's task classes: MirrorSourceTask, ...
			}
			c.Tasks = append(c.Tasks, restTaskInfo{ID: restTaskID{name, i}, Config: tc})
		}
		h.mu.Unlock()
		out.Connectors = append(out.Connectors, c)
	}
	return out
}

// setWorkerID names the worker in a status's connector and tasks.
func setWorkerID(st map[string]any, wid string) {
	if c, ok := st["connector"].(map[string]any); ok {
		c["worker_id"] = wid
	}
	for _, t := range statusTasks(st) {
		t["worker_id"] = wid
	}
}

// statusTasks returns the tasks of a status.
func statusTasks(st map[string]any) []map[string]any {
	switch ts := st["tasks"].(type) {
	case []map[string]any:
		return ts
	case []any:
		out := make([]map[string]any, 0, len(ts))
		for _, t := range ts {
			if m, ok := t.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

func taskIDOf(t map[string]any) int {
	switch v := t["id"].(type) {
	case int:
		return v
	case float64:
		return int(v)
	case json.Number:
		n, _ := v.Int64()
		return int(n)
	}
	return -1
}

func stateOf(m map[string]any) string {
	s, _ := m["state"].(string)
	return s
}

func (c *restConnector) statusTasks() []map[string]any { return statusTasks(c.Status) }

func (c *restConnector) display(short string) string {
	if short != "" {
		return short
	}
	return c.Name
}

// status is Connect's ConnectorStateInfo.
func (c *restConnector) status(short string) map[string]any {
	out := make(map[string]any, len(c.Status))
	for k, v := range c.Status {
		out[k] = v
	}
	out["name"] = c.display(short)
	tasks := c.statusTasks()
	sort.Slice(tasks, func(i, j int) bool { return taskIDOf(tasks[i]) < taskIDOf(tasks[j]) })
	if tasks == nil {
		tasks = []map[string]any{}
	}
	out["tasks"] = tasks
	return out
}

// info is Connect's ConnectorInfo.
func (c *restConnector) info(short string) map[string]any {
	ids := make([]restTaskID, 0, len(c.Tasks))
	for _, t := range c.Tasks {
		ids = append(ids, restTaskID{c.display(short), t.ID.Task})
	}
	return map[string]any{"name": c.display(short), "config": c.Config, "tasks": ids, "type": "source"}
}

func (c *restConnector) config(string) map[string]string { return c.Config }

// taskInfos is Connect's list of TaskInfo.
func (c *restConnector) taskInfos(short string) []restTaskInfo {
	out := make([]restTaskInfo, 0, len(c.Tasks))
	for _, t := range c.Tasks {
		out = append(out, restTaskInfo{ID: restTaskID{c.display(short), t.ID.Task}, Config: t.Config})
	}
	return out
}

// tasksConfig is Connect's deprecated GET /connectors/{name}/tasks-config:
// task configs by "<name>-<id>".
func (c *restConnector) tasksConfig(short string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(c.Tasks))
	for _, t := range c.Tasks {
		out[c.display(short)+"-"+strconv.Itoa(t.ID.Task)] = t.Config
	}
	return out
}

// restSnapshot is the connectors of the worker or its group, by name.
type restSnapshot struct {
	conns map[string]*restConnector
}

func (s *restSnapshot) list() []*restConnector {
	out := make([]*restConnector, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// find looks a connector up by its Connect name or its unit.
func (s *restSnapshot) find(name string) (*restConnector, bool) {
	if c, ok := s.conns[name]; ok {
		return c, true
	}
	for _, c := range s.conns {
		if c.known && c.spec.id() == name {
			return c, true
		}
	}
	return nil, false
}

// snapshot returns the connectors of the whole group: this worker's, and
// in a group of several (unless r was forwarded) every other worker's,
// merged.
func (a *restAPI) snapshot(r *http.Request) (*restSnapshot, error) {
	local := a.local()
	snap := &restSnapshot{conns: make(map[string]*restConnector, len(local.Connectors))}
	for i := range local.Connectors {
		c := local.Connectors[i]
		snap.conns[c.Name] = &c
	}
	view := a.w.Group()
	members := view.Members()
	if forwarded(r) || len(members) <= 1 {
		return snap, nil
	}
	self := view.Self().WorkerID
	reports, failed := a.fanOut(r.Context(), members, self)
	for _, rep := range reports {
		snap.merge(view, rep)
	}
	snap.markFailed(view, failed)
	return snap, nil
}

// memberFailure is a worker of the group that did not answer.
type memberFailure struct {
	member GroupMember
	err    error
}

func (f memberFailure) why() string {
	if f.member.URL == "" {
		return fmt.Sprintf("worker %s serves no REST API", f.member.WorkerID)
	}
	return fmt.Sprintf("worker %s at %s did not answer: %v", f.member.WorkerID, f.member.URL, f.err)
}

// fanOut asks every other member for its connectors, in parallel, each
// within FanOutTimeout.
func (a *restAPI) fanOut(ctx context.Context, members []GroupMember, self string) ([]restLocal, map[string]memberFailure) {
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		reports []restLocal
		failed  = make(map[string]memberFailure)
	)
	for _, m := range members {
		if m.WorkerID == self {
			continue
		}
		if m.URL == "" {
			failed[m.WorkerID] = memberFailure{member: m}
			continue
		}
		wg.Go(func() {
			fctx, cancel := context.WithTimeout(ctx, a.cfg.FanOutTimeout)
			defer cancel()
			var rep restLocal
			err := a.call(fctx, m, http.MethodGet, "/mm2go/local", nil, &rep)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				a.log.Warn("worker of the group did not answer", "worker", m.WorkerID, "url", m.URL, "error", err)
				failed[m.WorkerID] = memberFailure{member: m, err: err}
				return
			}
			reports = append(reports, rep)
		})
	}
	wg.Wait()
	sort.Slice(reports, func(i, j int) bool { return reports[i].WorkerID < reports[j].WorkerID })
	return reports, failed
}

// merge takes in what another worker runs: a connector or task it reports
// in a state other than UNASSIGNED replaces what is known of it unless
// another worker reports it too and the group says it runs elsewhere.
func (s *restSnapshot) merge(view GroupView, rep restLocal) {
	for i := range rep.Connectors {
		rc := rep.Connectors[i]
		c, ok := s.conns[rc.Name]
		if !ok {
			// A connector this worker's flow file lacks: show it as the
			// other worker says (the group runs its leader's file).
			if rc.Tasks == nil {
				rc.Tasks = []restTaskInfo{}
			}
			s.conns[rc.Name] = &rc
			continue
		}
		owns := func(unit string) bool {
			m, ok := view.OwnerOf(unit)
			return ok && m.WorkerID == rep.WorkerID
		}
		rconn, _ := rc.Status["connector"].(map[string]any)
		cconn, _ := c.Status["connector"].(map[string]any)
		connUnit := rc.Name
		if c.known {
			connUnit = c.spec.id()
		}
		if stateOf(rconn) != string(StateUnassigned) && rconn != nil &&
			(stateOf(cconn) == string(StateUnassigned) || owns(connUnit)) {
			c.Status["connector"] = rconn
			c.Target = rc.Target
			if len(rc.Tasks) > 0 || stateOf(rconn) == string(StateStopped) {
				c.Tasks = rc.Tasks
			}
		}
		mine := c.statusTasks()
		byID := make(map[int]int, len(mine))
		for i, t := range mine {
			byID[taskIDOf(t)] = i
		}
		for _, t := range statusTasks(rc.Status) {
			if stateOf(t) == string(StateUnassigned) {
				if _, ok := byID[taskIDOf(t)]; !ok {
					byID[taskIDOf(t)] = len(mine)
					mine = append(mine, t)
				}
				continue
			}
			id := taskIDOf(t)
			unit := connUnit + "/" + strconv.Itoa(id)
			if i, ok := byID[id]; ok {
				if stateOf(mine[i]) == string(StateUnassigned) || owns(unit) {
					mine[i] = t
				}
				continue
			}
			byID[id] = len(mine)
			mine = append(mine, t)
		}
		c.Status["tasks"] = mine
	}
}

// markFailed shows the units the group gives to workers that did not
// answer as UNASSIGNED, with why.
func (s *restSnapshot) markFailed(view GroupView, failed map[string]memberFailure) {
	if len(failed) == 0 {
		return
	}
	for _, c := range s.conns {
		if !c.known {
			continue
		}
		unit := c.spec.id()
		if m, ok := view.OwnerOf(unit); ok {
			if f, down := failed[m.WorkerID]; down {
				if conn, _ := c.Status["connector"].(map[string]any); stateOf(conn) == string(StateUnassigned) || conn == nil {
					c.Status["connector"] = map[string]any{"state": string(StateUnassigned), "worker_id": m.WorkerID, "trace": f.why()}
				}
			}
		}
		maxTasks, err := c.spec.Props.Int("tasks.max", 1)
		if err != nil {
			continue
		}
		tasks := c.statusTasks()
		byID := make(map[int]int, len(tasks))
		for i, t := range tasks {
			byID[taskIDOf(t)] = i
		}
		for id := range int(min(maxTasks, 1<<16)) {
			m, ok := view.OwnerOf(unit + "/" + strconv.Itoa(id))
			if !ok {
				continue
			}
			f, down := failed[m.WorkerID]
			if !down {
				continue
			}
			t := map[string]any{"id": id, "state": string(StateUnassigned), "worker_id": m.WorkerID, "trace": f.why()}
			if i, ok := byID[id]; ok {
				if stateOf(tasks[i]) == string(StateUnassigned) {
					tasks[i] = t
				}
				continue
			}
			tasks = append(tasks, t)
		}
		c.Status["tasks"] = tasks
	}
}

// call sends one request to another worker of the group, marked
// forwarded, and decodes a JSON answer into out (when not nil). An answer
// that is not 2xx is an error with its message.
func (a *restAPI) call(ctx context.Context, m GroupMember, method, path string, body []byte, out any) error {
	resp, err := a.send(ctx, m, method, path, body, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		return &restError{resp.StatusCode, e.Message}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// send sends a request to another worker of the group, marked forwarded
// by this one, with the group's token.
func (a *restAPI) send(ctx context.Context, m GroupMember, method, path string, body []byte, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(m.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"Content-Type", "Accept"} {
		if v := hdr.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	if len(body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(HeaderForwarded, a.w.Group().Self().WorkerID)
	if a.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	}
	return a.cfg.Client.Do(req)
}

// forward sends r to worker m and copies its answer to rw.
func (a *restAPI) forward(rw http.ResponseWriter, r *http.Request, m GroupMember) {
	if m.URL == "" {
		writeError(rw, http.StatusConflict, fmt.Sprintf("Cannot complete request: it is for worker %s, which serves no REST API", m.WorkerID))
		return
	}
	body, err := readBody(rw, r)
	if err != nil {
		writeErr(rw, err)
		return
	}
	a.log.Debug("forwarding request", "method", r.Method, "path", r.URL.Path, "worker", m.WorkerID)
	resp, err := a.send(r.Context(), m, r.Method, r.URL.RequestURI(), body, r.Header)
	if err != nil {
		writeError(rw, http.StatusInternalServerError, fmt.Sprintf("forward %s %s to worker %s at %s: %v", r.Method, r.URL.Path, m.WorkerID, m.URL, err))
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		rw.Header().Set("Content-Type", ct)
	}
	rw.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(rw, resp.Body)
}

// toLeader forwards r to the group's leader unless this worker leads or r
// was forwarded already; it reports whether it answered r.
func (a *restAPI) toLeader(rw http.ResponseWriter, r *http.Request) bool {
	if forwarded(r) {
		return false
	}
	view := a.w.Group()
	leader, ok := view.Leader()
	switch {
	case !ok:
		writeError(rw, http.StatusConflict, "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway.")
		return true
	case leader.WorkerID == view.Self().WorkerID:
		return false
	}
	a.forward(rw, r, leader)
	return true
}

// toOwner forwards r to the worker that runs unit unless this one does or
// r was forwarded already; it reports whether it answered r.
func (a *restAPI) toOwner(rw http.ResponseWriter, r *http.Request, unit string) bool {
	if forwarded(r) {
		return false
	}
	view := a.w.Group()
	if len(view.Members()) <= 1 {
		return false
	}
	owner, ok := view.OwnerOf(unit)
	if !ok {
		writeError(rw, http.StatusConflict, fmt.Sprintf("Cannot complete request: no worker runs %s right now (not assigned yet, or moving between workers); try again", unit))
		return true
	}
	if owner.WorkerID == view.Self().WorkerID {
		return false
	}
	a.forward(rw, r, owner)
	return true
}

// restart serves a connector restart: alone, or forwarded, here; in a
// group, at each worker that runs the connector or one of its tasks, with
// the answers merged.
func (a *restAPI) restart(rw http.ResponseWriter, r *http.Request, name, short string, opt RestartOptions) {
	spec, err := a.spec(name)
	if err != nil {
		writeErr(rw, err)
		return
	}
	name = connectName(spec.Source, spec.Target, spec.Name)
	view := a.w.Group()
	self := view.Self().WorkerID
	if opt.Wait { // the connector instance only: at its worker
		if a.toOwner(rw, r, spec.id()) {
			return
		}
		if _, err := a.w.RestartConnector(r.Context(), name, opt); err != nil {
			writeErr(rw, err)
			return
		}
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	// The workers that run the connector or its tasks.
	owners := map[string]GroupMember{}
	if !forwarded(r) && len(view.Members()) > 1 {
		maxTasks, _ := spec.Props.Int("tasks.max", 1)
		units := []string{spec.id()}
		for id := range int(min(max(maxTasks, 1), 1<<16)) {
			units = append(units, TaskUnit(spec.Source, spec.Target, spec.Name, id))
		}
		for _, u := range units {
			if m, ok := view.OwnerOf(u); ok {
				owners[m.WorkerID] = m
			}
		}
	}
	if len(owners) == 0 {
		owners[self] = view.Self()
	}
	snap := &restSnapshot{conns: map[string]*restConnector{}}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, m := range owners {
		wg.Go(func() {
			var st map[string]any
			var err error
			if m.WorkerID == self {
				var cs ConnectorStatus
				cs, err = a.w.RestartConnector(r.Context(), name, opt)
				if err == nil {
					st = connectStatus(cs)
					setWorkerID(st, self)
				}
			} else {
				err = a.call(r.Context(), m, http.MethodPost, r.URL.RequestURI(), nil, &st)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			rep := restLocal{WorkerID: m.WorkerID, Connectors: []restConnector{{Name: name, Status: st}}}
			if _, ok := snap.conns[name]; !ok {
				c := rep.Connectors[0]
				c.spec, c.known = spec, true
				snap.conns[name] = &c
				return
			}
			snap.merge(view, rep)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		writeErr(rw, errs[0])
		return
	}
	writeJSON(rw, http.StatusAccepted, snap.conns[name].status(short))
}
