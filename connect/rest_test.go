package connect_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
)

// restClient calls a REST API in tests.
type restClient struct {
	t     *testing.T
	url   string
	token string
}

// do sends a request and returns the status code and the body.
func (c restClient) do(method, path, body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expect sends a request and fails the test unless it answers code; it
// returns the body decoded (nil when empty).
func (c restClient) expect(method, path, body string, code int) any {
	c.t.Helper()
	got, b := c.do(method, path, body)
	if got != code {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, got, b, code)
	}
	if strings.TrimSpace(b) == "" {
		return nil
	}
	var v any
	d := json.NewDecoder(strings.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		c.t.Fatalf("%s %s: the answer is not JSON: %v\n%s", method, path, err, b)
	}
	return v
}

// sameShape fails the test unless got has every field of Connect's
// documented example, with a value of the same JSON kind (recursively; the
// first element of an array stands for all). mm2go may add fields.
func sameShape(t *testing.T, what string, got any, example string) {
	t.Helper()
	var want any
	if err := json.Unmarshal([]byte(example), &want); err != nil {
		t.Fatalf("bad example of %s: %v", what, err)
	}
	if err := shapeDiff("", got, want); err != nil {
		t.Errorf("%s is not Connect's shape: %v\ngot: %v", what, err, got)
	}
}

func shapeDiff(path string, got, want any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an object", path, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing", path, k)
			}
			if err := shapeDiff(path+"."+k, gv, wv); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an array", path, got)
		}
		if len(w) > 0 && len(g) > 0 {
			return shapeDiff(path+"[0]", g[0], w[0])
		}
		if len(w) > 0 && len(g) == 0 {
			return fmt.Errorf("%s: empty, want elements", path)
		}
	case string:
		if _, ok := got.(string); !ok {
			return fmt.Errorf("%s: %T, want a string", path, got)
		}
	case float64:
		if _, ok := got.(json.Number); !ok {
			return fmt.Errorf("%s: %T, want a number", path, got)
		}
	}
	return nil
}

// Connect's documented answers (docs/connect.html, the Connect REST API
// reference and KIP-875, KIP-1017), which mm2go's must match in shape.
const (
	exampleRoot   = `{"version":"3.9.0","commit":"e23c59d00e687ff5","kafka_cluster_id":"I4ZmrWqfT2e-upky_4fdPA"}`
	exampleStatus = `{"name":"hdfs-sink-connector","connector":{"state":"RUNNING","worker_id":"fakehost:8083"},
		"tasks":[{"id":0,"state":"RUNNING","worker_id":"fakehost:8083"}],"type":"sink"}`
	exampleInfo = `{"name":"hdfs-sink-connector","config":{"connector.class":"io.confluent.connect.hdfs.HdfsSinkConnector","name":"hdfs-sink-connector"},
		"tasks":[{"connector":"hdfs-sink-connector","task":1}],"type":"sink"}`
	exampleTasks      = `[{"id":{"connector":"hdfs-sink-connector","task":0},"config":{}}]`
	exampleTaskStatus = `{"id":1,"state":"RUNNING","worker_id":"192.168.86.101:8083"}`
	examplePlugins    = `[{"class":"org.apache.kafka.connect.mirror.MirrorSourceConnector","type":"source","version":"3.9.0"}]`
	exampleError      = `{"error_code":404,"message":"Connector hdfs-sink-connector not found"}`
	// The partition and offset maps are the connector's own.
	exampleOffsets = `{"offsets":[{"partition":{},"offset":{}}]}`
	exampleMessage = `{"message":"The offsets for this connector have been altered successfully"}`
	exampleHealth  = `{"status":"healthy","message":"Worker has completed startup and is ready to handle requests."}`
)

// TestREST_Paths: every path of Connect's REST API that mm2go serves, with
// Connect's status codes and JSON shapes, on one worker.
func TestREST_Paths(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"), kfake.ClusterID("target-cluster-id"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(20)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	cfg := connecttest.Config(target)
	cfg.WorkerID = "host-1:8083"
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
	srv := httptest.NewServer(w.RESTHandler(connect.RESTConfig{Version: "1.2.3", Commit: "abc"}))
	defer srv.Close()
	c := restClient{t: t, url: srv.URL}

	// Not started yet: starting, and no connectors.
	h := c.expect("GET", "/health", "", 503).(map[string]any)
	if h["status"] != "starting" {
		t.Errorf("health before Run = %v, want starting", h)
	}
	if c.expect("GET", "/health/live", "", 200) == nil {
		t.Error("no liveness answer")
	}
	spec := conn.Spec()
	spec.Props["topics"] = "t"
	spec.Props["sasl.jaas.config"] = "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"pw\";"
	spec.Props["some.setting"] = "from-a-provider-xyz"
	spec.Secrets = []string{"from-a-provider-xyz"}
	run := connecttest.Run(t, w, spec)
	connecttest.WaitFor(t, 20*time.Second, "records copied", func() bool { return copied(t, target, "t", 0, 20) })
	connecttest.WaitFor(t, 20*time.Second, "healthy", func() bool { code, _ := c.do("GET", "/health", ""); return code == 200 })
	sameShape(t, "GET /health", c.expect("GET", "/health", "", 200), exampleHealth)

	root := c.expect("GET", "/", "", 200).(map[string]any)
	sameShape(t, "GET /", root, exampleRoot)
	if root["version"] != "1.2.3" || root["commit"] != "abc" || root["kafka_cluster_id"] != "target-cluster-id" {
		t.Errorf("GET / = %v", root)
	}
	plugins := c.expect("GET", "/connector-plugins", "", 200)
	sameShape(t, "GET /connector-plugins", plugins, examplePlugins)

	if got := fmt.Sprint(c.expect("GET", "/connectors", "", 200)); got != "["+fakeName+"]" {
		t.Errorf("GET /connectors = %s", got)
	}
	for _, q := range []string{"?expand=status", "?expand=info", "?expand=status&expand=info", "?expand=info,status"} {
		all := c.expect("GET", "/connectors"+q, "", 200).(map[string]any)
		e, ok := all[fakeName].(map[string]any)
		if !ok || len(all) != 1 {
			t.Fatalf("GET /connectors%s = %v", q, all)
		}
		if strings.Contains(q, "status") {
			sameShape(t, "status in GET /connectors"+q, e["status"], exampleStatus)
		} else if e["status"] != nil {
			t.Errorf("GET /connectors%s has a status", q)
		}
		if strings.Contains(q, "info") {
			sameShape(t, "info in GET /connectors"+q, e["info"], exampleInfo)
		} else if e["info"] != nil {
			t.Errorf("GET /connectors%s has info", q)
		}
	}
	base := "/connectors/" + fakeName
	status := c.expect("GET", base+"/status", "", 200).(map[string]any)
	sameShape(t, "GET status", status, exampleStatus)
	if status["name"] != fakeName || status["connector"].(map[string]any)["worker_id"] != "host-1:8083" ||
		status["tasks"].([]any)[0].(map[string]any)["worker_id"] != "host-1:8083" {
		t.Errorf("status does not name the connector and its worker: %v", status)
	}
	info := c.expect("GET", base, "", 200).(map[string]any)
	sameShape(t, "GET connector", info, exampleInfo)
	config := c.expect("GET", base+"/config", "", 200).(map[string]any)
	if config["topics"] != "t" || config["name"] != fakeName || config["sasl.jaas.config"] != "[hidden]" || config["some.setting"] != "[hidden]" {
		t.Errorf("GET config = %v: want the config, secrets hidden", config)
	}
	sameShape(t, "GET tasks", c.expect("GET", base+"/tasks", "", 200), exampleTasks)
	sameShape(t, "GET task status", c.expect("GET", base+"/tasks/0/status", "", 200), exampleTaskStatus)
	if tc := c.expect("GET", base+"/tasks-config", "", 200).(map[string]any); tc[fakeName+"-0"] == nil {
		t.Errorf("GET tasks-config = %v", tc)
	}

	// Errors in Connect's shape.
	sameShape(t, "unknown connector", c.expect("GET", "/connectors/nope/status", "", 404), exampleError)
	c.expect("GET", "/connectors/nope", "", 404)
	c.expect("GET", base+"/tasks/7/status", "", 404)
	c.expect("POST", base+"/tasks/7/restart", "", 404)
	c.expect("POST", "/connectors/nope/restart", "", 404)
	c.expect("PUT", "/connectors/nope/pause", "", 404)
	c.expect("POST", base+"/restart?includeTasks=maybe", "", 400)
	sameShape(t, "POST /connectors", c.expect("POST", "/connectors", `{"name":"x","config":{}}`, 405), exampleError)
	c.expect("PUT", base+"/config", `{}`, 405)
	c.expect("DELETE", base, "", 405)
	c.expect("GET", base+"/topics", "", 403)
	c.expect("GET", "/no/such/path/at/all", "", 404)

	// MM2's dedicated-mode paths.
	if got := fmt.Sprint(c.expect("GET", "/source/target/connectors", "", 200)); got != "[fake]" {
		t.Errorf("GET /source/target/connectors = %s", got)
	}
	if st := c.expect("GET", "/source/target/connectors/fake/status", "", 200).(map[string]any); st["name"] != "fake" {
		t.Errorf("dedicated status = %v", st)
	}
	c.expect("GET", "/source/target/connectors/nope/status", "", 404)

	// Restarts.
	c.expect("POST", base+"/restart", "", 204)
	if conn.Starts.Load() != 2 {
		t.Errorf("%d connector starts after POST restart, want 2", conn.Starts.Load())
	}
	st := c.expect("POST", base+"/restart?includeTasks=true", "", 202).(map[string]any)
	sameShape(t, "restart answer", st, exampleStatus)
	if st["connector"].(map[string]any)["state"] != "RESTARTING" || st["tasks"].([]any)[0].(map[string]any)["state"] != "RESTARTING" {
		t.Errorf("restart answered %v, want RESTARTING", st)
	}
	connecttest.WaitFor(t, 20*time.Second, "the task started again", func() bool { return conn.TaskStarts.Load() == 2 })
	connecttest.WaitFor(t, 20*time.Second, "running again", func() bool { return allIn(w, "fake", connect.StateRunning, 1) })
	c.expect("POST", base+"/tasks/0/restart", "", 204)
	connecttest.WaitFor(t, 20*time.Second, "the task started again", func() bool { return conn.TaskStarts.Load() == 3 })

	// Pause, resume.
	c.expect("PUT", base+"/pause", "", 202)
	connecttest.WaitFor(t, 20*time.Second, "PAUSED", func() bool {
		st := c.expect("GET", base+"/status", "", 200).(map[string]any)
		return st["connector"].(map[string]any)["state"] == "PAUSED" && st["tasks"].([]any)[0].(map[string]any)["state"] == "PAUSED"
	})
	c.expect("PUT", base+"/resume", "", 202)
	connecttest.WaitFor(t, 20*time.Second, "RUNNING", func() bool { return allIn(w, "fake", connect.StateRunning, 1) })

	// Offsets: read any time, changed only when stopped.
	offs := c.expect("GET", base+"/offsets", "", 200)
	sameShape(t, "GET offsets", offs, exampleOffsets)
	if fmt.Sprint(offs) != "map[offsets:[map[offset:map[offset:19] partition:map[partition:0 topic:t]]]]" {
		t.Errorf("GET offsets = %v", offs)
	}
	patch := `{"offsets":[{"partition":{"topic":"t","partition":0},"offset":{"offset":4}}]}`
	e := c.expect("PATCH", base+"/offsets", patch, 400).(map[string]any)
	if !strings.Contains(e["message"].(string), "STOPPED") {
		t.Errorf("PATCH offsets of a running connector = %v", e)
	}
	c.expect("PUT", base+"/stop", "", 204)
	connecttest.WaitFor(t, 20*time.Second, "STOPPED", func() bool {
		st := c.expect("GET", base+"/status", "", 200).(map[string]any)
		return st["connector"].(map[string]any)["state"] == "STOPPED" && len(st["tasks"].([]any)) == 0
	})
	sameShape(t, "PATCH offsets", c.expect("PATCH", base+"/offsets", patch, 200), exampleMessage)
	if got := fmt.Sprint(c.expect("GET", base+"/offsets", "", 200)); got != "map[offsets:[map[offset:map[offset:4] partition:map[partition:0 topic:t]]]]" {
		t.Errorf("GET offsets after PATCH = %s", got)
	}
	c.expect("PATCH", base+"/offsets", `{"offsets":[]}`, 400)
	c.expect("PATCH", base+"/offsets", `not json`, 400)
	c.expect("PATCH", base+"/offsets", `{"offsets":[{"partition":{"topic":"t","partition":0},"offset":{"offset":"x"}}]}`, 400)
	// Resumed, the task starts after the altered offset (the fake task,
	// as MM2's, stores the offset of the last record it copied).
	c.expect("PUT", base+"/resume", "", 202)
	connecttest.WaitFor(t, 20*time.Second, "RUNNING", func() bool { return allIn(w, "fake", connect.StateRunning, 1) })
	connecttest.WaitFor(t, 20*time.Second, "records 5.. copied again", func() bool { return copied(t, target, "t", 0, 35) })
	got := connecttest.ReadTopic(t, target, "t")[0]
	if len(got) != 35 || string(got[20].Value) != "v5" || string(got[34].Value) != "v19" {
		t.Errorf("after the offsets were set to 4, the target got %d records, %q..%q; want 35, v5..v19", len(got), got[20].Value, got[len(got)-1].Value)
	}
	c.expect("PUT", base+"/stop", "", 204)
	connecttest.WaitFor(t, 20*time.Second, "STOPPED", func() bool { return allIn(w, "fake", connect.StateStopped, 0) })
	sameShape(t, "DELETE offsets", c.expect("DELETE", base+"/offsets", "", 200), exampleMessage)
	if got := fmt.Sprint(c.expect("GET", base+"/offsets", "", 200)); got != "map[offsets:[]]" {
		t.Errorf("GET offsets after DELETE = %s", got)
	}

	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if h := c.expect("GET", "/health", "", 503).(map[string]any); h["status"] != "unhealthy" {
		t.Errorf("health after Run returned = %v", h)
	}
}

// TestREST_Token: with a token, every path but the probes and metrics needs
// it (401 without, 200 with); the token is in no log line.
func TestREST_Token(t *testing.T) {
	const token = "s3cr3t-t0ken-do-not-log"
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	log, logs := connecttest.CapturingLogger(t)
	w := connect.NewWorker(connecttest.Config(target), connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(log))
	srv := httptest.NewServer(w.RESTHandler(connect.RESTConfig{Version: "t", Token: token}))
	defer srv.Close()
	run := connecttest.Run(t, w, conn.Spec())
	connecttest.WaitFor(t, 20*time.Second, "RUNNING", func() bool { return allIn(w, "fake", connect.StateRunning, 1) })

	anon := restClient{t: t, url: srv.URL}
	wrong := restClient{t: t, url: srv.URL, token: token + "x"}
	short := restClient{t: t, url: srv.URL, token: token[:5]}
	good := restClient{t: t, url: srv.URL, token: token}
	for _, p := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/connectors"}, {"GET", "/connectors/" + fakeName + "/status"},
		{"PUT", "/connectors/" + fakeName + "/pause"}, {"GET", "/connector-plugins"}, {"GET", "/mm2go/local"},
	} {
		for _, c := range []restClient{anon, wrong, short} {
			sameShape(t, p.method+" "+p.path+" without the token", c.expect(p.method, p.path, "", 401), exampleError)
		}
	}
	code, _ := anon.do("GET", "/connectors", "")
	req, _ := http.NewRequest("GET", srv.URL+"/connectors", nil)
	req.Header.Set("Authorization", "Basic "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 || code != 401 {
		t.Errorf("a token outside a Bearer header was taken: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	good.expect("GET", "/connectors", "", 200)
	good.expect("PUT", "/connectors/"+fakeName+"/resume", "", 202)
	anon.expect("GET", "/health/live", "", 200)
	if code, _ := anon.do("GET", "/metrics", ""); code != 200 {
		t.Errorf("GET /metrics without the token = %d", code)
	}
	if code, _ := anon.do("GET", "/health", ""); code != 200 && code != 503 {
		t.Errorf("GET /health without the token = %d", code)
	}
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if lines := logs.Lines(token[:8]); len(lines) > 0 {
		t.Errorf("the token is logged:\n%s", strings.Join(lines, "\n"))
	}
}

// TestREST_HealthUnreachable: a worker whose target cannot be reached says
// so on /health (503) after UnreachableAfter, and stays alive.
func TestREST_HealthUnreachable(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(5)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	cfg := connecttest.Config(target)
	cfg.UnreachableAfter = time.Second
	cfg.ShutdownTimeout = 2 * time.Second
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
	srv := httptest.NewServer(w.RESTHandler(connect.RESTConfig{}))
	defer srv.Close()
	c := restClient{t: t, url: srv.URL}
	run := connecttest.Run(t, w, conn.Spec())
	connecttest.WaitFor(t, 20*time.Second, "healthy", func() bool { code, _ := c.do("GET", "/health", ""); return code == 200 })
	target.Close()
	// Records to send: a task that copied everything before the close
	// would not talk to its target again, and nothing would say it is
	// gone.
	src.Append("t", 0, connecttest.RecordsFrom(5, 5)...)
	connecttest.WaitFor(t, 30*time.Second, "unhealthy", func() bool {
		code, body := c.do("GET", "/health", "")
		return code == 503 && strings.Contains(body, `"unhealthy"`) && strings.Contains(body, "cannot reach")
	})
	c.expect("GET", "/health/live", "", 200)
	_ = run.Stop() // the target is gone: the final commit fails
}

// TestREST_ServerInfoWithoutCluster: GET / answers the version even when
// the group's cluster cannot be asked for its id.
func TestREST_ServerInfoWithoutCluster(t *testing.T) {
	w := connect.NewWorker(connect.WorkerConfig{})
	srv := httptest.NewServer(w.RESTHandler(connect.RESTConfig{Version: "v"}))
	defer srv.Close()
	c := restClient{t: t, url: srv.URL}
	root := c.expect("GET", "/", "", 200).(map[string]any)
	if root["version"] != "v" || root["kafka_cluster_id"] != nil {
		t.Errorf("GET / = %v", root)
	}
	if got := fmt.Sprint(c.expect("GET", "/connectors", "", 200)); got != "[]" {
		t.Errorf("GET /connectors = %s", got)
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(root)
}
