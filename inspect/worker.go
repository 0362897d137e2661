package inspect

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WorkerStatus is what a worker's REST API (mm2go worker --http-addr, or a
// Kafka Connect worker running MM2) says of its connectors:
// GET /connectors?expand=status.
type WorkerStatus struct {
	// URL is the worker's base URL.
	URL string
	// Connectors by "source->target/ConnectorName". The worker names them
	// "source->target.ConnectorName", as Strimzi names MM2's connectors in
	// one Connect cluster (and mm2go's REST API does); older mm2go workers
	// "source->target/ConnectorName". ConnectorState.Name is the short
	// name.
	Connectors map[string]ConnectorState
	// Err says why the worker could not be asked; the rest is then empty.
	Err error
}

// ConnectorState is a connector's state as the worker reports it.
type ConnectorState struct {
	Name  string      `json:"name"`
	State string      `json:"state"`
	Trace string      `json:"trace,omitempty"`
	Tasks []TaskState `json:"tasks"`
}

// TaskState is a task's state as the worker reports it.
type TaskState struct {
	ID    int    `json:"id"`
	State string `json:"state"`
	Trace string `json:"trace,omitempty"`
	// RecordsLost are source records the task found deleted before it
	// copied them, since it started.
	RecordsLost int64 `json:"records_lost"`
	// Restarts is how often the worker restarted the task after a
	// failure; -1 when the worker does not say.
	Restarts int64 `json:"restarts"`
	// LastError is the error of the task's last failure, and NextRestart
	// when a failed task is started again, when the worker says.
	LastError   string     `json:"last_error,omitempty"`
	NextRestart *time.Time `json:"next_restart,omitempty"`
	// Blocked are partitions stopped at a record the target refuses, when
	// the worker reports them.
	Blocked []BlockedPartition `json:"blocked,omitempty"`
}

// BlockedPartition is a source partition stopped at a record the target
// refuses (its order is kept, so nothing after it is copied either).
type BlockedPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Offset is the source offset of the refused record, -1 when the
	// worker does not say.
	Offset int64  `json:"offset"`
	Error  string `json:"error,omitempty"`
	// Since is when the partition stopped at the record, and Retries how
	// many times sending it again failed, when the worker says.
	Since   *time.Time `json:"since,omitempty"`
	Retries int64      `json:"retries"`
}

// FlowWorker is what the worker's REST status says of one flow.
type FlowWorker struct {
	URL string `json:"url"`
	// Error says why the worker could not be asked.
	Error string `json:"error,omitempty"`
	// State is running, degraded (running after task restarts), stopped,
	// or unknown (the worker could not be asked).
	State      string           `json:"state"`
	Reason     string           `json:"reason,omitempty"`
	Connectors []ConnectorState `json:"connectors"`
}

// FetchWorkerStatus asks the worker at baseURL (such as
// http://127.0.0.1:8083) for the status of all its connectors. A worker
// that cannot be asked is no error: the result's Err says why, so that a
// status still shows what the clusters say.
func FetchWorkerStatus(ctx context.Context, hc *http.Client, baseURL string) *WorkerStatus {
	ws := &WorkerStatus{URL: baseURL}
	if hc == nil {
		hc = http.DefaultClient
	}
	url := strings.TrimRight(baseURL, "/") + "/connectors?expand=status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		ws.Err = fmt.Errorf("ask worker %s: %w", baseURL, err)
		return ws
	}
	resp, err := hc.Do(req)
	if err != nil {
		ws.Err = fmt.Errorf("ask worker %s: %w", baseURL, err)
		return ws
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		ws.Err = fmt.Errorf("ask worker %s: read the answer: %w", baseURL, err)
		return ws
	}
	if resp.StatusCode != http.StatusOK {
		ws.Err = fmt.Errorf("ask worker %s: GET /connectors?expand=status answered %s", baseURL, resp.Status)
		return ws
	}
	if ws.Connectors, err = parseConnectors(body); err != nil {
		ws.Err = fmt.Errorf("ask worker %s: %w", baseURL, err)
	}
	return ws
}

// parseConnectors parses Connect's GET /connectors?expand=status answer. It
// is lenient about task fields beyond Connect's own (id, state, trace):
// restarts and blocked partitions are read when the worker reports them, and
// left unknown otherwise.
func parseConnectors(body []byte) (map[string]ConnectorState, error) {
	var raw map[string]struct {
		Status struct {
			Name      string `json:"name"`
			Connector struct {
				State string `json:"state"`
				Trace string `json:"trace"`
			} `json:"connector"`
			Tasks []map[string]json.RawMessage `json:"tasks"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("the answer is not Connect's connector status: %w", err)
	}
	out := make(map[string]ConnectorState, len(raw))
	for name, c := range raw {
		key, short := flowKey(name)
		cs := ConnectorState{Name: c.Status.Name, State: c.Status.Connector.State, Trace: c.Status.Connector.Trace, Tasks: []TaskState{}}
		if cs.Name == "" || cs.Name == name {
			cs.Name = short
		}
		for _, t := range c.Status.Tasks {
			cs.Tasks = append(cs.Tasks, parseTask(t))
		}
		slices.SortFunc(cs.Tasks, func(a, b TaskState) int { return cmp.Compare(a.ID, b.ID) })
		out[key] = cs
	}
	return out, nil
}

// flowKey turns a worker's connector name into the key of
// WorkerStatus.Connectors, "source->target/ConnectorName", and the short
// name. The name is "source->target.ConnectorName" (Strimzi, mm2go) or
// "source->target/ConnectorName" (older mm2go); MM2's connector names
// have no dot, so the last one ends the target alias.
func flowKey(name string) (key, short string) {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name, name[i+1:]
	}
	if arrow := strings.Index(name, "->"); arrow >= 0 {
		if i := strings.LastIndexByte(name, '.'); i > arrow+2 {
			return name[:i] + "/" + name[i+1:], name[i+1:]
		}
	}
	return name, name
}

func parseTask(f map[string]json.RawMessage) TaskState {
	t := TaskState{Restarts: -1}
	str := func(names ...string) string {
		for _, n := range names {
			var s string
			if json.Unmarshal(f[n], &s) == nil && s != "" {
				return s
			}
		}
		return ""
	}
	num := func(names ...string) (int64, bool) {
		for _, n := range names {
			var v json.Number
			if raw, ok := f[n]; ok && json.Unmarshal(raw, &v) == nil {
				if i, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
					return i, true
				}
			}
		}
		return 0, false
	}
	id, _ := num("id")
	t.ID = int(id)
	t.State, t.Trace, t.LastError = str("state"), str("trace"), str("last_error")
	t.RecordsLost, _ = num("records_lost")
	if n, ok := num("restarts", "restart_count"); ok {
		t.Restarts = n
	}
	t.NextRestart = timeField(f["next_restart"])
	for _, name := range []string{"blocked", "blocked_partitions", "partitions"} {
		var ps []map[string]json.RawMessage
		if json.Unmarshal(f[name], &ps) != nil {
			continue
		}
		for _, p := range ps {
			b, ok := parseBlocked(p, name == "partitions")
			if ok {
				t.Blocked = append(t.Blocked, b)
			}
		}
	}
	return t
}

// parseBlocked reads one blocked partition; from a list of all the task's
// partitions (onlyIfBlocked), only those whose state says blocked.
func parseBlocked(f map[string]json.RawMessage, onlyIfBlocked bool) (BlockedPartition, bool) {
	var b BlockedPartition
	var state string
	_ = json.Unmarshal(f["state"], &state)
	if onlyIfBlocked && !strings.EqualFold(state, "blocked") {
		return b, false
	}
	if json.Unmarshal(f["topic"], &b.Topic) != nil || b.Topic == "" {
		return b, false
	}
	if json.Unmarshal(f["partition"], &b.Partition) != nil {
		return b, false
	}
	b.Offset = -1
	for _, n := range []string{"offset", "source_offset"} {
		if json.Unmarshal(f[n], &b.Offset) == nil {
			break
		}
	}
	for _, n := range []string{"error", "reason", "trace"} {
		if json.Unmarshal(f[n], &b.Error) == nil && b.Error != "" {
			break
		}
	}
	b.Since = timeField(f["since"])
	_ = json.Unmarshal(f["retries"], &b.Retries)
	return b, true
}

// timeField parses an RFC 3339 time, nil when absent or not one.
func timeField(raw json.RawMessage) *time.Time {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

// flowWorkerView is what the worker's status means for one flow's
// partitions. The zero value (no worker asked) says nothing.
type flowWorkerView struct {
	running   bool   // the source connector and all its tasks run
	stopped   string // why the copy is stopped; "" when it is not
	degraded  string // running, but tasks restarted
	lost      int64  // records_lost of the source tasks; -1 unknown
	blockedBy map[tp]string
}

func (v *flowWorkerView) blocked(topic string, partition int32) string {
	return v.blockedBy[tp{topic, partition}]
}

// firstLine returns the first line of a trace.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// applyWorker puts the worker's view of the flow in st and returns what it
// means for the partitions.
func (in *Inspector) applyWorker(st *FlowStatus, ws *WorkerStatus) *flowWorkerView {
	v := &flowWorkerView{lost: -1}
	if ws == nil {
		return v
	}
	fw := &FlowWorker{URL: ws.URL, State: "unknown", Connectors: []ConnectorState{}}
	st.Worker = fw
	if ws.Err != nil {
		fw.Error = ws.Err.Error()
		return v
	}
	prefix := st.Flow + "/"
	for key, cs := range ws.Connectors {
		if strings.HasPrefix(key, prefix) {
			fw.Connectors = append(fw.Connectors, cs)
		}
	}
	slices.SortFunc(fw.Connectors, func(a, b ConnectorState) int { return cmp.Compare(a.Name, b.Name) })
	src, ok := ws.Connectors[prefix+in.flow.Connector]
	if !ok {
		v.stopped = fmt.Sprintf("the worker at %s does not run flow %s", ws.URL, st.Flow)
		fw.State, fw.Reason = "stopped", v.stopped
		return v
	}
	v.lost = 0
	var failed, idle, restarted []string
	for _, t := range src.Tasks {
		v.lost += t.RecordsLost
		switch t.State {
		case "RUNNING":
			if t.Restarts > 0 {
				restarted = append(restarted, fmt.Sprintf("task %d restarted %d time(s)", t.ID, t.Restarts))
			}
		case "FAILED":
			s := fmt.Sprintf("task %d failed: %s", t.ID, firstLine(cmp.Or(t.Trace, t.LastError)))
			if t.NextRestart != nil {
				s += fmt.Sprintf(" (restart %d at %s)", max(t.Restarts, 0)+1, t.NextRestart.Format(time.RFC3339))
			}
			failed = append(failed, s)
		default:
			s := fmt.Sprintf("task %d is %s", t.ID, t.State)
			if t.Restarts > 0 {
				s += fmt.Sprintf(" after %d restart(s)", t.Restarts)
			}
			if t.Trace != "" {
				s += ": " + firstLine(t.Trace)
			}
			idle = append(idle, s)
		}
		for _, b := range t.Blocked {
			if v.blockedBy == nil {
				v.blockedBy = make(map[tp]string)
			}
			why := "the target refuses the record"
			if b.Offset >= 0 {
				why += fmt.Sprintf(" at offset %d", b.Offset)
			}
			if b.Since != nil {
				why += " since " + b.Since.Format(time.RFC3339)
			}
			if b.Retries > 0 {
				why += fmt.Sprintf(" (%d retries)", b.Retries)
			}
			if b.Error != "" {
				why += ": " + firstLine(b.Error)
			}
			v.blockedBy[tp{b.Topic, b.Partition}] = why
		}
	}
	switch {
	case src.State == "FAILED":
		v.stopped = fmt.Sprintf("%s failed: %s", src.Name, firstLine(src.Trace))
	case src.State != "RUNNING":
		v.stopped = fmt.Sprintf("%s is %s", src.Name, src.State)
	case len(failed) > 0:
		v.stopped = strings.Join(append(failed, idle...), "; ")
	case len(idle) > 0:
		v.stopped = strings.Join(idle, "; ")
	case len(src.Tasks) == 0:
		v.stopped = src.Name + " has no tasks"
	default:
		v.running = true
		v.degraded = strings.Join(restarted, "; ")
	}
	switch {
	case v.stopped != "":
		fw.State, fw.Reason = "stopped", v.stopped
	case v.degraded != "":
		fw.State, fw.Reason = "degraded", v.degraded
	default:
		fw.State = "running"
	}
	return v
}
