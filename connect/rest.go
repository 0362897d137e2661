package connect

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connectStatus is a connector's status in Kafka Connect's JSON shape.
func connectStatus(cs ConnectorStatus) map[string]any {
	tasks := make([]map[string]any, 0, len(cs.Tasks))
	for _, ts := range cs.Tasks {
		t := map[string]any{"id": ts.ID, "state": string(ts.State), "worker_id": ts.WorkerID,
			"records_acked": ts.RecordsAcked, "bytes_acked": ts.BytesAcked, "records_lost": ts.RecordsLost,
			"unknown_losses": ts.UnknownLosses}
		if ts.Cycles > 0 {
			t["cycles"], t["last_cycle_seconds"] = ts.Cycles, ts.LastCycle.Seconds()
		}
		if ts.Error != "" {
			t["trace"] = ts.Error
		}
		t["restarts"] = ts.Restarts
		if ts.LastError != "" {
			t["last_error"] = ts.LastError
		}
		if !ts.NextRestart.IsZero() && ts.State == StateFailed {
			t["next_restart"] = ts.NextRestart.UTC().Format(time.RFC3339Nano)
		}
		if ts.RecordsAhead > 0 {
			t["records_ahead"] = ts.RecordsAhead
		}
		if ts.TransactionAborts > 0 {
			t["transaction_aborts"] = ts.TransactionAborts
		}
		if len(ts.BlockedPartitions) > 0 {
			bps := make([]map[string]any, 0, len(ts.BlockedPartitions))
			for _, b := range ts.BlockedPartitions {
				bp := map[string]any{"topic": b.Topic, "partition": b.Partition, "offset": b.Offset,
					"target_topic": b.TargetTopic, "target_partition": b.TargetPartition,
					"error": b.Error, "since": b.Since.UTC().Format(time.RFC3339Nano), "retries": b.Retries}
				if !b.NextRetry.IsZero() {
					bp["next_retry"] = b.NextRetry.UTC().Format(time.RFC3339Nano)
				}
				bps = append(bps, bp)
			}
			t["blocked_partitions"] = bps
		}
		tasks = append(tasks, t)
	}
	conn := map[string]any{"state": string(cs.State), "worker_id": cs.WorkerID}
	if cs.Error != "" {
		conn["trace"] = cs.Error
	}
	return map[string]any{"name": cs.Name, "connector": conn, "tasks": tasks, "type": "source"}
}

// errorCode shortens an error for a metric label: the Kafka error code
// (MESSAGE_TOO_LARGE) when the error has one, so that the label's values
// stay few; else the start of the message.
func errorCode(msg string) string {
	for _, w := range strings.FieldsFunc(msg, func(r rune) bool { return r != '_' && (r < 'A' || r > 'Z') }) {
		if strings.Contains(w, "_") && len(w) > 4 {
			return w
		}
	}
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return msg
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	enc := json.NewEncoder(rw)
	enc.SetEscapeHTML(false) // "A->B" stays readable
	_ = enc.Encode(v)
}

// collector exports the worker's task counters and states (mm2go_task_*),
// read from Status at scrape time; see Collector.
type collector struct{ w *Worker }

var (
	labels      = []string{"source", "target", "connector", "task"}
	descRecords = prometheus.NewDesc("mm2go_task_records_acked_total", "Records the target acknowledged.", labels, nil)
	descBytes   = prometheus.NewDesc("mm2go_task_bytes_acked_total", "Key and value bytes the target acknowledged.", labels, nil)
	descSent    = prometheus.NewDesc("mm2go_task_records_sent_total", "Records handed to the producer.", labels, nil)
	descCommits = prometheus.NewDesc("mm2go_task_offset_commits_total", "Source-offset commits written (in exactly-once mode: transactions committed).", labels, nil)
	descAborts  = prometheus.NewDesc("mm2go_task_transaction_aborts_total", "Transactions of an exactly-once task that were aborted; each restarted the task from its committed offsets.", labels, nil)
	descLost    = prometheus.NewDesc("mm2go_task_records_lost_total", "Source records deleted (retention, topic re-created) before they were copied.", labels, nil)
	descUnknown = prometheus.NewDesc("mm2go_task_unknown_losses_total", "Source partitions that may have lost records that cannot be counted (deleted or re-created while not copied); the log gives the first offset.", labels, nil)
	descCycles  = prometheus.NewDesc("mm2go_task_cycles_total", "Periodic cycles (checkpoint cycles) the task finished.", labels, nil)
	descCycle   = prometheus.NewDesc("mm2go_task_last_cycle_seconds", "How long the task's last periodic cycle (checkpoint cycle) took.", labels, nil)
	descRunning = prometheus.NewDesc("mm2go_task_running", "1 if the task is running, 0 otherwise.", labels, nil)
	descRestart = prometheus.NewDesc("mm2go_task_restarts_total", "Restarts of the task after it failed.", labels, nil)
	descAhead   = prometheus.NewDesc("mm2go_task_records_ahead_total", "Records written to the target ahead of an earlier refused record of their partition (0 unless ordering broke).", labels, nil)
	descNBlock  = prometheus.NewDesc("mm2go_task_blocked_partitions", "Source partitions of the task stopped at a record the target refused.", labels, nil)
	blockLabels = append(append([]string(nil), labels...), "topic", "partition", "target_topic", "error")
	descBlocked = prometheus.NewDesc("mm2go_partition_blocked_offset", "Source offset of the record the target refused, for each blocked source partition; the partition waits there.", blockLabels, nil)
	descBlockS  = prometheus.NewDesc("mm2go_partition_blocked_seconds", "How long each blocked source partition has been stopped at its refused record.", blockLabels, nil)
	descBlockR  = prometheus.NewDesc("mm2go_partition_blocked_retries", "Failed retries of each blocked source partition's refused record.", blockLabels, nil)
	descFailed  = prometheus.NewDesc("mm2go_connector_failed", "1 if the connector or one of its tasks failed.", labels[:3], nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descBytes, descSent, descCommits, descLost, descUnknown, descCycles, descCycle, descRunning, descFailed,
		descRestart, descAhead, descNBlock, descBlocked, descBlockS, descBlockR, descAborts} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, cs := range c.w.own() {
		failed := 0.0
		if cs.State == StateFailed {
			failed = 1
		}
		for _, ts := range cs.Tasks {
			lv := []string{cs.Source, cs.Target, cs.Name, strconv.Itoa(ts.ID)}
			ch <- prometheus.MustNewConstMetric(descRecords, prometheus.CounterValue, float64(ts.RecordsAcked), lv...)
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(ts.BytesAcked), lv...)
			ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(ts.RecordsSent), lv...)
			ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(ts.Commits), lv...)
			ch <- prometheus.MustNewConstMetric(descAborts, prometheus.CounterValue, float64(ts.TransactionAborts), lv...)
			ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(ts.RecordsLost), lv...)
			ch <- prometheus.MustNewConstMetric(descUnknown, prometheus.CounterValue, float64(ts.UnknownLosses), lv...)
			if ts.Cycles > 0 {
				ch <- prometheus.MustNewConstMetric(descCycles, prometheus.CounterValue, float64(ts.Cycles), lv...)
				ch <- prometheus.MustNewConstMetric(descCycle, prometheus.GaugeValue, ts.LastCycle.Seconds(), lv...)
			}
			ch <- prometheus.MustNewConstMetric(descRestart, prometheus.CounterValue, float64(ts.Restarts), lv...)
			ch <- prometheus.MustNewConstMetric(descAhead, prometheus.CounterValue, float64(ts.RecordsAhead), lv...)
			ch <- prometheus.MustNewConstMetric(descNBlock, prometheus.GaugeValue, float64(len(ts.BlockedPartitions)), lv...)
			for _, b := range ts.BlockedPartitions {
				bl := append(append([]string(nil), lv...), b.Topic, strconv.Itoa(int(b.Partition)), b.TargetTopic, errorCode(b.Error))
				ch <- prometheus.MustNewConstMetric(descBlocked, prometheus.GaugeValue, float64(b.Offset), bl...)
				ch <- prometheus.MustNewConstMetric(descBlockS, prometheus.GaugeValue, time.Since(b.Since).Seconds(), bl...)
				ch <- prometheus.MustNewConstMetric(descBlockR, prometheus.GaugeValue, float64(b.Retries), bl...)
			}
			running := 0.0
			if ts.State == StateRunning {
				running = 1
			}
			ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, running, lv...)
			if ts.State == StateFailed {
				failed = 1
			}
		}
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.GaugeValue, failed, cs.Source, cs.Target, cs.Name)
	}
}
