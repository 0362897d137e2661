package offsets

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func (e *translateEnv) cutoverRequest(groups ...string) CutoverRequest {
	return CutoverRequest{Source: e.src, Target: e.tgt, SourceAlias: "A", TargetAlias: "B", RemoteTopic: dotRemote,
		Groups: groups, MaxLag: 10, PollInterval: 50 * time.Millisecond}
}

// cutoverSteps reads the cut-over topic on B: the last record of each
// group/step key, tombstones removing.
func (e *translateEnv) cutoverSteps(t *testing.T) map[string]CutoverRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := loadCutoverRecords(ctx, e.tgt.Opts(), CutoverTopic("A"), []string{"g", "ahead", "busy"})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]CutoverRecord)
	for g, steps := range recs {
		for s, r := range steps {
			out[g+"/"+string(s)] = r
		}
	}
	return out
}

func statuses(gc GroupCutover) string {
	var parts []string
	for _, ev := range gc.Steps {
		parts = append(parts, string(ev.Step)+"="+string(ev.Status))
	}
	return strings.Join(parts, " ")
}

func TestCutover(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e.commit(t, e.src, "g", kadm.Offset{Topic: "t", Partition: 0, At: 50, LeaderEpoch: -1, Metadata: "m"})

	// A dry run checks and says, and neither records nor commits.
	var events []CutoverEvent
	req := e.cutoverRequest("g")
	req.DryRun, req.Progress = true, func(ev CutoverEvent) { events = append(events, ev) }
	res, err := Cutover(ctx, req)
	if err != nil || len(res) != 1 || statuses(res[0]) != "ready=dry-run caught-up=dry-run committed=dry-run" || len(events) != 3 {
		t.Fatalf("dry run = %+v, %v; events %+v", res, err, events)
	}
	if !strings.Contains(res[0].Steps[0].Detail, "no members on A; 10 record(s) to copy (at most 10 allowed); copy not verified") ||
		res[0].Steps[1].Detail != "all 1 partition(s) translate exactly now" {
		t.Errorf("dry run details: %+v", res[0].Steps)
	}
	if steps := e.cutoverSteps(t); len(steps) != 0 {
		t.Fatalf("a dry run recorded %v", steps)
	}
	if got, _ := kadm.NewClient(e.tgt).FetchOffsets(ctx, "g"); len(got) != 0 {
		t.Fatalf("a dry run committed %v", got)
	}

	// Too much left to copy: not ready, nothing recorded.
	req = e.cutoverRequest("g")
	req.MaxLag = 9
	if _, err := Cutover(ctx, req); !errors.Is(err, ErrCutoverNotReady) ||
		!strings.Contains(err.Error(), "cut over group g: ready: not ready for cut-over: 10 record(s) of group g's partitions are not on B yet, more than the 9 allowed") {
		t.Fatalf("lag over the threshold: %v", err)
	}
	// Verification fails: not ready either.
	req.MaxLag = 10
	req.Verify = func(_ context.Context, group string, ts []PartitionTranslation) (string, error) {
		return "", errors.New("3 records differ in t[0]")
	}
	if _, err := Cutover(ctx, req); !errors.Is(err, ErrCutoverNotReady) || !strings.Contains(err.Error(), "verify: 3 records differ in t[0]") {
		t.Fatalf("verification fails: %v", err)
	}
	if steps := e.cutoverSteps(t); len(steps) != 0 {
		t.Fatalf("a cut-over that was not ready recorded %v", steps)
	}

	// The cut-over: each step recorded, the exact offset committed on B.
	req.Verify = func(_ context.Context, group string, ts []PartitionTranslation) (string, error) {
		return "1 partition compared", nil
	}
	res, err = Cutover(ctx, req)
	if err != nil || statuses(res[0]) != "ready=done caught-up=done committed=done" || res[0].Commit.Count(Committed) != 1 {
		t.Fatalf("cut-over = %+v, %v", res, err)
	}
	got, err := kadm.NewClient(e.tgt).FetchOffsets(ctx, "g")
	if o, _ := got.Lookup("A.t", 0); err != nil || o.At != 50 || o.Metadata != "m" {
		t.Fatalf("g on B after the cut-over: %+v, %v", o, err)
	}
	steps := e.cutoverSteps(t)
	if r := steps["g/ready"]; len(steps) != 3 || r.Source != "A" || r.Target != "B" || !strings.Contains(r.Detail, "verified: 1 partition compared") ||
		len(r.Offsets) != 1 || r.Offsets[0] != (CutoverOffset{SourceTopic: "t", TargetTopic: "A.t", Partition: 0, SourceOffset: 50, TargetOffset: 50, Exact: true}) {
		t.Fatalf("recorded steps: %+v", steps)
	}

	// Run again, with a consumer on B now: every step resumed, nothing
	// committed again.
	member := joinGroup(t, e.b, "g", "A.t")
	defer member.Close()
	res, err = Cutover(ctx, e.cutoverRequest("g"))
	if err != nil || statuses(res[0]) != "ready=resumed caught-up=resumed committed=resumed" || res[0].Commit != nil {
		t.Fatalf("second run = %+v, %v", res, err)
	}
}

func TestCutover_WaitsInterruptedResumed(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The index knows t[0] up to 79; ahead committed 85.
	e.commit(t, e.src, "ahead", kadm.Offset{Topic: "t", Partition: 0, At: 85, LeaderEpoch: -1})
	// Interrupted (as by Ctrl-C) once it waited twice.
	var waits int
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	req := e.cutoverRequest("ahead")
	req.Progress = func(ev CutoverEvent) {
		if ev.Status == StepWaiting {
			waits++
			if !strings.Contains(ev.Detail, "0 of 1 partition(s) exact; 10 record(s) still to copy, 10 copied but not yet in the index; waiting ") {
				t.Errorf("waiting: %q", ev.Detail)
			}
			if waits == 2 {
				wcancel()
			}
		}
	}
	res, err := Cutover(wctx, req)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cut over group ahead: caught-up: interrupted while waiting for the copy (0 of 1 partition(s) exact)") ||
		statuses(res[0]) != "ready=done caught-up=failed" || waits == 0 {
		t.Fatalf("interrupted wait = %+v, %v (%d waits)", res, err, waits)
	}
	if steps := e.cutoverSteps(t); len(steps) != 1 || steps["ahead/ready"].Offsets[0].SourceOffset != 85 {
		t.Fatalf("recorded after the interruption: %+v", steps)
	}

	// The copy catches up (the index learns of records up to 89); the
	// cut-over resumes after its ready step.
	e.writeIndex(t, IndexEntry{Topic: "t", Partition: 0, Upstream: 0, Downstream: 0, PrevUpstream: -1, PrevDownstream: -1, LastUpstream: 89})
	res, err = Cutover(ctx, e.cutoverRequest("ahead"))
	if err != nil || statuses(res[0]) != "ready=resumed caught-up=done committed=done" {
		t.Fatalf("resumed cut-over = %+v, %v", res, err)
	}
	got, _ := kadm.NewClient(e.tgt).FetchOffsets(ctx, "ahead")
	if o, _ := got.Lookup("A.t", 0); o.At != 85 {
		t.Fatalf("ahead on B: %+v, want 85", o)
	}
}

func TestCutover_Refusals(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e.commit(t, e.src, "busy", kadm.Offset{Topic: "t", Partition: 0, At: 20, LeaderEpoch: -1})

	// Members on the source.
	member := joinGroup(t, e.a, "busy", "t")
	var active *ActiveGroupError
	_, err := Cutover(ctx, e.cutoverRequest("busy"))
	if !errors.Is(err, ErrCutoverNotReady) || !errors.As(err, &active) || active.Cluster != "A" ||
		!strings.Contains(err.Error(), "group busy is active on A (state Stable, 1 member(s): ") || !strings.Contains(err.Error(), "stop its consumers on A first") {
		t.Fatalf("members on the source: %v", err)
	}
	member.Close()
	waitEmpty(t, e.src, "busy")

	// Ready, interrupted before the commit; then the group moves on A.
	req := e.cutoverRequest("busy")
	onB := joinGroup(t, e.b, "busy", "A.t") // the commit is refused while it is there
	if _, err := Cutover(ctx, req); !errors.As(err, &active) || active.Cluster != "" ||
		!strings.Contains(err.Error(), "cut over group busy: committed: group busy is active on the target") {
		t.Fatalf("members on the target: %v", err)
	}
	onB.Close()
	e.commit(t, e.src, "busy", kadm.Offset{Topic: "t", Partition: 0, At: 30, LeaderEpoch: -1})
	if _, err := Cutover(ctx, req); !errors.Is(err, ErrGroupMovedOnSource) ||
		!strings.Contains(err.Error(), "cut over group busy: ready: the group committed on the source after its cut-over began at ") ||
		!strings.Contains(err.Error(), "(t[0]: 20 then 30): a consumer ran there; stop it, then start the cut-over over (restart)") {
		t.Fatalf("moved on the source: %v", err)
	}
	// Restart: the recorded steps are forgotten, the new offset moves.
	req.Restart = true
	res, err := Cutover(ctx, req)
	if err != nil || statuses(res[0]) != "ready=done caught-up=done committed=done" {
		t.Fatalf("restarted cut-over = %+v, %v", res, err)
	}
	if steps := e.cutoverSteps(t); steps["busy/ready"].Offsets[0].SourceOffset != 30 {
		t.Fatalf("recorded after the restart: %+v", steps)
	}

	// A group whose partition is not replicated, an unknown group.
	e.commit(t, e.src, "half", kadm.Offset{Topic: "t", Partition: 1, At: 5, LeaderEpoch: -1})
	if _, err := Cutover(ctx, e.cutoverRequest("half")); !errors.Is(err, ErrCutoverNotReady) || !errors.Is(err, ErrNotReplicated) {
		t.Errorf("unreplicated partition: %v", err)
	}
	if _, err := Cutover(ctx, e.cutoverRequest("nobody")); !errors.Is(err, ErrCutoverNotReady) ||
		!strings.Contains(err.Error(), "group nobody has no committed offsets on A") {
		t.Errorf("unknown group: %v", err)
	}
	if _, err := Cutover(ctx, CutoverRequest{}); err == nil ||
		err.Error() != "cut over: Source, Target, SourceAlias, TargetAlias, RemoteTopic, Groups not set" {
		t.Errorf("empty request: %v", err)
	}
	req = e.cutoverRequest("g")
	req.IndexTopic = "missing.index"
	if _, err := Cutover(ctx, req); !errors.Is(err, ErrIndexNotFound) {
		t.Errorf("no index: %v", err)
	}
	// A record of the cut-over topic that is not JSON stops the run before
	// it starts, with its offset.
	bad := CutoverRecord{Group: "busy", Step: CutoverCommitted}
	if err := e.tgt.ProduceSync(ctx, &kgo.Record{Topic: CutoverTopic("A"), Key: bad.Key(), Value: []byte("{")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := Cutover(ctx, e.cutoverRequest("busy")); err == nil ||
		!strings.Contains(err.Error(), "read cut-over steps from mm2go-cutover.A.internal: decode cut-over record of group busy, step committed at offset ") {
		t.Errorf("corrupt record: %v", err)
	}
}

func TestCutover_AlreadyCommittedAndRunning(t *testing.T) {
	e := newTranslateEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e.commit(t, e.src, "g", kadm.Offset{Topic: "t", Partition: 0, At: 40, LeaderEpoch: -1})
	// An earlier run (or group offset sync) committed on B, and consumers
	// already run there past it: the cut-over is done, not refused.
	e.commit(t, e.tgt, "g", kadm.Offset{Topic: "A.t", Partition: 0, At: 45, LeaderEpoch: -1})
	member := joinGroup(t, e.b, "g", "A.t")
	defer member.Close()
	res, err := Cutover(ctx, e.cutoverRequest("g"))
	if err != nil || statuses(res[0]) != "ready=done caught-up=done committed=done" ||
		!strings.Contains(res[0].Steps[2].Detail, "already committed: the group is active on B at or past every translated offset") {
		t.Fatalf("cut-over of a group already running on B = %+v, %v", res, err)
	}
}

func TestCutoverKey(t *testing.T) {
	r := CutoverRecord{Group: `g"1`, Step: CutoverReady}
	g, s, err := DecodeCutoverKey(r.Key())
	if err != nil || g != `g"1` || s != CutoverReady {
		t.Fatalf("DecodeCutoverKey(%s) = %q, %q, %v", r.Key(), g, s, err)
	}
	for _, k := range []string{"", "{}", `{"group":"g"}`, `{"group":"g","step":"ready","x":1}`, "junk"} {
		if _, _, err := DecodeCutoverKey([]byte(k)); err == nil {
			t.Errorf("DecodeCutoverKey(%q) accepted", k)
		}
	}
	var rec CutoverRecord
	if err := json.Unmarshal([]byte(`{"group":"g","step":"ready","at":"2024-01-01T00:00:00Z","offsets":[]}`), &rec); err != nil || rec.Step != CutoverReady {
		t.Fatalf("decode a record: %+v, %v", rec, err)
	}
}

// waitEmpty waits until group has no members on the cluster of cl.
func waitEmpty(t *testing.T, cl *kgo.Client, group string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if d, err := kadm.NewClient(cl).DescribeGroups(context.Background(), group); err == nil && len(d[group].Members) == 0 && d[group].State != "Stable" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s still has members", group)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
