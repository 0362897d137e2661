package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/test/internal/harness"
)

// TestExactlyOnce_RESTPauseRestartStop drives an exactly-once MirrorSource
// through Connect's REST API while a source producer writes transactions
// (every third aborted) without pause: the task is paused, resumed, its
// task restarted, the connector restarted with its tasks, stopped and
// resumed, each time with records in the task's open transaction. Whenever
// the task shows PAUSED or the connector STOPPED, the task's transactional
// id has no transaction open on the target, and what read_committed
// consumers see of the target is exactly the committed source records up
// to the committed source offsets (GET /offsets): the records and their
// offsets committed together, nothing left half-way. At the end
// read_committed consumers see every committed source record once, in
// order, and no record of an aborted source transaction is on the target.
func TestExactlyOnce_RESTPauseRestartStop(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx := context.Background()
	const parts = 3
	if _, err := kadm.NewClient(client(t, a)).CreateTopic(ctx, parts, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	prod := harness.StartProducer(client(t, a, kgo.TransactionalID("producer-rest"), kgo.RecordPartitioner(kgo.ManualPartitioner())),
		harness.ProducerConfig{Topic: "orders", Partitions: parts, Tag: "k", Rate: 2000, TxnRecords: 20, AbortEvery: 3})
	stopped := false
	stopProd := func() {
		t.Helper()
		stopped = true
		if _, err := prod.Stop(30 * time.Second); err != nil {
			t.Fatalf("source producer: %v", err)
		}
	}
	defer func() {
		if !stopped {
			_, _ = prod.Stop(time.Second)
		}
	}()

	cfg := eosWorkerConfig(a, b)
	cfg.WorkerID = "w:1"
	// Transactions of a second: every request lands in one.
	rw := startWorker(t, cfg, []connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{connect.KeyTransactionInterval: "1000"})})
	srv := httptest.NewServer(rw.w.RESTHandler(connect.RESTConfig{Version: "test"}))
	defer srv.Close()
	do := func(method, path string) (int, map[string]any) {
		t.Helper()
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
	const txnID = "A-mm2-MirrorSourceConnector-0"
	state := func() (string, []string) {
		_, st := do("GET", base+"/status")
		var tasks []string
		for _, tk := range st["tasks"].([]any) {
			tasks = append(tasks, tk.(map[string]any)["state"].(string))
		}
		return st["connector"].(map[string]any)["state"].(string), tasks
	}
	waitState := func(conn string, tasks ...string) {
		t.Helper()
		waitFor(t, 30*time.Second, fmt.Sprintf("connector %s, tasks %v", conn, tasks), func() bool {
			c, ts := state()
			return c == conn && fmt.Sprint(ts) == fmt.Sprint(tasks)
		})
	}
	copied := func() int {
		n := 0
		for p := range int32(parts) {
			n += len(readCommittedPartition(t, b, "A.orders", p))
		}
		return n
	}
	// grows waits for read_committed consumers to see n more records.
	grows := func(n int) {
		t.Helper()
		from := copied()
		waitFor(t, 60*time.Second, fmt.Sprintf("%d more records copied", n), func() bool { return copied() >= from+n })
	}
	// settled checks that nothing of the task is half-way: no transaction
	// open, and the target holds exactly the source's committed records up
	// to the committed offsets.
	settled := func(when string) {
		t.Helper()
		if st := txnStateOf(t, b, txnID); st == "Ongoing" || st == "PrepareCommit" || st == "PrepareAbort" {
			t.Errorf("%s: transaction of %s is %s on the target, want none open", when, txnID, st)
		}
		code, offs := do("GET", base+"/offsets")
		if code != http.StatusOK {
			t.Fatalf("%s: GET offsets = %d %v", when, code, offs)
		}
		upTo := make(map[int32]int64)
		for _, o := range offs["offsets"].([]any) {
			p, off := o.(map[string]any)["partition"].(map[string]any), o.(map[string]any)["offset"].(map[string]any)
			upTo[int32(p["partition"].(float64))] = int64(off["offset"].(float64))
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		src, err := harness.ReadTopicCommitted(rctx, seedOpts(a), "orders")
		if err != nil {
			t.Fatal(err)
		}
		for p, rs := range src.Parts {
			n := 0
			for n < len(rs) && rs[n].Offset <= upTo[p] {
				n++
			}
			src.Parts[p] = rs[:n]
		}
		dst, err := harness.ReadTopicCommitted(rctx, seedOpts(b), "A.orders")
		if err != nil {
			t.Fatal(err)
		}
		if r := harness.Compare(src, dst); !r.Clean() || src.Len() == 0 {
			t.Errorf("%s: the target (read_committed) is not the source's committed records up to the committed offsets %v: %s", when, upTo, r.Summary())
		}
	}

	grows(500)
	if code, _ := do("PUT", base+"/pause"); code != http.StatusAccepted {
		t.Fatalf("pause = %d", code)
	}
	waitState("PAUSED", "PAUSED")
	settled("paused")
	if code, _ := do("PUT", base+"/resume"); code != http.StatusAccepted {
		t.Fatalf("resume = %d", code)
	}
	waitState("RUNNING", "RUNNING")
	grows(500)

	if code, _ := do("POST", base+"/tasks/0/restart"); code != http.StatusNoContent {
		t.Fatalf("task restart = %d", code)
	}
	grows(500)
	if code, _ := do("POST", base+"/restart?includeTasks=true"); code != http.StatusAccepted {
		t.Fatalf("connector restart = %d", code)
	}
	waitState("RUNNING", "RUNNING")
	grows(500)

	if code, _ := do("PUT", base+"/stop"); code != http.StatusNoContent {
		t.Fatalf("stop = %d", code)
	}
	waitState("STOPPED")
	settled("stopped")
	if code, _ := do("PUT", base+"/resume"); code != http.StatusAccepted {
		t.Fatalf("resume = %d", code)
	}
	waitState("RUNNING", "RUNNING")
	grows(500)
	stopProd()

	want, aborted := 0, make(map[string]bool)
	for _, k := range prod.AbortedKeys() {
		aborted[k] = true
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	src, err := harness.ReadTopicCommitted(rctx, seedOpts(a), "orders")
	if err != nil {
		t.Fatal(err)
	}
	want = src.Len()
	waitFor(t, 60*time.Second, "every committed source record copied", func() bool { return copied() >= want })
	if err := rw.stop(); err != nil {
		t.Fatalf("worker Run: %v", err)
	}
	settled("worker stopped")
	dst, err := harness.ReadTopicCommitted(rctx, seedOpts(b), "A.orders")
	if err != nil {
		t.Fatal(err)
	}
	if r := harness.Compare(src, dst); !r.Clean() {
		t.Errorf("read_committed: A.orders is not a faithful copy of orders: %s", r.Summary())
	}
	all, err := harness.ReadTopic(rctx, seedOpts(b), "A.orders")
	if err != nil {
		t.Fatal(err)
	}
	for p, rs := range all.Parts {
		for _, r := range rs {
			if aborted[r.Key] {
				t.Fatalf("A.orders[%d] offset %d holds %s, a record of an aborted source transaction", p, r.Offset, r.Key)
			}
		}
	}
	if len(aborted) == 0 {
		t.Errorf("the source producer aborted no transaction")
	}
	t.Logf("%d committed source records copied once; %d records on the target for read_uncommitted consumers", want, all.Len())
}

// txnStateOf is the state of transactional id id on c ("" if c does not
// know it).
func txnStateOf(t testing.TB, c brokers, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := kadm.NewClient(client(t, c)).ListTransactions(ctx, nil, nil)
	if err != nil {
		t.Fatalf("list transactions: %v", err)
	}
	return ls[id].State
}
