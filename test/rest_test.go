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
