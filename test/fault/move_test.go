package fault

import (
	"fmt"
	"testing"
	"time"
)

// TestFault_PartitionMove moves partitions between tasks while a producer
// writes: tasks.max changed between graceful restarts of the worker (every
// partition changes task), and a topic added that sorts before the copied
// one while tasks.max = 2 (with round-robin assignment, every partition of
// the copied topic would change task).
//
// Bound: nothing missing or out of order; 0 duplicates: a graceful stop
// commits everything acknowledged, and a partition that changes task is
// flushed and committed by its old owner before the new one starts (or
// keeps its task: sticky assignment).
func TestFault_PartitionMove(t *testing.T) {
	skipShort(t)
	t.Parallel()
	t.Run("tasks.max-changed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOpts{settings: map[string]string{"tasks.max": "1"}})
		const parts = 6
		e.createTopic("orders", parts)
		prod := e.produce("orders", parts, "k", pick(2000, 4000), 0)
		step := int64(pick(2000, 20000))
		w := e.worker()
		e.waitCopying("orders", step, time.Minute)
		changes := pick([]string{"3", "2"}, []string{"3", "2", "6", "1", "4"})
		for _, n := range changes {
			e.stopWorker(w)
			e.rewriteFlow("tasks.max", n)
			w = e.worker()
			before := sum(e.targetEnds("orders"))
			e.waitCopying("orders", before+step, time.Minute)
			t.Logf("tasks.max %s: copying", n)
		}
		produced := e.stopProducer(prod)
		e.waitCommitted("orders", 2*time.Minute)
		e.stopWorker(w)
		r := e.check("orders", nil)
		checkNoDuplicates(t, r, "every worker was stopped gracefully")
		result(t, r, produced, fmt.Sprintf("0 (tasks.max 1 -> %v, graceful restarts)", changes))
	})

	t.Run("topic-sorting-first", func(t *testing.T) {
		t.Parallel()
		// Commits every 5 s (mm2go's default): a move between two commits
		// re-copies what the old owner copied since the last one, unless
		// the old owner commits it first. Only the two topics: the
		// heartbeats topic would appear among the source partitions about
		// when the worker starts and shift the round robin by itself.
		e := newEnv(t, envOpts{topics: []string{"zz-orders", "aa-new"}, settings: map[string]string{
			"tasks.max": "2", "offset.flush.interval.ms": "5000", "heartbeats.replication.enabled": "false"}})
		e.createTopic("zz-orders", 4)
		step := int64(pick(2000, 20000))
		prodZ := e.produce("zz-orders", 4, "z", pick(2000, 4000), 0)
		w := e.worker()
		e.waitCopying("zz-orders", step, time.Minute)
		// Three partitions: an odd count shifts the round robin of every
		// partition after it.
		e.createTopic("aa-new", 3)
		prodA := e.produce("aa-new", 3, "a", pick(1000, 2000), 0)
		e.waitCopying("aa-new", step/2, time.Minute)
		before := sum(e.targetEnds("zz-orders"))
		e.waitCopying("zz-orders", before+step, time.Minute)
		producedZ, producedA := e.stopProducer(prodZ), e.stopProducer(prodA)
		e.waitCommitted("zz-orders", 2*time.Minute)
		e.waitCommitted("aa-new", 2*time.Minute)
		e.stopWorker(w)
		rz := e.check("zz-orders", nil)
		ra := e.check("aa-new", nil)
		checkNoDuplicates(t, rz, "a partition move must copy nothing twice")
		checkNoDuplicates(t, ra, "a partition move must copy nothing twice")
		result(t, rz, producedZ, "0 (a topic added that sorts first, tasks.max 2)")
		result(t, ra, producedA, "0 (the added topic)")
	})
}
