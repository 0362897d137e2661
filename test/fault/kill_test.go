package fault

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mm2go/mm2go/test/internal/harness"
)

// stopPoint is the state of a remote topic when a worker stopped without
// committing what it had copied (SIGKILL, or a commit that could not reach
// the target): the end offsets of the remote topic and the committed
// source offsets, once nothing changed any more.
type stopPoint struct {
	ends, committed map[int32]int64
}

// checkResumes checks the at-least-once contract across abrupt stops,
// partition by partition: after each stop the next worker resumed exactly
// after the committed source offset and copied in order from there; no
// committed offset was ever ahead of what the target held (that would lose
// records) or went backwards. Then the duplicates are exactly the records
// copied after each worker's last commit, which it returns in total.
func checkResumes(t *testing.T, r *harness.Report, points []stopPoint) (recopied int64) {
	t.Helper()
	for _, pr := range r.Parts {
		p := pr.Partition
		var (
			prevCommit int64 = -1
			maxCopied  int64 = -1
			expectDups int64
			gi         int // index in pr.WantOf
			perStop    []string
		)
		failed := false
		// segment checks the records of the copy below end: a worker's
		// output, from the offset after prevCommit on.
		segment := func(worker int, end int64) {
			want := prevCommit + 1
			start := gi
			before := maxCopied
			for ; gi < len(pr.WantOf) && pr.GotOffsets[gi] < end; gi++ {
				if !failed && pr.WantOf[gi] != want {
					t.Errorf("partition %d: worker %d wrote source offset %d at target offset %d, want %d: it must resume right after the committed offset %d and copy in order",
						p, worker, pr.WantOf[gi], pr.GotOffsets[gi], want, prevCommit)
					failed = true
				}
				maxCopied = max(maxCopied, pr.WantOf[gi])
				want++
			}
			if n := int64(gi - start); before > prevCommit {
				expectDups += min(n, before-prevCommit)
			}
		}
		for j, sp := range points {
			segment(j+1, sp.ends[p])
			c, ok := sp.committed[p]
			if !ok {
				c = -1
			}
			switch {
			case c > maxCopied:
				t.Errorf("partition %d: at stop %d the committed source offset %d is past the last record on the target (%d): the records between would be lost",
					p, j+1, c, maxCopied)
			case c < prevCommit:
				t.Errorf("partition %d: at stop %d the committed source offset went back from %d to %d", p, j+1, prevCommit, c)
			}
			perStop = append(perStop, fmt.Sprint(maxCopied-c))
			prevCommit = c
		}
		segment(len(points)+1, 1<<62)
		_, d, _, _, _ := pr.Counts()
		if d != expectDups {
			t.Errorf("partition %d: %d duplicates, want %d (the records copied after each stopped worker's last commit)", p, d, expectDups)
		}
		t.Logf("partition %d: copied after the last commit at each stop: %s; duplicates %d", p, strings.Join(perStop, ", "), d)
		recopied += expectDups
	}
	return recopied
}

// TestFault_KillWorker kills the worker process with SIGKILL again and
// again while a producer writes, starting a new worker after each kill; a
// last worker copies the rest and stops gracefully.
//
// random: kills at random moments (seeded), sometimes before the first
// commit, mostly while copying; offsets committed every 500 ms.
//
// crash-loop: offsets committed every 5 s (the default), each worker killed
// 2 s after it copied its first record: a worker that commits only at the
// flush interval never commits and every restart copies everything again.
// Each killed worker must have committed what it copied in its first
// second (issue 10 item 5: commit soon after the first acknowledged
// records).
//
// Bound: nothing missing or out of order; each new worker resumes right
// after the last committed source offset, so the duplicates are exactly the
// records a killed worker copied after its last commit.
func TestFault_KillWorker(t *testing.T) {
	skipShort(t)
	t.Parallel()
	t.Run("random", func(t *testing.T) {
		t.Parallel()
		kills := pick(3, 20)
		rng := seeded(t)
		e := newEnv(t, envOpts{})
		const parts = 4
		e.createTopic("orders", parts)
		prod := e.produce("orders", parts, "k", pick(2000, 4000), 0)

		var points []stopPoint
		for i := range kills {
			w := e.worker()
			// Killed only once it holds its assignment: kfake never evicts
			// a member killed while its JoinGroup waits (no session without
			// a delivered reply; Kafka evicts it after the session timeout),
			// and the group would wait for it for ever. See RELIABILITY.md.
			w.WaitLog("lease established", time.Minute)
			d := time.Duration(100+rng.IntN(pick(2500, 5000))) * time.Millisecond
			time.Sleep(d)
			w.Kill()
			ends, committed := e.stable("orders")
			points = append(points, stopPoint{ends: ends, committed: committed})
			t.Logf("kill %d, %v after its assignment: %d records on the target, committed %v", i+1, d, sum(ends), committed)
		}
		last := e.worker()
		produced := e.stopProducer(prod)
		e.waitCommitted("orders", 2*time.Minute)
		e.stopWorker(last)

		r := e.check("orders", nil)
		recopied := checkResumes(t, r, points)
		result(t, r, produced, fmt.Sprintf("records copied after the last commit before each of %d kills: %d", kills, recopied))
	})

	t.Run("crash-loop", func(t *testing.T) {
		t.Parallel()
		kills := pick(3, 10)
		e := newEnv(t, envOpts{settings: map[string]string{"offset.flush.interval.ms": "5000"}})
		const parts = 4
		e.createTopic("orders", parts)
		prod := e.produce("orders", parts, "k", pick(2000, 4000), 0)

		var points []stopPoint
		prev := map[int32]int64{}
		for i := range kills {
			w := e.worker()
			before := sum(e.targetEnds("orders"))
			e.waitCopying("orders", before+1, time.Minute)
			time.Sleep(2 * time.Second)
			w.Kill()
			ends, committed := e.stable("orders")
			points = append(points, stopPoint{ends: ends, committed: committed})
			t.Logf("kill %d: %d records on the target, committed %v", i+1, sum(ends), committed)
			for p := range int32(parts) {
				was, ok := prev[p]
				if !ok {
					was = -1
				}
				if c, ok := committed[p]; !ok || c <= was {
					t.Errorf("kill %d: partition %d: the committed source offset is still %d (-1: none) after the worker copied for 2 s: it committed nothing", i+1, p, was)
				}
			}
			prev = committed
		}
		last := e.worker()
		produced := e.stopProducer(prod)
		e.waitCommitted("orders", 2*time.Minute)
		e.stopWorker(last)

		r := e.check("orders", nil)
		recopied := checkResumes(t, r, points)
		result(t, r, produced, fmt.Sprintf("records copied after the last commit before each of %d kills: %d", kills, recopied))
	})
}
