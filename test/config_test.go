package test

import (
	"context"
	"fmt"
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
	"github.com/mm2go/mm2go/flows"
)

// planProperties builds the worker of an mm2.properties file, with the
// bootstrap servers of the clusters in cs added.
func planProperties(t *testing.T, cs map[string]*kfake.Cluster, text string) (connect.WorkerConfig, []connect.ConnectorSpec, *flows.File) {
	t.Helper()
	var b strings.Builder
	var aliases []string
	for alias, c := range cs {
		aliases = append(aliases, alias)
		fmt.Fprintf(&b, "%s.bootstrap.servers = %s\n", alias, strings.Join(c.ListenAddrs(), ","))
	}
	fmt.Fprintf(&b, "clusters = %s\n%s", strings.Join(aliases, ", "), text)
	f, err := flows.Parse([]byte(b.String()), flows.FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Check(); err != nil {
		t.Fatalf("flow file:\n%s\n%v", b.String(), err)
	}
	e, err := f.Expand()
	if err != nil {
		t.Fatal(err)
	}
	cfg, specs, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	return cfg, specs, f
}

// startProperties runs one worker for an mm2.properties file, with the
// bootstrap servers of the clusters in cs added, the way `mm2go worker`
// does.
func startProperties(t *testing.T, cs map[string]*kfake.Cluster, text string) *runningWorker {
	t.Helper()
	cfg, specs, _ := planProperties(t, cs, text)
	return startWorker(t, cfg, specs)
}

// TestConfig_ReadCommittedFromFlowKey: a flow's
// consumer.isolation.level=read_committed reaches the replication consumer,
// so records of aborted transactions on the source are not copied, and the
// committed ones are, in order.
func TestConfig_ReadCommittedFromFlowKey(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(client(t, a)).CreateTopic(ctx, 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	txn := client(t, a, kgo.TransactionalID("app"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := make(map[int32][]string)
	for i := range 10 {
		commit := i%3 != 1 // transactions 1, 4 and 7 abort
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for p := range int32(2) {
			for j := range 10 {
				v := fmt.Sprintf("abort-%d-%d-%d", i, p, j)
				if commit {
					v = fmt.Sprintf("commit-%d-%d-%d", i, p, j)
					want[p] = append(want[p], v)
				}
				recs = append(recs, &kgo.Record{Topic: "t", Partition: p, Value: []byte(v)})
			}
		}
		if err := txn.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	// A last committed record per partition marks the end: once it is on
	// the target, everything before it in the source log was read.
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		want[p] = append(want[p], "end")
		if err := txn.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: p, Value: []byte("end")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	startProperties(t, map[string]*kfake.Cluster{"A": a, "B": b}, `
A->B.enabled = true
A->B.consumer.isolation.level = read_committed
refresh.topics.interval.seconds = 1
`)
	got := make(map[int32][]string)
	waitFor(t, 30*time.Second, "the end markers on the target", func() bool {
		for p := range int32(2) {
			recs := readPartitionValues(t, b, "A.t", p)
			if len(recs) == 0 || recs[len(recs)-1] != "end" {
				return false
			}
			got[p] = recs
		}
		return true
	})
	for p := range int32(2) {
		if strings.Join(got[p], " ") != strings.Join(want[p], " ") {
			t.Errorf("A.t[%d] = %q\nwant the committed records only: %q", p, got[p], want[p])
		}
	}
}

// readPartitionValues returns the values of partition p of topic on c, in
// order (read_uncommitted: whatever the partition holds).
func readPartitionValues(t *testing.T, c *kfake.Cluster, topic string, p int32) []string {
	t.Helper()
	if endOffsets(t, c, topic)[p] == 0 {
		return nil
	}
	var out []string
	for _, r := range readPartition(t, c, topic, p) {
		out = append(out, string(r.Value))
	}
	return out
}

// TestConfig_TakeoverFromStrimzi takes a flow over from MM2 on Kafka Connect
// as Strimzi runs it: the source connector is named
// "<source>-><target>.MirrorSourceConnector" and Connect's offsets topic is
// the Connect cluster's own (mirrormaker2-cluster-offsets). With
// B.offset.storage.topic and A->B.name set so, mm2go resumes right after
// what MM2 copied, and keeps its offsets where MM2 would find them again.
func TestConfig_TakeoverFromStrimzi(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := produceTopic(t, a, "t", 1, 300, "t")

	// What MM2 on Connect left: records 0-199 copied and offset 199 stored
	// under its connector's name, in the Connect cluster's offsets topic.
	const offsetsTopic, name = "mirrormaker2-cluster-offsets", "A->B.MirrorSourceConnector"
	admB := kadm.NewClient(client(t, b))
	if _, err := admB.CreateTopic(ctx, 25, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, offsetsTopic); err != nil {
		t.Fatal(err)
	}
	if _, err := admB.CreateTopic(ctx, 1, 1, nil, "A.t"); err != nil {
		t.Fatal(err)
	}
	var copied []*kgo.Record
	for _, r := range want[0][:200] {
		copied = append(copied, &kgo.Record{Topic: "A.t", Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
	}
	if err := client(t, b).ProduceSync(ctx, copied...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	key := `["` + name + `",{"cluster":"A","partition":0,"topic":"t"}]`
	connectClient := client(t, b, kgo.DefaultProduceTopic(offsetsTopic), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err := connectClient.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: []byte(`{"offset":199}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	rw := startProperties(t, map[string]*kfake.Cluster{"A": a, "B": b}, `
A->B.enabled = true
A->B.name = `+name+`
B.offset.storage.topic = `+offsetsTopic+`
B.offset.flush.interval.ms = 200
`)
	waitFor(t, 30*time.Second, "the rest copied", func() bool { return endOffsets(t, b, "A.t")[0] >= 300 })
	if err := rw.stop(); err != nil {
		t.Fatal(err)
	}
	if end := endOffsets(t, b, "A.t")[0]; end != 300 {
		t.Fatalf("A.t ends at %d, want 300: mm2go copied again what MM2 had copied", end)
	}
	compareTopic(t, "A.t", want, consumeAll(t, b, "A.t", 300, 10*time.Second))
	// The offsets are where MM2 on Connect looks for them.
	last := int64(-1)
	for p := range int32(25) {
		if endOffsets(t, b, offsetsTopic)[p] == 0 {
			continue
		}
		for _, r := range readPartition(t, b, offsetsTopic, p) {
			if string(r.Key) == key {
				if off, ok, err := connect.ParseOffsetValue(r.Value); err == nil && ok {
					last = off
				}
			}
		}
	}
	if last != 299 {
		t.Errorf("stored offset under %s in %s = %d, want 299", name, offsetsTopic, last)
	}
	if connect.OffsetsTopic("A") != "mm2-offsets.A.internal" {
		t.Fatal("unexpected default offsets topic")
	}
	if topicExists(t, b, connect.OffsetsTopic("A")) {
		t.Errorf("mm2go created %s though B.offset.storage.topic names another", connect.OffsetsTopic("A"))
	}
}

// TestConfig_LatestFromClusterKey: A.consumer.auto.offset.reset=latest, set
// on the source cluster as MM2 users do, makes partitions without stored
// offsets start at their end: records written before the flow started are
// not copied, records written after are.
func TestConfig_LatestFromClusterKey(t *testing.T) {
	a, b := newCluster(t, "A"), newCluster(t, "B")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produceTopic(t, a, "t", 1, 100, "early")
	startProperties(t, map[string]*kfake.Cluster{"A": a, "B": b}, `
A->B.enabled = true
A.consumer.auto.offset.reset = latest
refresh.topics.interval.seconds = 1
`)
	prod := client(t, a)
	// The consumer's start is the end as of when it asked: write markers
	// until one is copied, then the rest.
	copied := false
	for i := 0; i < 60 && !copied; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte(fmt.Sprintf("marker-%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) && !copied {
			copied = topicExists(t, b, "A.t") && endOffsets(t, b, "A.t")[0] > 0
			if !copied {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	if !copied {
		t.Fatal("no marker copied within 60 attempts")
	}
	for i := range 20 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte(fmt.Sprintf("late-%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	waitFor(t, 30*time.Second, "the late records copied", func() bool {
		got = readPartitionValues(t, b, "A.t", 0)
		return len(got) > 0 && got[len(got)-1] == "late-19"
	})
	if !strings.HasPrefix(got[0], "marker-") {
		t.Errorf("A.t starts with %q, want a marker written after the flow started", got[0])
	}
	for _, v := range got {
		if strings.Contains(v, "early") {
			t.Fatalf("A.t holds %q, written before the flow started with auto.offset.reset=latest", v)
		}
	}
}

// TestConfig_ProviderSecretNotShownByWorker runs a worker whose SASL
// password comes from an environment variable through
// EnvVarConfigProvider, and is wrong: the authentication failures show in
// the worker's log; the password shows in none of the log, the status and
// the REST API.
func TestConfig_ProviderSecretNotShownByWorker(t *testing.T) {
	const secret = "Wrong-Provider-Secret-91"
	t.Setenv("MM2GO_TEST_SASL_PASSWORD", secret)
	sasl := []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "mm2", "right-password")}
	a, b := newCluster(t, "A", sasl...), newCluster(t, "B", sasl...)
	cfg, specs, f := planProperties(t, map[string]*kfake.Cluster{"A": a, "B": b}, `
config.providers = env
config.providers.env.class = org.apache.kafka.common.config.provider.EnvVarConfigProvider
config.providers.env.param.allowlist.pattern = MM2GO_TEST_.*
security.protocol = SASL_PLAINTEXT
sasl.mechanism = PLAIN
sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username="mm2" password="${env:MM2GO_TEST_SASL_PASSWORD}";
A.admin.retries = 0
B.admin.retries = 0
A->B.enabled = true
`)
	logOpt, logs := capturingLogger(t)
	rw := launchWorker(t, cfg, specs, logOpt)
	t.Cleanup(func() { _ = rw.stop() }) // the flow cannot start: Run fails
	srv := httptest.NewServer(rw.w.Handler("test"))
	defer srv.Close()
	rest := func() string {
		resp, err := http.Get(srv.URL + "/connectors?expand=status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	status := func() string {
		var out strings.Builder
		for _, cs := range rw.w.Status() {
			fmt.Fprintf(&out, "%s %s %s\n", cs.Name, cs.State, cs.Error)
		}
		return out.String()
	}
	// kfake closes the connection of a failed authentication: the worker
	// sees EOF and retries.
	waitFor(t, 30*time.Second, "the failures reported", func() bool {
		return len(logs.lines("opening source offsets failed")) > 0 && strings.Contains(rest(), "MirrorSourceConnector")
	})
	_ = rw.stop()
	shown := map[string]string{"log": strings.Join(logs.lines(), "\n"), "status": status(), "REST": rest(), "warnings": strings.Join(f.Warnings, "\n")}
	for where, text := range shown {
		if strings.Contains(text, secret) {
			t.Errorf("the %s shows the password a config provider resolved:\n%s", where, text)
		}
	}
}
