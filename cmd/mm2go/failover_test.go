package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/offsets"
)

// checkpointsAt returns a condition: group's checkpoints in
// a.checkpoints.internal on b carry exactly the upstream offsets want, by
// partition of a.orders.
func (s *translateSetup) checkpointsAt(t *testing.T, group string, want map[int32]int64) func() bool {
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cps, _, err := offsets.ReadCheckpoints(ctx, []kgo.Opt{kgo.SeedBrokers(s.b.ListenAddrs()...)}, "a.checkpoints.internal", group)
		if err != nil || len(cps) != len(want) {
			return false
		}
		for p, up := range want {
			if cp, ok := cps[offsets.TopicPartition{Topic: "a.orders", Partition: p}]; !ok || cp.UpstreamOffset != up {
				return false
			}
		}
		return true
	}
}

// TestTranslate_SourceDown translates and applies with the source cluster
// gone: from the groups' checkpoints and the index on the target, with the
// same offsets the source gave while it was up.
func TestTranslate_SourceDown(t *testing.T) {
	s := newTranslateSetup(t)
	s.replicate(t, s.checkpointsAt(t, "billing", map[int32]int64{0: 8, 1: 24}), s.checkpointsAt(t, "audit", map[int32]int64{0: 3}))

	decode := func(out string) translateOutput {
		t.Helper()
		var res translateOutput
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("--json output: %v\n%s", err, out)
		}
		return res
	}
	offsetsOf := func(res translateOutput) map[string]int64 {
		got := make(map[string]int64)
		for _, g := range res.Groups {
			for _, p := range g.Partitions {
				if !p.Exact {
					t.Errorf("%s %s[%d] not exact: %+v", g.Group, p.TargetTopic, p.Partition, p)
				}
				got[g.Group+"/"+p.SourceTopic+"/"+string(rune('0'+p.Partition))] = p.TargetOffset
			}
		}
		return got
	}

	// While the source is up: its commits, and the same from the target
	// alone with --from-target.
	code, out, errOut := s.translate(t, "--groups", ".*", "--json")
	if code != exitOK {
		t.Fatalf("translate-offsets: exit %d\n%s%s", code, out, errOut)
	}
	right := offsetsOf(decode(out))
	if len(right) != 3 || right["billing/orders/0"] != 7 || right["billing/orders/1"] != 20 || right["audit/orders/0"] != 3 {
		t.Fatalf("offsets with the source up: %v", right)
	}
	code, out, errOut = s.translate(t, "--groups", ".*", "--json", "--from-target")
	res := decode(out)
	if code != exitOK || res.Basis != "checkpoints" || res.SourceReachable || res.SourceError != "not asked (--from-target)" ||
		res.CheckpointsTopic != "a.checkpoints.internal" {
		t.Fatalf("--from-target: exit %d, %+v\n%s", code, res, errOut)
	}
	if got := offsetsOf(res); len(got) != len(right) || got["billing/orders/0"] != 7 || got["billing/orders/1"] != 20 || got["audit/orders/0"] != 3 {
		t.Errorf("--from-target offsets %v, want %v", got, right)
	}
	// A flow whose checkpoints topic does not exist.
	if code, _, errOut := runCmd(t, context.Background(), "translate-offsets", "--config", s.path, "--source", "b", "--target", "a", "--group", "g", "--from-target"); code != exitFailure ||
		!strings.Contains(errOut, "checkpoints topic b.checkpoints.internal not found on a: no checkpoint connector of b->a has written one") {
		t.Errorf("no checkpoints topic: exit %d\n%s", code, errOut)
	}

	// The source dies.
	s.a.Close()
	began := time.Now()
	code, out, errOut = s.translate(t, "--group", "billing", "--json")
	res = decode(out)
	if code != exitOK || res.Basis != "checkpoints" || res.SourceReachable || !strings.Contains(res.SourceError, "connection refused") ||
		!strings.Contains(errOut, "source a does not answer (cluster unreachable: ") {
		t.Fatalf("source down: exit %d, %+v\nstderr:\n%s", code, res, errOut)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Errorf("translate-offsets with the source down took %v", took)
	}
	p1 := res.Groups[0].Partitions[1]
	if got := offsetsOf(res); got["billing/orders/0"] != 7 || got["billing/orders/1"] != 20 ||
		p1.NotOnTarget != 1 || p1.CheckpointAgeSeconds == nil || p1.CheckpointTime == nil || len(p1.Notes) != 1 ||
		!strings.Contains(p1.Notes[0], "1 offset(s) between the last copied record and the group's offset are not on the target") {
		t.Errorf("source down: %v, partition 1 %+v", got, p1)
	}
	// The table says where the offsets come from and how old they are.
	code, out, _ = s.translate(t, "--groups", ".*")
	for _, re := range []string{
		`basis: checkpoints in a\.checkpoints\.internal on b \+ offset index \(source a not asked: cluster unreachable: .*connection refused`,
		`GROUP +TOPIC +PARTITION +SOURCE OFFSET +TARGET TOPIC +TARGET OFFSET +EXACT +LAG +CHECKPOINT AGE +NOTE`,
		`\naudit +orders +0 +3 +a\.orders +3 +yes +\? +\d+s *\n`,
		`\nbilling +orders +0 +8 +a\.orders +7 +yes +\? +\d+s *\n`,
		`\nbilling +orders +1 +24 +a\.orders +20 +yes +\? +\d+s +1 offset\(s\) between`,
		`commits made on a after the last checkpoint cycle are not known`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table (exit %d) does not match %q:\n%s", code, re, out)
		}
	}
	// A group with no checkpoint cannot be translated without the source.
	if code, _, errOut := s.translate(t, "--group", "nobody"); code != exitFailure ||
		!strings.Contains(errOut, "group nobody has no checkpoints in a.checkpoints.internal on b: the checkpoint connector never saw it commit on a replicated topic, so without a there is nothing to translate it from") {
		t.Errorf("no checkpoint: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := s.translate(t, "--groups", "zz.*", "--from-target"); code != exitFailure ||
		!strings.Contains(errOut, `no group with checkpoints in a.checkpoints.internal on b matches --groups "zz.*"`) {
		t.Errorf("no matching group: exit %d\n%s", code, errOut)
	}

	// --apply: refused while billing has a member on b, then exact.
	member, err := kgo.NewClient(kgo.SeedBrokers(s.b.ListenAddrs()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("a.orders"),
		kgo.DisableAutoCommit(), kgo.ClientID("early-bird"))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(s.client(t, s.b))
	waitGroupState(t, adm, "billing", "Stable")
	if code, _, errOut := s.translate(t, "--group", "billing", "--apply", "--from-target"); code != exitFailure ||
		!strings.Contains(errOut, "group billing is active on the target (state Stable, 1 member(s): ") || !strings.Contains(errOut, "early-bird") {
		t.Fatalf("--apply with a member: exit %d\n%s", code, errOut)
	}
	if got := s.targetOffsets(t, "billing"); len(got) != 0 {
		t.Fatalf("--apply on an active group committed %v", got)
	}
	member.Close()
	waitGroupState(t, adm, "billing", "Empty")
	code, out, errOut = s.translate(t, "--group", "billing", "--apply")
	if code != exitOK || !strings.Contains(out, "billing: 2 partition(s) committed on b, 0 skipped") {
		t.Fatalf("--apply with the source down: exit %d\n%s%s", code, out, errOut)
	}
	if got := s.targetOffsets(t, "billing"); got[0] != 7 || got[1] != 20 {
		t.Fatalf("billing on b after --apply = %v, want 7 and 20", got)
	}
}

func waitGroupState(t *testing.T, adm *kadm.Client, group, state string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if d, err := adm.DescribeGroups(context.Background(), group); err == nil && d[group].State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never reached state %s", group, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTranslate_FailBack moves a group that consumed the copies on b after a
// failover back to a, with the index of a->b in reverse.
func TestTranslate_FailBack(t *testing.T) {
	s := newTranslateSetup(t)
	s.replicate(t)
	ctx := context.Background()
	// On b, group back read a.orders[0] up to the copy of orders[0]@13
	// (target 11) and all of a.orders[1].
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "a.orders", Partition: 0, At: 12, LeaderEpoch: -1, Metadata: "on-b"})
	os.Add(kadm.Offset{Topic: "a.orders", Partition: 1, At: 20, LeaderEpoch: -1})
	if err := kadm.NewClient(s.client(t, s.b)).CommitAllOffsets(ctx, "back", os); err != nil {
		t.Fatal(err)
	}
	failBack := func(args ...string) (int, string, string) {
		return runCmd(t, ctx, append([]string{"translate-offsets", "--config", s.path, "--source", "b", "--target", "a", "--fail-back"}, args...)...)
	}
	code, out, errOut := failBack("--group", "back")
	for _, re := range []string{
		`basis: committed offsets on b \+ offset index of a->b in reverse \(fail-back\)`,
		// Target 12 is the copy of orders[0]@14 (markers at 5 and 11).
		`\nback +a\.orders +0 +12 +orders +14 +yes +\? *\n`,
		// Everything read: after the last record, at the last marker.
		`\nback +a\.orders +1 +20 +orders +23 +yes +\? *\n`,
		`back: dry run; rerun with --apply to commit on a`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("--fail-back table (exit %d) does not match %q:\n%s%s", code, re, out, errOut)
		}
	}
	code, out, errOut = failBack("--group", "back", "--apply", "--json")
	var res translateOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK || res.Basis != "target-commits" || !res.Groups[0].Applied ||
		res.Groups[0].Committed != 2 {
		t.Fatalf("--fail-back --apply: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	got, err := kadm.NewClient(s.client(t, s.a)).FetchOffsets(ctx, "back")
	if err != nil {
		t.Fatal(err)
	}
	if o0, _ := got.Lookup("orders", 0); o0.At != 14 || o0.Metadata != "on-b" {
		t.Errorf("back on a: orders[0] at %+v, want 14", o0)
	}
	if o1, _ := got.Lookup("orders", 1); o1.At != 23 {
		t.Errorf("back on a: orders[1] at %+v, want 23", o1)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"with --from-target", []string{"--group", "back", "--from-target"}, exitUsage, "--fail-back and --from-target do not go together"},
		{"unknown group", []string{"--group", "nobody"}, exitFailure, "group nobody has no committed offsets on b (is the name right?)"},
		{"no matching group", []string{"--groups", "zz.*"}, exitFailure, `no consumer group on b matches --groups "zz.*"`},
	} {
		if code, _, errOut := failBack(tc.args...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, want %d; stderr does not say %q:\n%s", tc.name, code, tc.code, tc.want, errOut)
		}
	}
	// No flow b->a ever ran: nothing on a came from b.
	if code, _, errOut := runCmd(t, ctx, "translate-offsets", "--config", s.path, "--source", "a", "--target", "b", "--fail-back", "--group", "billing"); code != exitFailure ||
		!strings.Contains(errOut, "offset index topic mm2go-offset-index.b.internal not found on a: no worker replicated b->a") {
		t.Errorf("fail-back without an index: exit %d\n%s", code, errOut)
	}
	// The cluster the groups consume on is down.
	s.b.Close()
	if code, _, errOut := failBack("--group", "back"); code != exitFailure || !strings.Contains(errOut, "cluster b, where the groups consume now, does not answer: ") {
		t.Errorf("fail-back with b down: exit %d\n%s", code, errOut)
	}
}

// TestTranslationNotes: what the table says is not known.
func TestTranslationNotes(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    offsets.PartitionTranslation
		want string
	}{
		{"exact, index caught up", offsets.PartitionTranslation{Exact: true, Lag: 0}, ""},
		{"exact, index behind: lag counted", offsets.PartitionTranslation{Exact: true, Lag: 0, IndexBehind: 7},
			"lag counts 7 record(s) on the target the index does not know yet one for one"},
		{"inexact, index behind", offsets.PartitionTranslation{Lag: 3, IndexBehind: 7},
			"the index does not know the last 7 record(s) on the target yet (it learns at each source-offset commit, offset.flush.interval.ms): up to 7 may be read again"},
		{"past the source's end", offsets.PartitionTranslation{SourceOffset: 150, PastSourceEnd: true, IndexBehind: 7},
			"the group's offset 150 is past the end of the source partition (topic re-created or truncated, or the offset set by hand): it resumes after the last copied record"},
		{"the checkpoint's own", offsets.PartitionTranslation{FromCheckpoint: true, Basis: offsets.BasisCheckpoints, Lag: -1},
			"the checkpoint's own translation (records copied before mm2go's index): up to offset.lag.max records may be read again"},
		{"markers or lost records", offsets.PartitionTranslation{Exact: true, Basis: offsets.BasisCheckpoints, Lag: -1, NotOnTarget: 2},
			"2 offset(s) between the last copied record and the group's offset are not on the target: transaction markers, or records read on a that were never copied"},
		{"fail-back past the copies", offsets.PartitionTranslation{SourceTopic: "a.t", Basis: offsets.BasisTargetCommits, Lag: -1},
			"the group read records of a.t past the last one the index knows was copied (written on a after the failover, or copied after the index's last update): it resumes on b after the last copied record"},
	} {
		if got := strings.Join(translationNotes(tc.t, "a", "b"), "; "); got != tc.want {
			t.Errorf("%s: notes %q\nwant %q", tc.name, got, tc.want)
		}
	}
	var out strings.Builder
	printTranslations(&out, translateOutput{Source: "a", Target: "b", Basis: "source-commits", Groups: []translateGroup{{Group: "g", Partitions: []translatePartition{
		{SourceTopic: "t", TargetTopic: "a.t", SourceOffset: 5, TargetOffset: 5, Exact: true, Lag: 0, IndexBehind: 7},
	}}}})
	if !regexp.MustCompile(`\ng +t +0 +5 +a\.t +5 +yes +~0 `).MatchString(out.String()) {
		t.Errorf("a lag counted past the index is not marked:\n%s", out.String())
	}
}
