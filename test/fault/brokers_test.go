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
				bound = "one run per partition right after the records it repeats: batches kfake wrote but did not acknowledge before it crashed"
				checkReplayedBatches(t, r, 1)
			} else {
				checkNoDuplicates(t, r, "the worker was not restarted and its producer is idempotent")
			}
			result(t, r, produced, bound)
		})
	}
}

// checkReplayedBatches checks that each partition's duplicates are at most
// runs (one per broker crash), each directly after the records it repeats:
// a retried batch written a second time, not a re-copy from an older
// position.
func checkReplayedBatches(t *testing.T, r *harness.Report, runs int) {
	t.Helper()
	for _, pr := range r.Parts {
		if len(pr.Duplicated) > runs {
			t.Errorf("partition %d: %d runs of duplicates, want at most %d", pr.Partition, len(pr.Duplicated), runs)
		}
		for _, d := range pr.Duplicated {
			n := d.Got.Len()
			// The n records before the run must be the originals.
			i := indexOf(pr.GotOffsets, d.Got.From)
			ok := i >= int(n)
			for k := int64(0); ok && k < n; k++ {
				ok = pr.WantOf[i-int(n)+int(k)] == d.Want.From+k
			}
			if !ok {
				t.Errorf("partition %d: duplicates %v of %v are not directly after the records they repeat", pr.Partition, d.Got, d.Want)
			}
		}
	}
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
