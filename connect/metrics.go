package connect

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mm2go/mm2go/connect/internal/kstat"
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

	mu       sync.Mutex // guards the fields below
	groups   []GroupCheckpoint
	groupsAt map[string]time.Time // when each group was last brought up to date
	// Connect's connector-task-metrics and source-task-metrics, recorded
	// per commit and per poll.
	commitTime kstat.Dist // offset-commit-{avg,max}-time-ms: successful commits
	pollTime   kstat.Dist // poll-batch-{avg,max}-time-ms
	batchSize  kstat.Dist // batch-size-{avg,max}: records per poll
}

// committed records a successful source-offset commit that took d
// (Connect's recordCommitSuccess).
func (m *taskMetrics) committed(d time.Duration) {
	if m == nil {
		return
	}
	now := time.Now()
	m.mu.Lock()
	m.commitTime.Record(float64(d)/float64(time.Millisecond), now.UnixMilli())
	m.mu.Unlock()
}

// polled records a Poll that took d and returned n records (Connect's
// recordPoll and recordBatch).
func (m *taskMetrics) polled(d time.Duration, n int, now time.Time) {
	if m == nil {
		return
	}
	ms := now.UnixMilli()
	m.mu.Lock()
	m.pollTime.Record(float64(d)/float64(time.Millisecond), ms)
	m.batchSize.Record(float64(n), ms)
	m.mu.Unlock()
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
	mRebalancing      = gauge("kafka_connect_worker_rebalance_rebalancing", "Whether this worker is rebalancing (1) or not (0): from the first JoinGroup of a rebalance to its assignment; always 0 for a worker outside a group.")
	mRebalances       = prometheus.NewDesc("kafka_connect_worker_rebalance_completed_rebalances_total", "The rebalances this worker completed (assignments received); 0 for a worker outside a group.", nil, nil)
	mEpoch            = gauge("kafka_connect_worker_rebalance_epoch", "The generation of the worker group's last assignment to this worker (Connect: epoch); -1 before the first. Only in a group.")
	mSinceRebalance   = gauge("kafka_connect_worker_rebalance_time_since_last_rebalance_ms", "Milliseconds since this worker completed its last rebalance; +Inf before the first. Only in a group.")
	mRebalanceAvg     = gauge("kafka_connect_worker_rebalance_rebalance_avg_time_ms", "Average time of this worker's rebalances, from the first JoinGroup to the assignment, over the last 30 to 60 s (NaN when none). Only in a group.")
	mRebalanceMax     = gauge("kafka_connect_worker_rebalance_rebalance_max_time_ms", "Longest of this worker's rebalances over the last 30 to 60 s (NaN when none). Only in a group.")
	mAssignedConns    = gauge("kafka_connect_coordinator_assigned_connectors", "The connectors of the flow (herder) this worker runs.", "clientid")
	mAssignedTasks    = gauge("kafka_connect_coordinator_assigned_tasks", "The tasks of the flow (herder) this worker runs.", "clientid")

	// Connect tasks (connector-task-metrics, source-task-metrics).
	mTaskStatus   = gauge("kafka_connect_connector_status", "1 for the task's status (running, failed, unassigned, unreachable).", "connector", "task", "status")
	mPollTotal    = prometheus.NewDesc("kafka_connect_source_task_source_record_poll_total", "Records the task polled (Connect: source-record-poll-total).", []string{"connector", "task"}, nil)
	mWriteTotal   = prometheus.NewDesc("kafka_connect_source_task_source_record_write_total", "Records the target acknowledged (Connect: source-record-write-total).", []string{"connector", "task"}, nil)
	mActiveRecord = gauge("kafka_connect_source_task_source_record_active_count", "Records polled and not yet acknowledged by the target (Connect: source-record-active-count).", "connector", "task")

	mCommitAvg = gauge("kafka_connect_connector_task_offset_commit_avg_time_ms", "Average time of the task's successful source-offset commits, over the last 30 to 60 s (Connect: offset-commit-avg-time-ms).", "connector", "task")
	mCommitMax = gauge("kafka_connect_connector_task_offset_commit_max_time_ms", "Longest successful source-offset commit of the task over the last 30 to 60 s (Connect: offset-commit-max-time-ms).", "connector", "task")
	mBatchAvg  = gauge("kafka_connect_connector_task_batch_size_avg", "Average records per poll of the task over the last 30 to 60 s (Connect: batch-size-avg).", "connector", "task")
	mPollAvg   = gauge("kafka_connect_source_task_poll_batch_avg_time_ms", "Average time of the task's polls over the last 30 to 60 s (Connect: poll-batch-avg-time-ms).", "connector", "task")
	mPollMax   = gauge("kafka_connect_source_task_poll_batch_max_time_ms", "Longest poll of the task over the last 30 to 60 s (Connect: poll-batch-max-time-ms).", "connector", "task")

	// MM2's per-partition metrics (kafka.connect.mirror).
	mirrorLabels     = []string{"source", "target", "topic", "partition"}
	checkpointLabels = []string{"source", "target", "group", "topic", "partition"}
	mMirror          = map[string]*prometheus.Desc{}
	mCheckpoint      = map[string]*prometheus.Desc{}
	mRecordsLag      = gauge("kafka_consumer_fetch_manager_records_lag", "Records of the source partition past the replication consumer's position, at its last fetch (Java: records-lag).", "clientid", "topic", "partition")

	// mm2go's own.
	mLagRecords  = gauge("mm2go_partition_lag_records", "Records of the source partition not yet on the target: past the consumer's position at its last fetch, plus those in flight to the target.", "source", "target", "topic", "partition")
	mLagSeconds  = gauge("mm2go_partition_lag_seconds", "Age (from record timestamps) of the oldest record of the source partition not yet on the target; 0 when there is none.", "source", "target", "topic", "partition")
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

// mirrorSeries are MM2's MirrorSourceConnector attributes, by series
// suffix; checkpointSeries its MirrorCheckpointConnector ones.
var (
	mirrorSeries = []struct{ name, help string }{
		{"record_count", "Records the target acknowledged (MM2 record-count)."},
		{"record_rate", "Records the target acknowledged per second, over the last 30 to 60 s (MM2 record-rate)."},
		{"byte_count", "Value bytes of the records handed to the producer (MM2 byte-count)."},
		{"byte_rate", "Value bytes handed to the producer per second, over the last 30 to 60 s (MM2 byte-rate)."},
		{"record_age_ms", "Age of the last record handed to the producer: now - its timestamp (MM2 record-age-ms)."},
		{"record_age_ms_max", "Largest record age over the last 30 to 60 s (MM2 record-age-ms-max)."},
		{"record_age_ms_min", "Smallest record age over the last 30 to 60 s (MM2 record-age-ms-min)."},
		{"record_age_ms_avg", "Average record age over the last 30 to 60 s (MM2 record-age-ms-avg)."},
		{"replication_latency_ms", "Time from the timestamp of the last record acknowledged by the target to its ack (MM2 replication-latency-ms)."},
		{"replication_latency_ms_max", "Largest replication latency over the last 30 to 60 s (MM2 replication-latency-ms-max)."},
		{"replication_latency_ms_min", "Smallest replication latency over the last 30 to 60 s (MM2 replication-latency-ms-min)."},
		{"replication_latency_ms_avg", "Average replication latency over the last 30 to 60 s (MM2 replication-latency-ms-avg)."},
	}
	checkpointSeries = []struct{ name, help string }{
		{"checkpoint_latency_ms", "Time from the start of the checkpoint cycle to the target's ack of the group's last checkpoint of the partition (MM2 checkpoint-latency-ms, one sensor per group and partition)."},
		{"checkpoint_latency_ms_max", "Largest checkpoint latency over the last 30 to 60 s (MM2 checkpoint-latency-ms-max)."},
		{"checkpoint_latency_ms_min", "Smallest checkpoint latency over the last 30 to 60 s (MM2 checkpoint-latency-ms-min)."},
		{"checkpoint_latency_ms_avg", "Average checkpoint latency over the last 30 to 60 s (MM2 checkpoint-latency-ms-avg)."},
	}
)

func init() {
	for _, x := range mirrorSeries {
		mMirror[x.name] = prometheus.NewDesc("kafka_connect_mirror_mirrorsourceconnector_"+x.name, x.help, mirrorLabels, nil)
	}
	for _, x := range checkpointSeries {
		mCheckpoint[x.name] = prometheus.NewDesc("kafka_connect_mirror_mirrorcheckpointconnector_"+x.name, x.help, checkpointLabels, nil)
	}
	mConnTaskCounts["total"] = gauge("kafka_connect_worker_connector_total_task_count", "The tasks of the connector run in this worker.", "connector")
	for _, s := range taskCountStates {
		mConnTaskCounts[s.name] = gauge("kafka_connect_worker_connector_"+s.name+"_task_count",
			"The tasks of the connector in state "+string(s.state)+" (mm2go has no destroyed tasks).", "connector")
	}
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mWorkerConnectors, mWorkerTasks, mRebalancing, mRebalances, mEpoch, mSinceRebalance, mRebalanceAvg, mRebalanceMax, mAssignedConns, mAssignedTasks,
		mTaskStatus, mPollTotal, mWriteTotal, mActiveRecord, mUnreachable, mGroupLag, mGroupAge, mGroupUntr,
		mCommitAvg, mCommitMax, mBatchAvg, mPollAvg, mPollMax, mRecordsLag, mLagRecords, mLagSeconds} {
		ch <- d
	}
	for _, m := range []map[string]*prometheus.Desc{mConnTaskCounts, mMirror, mCheckpoint} {
		for _, d := range m {
			ch <- d
		}
	}
	describeClients(ch)
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	w := c.w
	now := time.Now()
	st := w.own()
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
	if g := w.currentGroup(); g != nil {
		st, avgMs, maxMs := g.rebalanceMetrics(now)
		rebalancing, since := 0.0, math.Inf(1)
		if st.Rebalancing {
			rebalancing = 1
		}
		if !st.LastCompleted.IsZero() {
			since = float64(now.Sub(st.LastCompleted).Milliseconds())
		}
		ch <- prometheus.MustNewConstMetric(mRebalancing, prometheus.GaugeValue, rebalancing)
		ch <- prometheus.MustNewConstMetric(mRebalances, prometheus.CounterValue, float64(st.Completed))
		ch <- prometheus.MustNewConstMetric(mEpoch, prometheus.GaugeValue, float64(st.Generation))
		ch <- prometheus.MustNewConstMetric(mSinceRebalance, prometheus.GaugeValue, since)
		ch <- prometheus.MustNewConstMetric(mRebalanceAvg, prometheus.GaugeValue, avgMs)
		ch <- prometheus.MustNewConstMetric(mRebalanceMax, prometheus.GaugeValue, maxMs)
	} else {
		ch <- prometheus.MustNewConstMetric(mRebalancing, prometheus.GaugeValue, 0)
		ch <- prometheus.MustNewConstMetric(mRebalances, prometheus.CounterValue, 0)
	}
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
	// A partition or group that moves between tasks can be in two of them
	// for a moment: its series go out once.
	seen := make(map[string]bool)
	once := func(d *prometheus.Desc, v float64, lv ...string) {
		k := d.String() + "\x00" + strings.Join(lv, "\x00")
		if seen[k] {
			return
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	consumers := consumerIDs(w.clients.snapshot())
	nowMs := now.UnixMilli()
	for _, t := range live {
		if t.m == nil {
			continue
		}
		cs, task := t.spec, strconv.Itoa(t.id)
		conn := jmxValue(connectName(cs.Source, cs.Target, cs.Name))
		clientid, hasClient := consumers[t.m.reach.cluster(cs.Source)]
		var active int64
		for _, sp := range t.m.parts.snapshot() {
			active += sp.InFlight()
			ps, ok := sp.snapshot(nowMs)
			if !ok {
				continue
			}
			l := ps.labels
			part := strconv.Itoa(int(l.Partition))
			switch l.Kind {
			case MirrorSourcePartition:
				lv := []string{jmxValue(cs.Source), jmxValue(cs.Target), jmxValue(l.TargetTopic), part}
				for name, v := range map[string]float64{
					"record_count": ps.records, "record_rate": ps.recordRate, "byte_count": ps.bytes, "byte_rate": ps.byteRate,
					"record_age_ms": ps.ageV, "record_age_ms_max": ps.ageMax, "record_age_ms_min": ps.ageMin, "record_age_ms_avg": ps.ageAvg,
					"replication_latency_ms": ps.latV, "replication_latency_ms_max": ps.latMax,
					"replication_latency_ms_min": ps.latMin, "replication_latency_ms_avg": ps.latAvg,
				} {
					once(mMirror[name], v, lv...)
				}
				if !ps.hasFetch {
					continue
				}
				if hasClient {
					once(mRecordsLag, float64(ps.consumerLag), clientid, jmxValue(l.Topic), part)
				}
				once(mLagRecords, float64(ps.lagRecords), cs.Source, cs.Target, l.Topic, part)
				once(mLagSeconds, ps.lagSeconds, cs.Source, cs.Target, l.Topic, part)
			case CheckpointPartition:
				lv := []string{jmxValue(cs.Source), jmxValue(cs.Target), jmxValue(l.Group), jmxValue(l.Topic), part}
				for name, v := range map[string]float64{"checkpoint_latency_ms": ps.latV, "checkpoint_latency_ms_max": ps.latMax,
					"checkpoint_latency_ms_min": ps.latMin, "checkpoint_latency_ms_avg": ps.latAvg} {
					once(mCheckpoint[name], v, lv...)
				}
			}
		}
		ch <- prometheus.MustNewConstMetric(mActiveRecord, prometheus.GaugeValue, float64(active), conn, task)
		_, failing := t.m.reach.failing(now, w.cfg.UnreachableAfter)
		for cluster, d := range failing {
			ch <- prometheus.MustNewConstMetric(mUnreachable, prometheus.GaugeValue, d.Seconds(), cs.Source, cs.Target, cs.Name, task, cluster)
		}
		t.m.mu.Lock()
		_, commitMax, _, commitAvg := t.m.commitTime.Measure(nowMs)
		_, pollMax, _, pollAvg := t.m.pollTime.Measure(nowMs)
		_, _, _, batchAvg := t.m.batchSize.Measure(nowMs)
		for _, g := range t.m.groups {
			age := math.Inf(1)
			if at := t.m.groupsAt[g.Group]; !at.IsZero() {
				age = now.Sub(at).Seconds()
			}
			once(mGroupLag, float64(g.LagRecords), cs.Source, cs.Target, g.Group)
			once(mGroupUntr, float64(g.Untranslated), cs.Source, cs.Target, g.Group)
			once(mGroupAge, age, cs.Source, cs.Target, g.Group)
		}
		t.m.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(mCommitAvg, prometheus.GaugeValue, commitAvg, conn, task)
		ch <- prometheus.MustNewConstMetric(mCommitMax, prometheus.GaugeValue, commitMax, conn, task)
		ch <- prometheus.MustNewConstMetric(mPollAvg, prometheus.GaugeValue, pollAvg, conn, task)
		ch <- prometheus.MustNewConstMetric(mPollMax, prometheus.GaugeValue, pollMax, conn, task)
		ch <- prometheus.MustNewConstMetric(mBatchAvg, prometheus.GaugeValue, batchAvg, conn, task)
	}
}

// consumerIDs maps the reachability of each owner's consumer clients to
// their client id (as a label value): the replication consumer of a
// MirrorSource task, whose records-lag series carry it.
func consumerIDs(ms []*clientMetrics) map[*clusterReach]string {
	out := make(map[*clusterReach]string)
	for _, m := range ms {
		if m.role != RoleConsumer || m.reach == nil {
			continue
		}
		m.mu.Lock()
		out[m.reach] = jmxValue(m.id)
		m.mu.Unlock()
	}
	return out
}
