package fault

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFault_TopicRecreated deletes a source topic whose records were all
// copied and re-creates it with fewer, as many or more partitions: while
// the worker runs, at once (running) or after 3 s, long enough for the
// worker's topic refreshes (every second) to see the topic gone
// (running-gap), or while the worker is stopped with SIGTERM (stopped). The
// new topic gets more records per partition than the old one had, so its
// offsets pass the old committed offsets. The worker must notice the new
// topic (its topic ID changed) and copy it from its start.
//
// Bound: the remote topic holds the old topic's records, then the new
// one's, per partition, nothing missing or out of order; 0 duplicates
// (everything of the old topic was copied and committed before it was
// deleted, and the worker was only stopped gracefully); and no records
// reported lost, since none were.
func TestFault_TopicRecreated(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const oldParts = 4
	perPart := int64(pick(500, 5000))
	for _, when := range []string{"running", "running-gap", "stopped"} {
		stopped := when == "stopped"
		for _, newParts := range []int32{2, 4, 6} {
			how := map[int32]string{2: "fewer", 4: "equal", 6: "more"}[newParts]
			t.Run(when+"/"+how, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, envOpts{})
				e.createTopic("events", oldParts)
				w := e.worker()
				gen1 := e.produce("events", oldParts, "gen1", 0, perPart*oldParts)
				<-gen1.Done()
				produced := e.stopProducer(gen1)
				if !e.waitCommitted("events", time.Minute) {
					t.FailNow()
				}
				old := e.readSource("events")

				if stopped {
					e.stopWorker(w)
				}
				e.deleteTopic("events")
				if when == "running-gap" {
					time.Sleep(3 * time.Second) // deleted for three topic refreshes
				}
				e.createTopic("events", newParts)
				gen2 := e.produce("events", newParts, "gen2", 0, 2*perPart*int64(newParts))
				<-gen2.Done()
				produced += e.stopProducer(gen2)
				if stopped {
					w = e.worker()
				}
				e.waitCommitted("events", time.Minute)
				e.stopWorker(w)

				want := e.readSource("events")
				old.Append(want)
				old.Topic = "events (both generations)"
				r := e.check("events", old)
				checkNoDuplicates(t, r, "the old topic was fully copied and committed before it was deleted")
				if strings.Contains(w.Log(), "source records lost") {
					t.Errorf("the worker reported records lost, but every record of the old topic was copied:\n%s", grepLines(w.Log(), "lost"))
				}
				result(t, r, produced, fmt.Sprintf("0 (re-created with %d partitions, worker %s)", newParts, when))
			})
		}
	}
}

// grepLines returns the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
