package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
	"github.com/mm2go/mm2go/connect/group"
)

// offsetsRig is a worker whose connector "fake" (two tasks, t:0 and t:1,
// 20 records each) copied everything and is STOPPED, with its REST API.
type offsetsRig struct {
	target *kfake.Cluster
	w      *connect.Worker
	run    *connecttest.Running
	c      restClient
	base   string
	p0, p1 connecttest.Partition
}

// newOffsetsRig starts the rig, exactly once or not, with the REST
// request timeout given (0: Connect's 90 s).
func newOffsetsRig(t *testing.T, exactlyOnce bool, reqTimeout time.Duration) *offsetsRig {
	t.Helper()
	target := connecttest.NewCluster(t, kfake.SeedTopics(2, "t"))
	src := connecttest.NewSource()
	r := &offsetsRig{target: target, base: "/connectors/" + fakeName,
		p0: connecttest.Partition{Topic: "t"}, p1: connecttest.Partition{Topic: "t", Partition: 1}}
	src.Append("t", 0, connecttest.Records(20)...)
	src.Append("t", 1, connecttest.Records(20)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{r.p0}, []connecttest.Partition{r.p1})
	cfg := connecttest.Config(target)
	if exactlyOnce {
		cfg = eosConfig(target, 100*time.Millisecond)
	}
	r.w = connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
	srv := httptest.NewServer(r.w.RESTHandler(connect.RESTConfig{RequestTimeout: reqTimeout}))
	t.Cleanup(srv.Close)
	r.c = restClient{t: t, url: srv.URL}
	r.run = connecttest.Run(t, r.w, eosSpec(conn, "tasks.max", "2"))
	t.Cleanup(func() {
		if err := r.run.Stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	connecttest.WaitFor(t, 30*time.Second, "every record copied and committed", func() bool {
		o0, _ := committedOf(t, target, "fake", r.p0)
		o1, _ := committedOf(t, target, "fake", r.p1)
		return o0 == 19 && o1 == 19
	})
	r.c.expect("PUT", r.base+"/stop", "", 204)
	connecttest.WaitFor(t, 30*time.Second, "STOPPED", func() bool { return allIn(r.w, "fake", connect.StateStopped, 0) })
	return r
}

// offsetsRecords returns every record of the offsets topic, read_uncommitted.
func (r *offsetsRig) offsetsRecords(t *testing.T) []*kgo.Record {
	var out []*kgo.Record
	for _, recs := range connecttest.ReadTopic(t, r.target, connect.OffsetsTopic("source")) {
		out = append(out, recs...)
	}
	return out
}

// zombie is a producer with task id's transactional id whose transaction
// is open and holds source offsets of the connector: a task of a worker
// that froze or lost the network before the connector stopped.
func newZombie(t *testing.T, c *kfake.Cluster, id int, offsets map[connecttest.Partition]int64) *kgo.Client {
	t.Helper()
	z, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.TransactionalID(connect.TransactionalID("source-mm2", "fake", id)),
		kgo.DefaultProduceTopic(connect.OffsetsTopic("source")),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := z.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p, o := range offsets {
		if err := z.ProduceSync(ctx, &kgo.Record{Key: connecttest.OffsetKey("fake", p), Value: connect.AppendOffsetValue(nil, o)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return z
}

// zombieCommit tries to commit the zombie's transaction; it must fail.
func zombieCommit(t *testing.T, z *kgo.Client, id int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := z.EndTransaction(ctx, kgo.TryCommit)
	switch {
	case err == nil:
		t.Errorf("the zombie of task %d committed its source offsets after the offsets were changed", id)
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.InvalidTxnState):
		// kfake answers a fenced producer's EndTxn (its epoch one
		// behind, KIP-890's retry check) INVALID_TXN_STATE where Kafka
		// answers PRODUCER_FENCED.
		t.Logf("zombie of task %d: commit: %v", id, err)
	default:
		t.Errorf("the zombie of task %d: commit failed with %v, want it fenced", id, err)
	}
}

// resumeAndCheck resumes the connector and checks that each partition is
// copied again from the offset after from[p] (-1: from the start): the
// target then holds its 20 records and, after them, those again.
func (r *offsetsRig) resumeAndCheck(t *testing.T, exactlyOnce bool, from map[connecttest.Partition]int64) {
	t.Helper()
	read := func() map[int32][]*kgo.Record {
		if exactlyOnce {
			return connecttest.ReadCommitted(t, r.target, "t")
		}
		return connecttest.ReadTopic(t, r.target, "t")
	}
	r.c.expect("PUT", r.base+"/resume", "", 202)
	connecttest.WaitFor(t, 30*time.Second, "the altered partitions copied again", func() bool {
		got := read()
		for p, o := range from {
			if len(got[p.Partition]) < 20+int(19-o) {
				return false
			}
		}
		return true
	})
	r.c.expect("PUT", r.base+"/stop", "", 204)
	connecttest.WaitFor(t, 30*time.Second, "STOPPED", func() bool { return allIn(r.w, "fake", connect.StateStopped, 0) })
	got := read()
	for p, o := range from {
		recs := got[p.Partition]
		if len(recs) != 20+int(19-o) {
			t.Errorf("%v: %d records on the target, want 20 and then %d copied again after offset %d", p, len(recs), 19-o, o)
			continue
		}
		if o < 19 {
			if v, want := string(recs[20].Value), fmt.Sprintf("v%d", o+1); v != want {
				t.Errorf("%v: the copy resumed at %q, want %q (after the offset the operator set)", p, v, want)
			}
		}
	}
}

// TestOffsetsAPI_ExactlyOnceFencesZombies: before PATCH or DELETE changes
// the offsets of a stopped exactly-once connector, every transactional id
// its tasks may have used is fenced, as Connect's zombie fencing does: a
// zombie task holding an open transaction with source offsets (task 1,
// and task 5, above tasks.max, which the target lists) cannot commit them
// over the operator's change afterwards. The offsets are written in a
// transaction of task 0's id, as Connect writes them, and the connector
// resumes from them.
func TestOffsetsAPI_ExactlyOnceFencesZombies(t *testing.T) {
	for _, verb := range []string{"PATCH", "DELETE"} {
		t.Run(verb, func(t *testing.T) {
			r := newOffsetsRig(t, true, 0)
			zombies := map[int]*kgo.Client{}
			for _, id := range []int{1, 5} {
				zombies[id] = newZombie(t, r.target, id, map[connecttest.Partition]int64{r.p0: 999, r.p1: 999})
			}
			want := map[connecttest.Partition]int64{r.p0: -1, r.p1: -1}
			wantGET := "map[offsets:[]]"
			if verb == "PATCH" {
				r.c.expect("PATCH", r.base+"/offsets",
					`{"offsets":[{"partition":{"topic":"t","partition":0},"offset":{"offset":4}},{"partition":{"topic":"t","partition":1},"offset":{"offset":7}}]}`, 200)
				want = map[connecttest.Partition]int64{r.p0: 4, r.p1: 7}
				wantGET = "map[offsets:[map[offset:map[offset:4] partition:map[partition:0 topic:t]] map[offset:map[offset:7] partition:map[partition:1 topic:t]]]]"
			} else {
				r.c.expect("DELETE", r.base+"/offsets", "", 200)
			}
			for id, z := range zombies {
				zombieCommit(t, z, id)
			}
			if got := fmt.Sprint(r.c.expect("GET", r.base+"/offsets", "", 200)); got != wantGET {
				t.Errorf("GET offsets after %s and the zombies' commits = %s, want %s", verb, got, wantGET)
			}
			// The change is in a transaction of task 0's id, after the
			// zombies' records.
			r.checkLastWrite(t, true, want)
			if _, ok := txnState(t, r.target, connect.TransactionalID("source-mm2", "fake", 0)); !ok {
				t.Errorf("no transactional id source-mm2-fake-0 on the target: the change was not written as Connect writes it")
			}
			r.resumeAndCheck(t, true, want)
		})
	}
}

// checkLastWrite checks the last record of each partition's key in the
// offsets topic (read_uncommitted): the value set (-1: a tombstone),
// transactional or not.
func (r *offsetsRig) checkLastWrite(t *testing.T, transactional bool, want map[connecttest.Partition]int64) {
	t.Helper()
	last := make(map[string]*kgo.Record)
	for _, rec := range r.offsetsRecords(t) {
		last[string(rec.Key)] = rec
	}
	for p, o := range want {
		rec := last[string(connecttest.OffsetKey("fake", p))]
		if rec == nil {
			t.Errorf("%v: no offset record", p)
			continue
		}
		got, ok, err := connect.ParseOffsetValue(rec.Value)
		if err != nil || !ok {
			got = -1
		}
		if got != o {
			t.Errorf("%v: the last offset record says %d, want %d", p, got, o)
		}
		if rec.Attrs.IsTransactional() != transactional {
			t.Errorf("%v: the offset record is transactional: %v, want %v", p, rec.Attrs.IsTransactional(), transactional)
		}
	}
}

// TestOffsetsAPI_AtLeastOnceUnchanged: a connector whose herder copies at
// least once has its offsets changed as before: plain records, no
// transactional id of the connector initialized on the target, and it
// resumes from them.
func TestOffsetsAPI_AtLeastOnceUnchanged(t *testing.T) {
	r := newOffsetsRig(t, false, 0)
	r.c.expect("PATCH", r.base+"/offsets", `{"offsets":[{"partition":{"topic":"t","partition":0},"offset":{"offset":4}}]}`, 200)
	r.checkLastWrite(t, false, map[connecttest.Partition]int64{r.p0: 4, r.p1: 19})
	for _, id := range []int{0, 1} {
		if st, ok := txnState(t, r.target, connect.TransactionalID("source-mm2", "fake", id)); ok {
			t.Errorf("transactional id of task %d on the target (%s): an at-least-once connector's offsets change fenced its tasks", id, st)
		}
	}
	r.resumeAndCheck(t, false, map[connecttest.Partition]int64{r.p0: 4, r.p1: 19})
	r.c.expect("DELETE", r.base+"/offsets", "", 200)
	r.checkLastWrite(t, false, map[connecttest.Partition]int64{r.p0: -1, r.p1: -1})
}

// refuseTxnRequests makes c answer every request of key for the
// connector's transactional ids with code while refuse is set.
func refuseTxnRequests(c *kfake.Cluster, refuse *atomic.Bool, key kmsg.Key, code int16) {
	c.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !refuse.Load() {
			return nil, nil, false
		}
		switch r := req.(type) {
		case *kmsg.InitProducerIDRequest:
			if r.TransactionalID == nil || !strings.HasPrefix(*r.TransactionalID, "source-mm2-fake-") {
				return nil, nil, false
			}
			resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
			resp.ErrorCode = code
			return resp, nil, true
		case *kmsg.FindCoordinatorRequest:
			if r.CoordinatorType != 1 { // transactions
				return nil, nil, false
			}
			resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
			resp.ErrorCode = code
			for _, k := range append(r.CoordinatorKeys, r.CoordinatorKey) {
				rc := kmsg.NewFindCoordinatorResponseCoordinator()
				rc.Key, rc.ErrorCode = k, code
				resp.Coordinators = append(resp.Coordinators, rc)
			}
			return resp, nil, true
		}
		return nil, nil, false
	})
}

// TestOffsetsAPI_ExactlyOnceFencingFails: when the zombie fencing cannot
// be done (the worker may not use the connector's transactional ids, or
// their coordinator is unreachable until the request times out), PATCH and
// DELETE answer 500 in Connect's error shape saying so, nothing is written
// to the offsets topic, and the change goes through once the target
// allows it.
func TestOffsetsAPI_ExactlyOnceFencingFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  kmsg.Key
		code int16
		want string
	}{
		{"refused", kmsg.InitProducerID, kerr.TransactionalIDAuthorizationFailed.Code, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"},
		{"coordinator unreachable", kmsg.FindCoordinator, kerr.CoordinatorNotAvailable.Code, "context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newOffsetsRig(t, true, 3*time.Second)
			before := len(r.offsetsRecords(t))
			var refuse atomic.Bool
			refuse.Store(true)
			refuseTxnRequests(r.target, &refuse, tc.key, tc.code)
			patch := `{"offsets":[{"partition":{"topic":"t","partition":0},"offset":{"offset":4}}]}`
			for _, verb := range []string{"PATCH", "DELETE"} {
				body := ""
				if verb == "PATCH" {
					body = patch
				}
				e := r.c.expect(verb, r.base+"/offsets", body, 500).(map[string]any)
				sameShape(t, verb+" offsets error", e, exampleError)
				msg, _ := e["message"].(string)
				for _, s := range []string{"Failed to perform zombie fencing for source connector " + fakeName + " prior to modifying offsets",
					"source-mm2-fake-", tc.want, "No offsets were changed"} {
					if !strings.Contains(msg, s) {
						t.Errorf("%s offsets = %q, want it to say %q", verb, msg, s)
					}
				}
			}
			if after := len(r.offsetsRecords(t)); after != before {
				t.Errorf("%d records written to the offsets topic by requests that failed", after-before)
			}
			if got := fmt.Sprint(r.c.expect("GET", r.base+"/offsets", "", 200)); !strings.Contains(got, "offset:19") || strings.Contains(got, "offset:4") {
				t.Errorf("GET offsets after the failed requests = %s, want them as the connector committed them", got)
			}
			refuse.Store(false)
			r.c.expect("PATCH", r.base+"/offsets", patch, 200)
			r.checkLastWrite(t, true, map[connecttest.Partition]int64{r.p0: 4, r.p1: 19})
		})
	}
}

// TestOffsetsAPI_ExactlyOnceWriteAllOrNothing: a change whose records the
// target does not all take (one partition's key is larger than a record
// may be) is aborted whole: the other partition's new offset, written in
// the same transaction, is not committed, and the answer says so.
func TestOffsetsAPI_ExactlyOnceWriteAllOrNothing(t *testing.T) {
	r := newOffsetsRig(t, true, 0)
	huge := strings.Repeat("x", 2<<20)
	e := r.c.expect("PATCH", r.base+"/offsets", `{"offsets":[{"partition":{"topic":"t","partition":0},"offset":{"offset":4}},`+
		`{"partition":{"topic":"`+huge+`","partition":0},"offset":{"offset":1}}]}`, 500).(map[string]any)
	sameShape(t, "PATCH offsets error", e, exampleError)
	if msg, _ := e["message"].(string); !strings.Contains(msg, "Failed to modify offsets for source connector "+fakeName) ||
		!strings.Contains(msg, "the transaction was aborted, no offsets were changed") {
		t.Errorf("PATCH offsets = %q", msg)
	}
	if o, _ := committedOf(t, r.target, "fake", r.p0); o != 19 {
		t.Errorf("committed offset of t:0 = %d after a change that failed, want 19 as before", o)
	}
	if got := fmt.Sprint(r.c.expect("GET", r.base+"/offsets", "", 200)); strings.Contains(got, "offset:4") {
		t.Errorf("GET offsets after the failed change = %s", got)
	}
	r.resumeAndCheck(t, true, map[connecttest.Partition]int64{r.p0: 19, r.p1: 19})
}

// TestOffsetsAPI_AbortedOffsetsIgnored: source offsets in an aborted
// transaction are neither shown nor taken as the key to write a change
// under (read_committed); a partition known only from them gets the key
// the request names.
func TestOffsetsAPI_AbortedOffsetsIgnored(t *testing.T) {
	r := newOffsetsRig(t, true, 0)
	p7 := connecttest.Partition{Topic: "t", Partition: 7}
	// Its key with the fields in another order than the request's.
	z := newZombie(t, r.target, 0, map[connecttest.Partition]int64{p7: 999})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := z.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.c.expect("GET", r.base+"/offsets", "", 200)); strings.Contains(got, "999") {
		t.Errorf("GET offsets shows an aborted transaction's offset: %s", got)
	}
	r.c.expect("PATCH", r.base+"/offsets", `{"offsets":[{"partition":{"topic":"t","partition":7},"offset":{"offset":3}}]}`, 200)
	want := connect.OffsetKey("fake", connect.IntField("partition", 7), connect.StrField("topic", "t"))
	if o, ok := connecttest.Committed(t, r.target, connect.OffsetsTopic("source"))[string(want)]; !ok || o != 3 {
		t.Errorf("offset under %s = %d (%v), want 3 under the request's key, not the aborted record's %s", want, o, ok, connecttest.OffsetKey("fake", p7))
	}
}

// TestOffsetsAPI_ExactlyOnceGroupFencesTasksOfConfigTopic: in a worker
// group the fencing covers the task configs the group's config topic holds
// for the stopped connector, also when tasks.max is lower now and the
// worker never ran them: a zombie of task 2, written when the connector
// had three tasks, cannot commit after a worker restarted with tasks.max=1
// altered the offsets (the target refuses to list its transactions, so
// only the config topic knows task 2).
func TestOffsetsAPI_ExactlyOnceGroupFencesTasksOfConfigTopic(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(3, "t"))
	src := connecttest.NewSource()
	ps := []connecttest.Partition{{Topic: "t"}, {Topic: "t", Partition: 1}, {Topic: "t", Partition: 2}}
	for _, p := range ps {
		src.Append("t", p.Partition, connecttest.Records(20)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runGroup := func(conn *connecttest.Connector, tasksMax string) (*connect.Worker, func() error) {
		cfg := eosConfig(target, 100*time.Millisecond)
		cfg.WorkerID = "w-" + tasksMax
		w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t).Named(cfg.WorkerID)))
		spec := conn.Spec()
		spec.Props["tasks.max"] = tasksMax
		rctx, rcancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- w.RunGroup(rctx, []connect.ConnectorSpec{spec}, connect.GroupConfig{ID: "mm2go-eos-offsets", Cluster: "target",
				Fingerprint: group.Fingerprint{Hash: "same-file"}, SessionTimeout: 6 * time.Second,
				HeartbeatInterval: 300 * time.Millisecond, ConfigTopicReplication: 1})
		}()
		stop := sync.OnceValue(func() error { rcancel(); return <-done })
		t.Cleanup(func() { _ = stop() })
		return w, stop
	}

	// First run: three tasks copy everything; then the connector stops.
	conn := connecttest.NewConnector("fake", src, ps[:1], ps[1:2], ps[2:])
	w, stop := runGroup(conn, "3")
	connecttest.WaitFor(t, 60*time.Second, "every record copied and committed", func() bool {
		for _, p := range ps {
			if o, _ := committedOf(t, target, "fake", p); o != 19 {
				return false
			}
		}
		return true
	})
	if err := w.StopConnector(ctx, fakeName); err != nil {
		t.Fatal(err)
	}
	connecttest.WaitFor(t, 30*time.Second, "STOPPED", func() bool { return allIn(w, "fake", connect.StateStopped, 0) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A zombie of task 2; the target lists no transactions.
	z := newZombie(t, target, 2, map[connecttest.Partition]int64{ps[2]: 999})
	target.ControlKey(int16(kmsg.ListTransactions), func(req kmsg.Request) (kmsg.Response, error, bool) {
		target.KeepControl()
		resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil, true
	})

	// Second run, tasks.max lowered to 1 while stopped.
	w, _ = runGroup(connecttest.NewConnector("fake", src, ps[:1]), "1")
	connecttest.WaitFor(t, 60*time.Second, "the connector assigned, STOPPED", func() bool { return allIn(w, "fake", connect.StateStopped, 0) })
	if err := w.AlterConnectorOffsets(ctx, fakeName, []connect.ConnectorOffset{
		{Partition: map[string]any{"topic": "t", "partition": json.Number("2")}, Offset: map[string]any{"offset": json.Number("5")}},
	}); err != nil {
		t.Fatal(err)
	}
	zombieCommit(t, z, 2)
	if o, _ := committedOf(t, target, "fake", ps[2]); o != 5 {
		t.Errorf("committed offset of t:2 = %d, want 5 as altered", o)
	}
}

// TestOffsetsAPI_ExactlyOnceWaitsForOpenTransactions: the offsets are read
// after every transaction open in the offsets topic ended (a value the
// connector committed behind another producer's open transaction must not
// be missed); one that stays open past the request's time (another
// connector's frozen task) fails the request with a message that says so,
// and nothing is written.
func TestOffsetsAPI_ExactlyOnceWaitsForOpenTransactions(t *testing.T) {
	r := newOffsetsRig(t, true, 3*time.Second)
	before := len(r.offsetsRecords(t))
	other, err := kgo.NewClient(kgo.SeedBrokers(r.target.ListenAddrs()...),
		kgo.TransactionalID(connect.TransactionalID("source-mm2", "other", 0)),
		kgo.DefaultProduceTopic(connect.OffsetsTopic("source")))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := other.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := other.ProduceSync(ctx, &kgo.Record{Key: connect.OffsetKey("other", connect.StrField("topic", "x")), Value: connect.AppendOffsetValue(nil, 1)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e := r.c.expect("DELETE", r.base+"/offsets", "", 500).(map[string]any)
	sameShape(t, "DELETE offsets error", e, exampleError)
	if msg, _ := e["message"].(string); !strings.Contains(msg, "waiting for the transactions open in it to end") || !strings.Contains(msg, "no offsets were changed") {
		t.Errorf("DELETE offsets = %q", msg)
	}
	if after := len(r.offsetsRecords(t)); after != before+1 {
		t.Errorf("%d records written to the offsets topic by a request that failed", after-before-1)
	}
	if err := other.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	r.c.expect("DELETE", r.base+"/offsets", "", 200)
	r.checkLastWrite(t, true, map[connecttest.Partition]int64{r.p0: -1, r.p1: -1})
}
