package connect_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
)

// checkCopy fails the test unless topic on c holds exactly the source's
// records of each partition, in order.
func checkCopy(t *testing.T, c *kfake.Cluster, src *connecttest.Source, topic string, partitions ...int32) {
	t.Helper()
	got := connecttest.ReadTopic(t, c, topic)
	for _, p := range partitions {
		want := src.Log(topic, p)
		if len(got[p]) != len(want) {
			t.Errorf("%s[%d]: %d records on the target, want %d", topic, p, len(got[p]), len(want))
			continue
		}
		for i, r := range got[p] {
			if string(r.Key) != string(want[i].Key) || string(r.Value) != string(want[i].Value) || !r.Timestamp.Equal(want[i].Timestamp) {
				t.Errorf("%s[%d] offset %d: key %q value %q, want %q %q", topic, p, i, r.Key, r.Value, want[i].Key, want[i].Value)
				break
			}
		}
	}
}

// copied reports whether topic[p] on c has n records.
func copied(t *testing.T, c *kfake.Cluster, topic string, p int32, n int) bool {
	return len(connecttest.ReadTopic(t, c, topic)[p]) >= n
}

// committedOf returns the committed source offset of p of connector name.
func committedOf(t *testing.T, c *kfake.Cluster, name string, p connecttest.Partition) (int64, bool) {
	o, ok := connecttest.Committed(t, c, connect.OffsetsTopic("source"))[string(connecttest.OffsetKey(name, p))]
	return o, ok
}

// TestWorker_CopiesInOrderAndCommits: whatever the batches, every record
// reaches the target in order, and the committed source offset of each
// partition is its last record once the worker stopped.
func TestWorker_CopiesInOrderAndCommits(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int32
		records    int
		maxPoll    int
	}{
		{"one partition, small polls", 1, 300, 7},
		{"four partitions", 4, 500, 500},
		{"one record", 1, 1, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := connecttest.NewCluster(t, kfake.SeedTopics(tc.partitions, "t"))
			src := connecttest.NewSource()
			var parts []connecttest.Partition
			for p := range tc.partitions {
				src.Append("t", p, connecttest.Records(tc.records)...)
				parts = append(parts, connecttest.Partition{Topic: "t", Partition: p})
			}
			conn := connecttest.NewConnector("fake", src, parts)
			conn.MaxPoll = tc.maxPoll
			run := connecttest.Run(t, connecttest.Worker(t, target, conn), conn.Spec())
			connecttest.WaitFor(t, 30*time.Second, "every record copied", func() bool {
				for p := range tc.partitions {
					if !copied(t, target, "t", p, tc.records) {
						return false
					}
				}
				return true
			})
			if err := run.Stop(); err != nil {
				t.Fatal(err)
			}
			ps := make([]int32, 0, tc.partitions)
			for p := range tc.partitions {
				ps = append(ps, p)
				if o, ok := committedOf(t, target, "fake", connecttest.Partition{Topic: "t", Partition: p}); !ok || o != int64(tc.records-1) {
					t.Errorf("committed offset of t[%d] = %d (%v), want %d", p, o, ok, tc.records-1)
				}
			}
			checkCopy(t, target, src, "t", ps...)
		})
	}
}

// TestWorker_FirstCommitSoon: the first commit comes soon after the first
// acknowledged records, not a flush interval after the start, so that a
// worker killed early does not copy everything again.
func TestWorker_FirstCommitSoon(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(100)...)
	p := connecttest.Partition{Topic: "t"}
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p})
	cfg := connecttest.Config(target)
	cfg.OffsetFlushInterval = time.Hour
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
	run := connecttest.Run(t, w, conn.Spec())
	connecttest.WaitFor(t, 30*time.Second, "the first commit", func() bool {
		o, ok := committedOf(t, target, "fake", p)
		return ok && o == 99
	})
	// The next records wait for the flush interval (an hour).
	src.Append("t", 0, connecttest.RecordsFrom(100, 10)...)
	connecttest.WaitFor(t, 30*time.Second, "the next records copied", func() bool { return copied(t, target, "t", 0, 110) })
	if o, _ := committedOf(t, target, "fake", p); o != 99 {
		t.Errorf("committed %d before the flush interval passed, want 99", o)
	}
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if o, _ := committedOf(t, target, "fake", p); o != 109 {
		t.Errorf("committed %d after the stop, want 109", o)
	}
}

// TestWorker_CommitterErrorHoldsCommit: while the task's Commit fails, no
// source offset is committed; the next commit after it succeeds writes them.
func TestWorker_CommitterErrorHoldsCommit(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(50)...)
	p := connecttest.Partition{Topic: "t"}
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p})
	failing := make(chan struct{})
	conn.Hooks.Commit = func(_, attempt int) error {
		select {
		case <-failing:
			return nil
		default:
			return fmt.Errorf("index not durable (attempt %d)", attempt)
		}
	}
	logger, logs := connecttest.CapturingLogger(t)
	w := connect.NewWorker(connecttest.Config(target), connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(logger))
	run := connecttest.Run(t, w, conn.Spec())
	connecttest.WaitFor(t, 30*time.Second, "records copied and commits failing", func() bool {
		return copied(t, target, "t", 0, 50) && len(logs.Lines("source offset commit failed", "index not durable (attempt 3)")) > 0
	})
	if o, ok := committedOf(t, target, "fake", p); ok {
		t.Fatalf("committed %d while the task's Commit fails", o)
	}
	close(failing)
	connecttest.WaitFor(t, 30*time.Second, "the commit", func() bool {
		o, ok := committedOf(t, target, "fake", p)
		return ok && o == 49
	})
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestWorker_RefusedRecordBlocksItsPartition: a record the target refuses
// stops its own partition at that record; the task's other partition goes
// on; Status, REST and metrics name the partition, the offset and the
// broker's error; once the target takes the record the partition resumes by
// itself, in order, without a restart.
func TestWorker_RefusedRecordBlocksItsPartition(t *testing.T) {
	for _, code := range []*kerr.Error{kerr.MessageTooLarge, kerr.InvalidRecord, kerr.PolicyViolation,
		kerr.TopicAuthorizationFailed, kerr.RecordListTooLarge, kerr.InvalidTimestamp} {
		t.Run(code.Message, func(t *testing.T) {
			target := connecttest.NewCluster(t, kfake.SeedTopics(2, "t"))
			src := connecttest.NewSource()
			p0, p1 := connecttest.Partition{Topic: "t"}, connecttest.Partition{Topic: "t", Partition: 1}
			src.Append("t", 0, connecttest.Records(50)...)
			src.Append("t", 1, connecttest.Records(50)...)
			conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p0, p1})
			logger, logs := connecttest.CapturingLogger(t)
			cfg := connecttest.Config(target)
			cfg.RetryBackoffMax = 200 * time.Millisecond
			w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(logger))
			run := connecttest.Run(t, w, conn.Spec())
			connecttest.WaitFor(t, 30*time.Second, "the first records copied", func() bool {
				return copied(t, target, "t", 0, 50) && copied(t, target, "t", 1, 50)
			})
			// From now on the target refuses every batch of t[0].
			fault := target.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{0}, Err: code, Count: -1})
			src.Append("t", 0, connecttest.RecordsFrom(50, 50)...)
			src.Append("t", 1, connecttest.RecordsFrom(50, 50)...)
			connecttest.WaitFor(t, 30*time.Second, "t[0] blocked at offset 50", func() bool {
				ts, _ := run.Task("fake", 0)
				return len(ts.BlockedPartitions) == 1 && ts.BlockedPartitions[0].Offset == 50 &&
					ts.BlockedPartitions[0].Topic == "t" && ts.BlockedPartitions[0].Partition == 0 &&
					strings.Contains(ts.BlockedPartitions[0].Error, code.Message) && ts.BlockedPartitions[0].Retries >= 1
			})
			connecttest.WaitFor(t, 30*time.Second, "t[1] copied meanwhile", func() bool { return copied(t, target, "t", 1, 100) })
			src.Append("t", 1, connecttest.RecordsFrom(100, 50)...)
			connecttest.WaitFor(t, 30*time.Second, "t[1] still copied", func() bool { return copied(t, target, "t", 1, 150) })
			if n := len(connecttest.ReadTopic(t, target, "t")[0]); n != 50 {
				t.Fatalf("t[0] has %d records while offset 50 is refused, want 50", n)
			}
			ts, _ := run.Task("fake", 0)
			if ts.State != connect.StateRunning || ts.Restarts != 0 {
				t.Errorf("task is %s after %d restarts, want RUNNING without restarts", ts.State, ts.Restarts)
			}
			if n := len(logs.Lines("[ERROR]", "partition stopped at a record the target refused", "topic=t", "partition=0", "offset=50", code.Message)); n != 1 {
				t.Errorf("%d ERROR lines name the block, want 1:\n%s", n, strings.Join(logs.Lines("[ERROR]"), "\n"))
			}
			checkBlockedReported(t, w, code.Message)

			fault.Remove()
			connecttest.WaitFor(t, 30*time.Second, "t[0] resumed", func() bool { return copied(t, target, "t", 0, 100) })
			connecttest.WaitFor(t, 10*time.Second, "the block cleared", func() bool {
				ts, _ := run.Task("fake", 0)
				return len(ts.BlockedPartitions) == 0
			})
			if err := run.Stop(); err != nil {
				t.Fatal(err)
			}
			checkCopy(t, target, src, "t", 0, 1)
			for _, p := range []connecttest.Partition{p0, p1} {
				if o, _ := committedOf(t, target, "fake", p); o != int64(len(src.Log("t", p.Partition))-1) {
					t.Errorf("committed offset of %v = %d, want its last", p, o)
				}
			}
			if ts, _ := run.Task("fake", 0); ts.RecordsAhead != 0 {
				t.Errorf("%d records written ahead of the refused one", ts.RecordsAhead)
			}
		})
	}
}

// checkBlockedReported checks that REST and the metrics show the blocked
// partition of task 0.
func checkBlockedReported(t *testing.T, w *connect.Worker, code string) {
	t.Helper()
	h := w.Handler("test")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/source/target/connectors/fake/status", nil))
	var st struct {
		Tasks []struct {
			ID      int `json:"id"`
			Blocked []struct {
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
				Offset    int64  `json:"offset"`
				Error     string `json:"error"`
				Retries   int    `json:"retries"`
			} `json:"blocked_partitions"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("REST status: %v: %s", err, rec.Body)
	}
	if len(st.Tasks) != 1 || len(st.Tasks[0].Blocked) != 1 || st.Tasks[0].Blocked[0].Topic != "t" ||
		st.Tasks[0].Blocked[0].Offset != 50 || !strings.Contains(st.Tasks[0].Blocked[0].Error, code) {
		t.Errorf("REST status does not show t[0] blocked at 50: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	found := false
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "mm2go_partition_blocked_offset{") && strings.Contains(line, `topic="t"`) &&
			strings.Contains(line, `partition="0"`) && strings.HasSuffix(line, " 50") {
			found = true
		}
	}
	if !found || !strings.Contains(rec.Body.String(), `mm2go_task_blocked_partitions{connector="fake",source="source",target="target",task="0"} 1`) {
		t.Errorf("metrics do not show t[0] blocked at 50:\n%s", grepLines(rec.Body.String(), "blocked"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestWorker_RefusedRecordFailsTaskWithoutPauser: a task that cannot pause
// partitions fails at a refused record, and is restarted with backoff until
// the target takes it; nothing after the record is written ahead of it.
func TestWorker_RefusedRecordFailsTaskWithoutPauser(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(20)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	conn.NoPause = true
	cfg := connecttest.Config(target)
	cfg.RetryBackoffMax = 200 * time.Millisecond
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
	run := connecttest.Run(t, w, conn.Spec())
	connecttest.WaitFor(t, 30*time.Second, "the first records copied", func() bool { return copied(t, target, "t", 0, 20) })
	fault := target.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Err: kerr.InvalidRecord, Count: -1})
	src.Append("t", 0, connecttest.RecordsFrom(20, 30)...)
	connecttest.WaitFor(t, 30*time.Second, "the task failed and restarted twice", func() bool {
		ts, _ := run.Task("fake", 0)
		return ts.Restarts >= 2 && strings.Contains(ts.LastError, "produce record of source offset 20 to t[0]") &&
			strings.Contains(ts.LastError, kerr.InvalidRecord.Message)
	})
	fault.Remove()
	connecttest.WaitFor(t, 30*time.Second, "the rest copied", func() bool { return copied(t, target, "t", 0, 50) })
	if err := run.Stop(); err != nil {
		t.Logf("Run: %v", err) // the task may not have run a minute since its last failure
	}
	checkCopy(t, target, src, "t", 0)
}

// TestWorker_RestartsFailedTask: a task whose Poll fails is restarted after
// a backoff that doubles (up to RetryBackoffMax); Status counts the
// restarts and keeps the last error while the task runs again.
func TestWorker_RestartsFailedTask(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(10)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	var starts []time.Time
	conn.Hooks.TaskStart = func(_, _ int) error {
		starts = append(starts, time.Now()) // the connector goroutine starts tasks one at a time
		return nil
	}
	conn.Hooks.Poll = func(_, attempt int) error {
		if attempt <= 4 {
			return fmt.Errorf("source gone bad (poll %d)", attempt)
		}
		return nil
	}
	cfg := connecttest.Config(target)
	cfg.RetryBackoffMax = 400 * time.Millisecond
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
	run := connecttest.Run(t, w, conn.Spec())
	connecttest.WaitFor(t, 30*time.Second, "records copied after 4 restarts", func() bool { return copied(t, target, "t", 0, 10) })
	ts, _ := run.Task("fake", 0)
	if ts.State != connect.StateRunning || ts.Restarts != 4 || !strings.Contains(ts.LastError, "source gone bad (poll 4)") {
		t.Errorf("task status = %s, %d restarts, last error %q; want RUNNING, 4, poll 4's error", ts.State, ts.Restarts, ts.LastError)
	}
	// Backoffs of 100, 200, 400, 400ms, less up to 20% jitter.
	for i, want := range []time.Duration{100, 200, 400, 400} {
		want *= time.Millisecond
		if i+1 >= len(starts) {
			t.Fatalf("%d task starts, want 5", len(starts))
		}
		if gap := starts[i+1].Sub(starts[i]); gap < want*8/10 {
			t.Errorf("restart %d came %v after the start before it, want at least %v", i+1, gap, want*8/10)
		}
	}
	if err := run.Stop(); err == nil || !strings.Contains(err.Error(), "source gone bad (poll 4)") {
		t.Errorf("Run = %v, want the last failure of the task, which has not run healthily since", err)
	}
}

// TestWorker_Reconfigure: a new assignment reaches a Reconfigurable task
// without a restart, and restarts a task that is not.
func TestWorker_Reconfigure(t *testing.T) {
	for _, noPause := range []bool{false, true} {
		t.Run(fmt.Sprintf("reconfigurable=%v", !noPause), func(t *testing.T) {
			target := connecttest.NewCluster(t, kfake.SeedTopics(1, "a", "b"))
			src := connecttest.NewSource()
			src.Append("a", 0, connecttest.Records(30)...)
			src.Append("b", 0, connecttest.Records(30)...)
			a, b := connecttest.Partition{Topic: "a"}, connecttest.Partition{Topic: "b"}
			conn := connecttest.NewConnector("fake", src, []connecttest.Partition{a})
			conn.NoPause = noPause
			run := connecttest.Run(t, connecttest.Worker(t, target, conn), conn.Spec())
			connecttest.WaitFor(t, 30*time.Second, "a copied", func() bool { return copied(t, target, "a", 0, 30) })
			conn.Assign([]connecttest.Partition{a, b})
			connecttest.WaitFor(t, 30*time.Second, "b copied", func() bool { return copied(t, target, "b", 0, 30) })
			src.Append("a", 0, connecttest.RecordsFrom(30, 10)...)
			connecttest.WaitFor(t, 30*time.Second, "a's new records copied", func() bool { return copied(t, target, "a", 0, 40) })
			if err := run.Stop(); err != nil {
				t.Fatal(err)
			}
			wantStarts, wantReconf := int64(1), int64(1)
			if noPause {
				wantStarts, wantReconf = 2, 0
			}
			if n, r := conn.TaskStarts.Load(), conn.Reconfigurations.Load(); n != wantStarts || r != wantReconf {
				t.Errorf("%d task starts and %d reconfigurations, want %d and %d", n, r, wantStarts, wantReconf)
			}
			checkCopy(t, target, src, "a", 0)
			checkCopy(t, target, src, "b", 0)
		})
	}
}

// TestWorker_PartitionMovesBetweenTasks: a partition moved from one task to
// another, once both took their new assignment, goes on from the offset the
// old owner committed: nothing lost, nothing twice, in order. (Records that
// arrive while the move is under way are the graceful hand-off's business.)
func TestWorker_PartitionMovesBetweenTasks(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(2, "t"))
	src := connecttest.NewSource()
	p0, p1 := connecttest.Partition{Topic: "t"}, connecttest.Partition{Topic: "t", Partition: 1}
	src.Append("t", 0, connecttest.Records(40)...)
	src.Append("t", 1, connecttest.Records(40)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p0, p1}, nil)
	cfg := connecttest.Config(target)
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
	spec := conn.Spec()
	spec.Props = connect.Props{"tasks.max": "2"}
	run := connecttest.Run(t, w, spec)
	connecttest.WaitFor(t, 30*time.Second, "both copied and committed", func() bool {
		o, ok := committedOf(t, target, "fake", p1)
		return copied(t, target, "t", 0, 40) && ok && o == 39
	})
	conn.Assign([]connecttest.Partition{p0}, []connecttest.Partition{p1})
	connecttest.WaitFor(t, 30*time.Second, "both tasks reconfigured", func() bool { return conn.Reconfigurations.Load() == 2 })
	src.Append("t", 1, connecttest.RecordsFrom(40, 40)...)
	connecttest.WaitFor(t, 30*time.Second, "p1 copied by task 1", func() bool { return copied(t, target, "t", 1, 80) })
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, target, src, "t", 1)
	if o, _ := committedOf(t, target, "fake", p1); o != 79 {
		t.Errorf("committed offset of t[1] = %d, want 79", o)
	}
}

// TestWorker_ConnectorStartRetries: retriable start errors of a connector
// are retried; a fatal one fails the connector (and only it) and Run
// reports it.
func TestWorker_ConnectorStartRetries(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(5)...)
	good := connecttest.NewConnector("good", src, []connecttest.Partition{{Topic: "t"}})
	good.Hooks.ConnectorStart = func(attempt int) error {
		if attempt < 3 {
			return connect.Retriable(errors.New("target not ready"))
		}
		return nil
	}
	bad := connecttest.NewConnector("bad", src)
	bad.Hooks.ConnectorStart = func(int) error { return errors.New("bad config") }
	w := connect.NewWorker(connecttest.Config(target), connect.WithRegistry(connecttest.Registry(good, bad)),
		connect.WithLogger(connecttest.Logger(t)))
	run := connecttest.Run(t, w, good.Spec(), bad.Spec())
	connecttest.WaitFor(t, 30*time.Second, "good copied", func() bool { return copied(t, target, "t", 0, 5) })
	err := run.Stop()
	if err == nil || !strings.Contains(err.Error(), "connector bad (source->target): start connector: bad config") ||
		strings.Contains(err.Error(), "good") {
		t.Errorf("Run = %v, want only bad's failure", err)
	}
	for _, cs := range w.Status() {
		if want := map[string]connect.State{"good": connect.StateStopped, "bad": connect.StateFailed}[cs.Name]; cs.State != want {
			t.Errorf("%s is %s, want %s", cs.Name, cs.State, want)
		}
	}
	if good.Starts.Load() != 1 || good.Stops.Load() != 1 {
		t.Errorf("good started %d and stopped %d times, want 1 and 1", good.Starts.Load(), good.Stops.Load())
	}
}

// TestWorker_RefusalsUnderLoadKeepOrder refuses single batches of a
// partition again and again while records stream into every partition: each
// refusal stops the partition at its first refused record and the retry
// resumes it there, so the target ends up with every record exactly once,
// in order, and none was ever written ahead of a refused one.
func TestWorker_RefusalsUnderLoadKeepOrder(t *testing.T) {
	const partitions, rounds, perRound = 4, 20, 500
	target := connecttest.NewCluster(t, kfake.SeedTopics(partitions, "t"))
	src := connecttest.NewSource()
	var parts []connecttest.Partition
	for p := range int32(partitions) {
		parts = append(parts, connecttest.Partition{Topic: "t", Partition: p})
	}
	conn := connecttest.NewConnector("fake", src, parts)
	conn.MaxPoll = 50 // many small batches in flight
	cfg := connecttest.Config(target)
	cfg.RetryBackoffMax = 50 * time.Millisecond
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
	run := connecttest.Run(t, w, conn.Spec())
	for round := range rounds {
		// One refused batch of partition round%partitions, among the
		// records of this round.
		fault := target.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{int32(round % partitions)},
			Err: kerr.InvalidRecord, Count: 1})
		for p := range int32(partitions) {
			for i := 0; i < perRound; i += 50 {
				src.Append("t", p, connecttest.RecordsFrom(round*perRound+i, 50)...)
			}
		}
		connecttest.WaitFor(t, 30*time.Second, "the refusal", func() bool { return fault.Hits() > 0 })
	}
	connecttest.WaitFor(t, 60*time.Second, "everything copied", func() bool {
		got := connecttest.ReadTopic(t, target, "t")
		for p := range int32(partitions) {
			if len(got[p]) < rounds*perRound {
				return false
			}
		}
		return true
	})
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	ps := make([]int32, partitions)
	for p := range ps {
		ps[p] = int32(p)
	}
	checkCopy(t, target, src, "t", ps...)
	if ts, _ := run.Task("fake", 0); ts.RecordsAhead != 0 {
		t.Errorf("%d records were written ahead of a refused one", ts.RecordsAhead)
	}
}
