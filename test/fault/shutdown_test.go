package fault

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// TestFault_SigtermInBlackHole sends SIGTERM to a worker while the network
// to one broker is a black hole (connections accepted, nothing answered).
// The worker must exit within its shutdown timeout (--shutdown-timeout 5s;
// the subtest within-shutdown-timeout allows 1 s more for the process to
// exit), having committed what the target acknowledged. A worker still
// running 15 s after that is killed, and the scenario goes on: the network
// heals and a new worker copies the rest.
//
// Bound: nothing missing or out of order. With the source unreachable the
// target is not: the stopping worker commits everything it copied, and
// the next one re-copies nothing (0 duplicates). With the target
// unreachable nothing can be committed: the next worker resumes after the
// last commit, and the duplicates are exactly the records copied after it.
func TestFault_SigtermInBlackHole(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const timeout = 5 * time.Second
	for _, target := range []bool{false, true} {
		name := map[bool]string{false: "source", true: "target"}[target]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{proxySource: !target, proxyTarget: target})
			px := e.srcPx
			if target {
				px = e.dstPx
			}
			const parts = 4
			e.createTopic("orders", parts)
			prod := e.produce("orders", parts, "k", pick(2000, 4000), 0)
			w := e.worker("--shutdown-timeout", timeout.String())
			e.waitCopying("orders", pick(int64(3000), 20000), time.Minute)

			px.BlackHole()
			time.Sleep(time.Second) // requests in flight hang now
			sent := time.Now()
			w.Signal(syscall.SIGTERM)
			code, at, exited := w.WaitExit(timeout + 15*time.Second)
			if !exited {
				w.Kill()
				at = time.Now()
			}
			took := at.Sub(sent)
			// The exit code is 1 in both cases: the worker also writes
			// heartbeats to the source cluster (flow B->A), and with the
			// target unreachable it cannot commit.
			if exited {
				t.Logf("worker exited with code %d %v after SIGTERM (shutdown timeout %v)", code, took.Round(time.Millisecond), timeout)
			} else {
				t.Logf("worker still running %v after SIGTERM (shutdown timeout %v): killed", took.Round(time.Millisecond), timeout)
			}
			t.Run("within-shutdown-timeout", func(t *testing.T) {
				if !exited || took > timeout+time.Second {
					t.Errorf("the worker took %v to stop (killed: %v), want at most its shutdown timeout %v (+1 s to exit)", took.Round(time.Millisecond), !exited, timeout)
				}
			})
			px.Heal()
			ends, committed := e.stable("orders")

			last := e.worker()
			before := sum(e.targetEnds("orders"))
			e.waitCopying("orders", before+int64(pick(2000, 20000)), time.Minute)
			produced := e.stopProducer(prod)
			e.waitCommitted("orders", 2*time.Minute)
			e.stopWorker(last)
			r := e.check("orders", nil)
			recopied := checkResumes(t, r, []stopPoint{{ends: ends, committed: committed}})
			bound := fmt.Sprintf("records copied after the last commit: %d", recopied)
			if !target {
				checkNoDuplicates(t, r, "with the target reachable the stopping worker commits everything it copied")
				bound = "0 (the target was reachable: everything copied was committed)"
			}
			result(t, r, produced, bound)
		})
	}
}
