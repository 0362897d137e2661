package test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
)

// TestREST_StatusAndMetrics reads a running worker's Connect-style status
// and its Prometheus metrics over HTTP.
func TestREST_StatusAndMetrics(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(context.Background(), 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "t", 2, 100, "t")
	commitSource(t, src, "g", "t", map[int32]int64{0: 10}, "")
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst})},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil), checkpointSpec("A", "B", nil)})
	srv := httptest.NewServer(rw.w.Handler("test"))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, 20*time.Second, "200 records acknowledged", func() bool {
		_, body := get("/A/B/connectors/MirrorSourceConnector/status")
		var st struct {
			Connector struct{ State string }
			Tasks     []struct {
				State        string
				RecordsAcked int64 `json:"records_acked"`
			}
		}
		return json.Unmarshal([]byte(body), &st) == nil && st.Connector.State == "RUNNING" &&
			len(st.Tasks) == 1 && st.Tasks[0].State == "RUNNING" && st.Tasks[0].RecordsAcked == 200
	})
	if code, body := get("/connectors"); code != 200 || !strings.Contains(body, `"A->B.MirrorSourceConnector"`) {
		t.Errorf("GET /connectors = %d %s", code, body)
	}
	if code, body := get("/A/B/connectors/Nope/status"); code != 404 || !strings.Contains(body, "not found") {
		t.Errorf("GET unknown connector status = %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 ||
		!strings.Contains(body, `mm2go_task_records_acked_total{connector="MirrorSourceConnector",source="A",target="B",task="0"} 200`) {
		t.Errorf("GET /metrics = %d\n%s", code, body)
	}
	// The checkpoint task reports its cycles: how many, how long the last.
	waitFor(t, 20*time.Second, "checkpoint cycles in the status", func() bool {
		_, body := get("/A/B/connectors/MirrorCheckpointConnector/status")
		var st struct {
			Tasks []struct {
				Cycles    int64   `json:"cycles"`
				LastCycle float64 `json:"last_cycle_seconds"`
			}
		}
		return json.Unmarshal([]byte(body), &st) == nil && len(st.Tasks) == 1 && st.Tasks[0].Cycles >= 2 && st.Tasks[0].LastCycle > 0
	})
	_, body := get("/metrics")
	for _, want := range []string{`mm2go_task_cycles_total{connector="MirrorCheckpointConnector",source="A",target="B",task="0"} `,
		`mm2go_task_last_cycle_seconds{connector="MirrorCheckpointConnector",source="A",target="B",task="0"} `} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics has no %s\n%s", want, body)
		}
	}
	if strings.Contains(body, `mm2go_task_cycles_total{connector="MirrorSourceConnector"`) {
		t.Errorf("GET /metrics reports cycles of a task without cycles\n%s", body)
	}
}

// TestREST_PauseStopResumeMirrorSource drives MirrorSource through the REST
// API: a pause stops the copy (records written meanwhile stay on the
// source), a resume copies them, a stop commits and shows STOPPED, its
// offsets read back as Connect's, a resume goes on; every record is on the
// target once, in order.
func TestREST_PauseStopResumeMirrorSource(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	if _, err := kadm.NewClient(client(t, src)).CreateTopic(context.Background(), 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	prod := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := produceRecords(t, prod, "t", 2, 100, "a")
	rw := startWorker(t, connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}), WorkerID: "w:1"},
		[]connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	srv := httptest.NewServer(rw.w.RESTHandler(connect.RESTConfig{Version: "test"}))
	defer srv.Close()
	do := func(method, path string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	const base = "/connectors/A->B.MirrorSourceConnector"
	state := func() (string, []string) {
		_, st := do("GET", base+"/status")
		var tasks []string
		for _, tk := range st["tasks"].([]any) {
			tasks = append(tasks, tk.(map[string]any)["state"].(string))
		}
		return st["connector"].(map[string]any)["state"].(string), tasks
	}
	waitFor(t, 30*time.Second, "200 records copied", func() bool { return totalRecords(endOffsets(t, dst, "A.t")) == 200 })

	if code, _ := do("PUT", base+"/pause"); code != 202 {
		t.Fatalf("pause = %d", code)
	}
	waitFor(t, 30*time.Second, "PAUSED", func() bool { c, ts := state(); return c == "PAUSED" && len(ts) == 1 && ts[0] == "PAUSED" })
	more := produceRecords(t, prod, "t", 2, 50, "b")
	time.Sleep(2 * time.Second) // nothing to wait for: a paused task copies nothing
	if n := totalRecords(endOffsets(t, dst, "A.t")); n != 200 {
		t.Errorf("%d records on the target while paused, want 200", n)
	}
	if code, _ := do("PUT", base+"/resume"); code != 202 {
		t.Fatalf("resume = %d", code)
	}
	waitFor(t, 30*time.Second, "300 records copied", func() bool { return totalRecords(endOffsets(t, dst, "A.t")) == 300 })

	if code, _ := do("PUT", base+"/stop"); code != 204 {
		t.Fatalf("stop = %d", code)
	}
	waitFor(t, 30*time.Second, "STOPPED", func() bool { c, ts := state(); return c == "STOPPED" && len(ts) == 0 })
	code, offs := do("GET", base+"/offsets")
	if code != 200 || len(offs["offsets"].([]any)) != 2 {
		t.Fatalf("offsets = %d %v", code, offs)
	}
	for _, o := range offs["offsets"].([]any) {
		p, off := o.(map[string]any)["partition"].(map[string]any), o.(map[string]any)["offset"].(map[string]any)
		if p["cluster"] != "A" || p["topic"] != "t" || off["offset"] != 149.0 {
			t.Errorf("offset %v: want cluster A, topic t, offset 149 (the last record copied)", o)
		}
	}
	last := produceRecords(t, prod, "t", 2, 25, "c")
	if code, _ := do("PUT", base+"/resume"); code != 202 {
		t.Fatalf("resume = %d", code)
	}
	waitFor(t, 30*time.Second, "350 records copied", func() bool { return totalRecords(endOffsets(t, dst, "A.t")) == 350 })
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		want[p] = append(append(want[p], more[p]...), last[p]...)
	}
	compareTopic(t, "A.t", want, consumeAll(t, dst, "A.t", 350, 30*time.Second))
}
