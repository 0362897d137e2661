package inspect_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/inspect"
)

// blockedWorker is a worker's answer to GET /connectors?expand=status with
// the fields mm2go's runtime adds to Connect's: restarts, last_error,
// next_restart, and blocked_partitions.
const blockedWorker = `{
  "a->b/MirrorSourceConnector": {"status": {"name": "MirrorSourceConnector", "type": "source",
    "connector": {"state": "RUNNING", "worker_id": "mm2go"},
    "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "mm2go", "records_acked": 10, "records_lost": 2,
      "restarts": 1, "last_error": "earlier failure",
      "blocked_partitions": [{"topic": "orders", "partition": 1, "offset": 7, "target_topic": "a.orders",
        "target_partition": 1, "error": "INVALID_RECORD: refused\nmore", "since": "2026-01-02T03:04:05Z", "retries": 3}]}]}},
  "a->b/MirrorCheckpointConnector": {"status": {"name": "MirrorCheckpointConnector", "type": "source",
    "connector": {"state": "RUNNING", "worker_id": "mm2go"}, "tasks": []}},
  "b->a/MirrorHeartbeatConnector": {"status": {"name": "MirrorHeartbeatConnector", "type": "source",
    "connector": {"state": "RUNNING", "worker_id": "mm2go"}, "tasks": [{"id": 0, "state": "RUNNING"}]}}
}`

// failedWorker is Kafka Connect's plain shape, connectors named as
// Strimzi (and mm2go's REST API) names them: a failed task, no mm2go
// fields.
const failedWorker = `{
  "us.east->eu.west.MirrorCheckpointConnector": {"status": {"name": "us.east->eu.west.MirrorCheckpointConnector", "type": "source",
    "connector": {"state": "RUNNING", "worker_id": "w1"}, "tasks": []}},
  "a->b.MirrorSourceConnector": {"status": {"name": "a->b.MirrorSourceConnector", "type": "source",
    "connector": {"state": "RUNNING", "worker_id": "w1"},
    "tasks": [{"id": 0, "state": "FAILED", "worker_id": "w1", "trace": "org.apache.kafka.connect.errors.ConnectException: boom\n\tat x"},
              {"id": 1, "state": "RUNNING", "worker_id": "w1"}]}}
}`

func serve(t *testing.T, code int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/connectors" || r.URL.Query().Get("expand") != "status" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFetchWorkerStatus(t *testing.T) {
	ctx := context.Background()
	ws := inspect.FetchWorkerStatus(ctx, nil, serve(t, 200, blockedWorker)+"/")
	src, ok := ws.Connectors["a->b/MirrorSourceConnector"]
	if ws.Err != nil || !ok || len(ws.Connectors) != 3 || src.State != "RUNNING" || len(src.Tasks) != 1 {
		t.Fatalf("parsed: %+v, %v", ws.Connectors, ws.Err)
	}
	task := src.Tasks[0]
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if task.Restarts != 1 || task.LastError != "earlier failure" || task.RecordsLost != 2 || len(task.Blocked) != 1 {
		t.Fatalf("task: %+v", task)
	}
	if b := task.Blocked[0]; b.Topic != "orders" || b.Partition != 1 || b.Offset != 7 || b.Retries != 3 ||
		b.Since == nil || !b.Since.Equal(since) || b.Error != "INVALID_RECORD: refused\nmore" {
		t.Fatalf("blocked: %+v", b)
	}
	ws = inspect.FetchWorkerStatus(ctx, nil, serve(t, 200, failedWorker))
	if ws.Err != nil || ws.Connectors["a->b/MirrorSourceConnector"].Tasks[0].Restarts != -1 {
		t.Fatalf("Connect's shape: %+v, %v", ws.Connectors, ws.Err)
	}
	if ws.Connectors["a->b/MirrorSourceConnector"].Name != "MirrorSourceConnector" ||
		ws.Connectors["us.east->eu.west/MirrorCheckpointConnector"].Name != "MirrorCheckpointConnector" {
		t.Fatalf("Strimzi's names not turned into flow keys and short names: %+v", ws.Connectors)
	}
	for _, tc := range []struct {
		url, want string
	}{
		{serve(t, 500, "oops"), "answered 500 Internal Server Error"},
		{serve(t, 200, "[1,2]"), "the answer is not Connect's connector status"},
		{"http://127.0.0.1:1", "connection refused"},
		{"http://%zz", "invalid URL escape"},
	} {
		if ws := inspect.FetchWorkerStatus(ctx, nil, tc.url); ws.Err == nil || !strings.Contains(ws.Err.Error(), tc.want) {
			t.Errorf("FetchWorkerStatus(%s) = %v, want an error saying %q", tc.url, ws.Err, tc.want)
		}
	}
}

// TestStatus_WorkerStates: the worker's view turns partitions that are
// behind into blocked (the partition the worker names) or stopped (a failed
// task), and says why; caught-up partitions stay caught up.
func TestStatus_WorkerStates(t *testing.T) {
	e := newEnv(t, "", "")
	e.createTopic(t, "orders", 3)
	in := e.inspector(t)
	cl := e.client(t, e.a, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(2) {
		produce(t, cl, "orders", p, 2, time.Now(), "x")
	}
	ctx := context.Background()
	st, err := in.Status(ctx, inspect.StatusOptions{Worker: inspect.FetchWorkerStatus(ctx, nil, serve(t, 200, blockedWorker))})
	if err != nil {
		t.Fatal(err)
	}
	p0, p1, p2 := st.Partitions[0], st.Partitions[1], st.Partitions[2]
	if p1.State != inspect.StateBlocked || p1.Reason != "the target refuses the record at offset 7 since 2026-01-02T03:04:05Z (3 retries): INVALID_RECORD: refused" {
		t.Errorf("blocked partition: %+v", p1)
	}
	if p0.State != inspect.StateNotStarted || p2.State != inspect.StateCaughtUp {
		t.Errorf("other partitions: %+v\n%+v", p0, p2)
	}
	if st.State != inspect.StateBlocked || st.Worker.State != "degraded" || st.Worker.Reason != "task 0 restarted 1 time(s)" ||
		st.Summary.WorkerLostRecords != 2 || len(st.Worker.Connectors) != 2 {
		t.Errorf("flow: %s, worker %+v, summary %+v", st.State, st.Worker, st.Summary)
	}

	st, err = in.Status(ctx, inspect.StatusOptions{NoGroups: true, Worker: inspect.FetchWorkerStatus(ctx, nil, serve(t, 200, failedWorker))})
	if err != nil {
		t.Fatal(err)
	}
	want := "task 0 failed: org.apache.kafka.connect.errors.ConnectException: boom"
	if p := st.Partitions[0]; p.State != inspect.StateStopped || p.Reason != want || st.Partitions[2].State != inspect.StateCaughtUp {
		t.Errorf("failed task: %+v", st.Partitions)
	}
	if st.State != inspect.StateStopped || st.Reason != want || st.Worker.State != "stopped" {
		t.Errorf("flow with a failed task: %s %q %+v", st.State, st.Reason, st.Worker)
	}

	st, err = in.Status(ctx, inspect.StatusOptions{NoGroups: true, Worker: inspect.FetchWorkerStatus(ctx, nil, serve(t, 200, "{}"))})
	if err != nil || st.State != inspect.StateStopped || !strings.HasSuffix(st.Reason, "does not run flow a->b") {
		t.Errorf("a worker without the flow: %v, %s %q", err, st.State, st.Reason)
	}
}
