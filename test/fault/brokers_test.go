package fault

import (
	"fmt"
	"testing"
	"time"

	"github.com/mm2go/mm2go/test/internal/harness"
)

// TestFault_BrokerRestart restarts the source or the target broker process
// mid-stream, gracefully (SIGTERM) or by a crash (SIGKILL), while one worker
// runs and a producer writes.
//
// Bound: nothing missing or out of order; the worker is never restarted, so
// its idempotent producer keeps the target free of duplicates: 0 after a
// source restart or a graceful target restart. After a target crash, kfake
// (unlike Kafka, which rebuilds producer state from its log) has lost the
// producers' sequence windows, so a retried batch that it wrote but did not
// acknowledge before dying is written again: there, each partition may
// hold one run of duplicates, directly after the records it repeats.
//
// A target crash also costs the worker its group membership: kfake keeps
// no group across a restart (Kafka keeps group metadata in
// __consumer_offsets), so the worker's next heartbeat is answered
// UNKNOWN_MEMBER_ID, as a real coordinator answers a worker cut off for
// longer than its session timeout. The worker stops its units without
// committing (another worker may own them now), rejoins and is given them
// back; it then commits what they had copied, since nobody else wrote
// their offsets meanwhile (connect/carry.go), and copies nothing twice.
// The check still allows each partition one re-copy resumed right after a
// committed offset, the bound of a worker that cannot know whether
// another ran its units (a kill -9's, TestFault_KillWorker).
func TestFault_BrokerRestart(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, c := range []struct {
		name   string
		target bool
		kill   bool
	}{
		{"source/SIGTERM", false, false},
		{"source/SIGKILL", false, true},
		{"target/SIGTERM", true, false},
		{"target/SIGKILL", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			const parts = 4
			e.createTopic("orders", parts)
			prod := e.produce("orders", parts, "k", pick(2000, 4000), 0)
			w := e.worker()
			e.waitCopying("orders", pick(int64(2000), 20000), time.Minute)

			b := e.src
			if c.target {
				b = e.dst
			}
			if c.kill {
				b.Kill()
			} else {
				b.Stop()
			}
			time.Sleep(pick(time.Second, 5*time.Second)) // down for a moment, the producer and the worker retrying
			b.Start()
			t.Logf("%s broker back after a %s", b.ClusterID(), map[bool]string{false: "graceful stop", true: "crash"}[c.kill])
			before := sum(e.targetEnds("orders"))
			e.waitCopying("orders", before+int64(pick(2000, 20000)), 2*time.Minute)

			produced := e.stopProducer(prod)
			e.waitCommitted("orders", 2*time.Minute)
			if !w.Running() {
				t.Fatalf("the worker exited during the broker restart:\n%s", w.Log())
			}
			e.stopWorker(w)
			r := e.check("orders", nil)
			bound := "0: the worker's idempotent producer was never restarted"
			if c.target && c.kill {
				bound = "per partition one run right after the records it repeats (a batch kfake wrote but did not acknowledge before it crashed) " +
					"and one re-copy of the records copied after the last commit (kfake forgot the worker's group: units stopped without committing, then given back)"
				for _, bad := range crashDuplicates(r, e.commitHistory("orders")) {
					t.Error(bad)
				}
			} else {
				checkNoDuplicates(t, r, "the worker was not restarted and its producer is idempotent")
			}
			result(t, r, produced, bound)
		})
	}
}

// crashDuplicates checks the duplicates of a target broker crash,
// partition by partition, and returns what is wrong: at most one batch
// written again directly after the records it repeats (a retried batch)
// and at most one re-copy that resumes right after a source offset the
// worker committed (in history, the partition's commits in the order they
// were written). A re-copy alone also lies directly after the records it
// repeats; after a replayed batch it does not, and only the commit tells
// it from a copy that went back. The commits never go back, so a re-copy
// that resumed from an older commit than the last one before the crash
// fails too: the first commits after it would be below that last one.
func crashDuplicates(r *harness.Report, history map[int32][]int64) []string {
	var bad []string
	for _, pr := range r.Parts {
		commits := history[pr.Partition]
		committed := make(map[int64]bool, len(commits))
		for i, c := range commits {
			if i > 0 && c < commits[i-1] {
				bad = append(bad, fmt.Sprintf("partition %d: the committed source offset went back from %d to %d", pr.Partition, commits[i-1], c))
			}
			committed[c] = true
		}
		var replays, recopies, either int
		for _, d := range pr.Duplicated {
			replay := directlyAfter(pr, d)
			recopy := committed[d.Want.From-1]
			switch {
			case replay && recopy:
				either++
			case replay:
				replays++
			case recopy:
				recopies++
			default:
				bad = append(bad, fmt.Sprintf("partition %d: duplicates %v of %v are neither directly after the records they repeat nor a re-copy from a committed offset (commits %v)",
					pr.Partition, d.Got, d.Want, commits))
			}
		}
		if replays > 1 || recopies > 1 || replays+recopies+either > 2 {
			bad = append(bad, fmt.Sprintf("partition %d: %d runs of duplicates %v, want at most one replayed batch and one re-copy from a commit",
				pr.Partition, len(pr.Duplicated), pr.Duplicated))
		}
	}
	return bad
}

// directlyAfter says whether the n records of the copy before duplicate
// run d are the n originals it repeats: a batch written twice in a row.
func directlyAfter(pr *harness.PartReport, d harness.DupSpan) bool {
	n := d.Got.Len()
	i := indexOf(pr.GotOffsets, d.Got.From)
	if i < int(n) {
		return false
	}
	for k := int64(0); k < n; k++ {
		if pr.WantOf[i-int(n)+int(k)] != d.Want.From+k {
			return false
		}
	}
	return true
}

// commitHistory returns the source offsets committed for topic on B, by
// partition, in the order they were written.
func (e *env) commitHistory(topic string) map[int32][]int64 {
	e.t.Helper()
	ctx, cancel := ctxFor(30 * time.Second)
	defer cancel()
	h, err := harness.CommitHistory(ctx, e.dst.Opts(), "A", topic)
	if err != nil {
		e.t.Fatalf("committed offsets history: %v", err)
	}
	return h
}

func indexOf(offsets []int64, off int64) int {
	for i, o := range offsets {
		if o == off {
			return i
		}
	}
	panic(fmt.Sprintf("offset %d not in the copy", off))
}

// TestFault_TargetDown stops the target broker for 30 s (5 s in the short
// version) while a producer keeps writing to the source, then brings it
// back: the worker waits, retries and copies the backlog.
//
// Bound: nothing missing or out of order; 0 duplicates (the worker is
// never restarted and its producer is idempotent).
func TestFault_TargetDown(t *testing.T) {
	skipShort(t)
	t.Parallel()
	down := pick(5*time.Second, 30*time.Second)
	e := newEnv(t, envOpts{})
	const parts = 4
	e.createTopic("orders", parts)
	prod := e.produce("orders", parts, "k", pick(2000, 4000), 0)
	w := e.worker()
	e.waitCopying("orders", pick(int64(2000), 20000), time.Minute)

	e.dst.Stop()
	t.Logf("target down for %v", down)
	time.Sleep(down)
	e.dst.Start()
	before := sum(e.targetEnds("orders"))
	e.waitCopying("orders", before+int64(pick(2000, 20000)), 2*time.Minute)

	produced := e.stopProducer(prod)
	e.waitCommitted("orders", 3*time.Minute)
	if !w.Running() {
		t.Fatalf("the worker exited while the target was down:\n%s", w.Log())
	}
	e.stopWorker(w)
	r := e.check("orders", nil)
	checkNoDuplicates(t, r, "the worker was not restarted and its producer is idempotent")
	result(t, r, produced, fmt.Sprintf("0 (target down %v; the worker was never restarted)", down))
}

// TestCrashDuplicates checks the bound of a target broker crash on copies
// built by hand: a replayed batch and a re-copy from the last commit pass;
// a re-copy from an offset never committed, commits that go back, and a
// third run fail.
func TestCrashDuplicates(t *testing.T) {
	log := func(keys ...int) map[int32][]harness.Rec {
		rs := make([]harness.Rec, len(keys))
		for i, k := range keys {
			rs[i] = harness.Rec{Offset: int64(i), Key: fmt.Sprint("k", k)}
		}
		return map[int32][]harness.Rec{0: rs}
	}
	want := &harness.Log{Topic: "orders", Parts: log(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)}
	for _, c := range []struct {
		name    string
		got     []int
		commits []int64
		ok      bool
	}{
		{"re-copy from the last commit", []int{0, 1, 2, 3, 4, 5, 6, 3, 4, 5, 6, 7, 8, 9}, []int64{1, 2, 6, 9}, true},
		{"replayed batch, then a re-copy from the last commit", []int{0, 1, 2, 3, 4, 5, 6, 5, 6, 3, 4, 5, 6, 7, 8, 9}, []int64{1, 2, 9}, true},
		{"re-copy from an offset never committed", []int{0, 1, 2, 3, 4, 5, 6, 5, 6, 3, 4, 5, 6, 7, 8, 9}, []int64{1, 9}, false},
		{"commits go back", []int{0, 1, 2, 3, 4, 5, 6, 3, 4, 5, 6, 7, 8, 9}, []int64{2, 5, 4, 9}, false},
		{"a replayed batch and two re-copies", []int{0, 1, 2, 3, 4, 5, 6, 5, 6, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6, 7, 8, 9}, []int64{1, 2, 9}, false},
	} {
		r := harness.Compare(want, &harness.Log{Topic: "A.orders", Parts: log(c.got...)})
		if !r.Clean() {
			t.Fatalf("%s: the copy is not clean: %s", c.name, r.Summary())
		}
		bad := crashDuplicates(r, map[int32][]int64{0: c.commits})
		if (len(bad) == 0) != c.ok {
			t.Errorf("%s: problems %q, want ok=%v", c.name, bad, c.ok)
		}
	}
}
