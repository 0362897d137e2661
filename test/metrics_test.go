package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
)

// sample is one series of a scrape: its labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

// metrics is one scrape of /metrics, by metric name.
type metrics map[string][]sample

// scrape reads url's Prometheus text exposition.
func scrape(t testing.TB, url string) metrics {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s = %d: %s", url, resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	out := make(metrics)
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			s := sample{labels: make(map[string]string)}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				s.value = m.GetUntyped().GetValue()
			default:
				// Summaries and histograms: their _sum and _count series.
				s.value = math.NaN()
				out[name+"_sum"] = append(out[name+"_sum"], s)
				out[name+"_count"] = append(out[name+"_count"], s)
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// get returns the series of name whose labels include match.
func (m metrics) get(name string, match map[string]string) []sample {
	var out []sample
	for _, s := range m[name] {
		ok := true
		for k, v := range match {
			if s.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// value returns the value of the one series of name with labels match; ok
// is false when there is none or more than one.
func (m metrics) value(name string, match map[string]string) (float64, bool) {
	ss := m.get(name, match)
	if len(ss) != 1 {
		return 0, false
	}
	return ss[0].value, true
}

// describe lists the series of name, for failure messages.
func (m metrics) describe(name string) string {
	var lines []string
	for _, s := range m[name] {
		lines = append(lines, fmt.Sprintf("%v %v", s.labels, s.value))
	}
	sort.Strings(lines)
	return name + ": " + strings.Join(lines, "; ")
}

// TestMetrics_ConnectAndClientSeries copies known records between fake
// clusters and reads the Connect worker and task series, the client series
// and the checkpoint group series under the names Strimzi's rules give
// Java's metrics, with exact values where they are exact.
func TestMetrics_ConnectAndClientSeries(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(context.Background(), 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "t", 2, 100, "t")
	// Past the end of partition 0: the checkpoint is a lower bound whose
	// upstream offset is 150, and a later commit it cannot follow (the
	// target offset stays at the end) is lag.
	commitSource(t, src, "g", "t", map[int32]int64{0: 150}, "")
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil), checkpointSpec("A", "B", nil)})
	srv := httptest.NewServer(rw.w.Handler("test"))
	defer srv.Close()
	url := srv.URL + "/metrics"

	src0 := `"A->B.MirrorSourceConnector"`
	cp0 := `"A->B.MirrorCheckpointConnector"`
	var m metrics
	waitFor(t, 30*time.Second, "200 records written and a checkpoint of g", func() bool {
		m = scrape(t, url)
		w, _ := m.value("kafka_connect_source_task_source_record_write_total", map[string]string{"connector": src0, "task": "0"})
		lag, ok := m.value("mm2go_checkpoint_group_lag_records", map[string]string{"source": "A", "target": "B", "group": "g"})
		untr, _ := m.value("mm2go_checkpoint_group_untranslated_partitions", map[string]string{"source": "A", "target": "B", "group": "g"})
		return w == 200 && ok && lag == 0 && untr == 0
	})
	exact := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"kafka_connect_worker_connector_count", nil, 2},
		{"kafka_connect_worker_task_count", nil, 2},
		{"kafka_connect_worker_rebalance_rebalancing", nil, 0},
		{"kafka_connect_coordinator_assigned_connectors", map[string]string{"clientid": `"A->B"`}, 2},
		{"kafka_connect_coordinator_assigned_tasks", map[string]string{"clientid": `"A->B"`}, 2},
		{"kafka_connect_connector_status", map[string]string{"connector": src0, "task": "0", "status": "running"}, 1},
		{"kafka_connect_connector_status", map[string]string{"connector": cp0, "task": "0", "status": "running"}, 1},
		{"kafka_connect_worker_connector_running_task_count", map[string]string{"connector": src0}, 1},
		{"kafka_connect_worker_connector_total_task_count", map[string]string{"connector": src0}, 1},
		{"kafka_connect_worker_connector_failed_task_count", map[string]string{"connector": src0}, 0},
		{"kafka_connect_source_task_source_record_poll_total", map[string]string{"connector": src0, "task": "0"}, 200},
		{"kafka_connect_source_task_source_record_active_count", map[string]string{"connector": src0, "task": "0"}, 0},
		{"kafka_consumer_fetch_manager_records_consumed_total", map[string]string{"clientid": `"A->B|MirrorSourceConnector-0|replication-consumer"`}, 200},
		{"mm2go_checkpoint_group_untranslated_partitions", map[string]string{"source": "A", "target": "B", "group": "g"}, 0},
	}
	for _, c := range exact {
		if v, ok := m.value(c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (found: %v), want %v\n%s", c.name, c.labels, v, ok, c.want, m.describe(c.name))
		}
	}
	if v, ok := m.value("mm2go_checkpoint_group_age_seconds", map[string]string{"group": "g"}); !ok || v < 0 || v > 10 {
		t.Errorf("checkpoint age of g = %v (found %v), want a few seconds at most", v, ok)
	}
	// Every client of the worker has its series, under its Java client id.
	for _, c := range []struct{ name, clientid string }{
		{"kafka_consumer_incoming_byte_total", `"A->B|MirrorSourceConnector-0|replication-consumer"`},
		{"kafka_consumer_outgoing_byte_total", `"A->B|MirrorSourceConnector-0|replication-consumer"`},
		{"kafka_consumer_fetch_manager_bytes_consumed_total", `"A->B|MirrorSourceConnector-0|replication-consumer"`},
		{"kafka_admin_client_incoming_byte_total", `"A->B|MirrorSourceConnector|source-admin"`},
		{"kafka_admin_client_incoming_byte_total", `"A->B|MirrorCheckpointConnector-0|checkpoint-source-admin"`},
	} {
		if v, ok := m.value(c.name, map[string]string{"clientid": c.clientid}); !ok || v <= 0 {
			t.Errorf("%s{clientid=%s} = %v (found %v), want > 0\n%s", c.name, c.clientid, v, ok, m.describe(c.name))
		}
	}
	for _, s := range m["kafka_producer_buffer_available_bytes"] {
		total, ok := m.value("kafka_producer_buffer_total_bytes", s.labels)
		if !ok || total != 16<<20 || s.value < 0 || s.value > total {
			t.Errorf("producer %s: buffer available %v of %v (found %v), want within 16 MiB", s.labels["clientid"], s.value, total, ok)
		}
	}
	if len(m["kafka_producer_buffer_available_bytes"]) < 2 {
		t.Errorf("buffer series of %d producers, want the task producers'\n%s", len(m["kafka_producer_buffer_available_bytes"]), m.describe("kafka_producer_buffer_available_bytes"))
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if len(m[name]) == 0 {
			t.Errorf("no %s: the Go and process collectors are not registered", name)
		}
	}

	// The group reads on while its checkpoint cannot follow: 10 records of
	// lag, and the group is no longer up to date.
	commitSource(t, src, "g", "t", map[int32]int64{0: 160}, "")
	waitFor(t, 20*time.Second, "a checkpoint lag of 10 records", func() bool {
		m = scrape(t, url)
		lag, _ := m.value("mm2go_checkpoint_group_lag_records", map[string]string{"group": "g"})
		return lag == 10
	})
	age1, _ := m.value("mm2go_checkpoint_group_age_seconds", map[string]string{"group": "g"})
	time.Sleep(time.Second)
	m = scrape(t, url)
	if age2, _ := m.value("mm2go_checkpoint_group_age_seconds", map[string]string{"group": "g"}); age2 < age1+0.9 {
		t.Errorf("checkpoint age of a group that fell behind went from %v to %v in a second, want it to grow", age1, age2)
	}
}

// TestMetrics_UnreachableSource takes the source cluster away: past the
// threshold the task and the connector say UNREACHABLE, in the status, the
// REST API and the metrics, naming the cluster; when it is back they say
// RUNNING again.
func TestMetrics_UnreachableSource(t *testing.T) {
	dst := newCluster(t, "dst")
	src := newRestartableCluster(t, "src", freePort(t))
	src.start()
	if _, err := kadm.NewClient(client(t, src.c)).CreateTopic(context.Background(), 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, client(t, src.c, kgo.RecordPartitioner(kgo.ManualPartitioner())), "t", 1, 50, "t")
	cfg := connect.WorkerConfig{
		Clusters: map[string]connect.ClusterConfig{
			"A": {Alias: "A", Opts: []kgo.Opt{kgo.SeedBrokers(src.addr())}},
			"B": {Alias: "B", Opts: []kgo.Opt{kgo.SeedBrokers(dst.ListenAddrs()...)}},
		},
		RetryBackoffMax:  500 * time.Millisecond,
		UnreachableAfter: 2 * time.Second,
	}
	rw := startWorker(t, cfg, []connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	srv := httptest.NewServer(rw.w.Handler("test"))
	defer srv.Close()
	taskState := func() (connect.State, string, []connect.Unreachable) {
		for _, cs := range rw.w.Status() {
			if len(cs.Tasks) == 1 {
				return cs.Tasks[0].State, cs.Tasks[0].Error, cs.Tasks[0].Unreachable
			}
		}
		return "", "", nil
	}
	waitFor(t, 30*time.Second, "50 records copied", func() bool { return totalRecords(endOffsets(t, dst, "A.t")) == 50 })
	if st, msg, _ := taskState(); st != connect.StateRunning {
		t.Fatalf("task state with both clusters up = %s (%s), want RUNNING", st, msg)
	}

	// The cluster is away from the moment its stop begins: its listener
	// closes first, and a request that fails then starts the clock.
	stopped := time.Now()
	src.stop()
	waitFor(t, 30*time.Second, "the task UNREACHABLE", func() bool { st, _, _ := taskState(); return st == connect.StateUnreachable })
	if d := time.Since(stopped); d < cfg.UnreachableAfter {
		t.Errorf("UNREACHABLE %v after the cluster went away, before the %v threshold", d, cfg.UnreachableAfter)
	}
	_, msg, us := taskState()
	if len(us) != 1 || us[0].Cluster != "A" || us[0].Error == "" || !strings.Contains(msg, "cannot reach cluster A") {
		t.Errorf("unreachable = %+v, error %q; want cluster A with its error", us, msg)
	}
	// The connector's own clients (topic discovery) fail too.
	waitFor(t, 30*time.Second, "the connector UNREACHABLE", func() bool {
		st := rw.w.Status()
		return len(st) == 1 && st[0].State == connect.StateUnreachable && len(st[0].Unreachable) == 1 && st[0].Unreachable[0].Cluster == "A"
	})
	resp, err := http.Get(srv.URL + "/A/B/connectors/MirrorSourceConnector/status")
	if err != nil {
		t.Fatal(err)
	}
	var rest struct {
		Connector struct{ State, Trace string }
		Tasks     []struct{ State, Trace string }
	}
	err = json.NewDecoder(resp.Body).Decode(&rest)
	resp.Body.Close()
	if err != nil || rest.Connector.State != "UNREACHABLE" || len(rest.Tasks) != 1 || rest.Tasks[0].State != "UNREACHABLE" ||
		!strings.Contains(rest.Tasks[0].Trace, "cannot reach cluster A") {
		t.Errorf("REST status = %+v (%v), want connector and task UNREACHABLE with the cause", rest, err)
	}
	m := scrape(t, srv.URL+"/metrics")
	conn := `"A->B.MirrorSourceConnector"`
	if v, ok := m.value("kafka_connect_connector_status", map[string]string{"connector": conn, "task": "0", "status": "unreachable"}); !ok || v != 1 {
		t.Errorf("no unreachable task status series\n%s", m.describe("kafka_connect_connector_status"))
	}
	if v, ok := m.value("kafka_connect_worker_connector_running_task_count", map[string]string{"connector": conn}); !ok || v != 0 {
		t.Errorf("running tasks = %v (%v), want 0 while the source is away", v, ok)
	}
	for _, task := range []string{"0", ""} {
		if v, ok := m.value("mm2go_cluster_unreachable_seconds", map[string]string{"connector": "MirrorSourceConnector", "task": task, "cluster": "A"}); !ok || v < cfg.UnreachableAfter.Seconds() {
			t.Errorf("mm2go_cluster_unreachable_seconds{task=%q,cluster=A} = %v (%v), want >= %v\n%s", task, v, ok,
				cfg.UnreachableAfter.Seconds(), m.describe("mm2go_cluster_unreachable_seconds"))
		}
	}
	if ss := m.get("mm2go_cluster_unreachable_seconds", map[string]string{"cluster": "B"}); len(ss) != 0 {
		t.Errorf("the target is reported unreachable: %v", ss)
	}
	if v, ok := m.value("mm2go_task_running", map[string]string{"connector": "MirrorSourceConnector", "task": "0"}); !ok || v != 0 {
		t.Errorf("mm2go_task_running = %v (%v), want 0 while the source is away", v, ok)
	}

	src.start()
	waitFor(t, 30*time.Second, "the task RUNNING again", func() bool {
		st := rw.w.Status()
		return len(st) == 1 && st[0].State == connect.StateRunning && len(st[0].Tasks) == 1 && st[0].Tasks[0].State == connect.StateRunning
	})
	m = scrape(t, srv.URL+"/metrics")
	if ss := m.get("mm2go_cluster_unreachable_seconds", nil); len(ss) != 0 {
		t.Errorf("still unreachable after the cluster came back: %s", m.describe("mm2go_cluster_unreachable_seconds"))
	}
}

// TestMetrics_MirrorSeries copies known records and reads MM2's
// per-partition series (record and byte counts exact, ages and latencies
// within what the clock allows), the consumer's records-lag, MM2's
// checkpoint latency per group and partition, and mm2go's replication lag
// while the target holds records back.
func TestMetrics_MirrorSeries(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(context.Background(), 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	srcProd := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produced := produceRecords(t, srcProd, "t", 2, 100, "t")
	commitSource(t, src, "g", "t", map[int32]int64{0: 10}, "")
	commitSource(t, src, "h", "t", map[int32]int64{1: 20}, "")
	began := time.Now()
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil), checkpointSpec("A", "B", nil)})
	srv := httptest.NewServer(rw.w.Handler("test"))
	defer srv.Close()
	url := srv.URL + "/metrics"
	part := func(p int32) map[string]string {
		return map[string]string{"source": "A", "target": "B", "topic": "A.t", "partition": fmt.Sprint(p)}
	}
	var m metrics
	waitFor(t, 30*time.Second, "200 records counted and both groups checkpointed", func() bool {
		m = scrape(t, url)
		c0, _ := m.value("kafka_connect_mirror_mirrorsourceconnector_record_count", part(0))
		c1, _ := m.value("kafka_connect_mirror_mirrorsourceconnector_record_count", part(1))
		return c0 == 100 && c1 == 100 &&
			len(m.get("kafka_connect_mirror_mirrorcheckpointconnector_checkpoint_latency_ms", map[string]string{"group": "g"})) == 1 &&
			len(m.get("kafka_connect_mirror_mirrorcheckpointconnector_checkpoint_latency_ms", map[string]string{"group": "h"})) == 1
	})
	scraped := time.Now()
	for p := range int32(2) {
		var bytes, tsMin, tsMax int64 = 0, math.MaxInt64, 0
		for _, r := range produced[p] {
			bytes += int64(len(r.Value))
			tsMin, tsMax = min(tsMin, r.Timestamp.UnixMilli()), max(tsMax, r.Timestamp.UnixMilli())
		}
		l := part(p)
		if v, _ := m.value("kafka_connect_mirror_mirrorsourceconnector_byte_count", l); v != float64(bytes) {
			t.Errorf("partition %d: byte_count = %v, want %d (value bytes only, as MM2)", p, v, bytes)
		}
		// Ages at poll and latencies at ack: now - record timestamp, with
		// now between the start of the worker and the scrape.
		lo, hi := float64(began.UnixMilli()-tsMax), float64(scraped.UnixMilli()-tsMin)
		for _, name := range []string{"record_age_ms", "record_age_ms_min", "record_age_ms_avg", "record_age_ms_max",
			"replication_latency_ms", "replication_latency_ms_min", "replication_latency_ms_avg", "replication_latency_ms_max"} {
			v, ok := m.value("kafka_connect_mirror_mirrorsourceconnector_"+name, l)
			if !ok || v < lo || v > hi {
				t.Errorf("partition %d: %s = %v (found %v), want within [%v, %v]", p, name, v, ok, lo, hi)
			}
		}
		age, _ := m.value("kafka_connect_mirror_mirrorsourceconnector_record_age_ms_min", l)
		lat, _ := m.value("kafka_connect_mirror_mirrorsourceconnector_replication_latency_ms_min", l)
		if lat < age {
			t.Errorf("partition %d: replication latency min %v below the record age min %v: a record acknowledged before it was polled", p, lat, age)
		}
		if v, ok := m.value("kafka_connect_mirror_mirrorsourceconnector_record_rate", l); !ok || v <= 0 || v > 100 {
			t.Errorf("partition %d: record_rate = %v (found %v), want 100 records over at least one 30 s window", p, v, ok)
		}
		if v, ok := m.value("kafka_consumer_fetch_manager_records_lag", map[string]string{
			"clientid": `"A->B|MirrorSourceConnector-0|replication-consumer"`, "topic": "t", "partition": fmt.Sprint(p)}); !ok || v != 0 {
			t.Errorf("partition %d: records_lag = %v (found %v), want 0\n%s", p, v, ok, m.describe("kafka_consumer_fetch_manager_records_lag"))
		}
		own := map[string]string{"source": "A", "target": "B", "topic": "t", "partition": fmt.Sprint(p)}
		if v, ok := m.value("mm2go_partition_lag_records", own); !ok || v != 0 {
			t.Errorf("partition %d: mm2go_partition_lag_records = %v (found %v), want 0", p, v, ok)
		}
		if v, ok := m.value("mm2go_partition_lag_seconds", own); !ok || v != 0 {
			t.Errorf("partition %d: mm2go_partition_lag_seconds = %v (found %v), want 0", p, v, ok)
		}
	}
	// One latency series per group and partition (MM2 mixes them in one).
	for _, g := range []struct {
		group, partition string
	}{{"g", "0"}, {"h", "1"}} {
		l := map[string]string{"source": "A", "target": "B", "group": g.group, "topic": "A.t", "partition": g.partition}
		for _, name := range []string{"checkpoint_latency_ms", "checkpoint_latency_ms_max", "checkpoint_latency_ms_min", "checkpoint_latency_ms_avg"} {
			if v, ok := m.value("kafka_connect_mirror_mirrorcheckpointconnector_"+name, l); !ok || v < 0 || v > float64(scraped.Sub(began).Milliseconds()) {
				t.Errorf("%s%v = %v (found %v), want between 0 and the time since the start\n%s", name, l, v, ok,
					m.describe("kafka_connect_mirror_mirrorcheckpointconnector_"+name))
			}
		}
	}
	for _, name := range []string{"kafka_connect_connector_task_offset_commit_avg_time_ms", "kafka_connect_connector_task_offset_commit_max_time_ms",
		"kafka_connect_source_task_poll_batch_avg_time_ms", "kafka_connect_connector_task_batch_size_avg"} {
		if v, ok := m.value(name, map[string]string{"connector": `"A->B.MirrorSourceConnector"`, "task": "0"}); !ok || v < 0 || v > 30_000 {
			t.Errorf("%s = %v (found %v), want a plausible time or size", name, v, ok)
		}
	}

	// The target holds produce requests back: new records are in flight,
	// and the lag says how many and how old the oldest is.
	var hold atomic.Bool
	hold.Store(true)
	dst.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		dst.KeepControl()
		for i := 0; hold.Load() && i < 100; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		return nil, nil, false
	})
	sent := time.Now()
	more := make([]*kgo.Record, 5)
	for i := range more {
		more[i] = &kgo.Record{Topic: "t", Partition: 1, Value: []byte("later"), Timestamp: sent}
	}
	if err := srcProd.ProduceSync(context.Background(), more...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	own1 := map[string]string{"source": "A", "target": "B", "topic": "t", "partition": "1"}
	waitFor(t, 20*time.Second, "5 records of lag on partition 1", func() bool {
		m = scrape(t, url)
		v, _ := m.value("mm2go_partition_lag_records", own1)
		return v == 5
	})
	if v, _ := m.value("mm2go_partition_lag_seconds", own1); v <= 0 || v > time.Since(sent).Seconds()+0.01 {
		t.Errorf("lag seconds with 5 records held back = %v, want the age of the oldest (at most %v)", v, time.Since(sent).Seconds())
	}
	if v, _ := m.value("kafka_connect_source_task_source_record_active_count", map[string]string{"connector": `"A->B.MirrorSourceConnector"`, "task": "0"}); v != 5 {
		t.Errorf("active records with 5 held back = %v, want 5", v)
	}
	hold.Store(false)
	waitFor(t, 20*time.Second, "the lag back to 0", func() bool {
		m = scrape(t, url)
		v, _ := m.value("mm2go_partition_lag_records", own1)
		c, _ := m.value("kafka_connect_mirror_mirrorsourceconnector_record_count", part(1))
		return v == 0 && c == 105
	})
}

// TestMetrics_TransactionalSourceCaughtUp copies a topic written in
// transactions: its last offset is a commit marker, which is not copied,
// and a caught-up partition shows no lag.
func TestMetrics_TransactionalSourceCaughtUp(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(context.Background(), 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceTransactions(t, src, "t", 1, 20, 10) // 20 records and 2 markers
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	srv := httptest.NewServer(rw.w.Handler("test"))
	defer srv.Close()
	var m metrics
	waitFor(t, 30*time.Second, "20 records counted", func() bool {
		m = scrape(t, srv.URL+"/metrics")
		c, _ := m.value("kafka_connect_mirror_mirrorsourceconnector_record_count", map[string]string{"topic": "A.t", "partition": "0"})
		return c == 20
	})
	if n := totalRecords(endOffsets(t, dst, "A.t")); n != 20 {
		t.Errorf("target holds %d offsets, want the 20 records and no marker", n)
	}
	waitFor(t, 10*time.Second, "no lag", func() bool {
		m = scrape(t, srv.URL+"/metrics")
		l, ok1 := m.value("mm2go_partition_lag_records", map[string]string{"topic": "t", "partition": "0"})
		c, ok2 := m.value("kafka_consumer_fetch_manager_records_lag", map[string]string{"topic": "t", "partition": "0"})
		return ok1 && ok2 && l == 0 && c == 0
	})
}
