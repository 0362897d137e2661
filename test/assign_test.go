package test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

// duplicates counts, per partition, the records on the target beyond the
// first copy of each source record (records compared by key and value).
func duplicates(got map[int32][]*kgo.Record) int {
	n := 0
	for _, rs := range got {
		seen := make(map[string]bool, len(rs))
		for _, r := range rs {
			k := fmt.Sprintf("%q/%q/%d", r.Key, r.Value, r.Timestamp.UnixMilli())
			if seen[k] {
				n++
			}
			seen[k] = true
		}
	}
	return n
}

// backgroundProducer writes batches of records to topics on c until stopped,
// and returns, per topic, what it wrote.
type backgroundProducer struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex // guards want
	want map[string]map[int32][]*kgo.Record
}

func produceInBackground(t *testing.T, c *kfake.Cluster, partitions int32, topics ...string) *backgroundProducer {
	bp := &backgroundProducer{stop: make(chan struct{}), done: make(chan struct{}), want: make(map[string]map[int32][]*kgo.Record)}
	cl := client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	go func() {
		defer close(bp.done)
		for round := 0; round < 10_000; round++ {
			select {
			case <-bp.stop:
				return
			default:
			}
			for _, topic := range topics {
				recs, all := makeRecords(topic, partitions, 20, fmt.Sprintf("bg%d", round))
				if err := cl.ProduceSync(context.Background(), all...).FirstErr(); err != nil {
					t.Errorf("produce to %s: %v", topic, err)
					return
				}
				bp.mu.Lock()
				if bp.want[topic] == nil {
					bp.want[topic] = make(map[int32][]*kgo.Record)
				}
				appendRecords(bp.want[topic], recs)
				bp.mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond) // a steady stream, not a flood
		}
	}()
	t.Cleanup(bp.finish)
	return bp
}

// finish stops the producer and returns what it wrote.
func (bp *backgroundProducer) finish() {
	select {
	case <-bp.stop:
	default:
		close(bp.stop)
	}
	<-bp.done
}

// wrote returns a copy of what the producer wrote to topic so far.
func (bp *backgroundProducer) wrote(topic string) map[int32][]*kgo.Record {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	out := make(map[int32][]*kgo.Record)
	for p, rs := range bp.want[topic] {
		out[p] = slices.Clone(rs)
	}
	return out
}

// checkNoDuplicates reads topic back from the target once it holds want and
// fails on any record copied twice, and on any difference from want.
func checkNoDuplicates(t *testing.T, dst *kfake.Cluster, topic string, want map[int32][]*kgo.Record) {
	t.Helper()
	var ends map[int32]int64
	waitFor(t, 30*time.Second, fmt.Sprintf("%d records on %s", countRecords(want), topic), func() bool {
		ends = endOffsets(t, dst, topic)
		for p, rs := range want {
			if ends[p] < int64(len(rs)) {
				return false
			}
		}
		return true
	})
	got := consumeAll(t, dst, topic, int(totalRecords(ends)), 10*time.Second)
	if n := duplicates(got); n != 0 {
		t.Errorf("%s: %d records copied twice (target %d records, source %d), want 0", topic, n, totalRecords(ends), countRecords(want))
	}
	compareTopic(t, topic, want, got)
}

// handOffConfig commits source offsets only at a hand-off or a stop (the
// flush interval is longer than the test), so that a partition that changes
// task without one is copied again from its start.
func handOffConfig(src, dst *kfake.Cluster) connect.WorkerConfig {
	return connect.WorkerConfig{Clusters: clusterConfigs(map[string]*kfake.Cluster{"A": src, "B": dst}), OffsetFlushInterval: time.Hour}
}

// TestAssignment_NewTopicSortingFirstMovesNothing adds a topic whose name
// sorts before the replicated ones while records stream in, with two tasks:
// the existing partitions keep their tasks, the new one goes to the task
// with fewer partitions, and nothing is copied twice.
func TestAssignment_NewTopicSortingFirstMovesNothing(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	backlog := produceTopic(t, src, "m", 4, 500, "m")
	logOpt, logs := capturingLogger(t)
	startWorker(t, handOffConfig(src, dst), []connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{"tasks.max": "2"})}, logOpt)
	waitCopied(t, dst, "A.m", backlog, 20*time.Second)
	bg := produceInBackground(t, src, 4, "m")
	waitFor(t, 10*time.Second, "streaming", func() bool { return len(bg.wrote("m")) > 0 })
	first := produceTopic(t, src, "a-first", 3, 200, "a")
	waitFor(t, 10*time.Second, "the new topic assigned", func() bool { return len(logs.lines("assignment changed", "added=")) > 0 })
	time.Sleep(500 * time.Millisecond) // stream on after the change
	bg.finish()
	checkNoDuplicates(t, dst, "A.m", appendRecords(backlog, bg.wrote("m")))
	checkNoDuplicates(t, dst, "A.a-first", first)
	if got := logs.lines("handed over"); len(got) != 0 {
		t.Errorf("partitions changed task when a topic was added:\n%v", got)
	}
}

// TestAssignment_TaskRemovedHandsOverGracefully deletes a topic so that
// fewer partitions than tasks.max remain and a task goes away while records
// stream in: its partitions go to the remaining tasks only after it
// committed them, so nothing is copied twice, and the other partitions stay
// where they were.
func TestAssignment_TaskRemovedHandsOverGracefully(t *testing.T) {
	src, dst := newCluster(t, "src"), newCluster(t, "dst")
	wantB := produceTopic(t, src, "b", 1, 300, "b")
	wantC := produceTopic(t, src, "c", 1, 300, "c")
	produceTopic(t, src, "a", 1, 300, "a")
	rw := startWorker(t, handOffConfig(src, dst), []connect.ConnectorSpec{sourceSpec("A", "B", map[string]string{"tasks.max": "3"})})
	waitCopied(t, dst, "A.c", wantC, 20*time.Second)
	bg := produceInBackground(t, src, 1, "b", "c")
	waitFor(t, 10*time.Second, "streaming", func() bool { return len(bg.wrote("c")) > 0 })
	if err := src.DeleteTopic("a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a task removed", func() bool {
		for _, cs := range rw.w.Status() {
			if cs.Name == connectors.ClassMirrorSource {
				return len(cs.Tasks) == 2
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	bg.finish()
	checkNoDuplicates(t, dst, "A.b", appendRecords(wantB, bg.wrote("b")))
	checkNoDuplicates(t, dst, "A.c", appendRecords(wantC, bg.wrote("c")))
}
