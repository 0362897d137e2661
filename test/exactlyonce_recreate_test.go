package test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
)

// TestExactlyOnce_TopicRecreated deletes and re-creates (with more
// partitions) a source topic written in transactions with aborts, while an
// exactly-once worker copies it: at once while it runs (before it noticed
// the deletion), and while it is stopped. The first transaction that holds
// records of a re-created topic is refused once by the target, so it
// aborts, and the task starts over from the committed offsets, which still
// name the old topic: it finds the re-creation again. Each time the
// re-creation is reported (a WARN while running; an ERROR per old
// partition, with the first offset that may be lost, when it happened
// while the worker was stopped), and read_committed consumers of the
// target see the old topic's committed records, then the new one's, each
// once; no record of an aborted source transaction reaches the target; a
// restart copies nothing twice.
func TestExactlyOnce_TopicRecreated(t *testing.T) {
	for _, running := range []bool{true, false} {
		name := "stopped"
		if running {
			name = "running"
		}
		t.Run(name, func(t *testing.T) {
			a, b := newCluster(t, "A"), newCluster(t, "B")
			if err := a.CreateTopic("re", 2, nil); err != nil {
				t.Fatal(err)
			}
			want, aborted := produceWithAborts(t, a, "re", 2, 60, 10, 3, "old")
			logOpt, logs := capturingLogger(t)
			cfg := eosWorkerConfig(a, b)
			specs := []connect.ConnectorSpec{sourceSpec("A", "B", nil)}
			rw := startWorker(t, cfg, specs, logOpt)
			copiedAll := func() {
				t.Helper()
				waitFor(t, 60*time.Second, "every committed source record copied", func() bool {
					for p, ks := range want {
						if len(readCommittedPartition(t, b, "A.re", p)) < len(ks) {
							return false
						}
					}
					return true
				})
			}
			copiedAll()

			if !running {
				if err := rw.stop(); err != nil {
					t.Fatal(err)
				}
			}
			recreateTopic(t, a, "re", 3)
			refused := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "A.re", Err: kerr.InvalidRecord})
			fresh, freshAborted := produceWithAborts(t, a, "re", 3, 50, 10, 3, "new")
			aborted = append(aborted, freshAborted...)
			for p, ks := range fresh {
				want[p] = append(want[p], ks...)
			}
			if !running {
				rw = startWorker(t, cfg, specs, logOpt)
			}
			copiedAll()
			if refused.Hits() == 0 {
				t.Errorf("the target never refused a batch of the new topic: no transaction aborted")
			}
			if running {
				if len(logs.lines("[WARN]", "source topic was deleted and re-created", "topic=re")) == 0 {
					t.Errorf("the re-creation was not reported")
				}
			} else if n := len(logs.lines("[ERROR]", "may have been lost", "topic=re", "first_lost_offset=")); n < 2 {
				t.Errorf("%d old partitions reported as possibly lost, want 2 (the worker was stopped)", n)
			}

			// A restart copies only what is new.
			if err := rw.stop(); err != nil {
				t.Fatal(err)
			}
			last, lastAborted := produceWithAborts(t, a, "re", 3, 20, 10, 3, "last")
			aborted = append(aborted, lastAborted...)
			for p, ks := range last {
				want[p] = append(want[p], ks...)
			}
			rw = startWorker(t, cfg, specs, logOpt)
			copiedAll()
			if err := rw.stop(); err != nil {
				t.Fatal(err)
			}

			abortedSet := make(map[string]bool)
			for _, k := range aborted {
				abortedSet[k] = true
			}
			for p := range int32(3) {
				if got := keysOf(readCommittedPartition(t, b, "A.re", p)); !slices.Equal(got, want[p]) {
					t.Errorf("A.re[%d]: read_committed sees %d records, want the %d committed on the source (both topics), once each, in order:\n got %s\nwant %s",
						p, len(got), len(want[p]), strings.Join(got, " "), strings.Join(want[p], " "))
				}
				for _, r := range readPartition(t, b, "A.re", p) {
					if abortedSet[string(r.Key)] {
						t.Errorf("A.re[%d]: record %s of an aborted source transaction is on the target", p, r.Key)
						break
					}
				}
			}
			if len(logs.lines("transaction aborted")) == 0 {
				t.Errorf("no transaction aborted; the refused batch should have aborted one")
			}
		})
	}
}
