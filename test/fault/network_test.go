package fault

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mm2go/mm2go/test/internal/harness"
)

// TestFault_HungNetwork puts a fault-injecting proxy between the worker and
// one broker (the broker advertises the proxy, so every connection of the
// worker to it goes through) while a producer writes: latency, connection
// resets at random moments (seeded), and a black hole (connections accepted
// and never answered) that then heals.
//
// Bound: nothing missing or out of order; 0 duplicates (the worker is
// never restarted, and its producer retries with the same producer id and
// sequence numbers, which the broker deduplicates). A black hole of the
// target longer than the worker's lease (the full run's 30 s; the group
// lives on the target) stops its tasks with their commits refused: the
// worker must commit what they copied once the target is back, and the
// only duplicates allowed are, per partition, one batch right after the
// records it repeats: a produce request the hole held and delivered after
// the stopped task's producer had given it up.
func TestFault_HungNetwork(t *testing.T) {
	skipShort(t)
	t.Parallel()
	type fault func(t *testing.T, e *env, px *harness.Proxy) string
	latency := func(t *testing.T, e *env, px *harness.Proxy) string {
		d := pick(50*time.Millisecond, 200*time.Millisecond)
		px.SetDelay(d)
		before := sum(e.targetEnds("orders"))
		e.waitCopying("orders", before+int64(pick(4000, 40000)), 3*time.Minute)
		px.SetDelay(0)
		return fmt.Sprintf("%v each way while %d records were copied", d, pick(4000, 40000))
	}
	resets := func(t *testing.T, e *env, px *harness.Proxy) string {
		rng := seeded(t)
		n, broken := pick(5, 30), 0
		for range n {
			time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
			broken += px.ResetAll()
		}
		if broken == 0 {
			t.Errorf("%d resets broke no connection: the worker does not go through the proxy", n)
		}
		return fmt.Sprintf("%d resets breaking %d connections", n, broken)
	}
	blackHole := func(t *testing.T, e *env, px *harness.Proxy) string {
		hole := pick(5*time.Second, 30*time.Second)
		px.BlackHole()
		time.Sleep(hole)
		px.Heal()
		return fmt.Sprintf("black hole for %v", hole)
	}
	for _, c := range []struct {
		name   string
		target bool
		fault  fault
	}{
		{"target/latency", true, latency},
		{"target/resets", true, resets},
		{"target/black-hole", true, blackHole},
		{"source/latency", false, latency},
		{"source/resets", false, resets},
		{"source/black-hole", false, blackHole},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{proxySource: !c.target, proxyTarget: c.target})
			px := e.srcPx
			if c.target {
				px = e.dstPx
			}
			const parts = 4
			e.createTopic("orders", parts)
			prod := e.produce("orders", parts, "k", pick(2000, 4000), 0)
			w := e.worker()
			e.waitCopying("orders", pick(int64(2000), 20000), time.Minute)
			if px.Accepted() == 0 {
				t.Fatal("the worker's connections do not go through the proxy")
			}
			what := c.fault(t, e, px)
			t.Log(what)
			before := sum(e.targetEnds("orders"))
			e.waitCopying("orders", before+int64(pick(2000, 20000)), 3*time.Minute)

			produced := e.stopProducer(prod)
			e.waitCommitted("orders", 3*time.Minute)
			if !w.Running() {
				t.Fatalf("the worker exited:\n%s", w.Log())
			}
			e.stopWorker(w)
			r := e.check("orders", nil)
			bound := "0 (" + what + ")"
			if c.target && strings.Contains(w.Log(), lostMembership) {
				// The outage outlasted the worker's lease (the group lives
				// on the target): its tasks stopped with their commits
				// refused. It must commit what they copied once the
				// target is back, not copy it again; what it cannot help
				// is a produce request the network held during the hole
				// and delivered after the worker's producer had given it
				// up, which a new producer cannot deduplicate.
				bound = "per partition one run right after the records it repeats (a produce request the black hole held and delivered late); " +
					"nothing copied after the last commit is copied again (" + what + ", longer than the worker's lease)"
				if !strings.Contains(w.Log(), carriedCommit) {
					t.Errorf("the worker lost its lease and never committed what its tasks had copied (no %q in its log)", carriedCommit)
				}
				for _, bad := range replayedOnly(r) {
					t.Error(bad)
				}
			} else {
				checkNoDuplicates(t, r, "the worker was not restarted and its producer is idempotent")
			}
			result(t, r, produced, bound)
		})
	}
}

// What a worker logs when it lost its lease on its units, and when it
// committed what its tasks had copied before that (connect/carry.go).
const (
	lostMembership = "lost group membership"
	carriedCommit  = "committed what the task copied before this worker lost its lease"
)

// replayedOnly returns what is wrong with the duplicates of r if only
// batches written again right after the records they repeat are allowed:
// at most one run per partition, directly after its originals.
func replayedOnly(r *harness.Report) []string {
	var bad []string
	for _, pr := range r.Parts {
		if len(pr.Duplicated) > 1 {
			bad = append(bad, fmt.Sprintf("partition %d: %d runs of duplicates %v, want at most one replayed batch", pr.Partition, len(pr.Duplicated), pr.Duplicated))
			continue
		}
		for _, d := range pr.Duplicated {
			if !directlyAfter(pr, d) {
				bad = append(bad, fmt.Sprintf("partition %d: duplicates %v of %v are not directly after the records they repeat", pr.Partition, d.Got, d.Want))
			}
		}
	}
	return bad
}
