package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
	"github.com/mm2go/mm2go/flows"
	"github.com/mm2go/mm2go/inspect"
)

// statusSetup is two fake clusters a and b and a flow file with the flow
// a->b. Topic orders on a has 2 partitions, with 10 and 6 records; group
// billing committed 4 and 6.
type statusSetup struct {
	a, b *kfake.Cluster
	path string
	prod *kgo.Client
	dial []kgo.Opt // added to every client of a and b: connecttest.VirtualOpts on a virtual network
}

func newStatusSetup(t *testing.T) *statusSetup {
	t.Helper()
	return newStatusSetupOn(t, nil)
}

// newStatusSetupOn is newStatusSetup with clusters on vn (nil: loopback
// TCP), for tests on synctest's fake clock.
func newStatusSetupOn(t *testing.T, vn *kfake.VirtualNetwork) *statusSetup {
	t.Helper()
	s := &statusSetup{}
	if vn == nil {
		s.a, s.b, s.path = newMigrateClusters(t)
	} else {
		s.a, s.b, s.path = newMigrateClustersWith(t,
			[]kfake.Opt{kfake.Ports(9501), kfake.ListenFn(vn.Listen)}, []kfake.Opt{kfake.Ports(9502), kfake.ListenFn(vn.Listen)})
		s.dial = connecttest.VirtualOpts(vn)
	}
	ctx := context.Background()
	s.prod = s.client(t, s.a, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(s.prod).CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	s.produce(t, 0, 10)
	s.produce(t, 1, 6)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 4, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 6, LeaderEpoch: -1})
	if err := kadm.NewClient(s.prod).CommitAllOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *statusSetup) client(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, s.dial...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (s *statusSetup) produce(t *testing.T, p int32, n int) {
	t.Helper()
	for i := range n {
		r := &kgo.Record{Topic: "orders", Partition: p, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d-%d", p, i)}
		if err := s.prod.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// startWorker runs `mm2go worker` with its REST API on a free loopback
// port, and returns the API's URL and a function that stops the worker.
func (s *statusSetup) startWorker(t *testing.T) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr, startWorkerCmd(t, s.path, "--http-addr", addr)
}

func (s *statusSetup) status(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCmd(t, context.Background(), append([]string{"status", "--config", s.path}, args...)...)
}

// TestStatus_WaitJSONAndTable runs a worker, waits for it to catch up,
// checks the JSON and the table against what was written and copied, then
// stops the worker and writes more: the wait times out and says which
// partition is behind, by how much.
func TestStatus_WaitJSONAndTable(t *testing.T) {
	s := newStatusSetup(t)
	url, stop := s.startWorker(t)
	code, out, errOut := s.status(t, "--wait-caught-up", "--timeout", "60s", "--interval", "200ms", "--json")
	if code != exitOK || !strings.Contains(errOut, "mm2go status: caught up: every partition within 0 record(s)") {
		t.Fatalf("--wait-caught-up: exit %d\n%s%s", code, out, errOut)
	}
	var res struct {
		CaughtUp *bool `json:"caught_up"`
		Flows    []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.CaughtUp == nil || !*res.CaughtUp || len(res.Flows) != 1 {
		t.Fatalf("--wait-caught-up --json: %v\n%s", err, out)
	}
	checkKeys(t, "flow", res.Flows[0], "flow", "source", "target", "time", "state", "summary", "rpo", "partitions", "groups")
	parts := res.Flows[0]["partitions"].([]any)
	for i, want := range []map[string]any{
		{"topic": "orders", "target_topic": "a.orders", "partition": 0.0, "source_start_offset": 0.0, "source_end_offset": 10.0,
			"target_end_offset": 10.0, "committed_offset": 9.0, "records_behind": 0.0, "records_behind_exact": true,
			"seconds_behind": 0.0, "lost_records": 0.0, "state": "caught_up"},
		{"topic": "orders", "target_topic": "a.orders", "partition": 1.0, "source_start_offset": 0.0, "source_end_offset": 6.0,
			"target_end_offset": 6.0, "committed_offset": 5.0, "records_behind": 0.0, "records_behind_exact": true,
			"seconds_behind": 0.0, "lost_records": 0.0, "state": "caught_up"},
	} {
		got := parts[i].(map[string]any)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("partition %d: %s = %v, want %v", i, k, got[k], v)
			}
		}
	}
	checkKeys(t, "summary", res.Flows[0]["summary"].(map[string]any), "partitions", "caught_up", "records_behind", "max_seconds_behind", "lost_records", "worker_lost_records")
	checkKeys(t, "rpo", res.Flows[0]["rpo"].(map[string]any), "records", "seconds")

	// The worker's view and the group, once checkpointed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, errOut = s.status(t, "--worker", url, "--json")
		if code != exitOK {
			t.Fatalf("status --worker: exit %d\n%s", code, errOut)
		}
		var r statusOutput
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if gs := r.Flows[0].Groups; len(gs) == 1 && gs[0].State == "checkpointed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("billing never checkpointed:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var raw struct{ Flows []map[string]any }
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	w := raw.Flows[0]["worker"].(map[string]any)
	checkKeys(t, "worker", w, "url", "state", "connectors")
	if w["state"] != "running" || w["url"] != url {
		t.Errorf("worker: %v", w)
	}
	g := raw.Flows[0]["groups"].([]any)[0].(map[string]any)
	checkKeys(t, "group", g, "group", "state", "synced", "last_checkpoint", "checkpoint_age_seconds", "lag_on_target", "rpo", "partitions")
	if g["group"] != "billing" || g["lag_on_target"] != 6.0 || g["synced"] != false {
		t.Errorf("group: %v", g)
	}
	gp := g["partitions"].([]any)[0].(map[string]any)
	checkKeys(t, "group partition", gp, "topic", "target_topic", "partition", "source_offset", "checkpoint", "translated_offset",
		"target_offset", "synced", "checkpoint_behind", "lag_on_target")
	if gp["source_offset"] != 4.0 || gp["translated_offset"] != 4.0 || gp["target_offset"] != -1.0 || gp["checkpoint_behind"] != 0.0 {
		t.Errorf("group partition 0: %v", gp)
	}

	code, out, _ = s.status(t, "--worker", url, "--all")
	for _, want := range []string{"flow a->b: caught_up\n", "2 of 2 partition(s) caught up; 0 record(s) behind; RPO 0 record(s), 0s",
		"worker " + url + ": running", "orders  0          10          9          0       0s      0     caught_up",
		"billing  checkpointed"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("table lacks %q: exit %d\n%s", want, code, out)
		}
	}

	// Stopped, with 3 more records on partition 0 (TestStatus_WaitTimesOut
	// waits for them until its timeout).
	stop()
	s.produce(t, 0, 3)
	if code, _, errOut := s.status(t, "--wait-caught-up", "--max-lag", "3", "--timeout", "60s"); code != exitOK {
		t.Errorf("--max-lag 3: exit %d\n%s", code, errOut)
	}
	// The table without --all lists only what is behind.
	code, out, _ = s.status(t, "--no-groups")
	if code != exitOK || !strings.Contains(out, "flow a->b: behind") || strings.Contains(out, "caught_up\n") ||
		!strings.Contains(out, "(1 partition(s) caught up not listed; --all lists them)") || strings.Contains(out, "GROUP") {
		t.Errorf("table while behind: exit %d\n%s", code, out)
	}
	// A worker that is gone: the status still reads the clusters.
	code, out, _ = s.status(t, "--worker", url, "--json", "--no-groups")
	if code != exitOK || !strings.Contains(out, `"error": "ask worker `+url) || !strings.Contains(out, `"state": "unknown"`) {
		t.Errorf("status with the worker gone: exit %d\n%s", code, out)
	}
}

// TestStatus_WaitTimesOut: with the worker stopped and 3 records of
// partition 0 not copied, --wait-caught-up --timeout 5s --interval 200ms
// times out, says which partition is behind and by how much, and prints
// the table of its last look. It runs on synctest's fake clock with its
// clusters on a kfake.VirtualNetwork: on the wall clock a loaded machine
// may not end one look before the timeout. The command's clients cannot
// be given a dialer through its arguments, so the test calls what --wait-caught-up
// runs (waitCaughtUp) with inspectors of the flow file that dial through
// the virtual network.
func TestStatus_WaitTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStatusSetupOn(t, &kfake.VirtualNetwork{})
		f, err := flows.Load(s.path)
		if err != nil {
			t.Fatal(err)
		}
		fl, err := inspect.FlowFromFile(f, "a", "b")
		if err != nil {
			t.Fatal(err)
		}
		fl.SourceOpts, fl.TargetOpts = append(fl.SourceOpts, s.dial...), append(fl.TargetOpts, s.dial...)
		in, err := inspect.New(fl)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		wait := func(timeout time.Duration) (int, string, string) {
			var out, errOut bytes.Buffer
			code := waitCaughtUp(context.Background(), []*inspect.Inspector{in}, inspect.WaitOptions{Interval: 200 * time.Millisecond},
				timeout, statusPrinter{w: &out}, &errOut)
			return code, out.String(), errOut.String()
		}

		log := hclog.New(&hclog.LoggerOptions{Name: "mm2go", Level: hclog.Info, Output: t.Output()})
		w, specs, err := newWorker(f, log, func(c *connect.WorkerConfig) {
			for alias, cc := range c.Clusters {
				cc.Opts = append(cc.Opts, s.dial...)
				c.Clusters[alias] = cc
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, specs) }()
		code, out, errOut := wait(time.Minute)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
		if code != exitOK {
			t.Fatalf("waiting for the copy: exit %d\n%s%s", code, out, errOut)
		}

		s.produce(t, 0, 3)
		code, out, errOut = wait(5 * time.Second)
		if code != exitFailure || !strings.Contains(errOut, "mm2go status: not caught up after 5s: 1 partition(s) more than 0 record(s) behind:\n") ||
			!regexp.MustCompile(`\n  a->b orders\[0\]: 3 record\(s\) behind, oldest [0-9.]+m?s old \((behind|stalled)`).MatchString(errOut) ||
			!strings.Contains(errOut, "waiting: 1 of 2 partition(s) behind, 3 record(s), oldest") {
			t.Errorf("--wait-caught-up while stopped: exit %d\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out, "orders  0          13          9          3") {
			t.Errorf("table after the timeout:\n%s", out)
		}
	})
}

// checkKeys fails the test unless m has every key of keys.
func checkKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s has no %q: %v", what, k, m)
		}
	}
}

// TestStatus_Watch prints a JSON line per look until interrupted: here
// after the third line.
func TestStatus_Watch(t *testing.T) {
	s := newStatusSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := &triggerWriter{on: "\n", fire: cancel}
	out.fire = func() {
		if strings.Count(out.String(), "\n") >= 3 {
			cancel()
		} else {
			out.fired = false // look again at the next write
		}
	}
	var errOut syncBuffer
	code := run(ctx, []string{"status", "--config", s.path, "--watch", "--interval", "100ms", "--json", "--no-groups"}, out, &errOut)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if code != exitOK || len(lines) < 3 {
		t.Fatalf("--watch: exit %d, %d lines\n%s%s", code, len(lines), out.String(), errOut.String())
	}
	for _, l := range lines {
		var r statusOutput
		if err := json.Unmarshal([]byte(l), &r); err != nil || len(r.Flows) != 1 || r.Flows[0].Summary.RecordsBehind != 16 ||
			r.Flows[0].Partitions[0].State != "not_started" {
			t.Errorf("--watch line: %v\n%s", err, l)
		}
	}
}

func TestStatus_Errors(t *testing.T) {
	s := newStatusSetup(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no config", []string{"status"}, exitUsage, "--config is required"},
		{"bad flow", []string{"status", "--config", s.path, "--flow", "a-b"}, exitUsage, `--flow "a-b" is not SOURCE->TARGET`},
		{"unknown flow", []string{"status", "--config", s.path, "--flow", "b->a"}, exitUsage, "--flow b->a: the flow file has no flow b->a"},
		{"unknown cluster", []string{"status", "--config", s.path, "--flow", "a->c"}, exitUsage, `cluster "c" is not in the flow file (its clusters: a, b)`},
		{"bad topics", []string{"status", "--config", s.path, "--topics", "(x"}, exitUsage, "--topics: error parsing regexp"},
		{"bad groups", []string{"status", "--config", s.path, "--groups", "[x"}, exitUsage, "--groups: error parsing regexp"},
		{"watch and wait", []string{"status", "--config", s.path, "--watch", "--wait-caught-up"}, exitUsage, "do not go together"},
		{"negative lag", []string{"status", "--config", s.path, "--max-lag", "-1"}, exitUsage, "--max-lag must not be negative"},
		{"bad interval", []string{"status", "--config", s.path, "--interval", "0s"}, exitUsage, "--interval must be positive"},
		{"bad worker", []string{"status", "--config", s.path, "--worker", "localhost:8083"}, exitUsage, "want a URL such as http://127.0.0.1:8083"},
		{"missing file", []string{"status", "--config", filepath.Join(t.TempDir(), "none.yaml")}, exitUsage, "none.yaml"},
		{"extra argument", []string{"status", "--config", s.path, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"verify without flow", []string{"verify", "--config", s.path}, exitUsage, "--flow is required"},
		{"verify bad parallel", []string{"verify", "--config", s.path, "--flow", "a->b", "--parallel", "0"}, exitUsage, "--parallel must be at least 1"},
		{"verify bad max", []string{"verify", "--config", s.path, "--flow", "a->b", "--max-differences", "0"}, exitUsage, "--max-differences must be at least 1"},
		{"verify bad timeout", []string{"verify", "--config", s.path, "--flow", "a->b", "--timeout", "0s"}, exitUsage, "--timeout must be positive"},
		{"verify bad topics", []string{"verify", "--config", s.path, "--flow", "a->b", "--topics", "(x"}, exitUsage, "--topics: error parsing regexp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, context.Background(), tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	// Nothing copied yet: verify has no index to match records with.
	if code, _, errOut := runCmd(t, context.Background(), "verify", "--config", s.path, "--flow", "a->b"); code != exitFailure ||
		!strings.Contains(errOut, "mm2go verify: verify a->b: the offset index mm2go-offset-index.a.internal is not on b (offset index topic not found): has an mm2go worker copied this flow?") {
		t.Errorf("verify before any copy: exit %d\n%s", code, errOut)
	}
	// A cluster that cannot be reached: exit 1, naming the flow.
	s.a.Close()
	code, _, errOut := runCmd(t, context.Background(), "status", "--config", s.path, "--timeout", "2s")
	if code != exitFailure || !strings.Contains(errOut, "mm2go status: flow a->b: list topics on a: ") {
		t.Errorf("source gone: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCmd(t, context.Background(), "status", "--config", s.path, "--wait-caught-up", "--timeout", "3s", "--interval", "200ms")
	if code != exitFailure || !strings.Contains(errOut, "waiting: look failed (flow a->b: list topics on a: ") ||
		!strings.Contains(errOut, "mm2go status: after 3s: not caught up: flow a->b: list topics on a: ") {
		t.Errorf("--wait-caught-up with the source gone: exit %d\n%s", code, errOut)
	}
}

// TestVerify_CLI verifies a copy (clean, exit 0), then deletes two records
// on the target: exit 1, and the table names them with their offsets.
func TestVerify_CLI(t *testing.T) {
	s := newStatusSetup(t)
	_, stop := s.startWorker(t)
	if code, _, errOut := s.status(t, "--wait-caught-up", "--timeout", "60s", "--interval", "200ms"); code != exitOK {
		t.Fatalf("wait: exit %d\n%s", code, errOut)
	}
	stop()
	code, out, errOut := runCmd(t, context.Background(), "verify", "--config", s.path, "--flow", "a->b", "--json")
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil || rep["clean"] != true {
		t.Fatalf("verify: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	checkKeys(t, "report", rep, "flow", "source", "target", "time", "clean", "totals", "partitions", "not_checked")
	tot := rep["totals"].(map[string]any)
	checkKeys(t, "totals", tot, "compared", "matched", "missing", "differing", "extra", "duplicates", "unchecked")
	if tot["compared"] != 16.0 || tot["matched"] != 16.0 {
		t.Errorf("totals: %v", tot)
	}
	p := rep["partitions"].([]any)[1].(map[string]any)
	checkKeys(t, "partition", p, "topic", "target_topic", "partition", "source_start_offset", "source_end_offset",
		"target_start_offset", "target_end_offset", "checked_from", "checked_to", "compared", "differences")
	if p["checked_from"] != 0.0 || p["checked_to"] != 6.0 || p["compared"] != 6.0 {
		t.Errorf("partition 1: %v", p)
	}

	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "a.orders", Partition: 1, At: 2})
	if resp, err := kadm.NewClient(s.client(t, s.b)).DeleteRecords(context.Background(), del); err != nil || resp.Error() != nil {
		t.Fatalf("delete records: %v %v", err, resp.Error())
	}
	code, out, errOut = runCmd(t, context.Background(), "verify", "--config", s.path, "--flow", "a->b", "--topics", "ord.*")
	for _, want := range []string{
		"verify a->b: 2 partition(s)",
		"orders  1          0..5             6         4        2        0          0      0",
		"  missing   orders[1] source offset 0, target a.orders[1] offset 0: deleted from the target (its log starts at 2)\n",
		"  missing   orders[1] source offset 1, target a.orders[1] offset 1: deleted from the target (its log starts at 2)\n",
		"NOT CLEAN: 16 record(s) compared; 2 missing, 0 differing, 0 extra on the target",
	} {
		if code != exitFailure || !strings.Contains(out, want) {
			t.Errorf("verify after deleting records lacks %q: exit %d\n%s%s", want, code, out, errOut)
		}
	}
	if !strings.Contains(errOut, "verify: 100% 16/16 records, 2/2 partitions") {
		t.Errorf("progress on stderr:\n%s", errOut)
	}
	// Topics that match nothing: nothing to compare, clean.
	code, out, _ = runCmd(t, context.Background(), "verify", "--config", s.path, "--flow", "a->b", "--topics", "nothing")
	if code != exitOK || !strings.Contains(out, "clean: 0 record(s) compared") {
		t.Errorf("verify of no topic: exit %d\n%s", code, out)
	}
}
