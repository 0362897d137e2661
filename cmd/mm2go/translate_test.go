package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/flows"
)

// translateSetup is two fake clusters a and b and a flow file with the flow
// a->b (and a disabled b->a). Topic orders on a has 2 partitions of 20
// records each, written in transactions of 5, so that commit markers sit at
// offsets 5, 11, 17 and 23 and the end is 24; the copy on b has offsets
// 0..19. Group billing has committed offset 8 of partition 0 (the record 7,
// copied at 7) and 24 of partition 1 (past the last marker: read
// everything, resumes at 20 on b); group audit offset 3 of partition 0.
type translateSetup struct {
	a, b *kfake.Cluster
	path string
}

func newTranslateSetup(t *testing.T) *translateSetup {
	t.Helper()
	s := &translateSetup{}
	var err error
	for _, c := range []struct {
		dst **kfake.Cluster
		id  string
	}{{&s.a, "a"}, {&s.b, "b"}} {
		if *c.dst, err = kfake.NewCluster(kfake.ClusterID(c.id), kfake.NumBrokers(1)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup((*c.dst).Close)
	}
	ctx := context.Background()
	src := s.client(t, s.a, kgo.TransactionalID("orders-producer"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(src).CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for txn := range 4 {
		if err := src.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := range int32(2) {
			for i := range 5 {
				r := &kgo.Record{Topic: "orders", Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, txn*5+i))}
				if err := src.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := src.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(group string, offs map[int32]int64) {
		var os kadm.Offsets
		for p, o := range offs {
			os.Add(kadm.Offset{Topic: "orders", Partition: p, At: o, LeaderEpoch: -1, Metadata: group + "-meta"})
		}
		if err := kadm.NewClient(s.client(t, s.a)).CommitAllOffsets(ctx, group, os); err != nil {
			t.Fatal(err)
		}
	}
	commit("billing", map[int32]int64{0: 8, 1: 24})
	commit("audit", map[int32]int64{0: 3})

	s.path = filepath.Join(t.TempDir(), "flows.yaml")
	yaml := "clusters:\n" +
		"  a:\n    bootstrap_servers: [" + strings.Join(s.a.ListenAddrs(), ",") + "]\n" +
		"  b:\n    bootstrap_servers: [" + strings.Join(s.b.ListenAddrs(), ",") + "]\n" +
		"settings:\n  refresh.topics.interval.seconds: 1\n  refresh.groups.interval.seconds: 1\n" +
		"  emit.checkpoints.interval.seconds: 1\n  offset.flush.interval.ms: 200\n" +
		"flows:\n  - source: a\n    target: b\n  - source: b\n    target: a\n    enabled: false\n"
	if err := os.WriteFile(s.path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *translateSetup) client(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// replicate runs the worker subcommand until the index knows every record
// of orders (and until each of also holds), then stops it: translate-offsets
// then works with no worker.
func (s *translateSetup) replicate(t *testing.T, also ...func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var werr bytes.Buffer
	go func() { done <- run(ctx, []string{"worker", "--config", s.path}, &bytes.Buffer{}, &werr) }()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Fatalf("worker exited %d:\n%s", code, werr.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatal("worker did not stop")
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out, _ := runCmd(t, context.Background(), "translate-offsets", "--config", s.path, "--source", "a", "--target", "b", "--group", "billing", "--json")
		var res translateOutput
		if code == exitOK && json.Unmarshal([]byte(out), &res) == nil && len(res.Groups) == 1 && len(res.Groups[0].Partitions) == 2 &&
			res.Groups[0].Partitions[0].Exact && res.Groups[0].Partitions[1].Exact && all(also) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the index did not catch up; last output:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func all(conds []func() bool) bool {
	for _, c := range conds {
		if !c() {
			return false
		}
	}
	return true
}

func (s *translateSetup) translate(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCmd(t, context.Background(), append([]string{"translate-offsets", "--config", s.path, "--source", "a", "--target", "b"}, args...)...)
}

func (s *translateSetup) targetOffsets(t *testing.T, group string) map[int32]int64 {
	t.Helper()
	got, err := kadm.NewClient(s.client(t, s.b)).FetchOffsets(context.Background(), group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int32]int64)
	got.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
	return out
}

func TestTranslate_TableJSONAndApply(t *testing.T) {
	s := newTranslateSetup(t)
	s.replicate(t)

	// The table, for people.
	code, out, errOut := s.translate(t, "--group", "billing")
	if code != exitOK {
		t.Fatalf("translate-offsets: exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{
		`GROUP +TOPIC +PARTITION +SOURCE OFFSET +TARGET TOPIC +TARGET OFFSET +EXACT +LAG +NOTE`,
		`\nbilling +orders +0 +8 +a\.orders +7 +yes +0 *\n`,
		`\nbilling +orders +1 +24 +a\.orders +20 +yes +0 *\n`,
		`billing: dry run; rerun with --apply to commit on b`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table does not match %q:\n%s", re, out)
		}
	}
	if got := s.targetOffsets(t, "billing"); len(got) != 0 {
		t.Fatalf("a dry run committed %v", got)
	}

	// JSON, for scripts; several groups by regular expression, with
	// progress on stderr.
	code, out, errOut = s.translate(t, "--groups", "bill.*|audit", "--json")
	if code != exitOK {
		t.Fatalf("translate-offsets --json: exit %d\n%s%s", code, out, errOut)
	}
	var res translateOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	want := translateOutput{Source: "a", Target: "b", Basis: "source-commits", SourceReachable: true, Groups: []translateGroup{
		{Group: "audit", Partitions: []translatePartition{
			{SourceTopic: "orders", TargetTopic: "a.orders", Partition: 0, SourceOffset: 3, TargetOffset: 3, Exact: true, Lag: 0, Metadata: "audit-meta"},
		}},
		{Group: "billing", Partitions: []translatePartition{
			{SourceTopic: "orders", TargetTopic: "a.orders", Partition: 0, SourceOffset: 8, TargetOffset: 7, Exact: true, Lag: 0, Metadata: "billing-meta"},
			{SourceTopic: "orders", TargetTopic: "a.orders", Partition: 1, SourceOffset: 24, TargetOffset: 20, Exact: true, Lag: 0, Metadata: "billing-meta"},
		}},
	}}
	if fmt.Sprintf("%+v", res) != fmt.Sprintf("%+v", want) {
		t.Errorf("--json =\n%+v\nwant\n%+v", res, want)
	}
	if !strings.Contains(errOut, "[1/2] audit\n[2/2] billing\n") {
		t.Errorf("no progress on stderr for two groups:\n%s", errOut)
	}

	// --apply is refused while the group has a member on the target.
	member, err := kgo.NewClient(kgo.SeedBrokers(s.b.ListenAddrs()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("a.orders"),
		kgo.DisableAutoCommit(), kgo.ClientID("still-running"))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(s.client(t, s.b))
	waitState := func(state string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; {
			if d, err := adm.DescribeGroups(context.Background(), "billing"); err == nil && d["billing"].State == state {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("group billing on b never reached state %s", state)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitState("Stable")
	code, out, errOut = s.translate(t, "--group", "billing", "--apply")
	if code != exitFailure || !strings.Contains(errOut, "group billing is active on the target (state Stable, 1 member(s): ") ||
		!strings.Contains(errOut, "(client still-running from ") || !strings.Contains(out, "billing: group billing is active") {
		t.Fatalf("--apply with an active member: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := s.targetOffsets(t, "billing"); len(got) != 0 {
		t.Fatalf("--apply on an active group committed %v", got)
	}

	// Once the consumer is gone, --apply commits.
	member.Close()
	waitState("Empty")
	code, out, errOut = s.translate(t, "--group", "billing", "--apply")
	if code != exitOK || !regexp.MustCompile(`\nbilling +orders +0 +8 +a\.orders +7 +yes +0 +committed`).MatchString(out) ||
		!strings.Contains(out, "billing: 2 partition(s) committed on b, 0 skipped") {
		t.Fatalf("--apply: exit %d\n%s%s", code, out, errOut)
	}
	if got := s.targetOffsets(t, "billing"); got[0] != 7 || got[1] != 20 {
		t.Fatalf("target offsets of billing after --apply = %v, want 7 and 20", got)
	}
	// Again: nothing is behind, nothing is written, and the JSON says why.
	code, out, _ = s.translate(t, "--group", "billing", "--apply", "--json")
	if err := json.Unmarshal([]byte(out), &res); code != exitOK || err != nil || !res.Apply || !res.Groups[0].Applied ||
		res.Groups[0].Committed != 0 || res.Groups[0].Skipped != 2 ||
		!strings.HasPrefix(res.Groups[0].Partitions[0].Commit, "skipped: target offset at or past") ||
		res.Groups[0].Partitions[0].PreviousTargetOffset == nil || *res.Groups[0].Partitions[0].PreviousTargetOffset != 7 {
		t.Fatalf("second --apply: exit %d, %v\n%s", code, err, out)
	}
}

func TestTranslate_Errors(t *testing.T) {
	s := newTranslateSetup(t)
	s.replicate(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no config", []string{"translate-offsets", "--source", "a", "--target", "b", "--group", "g"}, exitUsage, "--config is required"},
		{"no source", []string{"translate-offsets", "--config", s.path, "--target", "b", "--group", "g"}, exitUsage, "--source and --target are required"},
		{"same cluster", []string{"translate-offsets", "--config", s.path, "--source", "a", "--target", "a", "--group", "g"}, exitUsage, "name the same cluster"},
		{"no group", []string{"translate-offsets", "--config", s.path, "--source", "a", "--target", "b"}, exitUsage, "exactly one of --group and --groups"},
		{"both group flags", []string{"translate-offsets", "--config", s.path, "--source", "a", "--target", "b", "--group", "g", "--groups", "g"}, exitUsage, "exactly one of"},
		{"bad regex", []string{"translate-offsets", "--config", s.path, "--source", "a", "--target", "b", "--groups", "(x"}, exitUsage, "--groups: error parsing regexp"},
		{"bad timeout", []string{"translate-offsets", "--config", s.path, "--source", "a", "--target", "b", "--group", "g", "--timeout", "0s"}, exitUsage, "--timeout must be positive"},
		{"unknown flag", []string{"translate-offsets", "--frobnicate"}, exitUsage, "frobnicate"},
		{"extra argument", []string{"translate-offsets", "--config", s.path, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"missing file", []string{"translate-offsets", "--config", filepath.Join(t.TempDir(), "none.yaml"), "--source", "a", "--target", "b", "--group", "g"}, exitUsage, "none.yaml"},
		{"unknown alias", []string{"translate-offsets", "--config", s.path, "--source", "c", "--target", "b", "--group", "g"}, exitUsage, `cluster "c" is not in ` + s.path + " (its clusters: a, b)"},
		{"unknown group", []string{"translate-offsets", "--config", s.path, "--source", "a", "--target", "b", "--group", "nobody"}, exitFailure, "group nobody has no committed offsets on a (is the name right?)"},
		{"no matching group", []string{"translate-offsets", "--config", s.path, "--source", "a", "--target", "b", "--groups", "zz.*"}, exitFailure, `no consumer group on a matches --groups "zz.*"`},
		{"no index yet", []string{"translate-offsets", "--config", s.path, "--source", "b", "--target", "a", "--group", "billing"}, exitFailure,
			"offset index topic mm2go-offset-index.b.internal not found on a: has a worker replicated b->a yet?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, context.Background(), tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}

	// A flow file without the flow.
	noFlow := filepath.Join(t.TempDir(), "flows.yaml")
	yaml := "clusters:\n  a:\n    bootstrap_servers: [" + strings.Join(s.a.ListenAddrs(), ",") + "]\n" +
		"  b:\n    bootstrap_servers: [" + strings.Join(s.b.ListenAddrs(), ",") + "]\n" +
		"  c:\n    bootstrap_servers: [localhost:1]\nflows:\n  - source: a\n    target: b\n"
	if err := os.WriteFile(noFlow, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, context.Background(), "translate-offsets", "--config", noFlow, "--source", "a", "--target", "c", "--group", "g"); code != exitUsage ||
		!strings.Contains(errOut, "has no flow a->c") {
		t.Errorf("no such flow: exit %d\n%s", code, errOut)
	}

	// A cluster whose client options cannot be built (a CA file that is
	// gone): the flow file is valid, the clients are not.
	badTLS := filepath.Join(t.TempDir(), "tls.yaml")
	yaml = "clusters:\n  a:\n    bootstrap_servers: [localhost:1]\n    security_protocol: SSL\n    tls: {ca_file: /nonexistent/ca.pem}\n" +
		"  b:\n    bootstrap_servers: [localhost:2]\nflows:\n  - source: a\n    target: b\n"
	if err := os.WriteFile(badTLS, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, context.Background(), "translate-offsets", "--config", badTLS, "--source", "a", "--target", "b", "--group", "g"); code != exitUsage ||
		!strings.Contains(errOut, "clusters.a.tls.ca_file: read CA file") {
		t.Errorf("unreadable CA file: exit %d\n%s", code, errOut)
	}

	// Output that cannot be written.
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"translate-offsets", "--config", s.path, "--source", "a", "--target", "b", "--group", "billing", "--json"},
		failingWriter{}, &errb); code != exitFailure || !strings.Contains(errb.String(), "stdout is gone") {
		t.Errorf("unwritable stdout: exit %d\n%s", code, errb.String())
	}

	// The source cannot list groups.
	s.a.ControlKey(int16(kmsg.ListGroups), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		s.a.KeepControl()
		resp := kreq.ResponseKind().(*kmsg.ListGroupsResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil, true
	})
	if code, _, errOut := s.translate(t, "--groups", ".*"); code != exitFailure || !strings.Contains(errOut, "list groups on a: ") {
		t.Errorf("groups cannot be listed: exit %d\n%s", code, errOut)
	}

	// The source cannot be read (billing's partitions end with a commit
	// marker, which its lag and translation look at).
	s.a.ControlKey(int16(kmsg.Fetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		s.a.KeepControl()
		req := kreq.(*kmsg.FetchRequest)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	if code, out, errOut := s.translate(t, "--group", "billing"); code != exitFailure ||
		!strings.Contains(errOut, "translate group billing: read orders[0] on the source: ") || !strings.Contains(out, "billing: translate group billing") {
		t.Errorf("source unreadable: exit %d\n%s%s", code, out, errOut)
	}

	// The index cannot be read.
	s.b.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		s.b.KeepControl()
		return nil, errors.New("connection dropped"), true
	})
	if code, _, errOut := s.translate(t, "--group", "billing", "--timeout", "3s"); code != exitFailure ||
		!strings.Contains(errOut, "read offset index mm2go-offset-index.a.internal on b: ") {
		t.Errorf("index unreadable: exit %d\n%s", code, errOut)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout is gone") }

func TestTranslateEnv_Clients(t *testing.T) {
	bad := []kgo.Opt{kgo.ClientID(strings.Repeat("x", 257))}
	for _, env := range []*flowEnv{
		{source: clusterOpts{alias: "a", opts: flows.ClientOptions{Common: bad}}},
		{source: clusterOpts{alias: "a"}, target: clusterOpts{alias: "b", opts: flows.ClientOptions{Admin: bad}}},
	} {
		src, tgt, err := env.clients()
		if err == nil || src != nil || tgt != nil || !strings.HasPrefix(err.Error(), "client for cluster ") {
			t.Errorf("clients() = %v, %v, %v; want an error naming the cluster", src, tgt, err)
		}
	}
}
