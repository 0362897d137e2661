package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newMigrateClusters starts clusters a and b and writes a flow file with the
// flow a->b (extra lines go into its settings).
func newMigrateClusters(t *testing.T, settings ...string) (a, b *kfake.Cluster, path string) {
	t.Helper()
	return newMigrateClustersWith(t, nil, nil, settings...)
}

// newMigrateClustersWith is newMigrateClusters with options for each
// cluster (a kfake.VirtualNetwork's listener, say).
func newMigrateClustersWith(t *testing.T, aOpts, bOpts []kfake.Opt, settings ...string) (a, b *kfake.Cluster, path string) {
	t.Helper()
	var err error
	if a, err = kfake.NewCluster(append([]kfake.Opt{kfake.ClusterID("a"), kfake.NumBrokers(1)}, aOpts...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if b, err = kfake.NewCluster(append([]kfake.Opt{kfake.ClusterID("b"), kfake.NumBrokers(1)}, bOpts...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	path = filepath.Join(t.TempDir(), "flows.yaml")
	yaml := "clusters:\n" +
		"  a:\n    bootstrap_servers: [" + strings.Join(a.ListenAddrs(), ",") + "]\n" +
		"  b:\n    bootstrap_servers: [" + strings.Join(b.ListenAddrs(), ",") + "]\n" +
		"settings:\n  refresh.topics.interval.seconds: 1\n  refresh.groups.interval.seconds: 1\n" +
		"  emit.checkpoints.interval.seconds: 1\n  offset.flush.interval.ms: 200\n"
	for _, s := range settings {
		yaml += "  " + s + "\n"
	}
	yaml += "flows:\n  - source: a\n    target: b\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return a, b, path
}

func newAdmin(t *testing.T, c *kfake.Cluster) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func TestMigratePlan(t *testing.T) {
	a, b, path := newMigrateClusters(t)
	ctx := context.Background()
	admA, admB := newAdmin(t, a), newAdmin(t, b)
	mustCreate := func(adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
		t.Helper()
		if _, err := adm.CreateTopic(ctx, partitions, 1, configs, topic); err != nil {
			t.Fatal(err)
		}
	}
	day, short := kadm.StringPtr("86400000"), kadm.StringPtr("1000")
	mustCreate(admA, "orders", 3, map[string]*string{"retention.ms": day})
	mustCreate(admA, "payments", 2, map[string]*string{"retention.ms": short})
	mustCreate(admA, "clicks", 1, nil)
	mustCreate(admB, "a.payments", 1, map[string]*string{"retention.ms": kadm.StringPtr("5000")})
	mustCreate(admB, "a.clicks", 1, nil)
	acl := func(adm *kadm.Client, b *kadm.ACLBuilder) {
		t.Helper()
		res, err := adm.CreateACLs(ctx, b)
		if err == nil {
			for _, r := range res {
				err = r.Err
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	acl(admA, kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead).Allow("User:alice").AllowHosts("*"))
	acl(admA, kadm.NewACLs().Topics("orders").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite).Allow("User:bob").AllowHosts("*"))
	acl(admA, kadm.NewACLs().Topics("clicks").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead).Allow("User:carol").AllowHosts("*"))
	acl(admB, kadm.NewACLs().Topics("a.clicks").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead).Allow("User:carol").AllowHosts("*"))
	commit := func(adm *kadm.Client, group, topic string, p int32, at int64) {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, group, os); err != nil {
			t.Fatal(err)
		}
	}
	commit(admA, "billing", "orders", 0, 0)
	commit(admA, "audit", "payments", 1, 0)
	commit(admB, "audit", "a.payments", 0, 0)

	code, out, errOut := runCmd(t, ctx, "migrate", "plan", "--config", path, "--flow", "a->b")
	if code != exitOK {
		t.Fatalf("migrate plan: exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{
		`(?m)^  = a\.clicks \(from clicks\): 1 partition\(s\), replication factor 1$`,
		`(?m)^  \+ a\.orders \(from orders\): 3 partition\(s\), the broker's default replication factor\n      retention\.ms = "86400000"$`,
		`(?m)^  ~ a\.payments \(from payments\)\n      partitions 1 -> 2\n      retention\.ms = "5000" -> "1000"$`,
		`(?m)^  \+ User:alice ALLOW READ from \* on LITERAL topic "a\.orders"$`,
		`(?m)^  = User:carol ALLOW READ from \* on LITERAL topic "a\.clicks"$`,
		`(?m)^  ~ audit: 1 partition\(s\) on a; 1 already committed on b \(moved forward only\)$`,
		`(?m)^  \+ billing: 1 partition\(s\) on a$`,
		`plan: 2 to create, 1 to change, 2 already there \(topics and ACLs\)\.\nrerun with --apply`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("plan does not match %q:\n%s", re, out)
		}
	}
	if strings.Contains(out, "bob") {
		t.Errorf("the plan copies an ALLOW WRITE ACL:\n%s", out)
	}
	// Nothing changed by a plan.
	if d, _ := admB.ListTopics(ctx, "a.orders"); d["a.orders"].Err == nil {
		t.Fatal("a plan without --apply created a.orders")
	}

	code, out, errOut = runCmd(t, ctx, "migrate", "plan", "--config", path, "--flow", "a->b", "--apply", "--json")
	var res planOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK || res.Applied == nil ||
		*res.Applied != (struct{ TopicsCreated, TopicsGrown, ConfigsSet, ACLsCreated int }{1, 1, 1, 1}) {
		t.Fatalf("migrate plan --apply --json: exit %d, %v, %+v\n%s%s", code, err, res.Applied, out, errOut)
	}
	admB = newAdmin(t, b) // kgo answers metadata from a cache up to 5s old: a new client sees the new topics
	details, err := admB.ListTopics(ctx, "a.orders", "a.payments")
	if err != nil || len(details["a.orders"].Partitions) != 3 || len(details["a.payments"].Partitions) != 2 {
		t.Fatalf("topics on b after --apply: %v, %v", details, err)
	}
	cfgs, err := admB.DescribeTopicConfigs(ctx, "a.orders", "a.payments")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cfgs {
		want := map[string]string{"a.orders": "86400000", "a.payments": "1000"}[rc.Name]
		got := ""
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" && c.Value != nil {
				got = *c.Value
			}
		}
		if got != want {
			t.Errorf("%s retention.ms = %q, want %s", rc.Name, got, want)
		}
	}
	acls, err := admB.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range acls {
		for _, d := range r.Described {
			got = append(got, d.Principal+" "+d.Operation.String()+" "+d.Name)
		}
	}
	slices.Sort(got)
	if want := []string{"User:alice READ a.orders", "User:carol READ a.clicks"}; !slices.Equal(got, want) {
		t.Errorf("ACLs on b after --apply: %v, want %v", got, want)
	}
	// Planned again: nothing left to do.
	if code, out, _ := runCmd(t, ctx, "migrate", "plan", "--config", path, "--flow", "a->b"); code != exitOK ||
		!strings.Contains(out, "plan: 0 to create, 0 to change, 5 already there") {
		t.Errorf("plan after --apply: exit %d\n%s", code, out)
	}
}

func TestMigrate_Errors(t *testing.T) {
	a, b, path := newMigrateClusters(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", []string{"migrate"}, exitUsage, ""},
		{"unknown subcommand", []string{"migrate", "frob"}, exitUsage, `unknown subcommand "frob"`},
		{"plan without config", []string{"migrate", "plan", "--flow", "a->b"}, exitUsage, "--config is required"},
		{"plan without flow", []string{"migrate", "plan", "--config", path}, exitUsage, "--flow is required"},
		{"bad flow", []string{"migrate", "plan", "--config", path, "--flow", "a-b"}, exitUsage, `--flow "a-b" is not SOURCE->TARGET`},
		{"same cluster", []string{"migrate", "plan", "--config", path, "--flow", "a->a"}, exitUsage, "names the same cluster twice"},
		{"no such flow", []string{"migrate", "plan", "--config", path, "--flow", "b->a"}, exitUsage, "has no flow b->a"},
		{"plan timeout", []string{"migrate", "plan", "--config", path, "--flow", "a->b", "--timeout", "0s"}, exitUsage, "--timeout must be positive"},
		{"cutover without group", []string{"migrate", "cutover", "--config", path, "--flow", "a->b"}, exitUsage, "--group is required"},
		{"cutover without config", []string{"migrate", "cutover", "--flow", "a->b", "--group", "g"}, exitUsage, "--config is required"},
		{"cutover without flow", []string{"migrate", "cutover", "--config", path, "--group", "g"}, exitUsage, "--flow is required"},
		{"cutover bad flow", []string{"migrate", "cutover", "--config", path, "--flow", "x", "--group", "g"}, exitUsage, `--flow "x" is not SOURCE->TARGET`},
		{"cutover empty group", []string{"migrate", "cutover", "--config", path, "--flow", "a->b", "--group", ""}, exitUsage, "empty group name"},
		{"negative max lag", []string{"migrate", "cutover", "--config", path, "--flow", "a->b", "--group", "g", "--max-lag", "-1"}, exitUsage, "--max-lag must not be negative"},
		{"cutover timeout", []string{"migrate", "cutover", "--config", path, "--flow", "a->b", "--group", "g", "--timeout", "0s"}, exitUsage, "--timeout must be positive"},
		{"no index yet", []string{"migrate", "cutover", "--config", path, "--flow", "a->b", "--group", "g"}, exitFailure,
			"offset index topic mm2go-offset-index.a.internal not found on b: has a worker replicated a->b yet?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, ctx, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
	// The target refuses to describe the remote topic: the plan says so.
	if _, err := newAdmin(t, a).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	b.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		b.KeepControl()
		req := kreq.(*kmsg.MetadataRequest)
		if len(req.Topics) == 0 {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewMetadataResponseTopic()
			st.Topic, st.ErrorCode = rt.Topic, kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	if code, _, errOut := runCmd(t, ctx, "migrate", "plan", "--config", path, "--flow", "a->b"); code != exitFailure ||
		!strings.Contains(errOut, "mm2go migrate plan: plan: describe remote topics on b: TOPIC_AUTHORIZATION_FAILED") {
		t.Errorf("remote topic not describable: exit %d\n%s", code, errOut)
	}
}

// startWorkerCmd runs `mm2go worker` in a goroutine, with args after the
// flow file; stop cancels it and checks it exited cleanly.
func startWorkerCmd(t *testing.T, path string, args ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var werr syncBuffer
	go func() { done <- run(ctx, append([]string{"worker", "--config", path}, args...), &syncBuffer{}, &werr) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("worker exited %d:\n%s", code, werr.String())
			}
		case <-time.After(60 * time.Second):
			t.Error("worker did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// keyProducer writes records with unique keys to a topic until stopped, and
// remembers the keys the cluster acknowledged.
type keyProducer struct {
	cl     *kgo.Client
	prefix string
	mu     sync.Mutex // guards acked
	acked  []string
	stop   context.CancelFunc
	done   chan struct{}
}

func startKeyProducer(t *testing.T, c *kfake.Cluster, topic, prefix string) *keyProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &keyProducer{cl: cl, prefix: prefix, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for n := 0; ctx.Err() == nil; {
			recs := make([]*kgo.Record, 10)
			for i := range recs {
				k := fmt.Sprintf("%s-%d", prefix, n)
				n++
				recs[i] = &kgo.Record{Key: []byte(k), Value: []byte("v-" + k)}
			}
			res := cl.ProduceSync(context.Background(), recs...)
			p.mu.Lock()
			for _, r := range res {
				if r.Err == nil {
					p.acked = append(p.acked, string(r.Record.Key))
				}
			}
			p.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { p.finish(); cl.Close() })
	return p
}

// finish stops the producer and returns every acknowledged key.
func (p *keyProducer) finish() []string {
	p.stop()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acked)
}

// groupReader consumes a topic as a group in a goroutine, committing exactly
// what it read after each poll, until stopped.
type groupReader struct {
	mu   sync.Mutex // guards read
	read []string
	stop context.CancelFunc
	done chan error
}

func startGroupReader(t *testing.T, c *kfake.Cluster, group, topic string) *groupReader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &groupReader{stop: cancel, done: make(chan error, 1)}
	go func() {
		err := r.consume(ctx, cl)
		// Done only once it left the group: a cut-over run right after
		// finish must find the group without members.
		cl.Close()
		r.done <- err
	}()
	t.Cleanup(func() { r.finish() })
	return r
}

func (r *groupReader) consume(ctx context.Context, cl *kgo.Client) error {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		r.mu.Lock()
		for _, rec := range recs {
			r.read = append(r.read, string(rec.Key))
		}
		r.mu.Unlock()
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := cl.CommitRecords(cctx, recs...)
		ccancel()
		if err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	}
}

func (r *groupReader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.read)
}

// finish stops the reader once its last commit is done and it left the
// group, and returns what it read.
func (r *groupReader) finish() ([]string, error) {
	r.stop()
	err := <-r.done
	r.done <- err // a second finish gets the same
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.read), err
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMigrateCutover_RunningProducerAndConsumer migrates a producer and a
// consumer group from a to b while records keep coming: the consumer stops
// on a, `migrate cutover` moves its group, it goes on on b; the producer
// then moves too. Every record is read once: none lost, none read twice.
func TestMigrateCutover_RunningProducerAndConsumer(t *testing.T) {
	a, b, path := newMigrateClusters(t, "replication.policy.class: IdentityReplicationPolicy")
	ctx := context.Background()
	if _, err := newAdmin(t, a).CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	stopWorker := startWorkerCmd(t, path)
	prodA := startKeyProducer(t, a, "orders", "a")
	onA := startGroupReader(t, a, "billing", "orders")
	waitUntil(t, 30*time.Second, "the consumer on a read 500 records", func() bool { return onA.count() >= 500 })
	readA, err := onA.finish()
	if err != nil {
		t.Fatal(err)
	}

	// The producer still writes to a; the group moves.
	code, out, errOut := runCmd(t, ctx, "migrate", "cutover", "--config", path, "--flow", "a->b", "--group", "billing", "--max-lag", "100000", "--timeout", "2m")
	if code != exitOK {
		t.Fatalf("migrate cutover: exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{
		`(?m)^billing  ready      done     no members on a; \d+ record\(s\) to copy \(at most 100000 allowed\); verified: \d+ record\(s\) of 1 topic\(s\) compared, all equal$`,
		`(?m)^billing  caught-up  done     all 3 partition\(s\) on b and known to the index: the translation is exact$`,
		`(?m)^billing  committed  done     3 partition\(s\) committed on b, 0 already at or past the translation$`,
		`(?m)^    orders\[0\] at \d+ -> orders\[0\] at \d+ \(exact\)$`,
		`billing: moved to b; start its consumers on b now`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("cut-over output does not match %q:\n%s", re, out)
		}
	}
	t.Logf("migrate cutover:\n%s", out)
	onB := startGroupReader(t, b, "billing", "orders")

	// Run again with the consumer on b: every step was recorded.
	code, out, _ = runCmd(t, ctx, "migrate", "cutover", "--config", path, "--flow", "a->b", "--group", "billing", "--json")
	var res cutoverOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK || len(res.Groups) != 1 || !res.Groups[0].Done ||
		len(res.Groups[0].Steps) != 3 || res.Groups[0].Steps[2].Status != "resumed" {
		t.Fatalf("second cut-over: exit %d, %v\n%s", code, err, out)
	}

	// The producer moves: stop it on a, let the copy finish, stop the flow,
	// write on b.
	producedA := prodA.finish()
	waitUntil(t, 60*time.Second, "every record of a copied to b", func() bool {
		ea, err1 := newAdmin(t, a).ListEndOffsets(ctx, "orders")
		eb, err2 := newAdmin(t, b).ListEndOffsets(ctx, "orders")
		if err1 != nil || err2 != nil {
			return false
		}
		same := true
		ea.Each(func(o kadm.ListedOffset) {
			ob, ok := eb.Lookup("orders", o.Partition)
			same = same && ok && ob.Offset == o.Offset
		})
		return same
	})
	stopWorker()
	prodB := startKeyProducer(t, b, "orders", "b")
	waitUntil(t, 30*time.Second, "300 records written on b", func() bool {
		prodB.mu.Lock()
		defer prodB.mu.Unlock()
		return len(prodB.acked) >= 300
	})
	producedB := prodB.finish()
	all := append(slices.Clone(producedA), producedB...)
	want := len(all) - len(readA)
	waitUntil(t, 60*time.Second, fmt.Sprintf("the consumer on b read %d records", want), func() bool { return onB.count() >= want })
	time.Sleep(time.Second) // a record read twice would show up now
	readB, err := onB.finish()
	if err != nil {
		t.Fatal(err)
	}

	seen := make(map[string]int)
	for _, k := range append(slices.Clone(readA), readB...) {
		seen[k]++
	}
	var lost, twice []string
	for _, k := range all {
		switch seen[k] {
		case 0:
			lost = append(lost, k)
		case 1:
		default:
			twice = append(twice, k)
		}
	}
	t.Logf("produced %d on a and %d on b; the group read %d on a and %d on b; lost %d, read twice %d",
		len(producedA), len(producedB), len(readA), len(readB), len(lost), len(twice))
	if len(lost) > 0 || len(twice) > 0 || len(readA)+len(readB) != len(all) {
		t.Errorf("lost %d %v, read twice %d %v; read %d of %d", len(lost), head(lost), len(twice), head(twice), len(readA)+len(readB), len(all))
	}
}

func head(s []string) []string { return s[:min(len(s), 10)] }

// TestMigrateCutover_InterruptedResumedRefused: a dry run changes nothing;
// a group with members on the source is refused; a cut-over that times out
// waiting for the copy resumes after its recorded ready step.
func TestMigrateCutover_InterruptedResumedRefused(t *testing.T) {
	a, b, path := newMigrateClusters(t)
	ctx := context.Background()
	admA := newAdmin(t, a)
	if _, err := admA.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(a.ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produce := func(n int) {
		t.Helper()
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Value: []byte("x")}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(100)
	stopWorker := startWorkerCmd(t, path)
	waitUntil(t, 30*time.Second, "the 100 records copied", func() bool {
		ends, err := newAdmin(t, b).ListEndOffsets(ctx, "a.orders")
		o, _ := ends.Lookup("a.orders", 0)
		return err == nil && o.Offset == 100
	})
	stopWorker() // a graceful stop commits: the index knows all 100
	produce(50)  // not copied: no worker runs
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 120, LeaderEpoch: -1})
	if err := admA.CommitAllOffsets(ctx, "billing", os); err != nil {
		t.Fatal(err)
	}
	cutover := func(args ...string) (int, string, string) {
		return runCmd(t, ctx, append([]string{"migrate", "cutover", "--config", path, "--flow", "a->b", "--group", "billing"}, args...)...)
	}

	// Not ready: 50 records to copy, at most 10 allowed.
	if code, out, _ := cutover("--max-lag", "10"); code != exitFailure ||
		!strings.Contains(out, "billing: not moved: cut over group billing: ready: not ready for cut-over: 50 record(s) of group billing's partitions are not on b yet, more than the 10 allowed") {
		t.Errorf("lag over --max-lag: exit %d\n%s", code, out)
	}
	// A dry run says what it would do.
	code, out, errOut := cutover("--dry-run")
	if code != exitOK || !strings.Contains(out, "billing  ready      dry-run  no members on a; 50 record(s) to copy") ||
		!strings.Contains(out, "billing  caught-up  dry-run  0 of 1 partition(s) translate exactly now; would wait for the rest") ||
		!strings.Contains(out, "billing  committed  dry-run  would commit the exact offsets into group billing on b") ||
		!strings.Contains(out, "billing: dry run; rerun without --dry-run to move it") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	// A member on a: refused.
	member, err := kgo.NewClient(kgo.SeedBrokers(a.ListenAddrs()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.DisableAutoCommit(), kgo.ClientID("still-on-a"))
	if err != nil {
		t.Fatal(err)
	}
	waitGroupState(t, admA, "billing", "Stable")
	if code, out, errOut := cutover(); code != exitFailure ||
		!strings.Contains(out, "group billing is active on a (state Stable, 1 member(s): ") || !strings.Contains(out, "still-on-a") ||
		!strings.Contains(errOut, "stop its consumers on a first") {
		t.Errorf("member on a: exit %d\n%s%s", code, out, errOut)
	}
	member.Close()
	waitGroupState(t, admA, "billing", "Empty")

	// The copy does not catch up (no worker): the cut-over waits, and is
	// interrupted (Ctrl-C) while it does.
	ictx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	stdout := &triggerWriter{on: "billing  caught-up  waiting", fire: interrupt}
	var stderr bytes.Buffer
	code = run(ictx, []string{"migrate", "cutover", "--config", path, "--flow", "a->b", "--group", "billing"}, stdout, &stderr)
	out, errOut = stdout.String(), stderr.String()
	if code != exitFailure || !strings.Contains(out, "billing  ready      done") ||
		!regexp.MustCompile(`billing  caught-up  waiting  0 of 1 partition\(s\) exact; 50 record\(s\) still to copy, 0 copied but not yet in the index; waiting`).MatchString(out) ||
		!strings.Contains(errOut, "interrupted while waiting for the copy (0 of 1 partition(s) exact): context canceled; run the cut-over again to resume") {
		t.Fatalf("interrupted cut-over: exit %d\n%s%s", code, out, errOut)
	}
	if got, _ := newAdmin(t, b).FetchOffsets(ctx, "billing"); len(got) != 0 {
		t.Fatalf("an interrupted cut-over committed %v", got)
	}
	// The copy goes on: the cut-over resumes after its ready step.
	startWorkerCmd(t, path)
	code, out, errOut = cutover("--timeout", "1m")
	if code != exitOK || !regexp.MustCompile(`billing  ready      resumed  no members on a; 50 record\(s\) to copy .* \(recorded \d{4}-`).MatchString(out) ||
		!strings.Contains(out, "billing  caught-up  done") || !strings.Contains(out, "billing  committed  done     1 partition(s) committed on b") {
		t.Fatalf("resumed cut-over: exit %d\n%s%s", code, out, errOut)
	}
	got, err := newAdmin(t, b).FetchOffsets(ctx, "billing")
	if o, _ := got.Lookup("a.orders", 0); err != nil || o.At != 120 {
		t.Fatalf("billing on b: %+v, %v; want 120", o, err)
	}
}

// triggerWriter collects output and calls fire once the output contains on.
type triggerWriter struct {
	syncBuffer
	on    string
	fire  func()
	fired bool
}

func (w *triggerWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if !w.fired && strings.Contains(w.String(), w.on) {
		w.fired = true
		w.fire()
	}
	return n, err
}

// TestMigrateCutover_VerifyRefuses: a copy that differs from its source is
// not ready for a cut-over, unless --no-verify.
func TestMigrateCutover_VerifyRefuses(t *testing.T) {
	a, b, path := newMigrateClusters(t)
	ctx := context.Background()
	if _, err := newAdmin(t, a).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cluster *kfake.Cluster
		topic   string
		n       int
	}{{a, "orders", 10}} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.cluster.ListenAddrs()...), kgo.DefaultProduceTopic(c.topic))
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}
	stopWorker := startWorkerCmd(t, path)
	waitUntil(t, 30*time.Second, "the 10 records copied", func() bool {
		ends, err := newAdmin(t, b).ListEndOffsets(ctx, "a.orders")
		o, _ := ends.Lookup("a.orders", 0)
		return err == nil && o.Offset == 10
	})
	stopWorker()
	// Someone deleted the first 5 copies on b.
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "a.orders", Partition: 0, At: 5})
	if resp, err := newAdmin(t, b).DeleteRecords(ctx, del); err != nil || resp.Error() != nil {
		t.Fatalf("delete records: %v, %v", err, resp.Error())
	}
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 10, LeaderEpoch: -1})
	if err := newAdmin(t, a).CommitAllOffsets(ctx, "billing", os); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, ctx, "migrate", "cutover", "--config", path, "--flow", "a->b", "--group", "billing")
	if code != exitFailure || !strings.Contains(out, "not ready for cut-over: verify: the copy of group billing's topics differs: 5 missing, 0 differing, 0 extra") {
		t.Fatalf("cut-over of a copy that differs: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, ctx, "migrate", "cutover", "--config", path, "--flow", "a->b", "--group", "billing", "--no-verify")
	if code != exitOK || !strings.Contains(out, "copy not verified (no verify check)") {
		t.Fatalf("--no-verify: exit %d\n%s%s", code, out, errOut)
	}
}
