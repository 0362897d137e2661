package connect

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The series in this file carry the names and labels that Strimzi's
// JMX-exporter rules (examples/metrics/kafka-mirror-maker-2-metrics.yaml)
// give the JMX metrics of MM2, Kafka Connect and the Java clients, so that
// MM2's dashboards and alerts work unchanged: the attribute name lowercased
// with "-" as "_", prefixed by the rule's kafka_<group>_, and the MBean's
// tags as labels. Label values are what Java's JMX reporter registers:
// Kafka's Sanitizer.jmxSanitize quotes a value with characters other than
// letters, digits, "_", "-", "%", ".", space and tab, and the exporter keeps
// the quotes, so a client id such as A->B|MirrorSourceConnector-0|... is the
// label value "A->B|MirrorSourceConnector-0|..." with its quotes, which is
// what Strimzi's dashboard queries match.
//
// mm2go runs MM2's connectors the way Strimzi's KafkaMirrorMaker2 does, in
// one Connect worker, and names them for these series as Strimzi does:
// <source>-><target>.<connector>, so that the flows of one worker stay apart.

// jmxValue returns s as Java's JMX reporter registers a tag value
// (Sanitizer.jmxSanitize, ObjectName.quote).
func jmxValue(s string) string {
	plain := true
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '%' || r == '.' || r == ' ' || r == '\t' ||
			r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '*', '?', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// connectName is a connector's name in the Connect-style series, as
// Strimzi names MM2's connectors: "A->B.MirrorSourceConnector".
func connectName(source, target, name string) string {
	return source + "->" + target + "." + name
}

// taskMetrics is what the metrics read of a running task besides its
// counters: its partitions, its view of its clusters and what its cycles
// reported.
type taskMetrics struct {
	parts *partitionTable
	reach *reachability

	mu       sync.Mutex // guards groups and groupsAt
	groups   []GroupCheckpoint
	groupsAt map[string]time.Time // when each group was last brought up to date
}

func newTaskMetrics(parts *partitionTable) *taskMetrics {
	return &taskMetrics{parts: parts, reach: &reachability{}, groupsAt: make(map[string]time.Time)}
}

// unreachable returns the clusters the task has had no answer from for at
// least after.
func (m *taskMetrics) unreachable(now time.Time, after time.Duration) []Unreachable {
	if m == nil {
		return nil
	}
	us, _ := m.reach.failing(now, after)
	return us
}

// markUnreachable turns a RUNNING state into UNREACHABLE when us is not
// empty, with an error that says which clusters and why.
func markUnreachable(state *State, errText *string, us []Unreachable) {
	if len(us) == 0 || *state != StateRunning {
		return
	}
	*state, *errText = StateUnreachable, unreachableError(us)
}

// GroupCheckpoint is what one checkpoint cycle found for one consumer group
// (TaskContext.ReportGroups).
type GroupCheckpoint struct {
	Group string
	// LagRecords is how many records the group has consumed on the source
	// (its committed offsets) past what its latest checkpoints say, summed
	// over its partitions that have a checkpoint.
	LagRecords int64
	// Untranslated counts the group's partitions whose committed offset
	// has no checkpoint: it could not be translated (not copied yet, or
	// before the first copied record).
	Untranslated int
	// UpToDate says that the cycle left every partition of the group with
	// a checkpoint at its committed offset.
	UpToDate bool
}

// ReportGroups tells the worker what a checkpoint cycle that began at began
// found for the task's groups; it replaces what the previous cycle
// reported. The worker exports it as the mm2go_checkpoint_group_* metrics.
func (tc *TaskContext) ReportGroups(began time.Time, groups []GroupCheckpoint) {
	if tc.stats == nil || tc.stats.m == nil {
		return
	}
	m := tc.stats.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups = append(m.groups[:0], groups...)
	seen := make(map[string]bool, len(groups))
	for _, g := range groups {
		seen[g.Group] = true
		if _, ok := m.groupsAt[g.Group]; !ok || g.UpToDate {
			if g.UpToDate {
				m.groupsAt[g.Group] = began
			} else {
				m.groupsAt[g.Group] = time.Time{} // never up to date yet
			}
		}
	}
	for g := range m.groupsAt {
		if !seen[g] {
			delete(m.groupsAt, g)
		}
	}
}

// Collector returns a Prometheus collector of everything the worker exports:
// mm2go's own series (mm2go_*), the Connect, MM2 and client series under
// the names Strimzi's rules give them (kafka_connect_*, kafka_consumer_*,
// kafka_producer_*, kafka_admin_client_*). Values are read at scrape time
// from Status, the clients' hook counters and the tasks' partitions: nothing
// is added to the hot path but the per-batch counters the series need.
func (w *Worker) Collector() prometheus.Collector {
	return multiCollector{&collector{w: w}, &metricsCollector{w: w}}
}

type multiCollector []prometheus.Collector

func (m multiCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m {
		c.Describe(ch)
	}
}

func (m multiCollector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m {
		c.Collect(ch)
	}
}

type metricsCollector struct{ w *Worker }

func gauge(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	// Connect worker (connect-worker-metrics, connect-worker-rebalance-metrics,
	// connect-coordinator-metrics).
	mWorkerConnectors = gauge("kafka_connect_worker_connector_count", "The number of connectors run in this worker (Connect: connector-count).")
	mWorkerTasks      = gauge("kafka_connect_worker_task_count", "The number of tasks run in this worker (Connect: task-count).")
	mConnTaskCounts   = map[string]*prometheus.Desc{}
	mRebalancing      = gauge("kafka_connect_worker_rebalance_rebalancing", "Whether this worker is rebalancing: always 0 for a worker outside a group.")
	mRebalances       = prometheus.NewDesc("kafka_connect_worker_rebalance_completed_rebalances_total", "The rebalances this worker completed: 0 for a worker outside a group.", nil, nil)
	mAssignedConns    = gauge("kafka_connect_coordinator_assigned_connectors", "The connectors of the flow (herder) this worker runs.", "clientid")
	mAssignedTasks    = gauge("kafka_connect_coordinator_assigned_tasks", "The tasks of the flow (herder) this worker runs.", "clientid")

	// Connect tasks (connector-task-metrics, source-task-metrics).
	mTaskStatus   = gauge("kafka_connect_connector_status", "1 for the task's status (running, failed, unassigned, unreachable).", "connector", "task", "status")
	mPollTotal    = prometheus.NewDesc("kafka_connect_source_task_source_record_poll_total", "Records the task polled (Connect: source-record-poll-total).", []string{"connector", "task"}, nil)
	mWriteTotal   = prometheus.NewDesc("kafka_connect_source_task_source_record_write_total", "Records the target acknowledged (Connect: source-record-write-total).", []string{"connector", "task"}, nil)
	mActiveRecord = gauge("kafka_connect_source_task_source_record_active_count", "Records polled and not yet acknowledged by the target (Connect: source-record-active-count).", "connector", "task")

	// mm2go's own.
	mUnreachable = gauge("mm2go_cluster_unreachable_seconds", "How long every request and connection of the task (task \"\": of the connector) to the cluster has failed; absent while it answers. The status says UNREACHABLE past the worker's threshold.", "source", "target", "connector", "task", "cluster")
	mGroupLag    = gauge("mm2go_checkpoint_group_lag_records", "Records the group consumed on the source past what its latest checkpoints say, summed over its partitions with a checkpoint.", "source", "target", "group")
	mGroupAge    = gauge("mm2go_checkpoint_group_age_seconds", "Seconds since a checkpoint cycle last left every partition of the group with a checkpoint at its committed offset (+Inf: never since the task started).", "source", "target", "group")
	mGroupUntr   = gauge("mm2go_checkpoint_group_untranslated_partitions", "Partitions of the group whose committed offset has no checkpoint (not copied yet, or before the first copied record).", "source", "target", "group")
)

// taskCountStates are the states of Connect's per-connector task counts
// (connector-<state>-task-count), with mm2go's state each one counts.
var taskCountStates = []struct {
	name  string
	state State
}{
	{"running", StateRunning}, {"failed", StateFailed}, {"unassigned", StateUnassigned},
	{"paused", "PAUSED"}, {"restarting", "RESTARTING"}, {"destroyed", "DESTROYED"},
}

func init() {
	mConnTaskCounts["total"] = gauge("kafka_connect_worker_connector_total_task_count", "The tasks of the connector run in this worker.", "connector")
	for _, s := range taskCountStates {
		mConnTaskCounts[s.name] = gauge("kafka_connect_worker_connector_"+s.name+"_task_count",
			"The tasks of the connector in state "+string(s.state)+" (mm2go has no paused, restarting or destroyed tasks).", "connector")
	}
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mWorkerConnectors, mWorkerTasks, mRebalancing, mRebalances, mAssignedConns, mAssignedTasks,
		mTaskStatus, mPollTotal, mWriteTotal, mActiveRecord, mUnreachable, mGroupLag, mGroupAge, mGroupUntr} {
		ch <- d
	}
	for _, d := range mConnTaskCounts {
		ch <- d
	}
	describeClients(ch)
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	w := c.w
	now := time.Now()
	st := w.Status()
	var connectors, tasks int
	type herder struct{ connectors, tasks int }
	herders := make(map[string]*herder)
	for _, cs := range st {
		h := herders[cs.Source+"->"+cs.Target]
		if h == nil {
			h = &herder{}
			herders[cs.Source+"->"+cs.Target] = h
		}
		if cs.State != StateStopped {
			connectors++
			h.connectors++
		}
		conn := jmxValue(connectName(cs.Source, cs.Target, cs.Name))
		counts := make(map[string]int)
		for _, ts := range cs.Tasks {
			if ts.State == StateStopped {
				continue
			}
			tasks++
			h.tasks++
			counts["total"]++
			for _, s := range taskCountStates {
				if ts.State == s.state {
					counts[s.name]++
				}
			}
			task := strconv.Itoa(ts.ID)
			ch <- prometheus.MustNewConstMetric(mTaskStatus, prometheus.GaugeValue, 1, conn, task, strings.ToLower(string(ts.State)))
			ch <- prometheus.MustNewConstMetric(mPollTotal, prometheus.CounterValue, float64(ts.RecordsSent), conn, task)
			ch <- prometheus.MustNewConstMetric(mWriteTotal, prometheus.CounterValue, float64(ts.RecordsAcked), conn, task)
		}
		for name, d := range mConnTaskCounts {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(counts[name]), conn)
		}
	}
	ch <- prometheus.MustNewConstMetric(mWorkerConnectors, prometheus.GaugeValue, float64(connectors))
	ch <- prometheus.MustNewConstMetric(mWorkerTasks, prometheus.GaugeValue, float64(tasks))
	ch <- prometheus.MustNewConstMetric(mRebalancing, prometheus.GaugeValue, 0)
	ch <- prometheus.MustNewConstMetric(mRebalances, prometheus.CounterValue, 0)
	for id, h := range herders {
		ch <- prometheus.MustNewConstMetric(mAssignedConns, prometheus.GaugeValue, float64(h.connectors), jmxValue(id))
		ch <- prometheus.MustNewConstMetric(mAssignedTasks, prometheus.GaugeValue, float64(h.tasks), jmxValue(id))
	}
	c.collectLive(ch, now)
	collectClients(ch, w.clients.snapshot(), now)
}

// collectLive exports what the running tasks and connectors hold besides
// their Status: in-flight records, reachability and checkpoint groups.
func (c *metricsCollector) collectLive(ch chan<- prometheus.Metric, now time.Time) {
	w := c.w
	type liveTask struct {
		spec ConnectorStatus
		id   int
		m    *taskMetrics
	}
	var live []liveTask
	reach := make(map[string]*reachability)
	w.mu.Lock()
	for id, s := range w.status {
		for tid, st := range w.live[id] {
			live = append(live, liveTask{spec: ConnectorStatus{Name: s.Name, Source: s.Source, Target: s.Target}, id: tid, m: st.m})
		}
		if r := w.reach[id]; r != nil && s.State != StateStopped {
			reach[id] = r
		}
	}
	statusOf := make(map[string]ConnectorStatus, len(w.status))
	for id, s := range w.status {
		statusOf[id] = ConnectorStatus{Name: s.Name, Source: s.Source, Target: s.Target}
	}
	w.mu.Unlock()
	sort.Slice(live, func(i, j int) bool { return live[i].id < live[j].id })

	for id, r := range reach {
		cs := statusOf[id]
		_, failing := r.failing(now, w.cfg.UnreachableAfter)
		for cluster, d := range failing {
			ch <- prometheus.MustNewConstMetric(mUnreachable, prometheus.GaugeValue, d.Seconds(), cs.Source, cs.Target, cs.Name, "", cluster)
		}
	}
	for _, t := range live {
		if t.m == nil {
			continue
		}
		cs, task := t.spec, strconv.Itoa(t.id)
		conn := jmxValue(connectName(cs.Source, cs.Target, cs.Name))
		var active int64
		for _, sp := range t.m.parts.snapshot() {
			active += sp.InFlight()
		}
		ch <- prometheus.MustNewConstMetric(mActiveRecord, prometheus.GaugeValue, float64(active), conn, task)
		_, failing := t.m.reach.failing(now, w.cfg.UnreachableAfter)
		for cluster, d := range failing {
			ch <- prometheus.MustNewConstMetric(mUnreachable, prometheus.GaugeValue, d.Seconds(), cs.Source, cs.Target, cs.Name, task, cluster)
		}
		t.m.mu.Lock()
		for _, g := range t.m.groups {
			ch <- prometheus.MustNewConstMetric(mGroupLag, prometheus.GaugeValue, float64(g.LagRecords), cs.Source, cs.Target, g.Group)
			ch <- prometheus.MustNewConstMetric(mGroupUntr, prometheus.GaugeValue, float64(g.Untranslated), cs.Source, cs.Target, g.Group)
			age := math.Inf(1)
			if at := t.m.groupsAt[g.Group]; !at.IsZero() {
				age = now.Sub(at).Seconds()
			}
			ch <- prometheus.MustNewConstMetric(mGroupAge, prometheus.GaugeValue, age, cs.Source, cs.Target, g.Group)
		}
		t.m.mu.Unlock()
	}
}
