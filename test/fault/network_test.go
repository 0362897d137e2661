package fault

import (
	"fmt"
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
// sequence numbers, which the broker deduplicates).
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
			checkNoDuplicates(t, r, "the worker was not restarted and its producer is idempotent")
			result(t, r, produced, "0 ("+what+")")
		})
	}
}
