package connect_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
)

// eosConfig is connecttest.Config with exactly-once mode on for the flow
// source->target, and transactions of interval.
func eosConfig(target *kfake.Cluster, interval time.Duration) connect.WorkerConfig {
	cfg := connecttest.Config(target)
	cfg.Herders = map[string]connect.HerderConfig{"source->target": {ExactlyOnce: true}}
	cfg.OffsetFlushInterval = interval
	return cfg
}

// eosSpec is conn's spec with props added.
func eosSpec(conn *connecttest.Connector, props ...string) connect.ConnectorSpec {
	s := conn.Spec()
	for i := 0; i+1 < len(props); i += 2 {
		s.Props[props[i]] = props[i+1]
	}
	return s
}

// checkExactlyOnce fails the test unless a read_committed consumer of topic
// on c sees each source record of the partitions exactly once, in order.
// It returns how many records a read_uncommitted consumer sees besides
// (copies in aborted transactions).
func checkExactlyOnce(t *testing.T, c *kfake.Cluster, src *connecttest.Source, topic string, partitions ...int32) (aborted int) {
	t.Helper()
	committed := connecttest.ReadCommitted(t, c, topic)
	all := connecttest.ReadTopic(t, c, topic)
	for _, p := range partitions {
		want := src.Log(topic, p)
		got := committed[p]
		if len(got) != len(want) {
			t.Errorf("%s[%d]: read_committed sees %d records, want each of the %d source records once", topic, p, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if string(got[i].Key) != string(want[i].Key) || string(got[i].Value) != string(want[i].Value) {
				t.Errorf("%s[%d]: committed record %d is %q, want %q", topic, p, i, got[i].Value, want[i].Value)
				break
			}
		}
		aborted += len(all[p]) - len(got)
	}
	return aborted
}

// txnState describes the transactional id on c.
func txnState(t *testing.T, c *kfake.Cluster, id string) (string, bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := kadm.NewClient(cl).ListTransactions(ctx, nil, nil)
	if err != nil {
		t.Fatalf("list transactions: %v", err)
	}
	l, ok := ls[id]
	return l.State, ok
}

// TestExactlyOnce_CopiesInTransactions: every record reaches the target
// once, in transactions of the task's transactional id
// "<group>-<connector>-<task>" that also hold the source offsets, and a
// read_committed consumer sees each record once; the offsets committed are
// the last records'.
func TestExactlyOnce_CopiesInTransactions(t *testing.T) {
	for _, boundary := range []string{"interval", "poll"} {
		t.Run(boundary, func(t *testing.T) {
			target := connecttest.NewCluster(t, kfake.SeedTopics(2, "t"))
			src := connecttest.NewSource()
			p0, p1 := connecttest.Partition{Topic: "t"}, connecttest.Partition{Topic: "t", Partition: 1}
			src.Append("t", 0, connecttest.Records(300)...)
			src.Append("t", 1, connecttest.Records(200)...)
			conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p0, p1})
			conn.MaxPoll = 50
			w := connect.NewWorker(eosConfig(target, 100*time.Millisecond), connect.WithRegistry(connecttest.Registry(conn)),
				connect.WithLogger(connecttest.Logger(t)))
			run := connecttest.Run(t, w, eosSpec(conn, connect.KeyTransactionBoundary, boundary))
			connecttest.WaitFor(t, 30*time.Second, "every record committed", func() bool {
				got := connecttest.ReadCommitted(t, target, "t")
				return len(got[0]) >= 300 && len(got[1]) >= 200
			})
			src.Append("t", 0, connecttest.RecordsFrom(300, 100)...)
			connecttest.WaitFor(t, 30*time.Second, "the new records committed", func() bool {
				return len(connecttest.ReadCommitted(t, target, "t")[0]) >= 400
			})
			if st, ok := txnState(t, target, "source-mm2-fake-0"); !ok {
				t.Errorf("no transactional id source-mm2-fake-0 on the target")
			} else {
				t.Logf("source-mm2-fake-0 is %s", st)
			}
			ts, _ := run.Task("fake", 0)
			if err := run.Stop(); err != nil {
				t.Fatal(err)
			}
			if aborted := checkExactlyOnce(t, target, src, "t", 0, 1); aborted != 0 {
				t.Errorf("%d records in aborted transactions; nothing failed", aborted)
			}
			for _, p := range []connecttest.Partition{p0, p1} {
				if o, _ := committedOf(t, target, "fake", p); o != int64(len(src.Log("t", p.Partition))-1) {
					t.Errorf("committed offset of %v = %d, want its last record", p, o)
				}
			}
			if ts.Commits < 2 {
				t.Errorf("%d transactions committed while the task ran, want several", ts.Commits)
			}
			if boundary == "poll" && ts.Commits < 8 {
				t.Errorf("%d transactions with transaction.boundary=poll over at least 9 polls of 50 records", ts.Commits)
			}
		})
	}
}

// TestExactlyOnce_CommitterFailureAborts: a transaction whose task cannot
// write what it records about the records (its Committer fails) aborts,
// and the task starts again from the offsets committed before: the
// aborted copies are there for read_uncommitted consumers, never for
// read_committed ones, which see each record once.
func TestExactlyOnce_CommitterFailureAborts(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	p0 := connecttest.Partition{Topic: "t"}
	src.Append("t", 0, connecttest.Records(100)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p0})
	conn.MaxPoll = 10
	conn.Hooks.Commit = func(_, attempt int) error {
		if attempt == 2 || attempt == 3 {
			return errors.New("index entry refused")
		}
		return nil
	}
	logger, logs := connecttest.CapturingLogger(t)
	w := connect.NewWorker(eosConfig(target, 50*time.Millisecond), connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(logger))
	run := connecttest.Run(t, w, eosSpec(conn))
	connecttest.WaitFor(t, 30*time.Second, "every record committed", func() bool {
		return len(connecttest.ReadCommitted(t, target, "t")[0]) >= 100
	})
	// The next two commits fail.
	src.Append("t", 0, connecttest.RecordsFrom(100, 50)...)
	connecttest.WaitFor(t, 30*time.Second, "the new records committed", func() bool {
		return len(connecttest.ReadCommitted(t, target, "t")[0]) >= 150
	})
	ts, _ := run.Task("fake", 0)
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	aborted := checkExactlyOnce(t, target, src, "t", 0)
	if aborted == 0 {
		t.Errorf("no aborted copies: the failed commits aborted nothing?")
	}
	if ts.State != connect.StateRunning || ts.Restarts != 0 {
		t.Errorf("task %s after %d restarts: an aborted transaction must not fail the task", ts.State, ts.Restarts)
	}
	if len(logs.Lines("[WARN]", "transaction aborted", "index entry refused")) != 2 {
		t.Errorf("want 2 warnings of an aborted transaction naming the cause:\n%s", strings.Join(logs.Lines("transaction aborted"), "\n"))
	}
	if conn.TaskStarts.Load() != 3 {
		t.Errorf("%d task starts, want 3 (the first and a restart in place after each abort)", conn.TaskStarts.Load())
	}
	t.Logf("%d aborted copies", aborted)
}

// TestExactlyOnce_RefusedRecordBlocksItsPartition: a record the target
// refuses aborts the transaction; its partition copies again up to the
// record and blocks there, retrying alone in transactions of its own,
// while the other partitions go on; once the target takes the record the
// partition resumes. read_committed consumers see every record once.
func TestExactlyOnce_RefusedRecordBlocksItsPartition(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(2, "t"))
	src := connecttest.NewSource()
	p0, p1 := connecttest.Partition{Topic: "t"}, connecttest.Partition{Topic: "t", Partition: 1}
	src.Append("t", 0, connecttest.Records(50)...)
	src.Append("t", 1, connecttest.Records(50)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p0, p1})
	conn.MaxPoll = 10
	cfg := eosConfig(target, 100*time.Millisecond)
	cfg.RetryBackoffMax = 200 * time.Millisecond
	tc := cfg.Clusters["target"]
	tc.ProducerOpts = []kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression())}
	cfg.Clusters["target"] = tc
	logger, logs := connecttest.CapturingLogger(t)
	w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(logger))
	run := connecttest.Run(t, w, eosSpec(conn))
	connecttest.WaitFor(t, 30*time.Second, "the first records committed", func() bool {
		got := connecttest.ReadCommitted(t, target, "t")
		return len(got[0]) >= 50 && len(got[1]) >= 50
	})
	// From now on the target refuses every batch of t[0] that holds the
	// record of value v60 (the producer does not compress: see above).
	fault := target.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{0}, Err: kerr.MessageTooLarge, Count: -1,
		When: func(kr kmsg.Request) bool {
			for _, tp := range kr.(*kmsg.ProduceRequest).Topics {
				for _, p := range tp.Partitions {
					if p.Partition == 0 && strings.Contains(string(p.Records), "v60") {
						return true
					}
				}
			}
			return false
		}})
	src.Append("t", 0, connecttest.RecordsFrom(50, 50)...)
	src.Append("t", 1, connecttest.RecordsFrom(50, 50)...)
	connecttest.WaitFor(t, 30*time.Second, "t[0] blocked at offset 60", func() bool {
		ts, _ := run.Task("fake", 0)
		return len(ts.BlockedPartitions) == 1 && ts.BlockedPartitions[0].Offset == 60 && ts.BlockedPartitions[0].Retries >= 1
	})
	connecttest.WaitFor(t, 30*time.Second, "t[1] committed meanwhile, and t[0] up to the refused record", func() bool {
		got := connecttest.ReadCommitted(t, target, "t")
		return len(got[1]) >= 100 && len(got[0]) >= 60
	})
	src.Append("t", 1, connecttest.RecordsFrom(100, 50)...)
	connecttest.WaitFor(t, 30*time.Second, "t[1] still committed", func() bool {
		return len(connecttest.ReadCommitted(t, target, "t")[1]) >= 150
	})
	if n := len(connecttest.ReadCommitted(t, target, "t")[0]); n != 60 {
		t.Fatalf("read_committed sees %d records of t[0] while offset 60 is refused, want 60", n)
	}
	ts, _ := run.Task("fake", 0)
	if ts.State != connect.StateRunning || ts.Restarts != 0 {
		t.Errorf("task is %s after %d restarts, want RUNNING without restarts", ts.State, ts.Restarts)
	}
	if n := len(logs.Lines("[ERROR]", "partition stopped at a record the target refused", "offset=60")); n != 1 {
		t.Errorf("%d ERROR lines name the block, want 1", n)
	}
	aborts := ts.TransactionAborts
	// REST and the metrics count the aborted transactions.
	rec := httptest.NewRecorder()
	w.Handler("test").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `mm2go_task_transaction_aborts_total{connector="fake",source="source",target="target",task="0"} `; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %s", want)
	}
	rec = httptest.NewRecorder()
	w.Handler("test").ServeHTTP(rec, httptest.NewRequest("GET", "/source/target/connectors/fake/status", nil))
	if !strings.Contains(rec.Body.String(), `"transaction_aborts":`) {
		t.Errorf("REST status lacks transaction_aborts: %s", rec.Body)
	}
	fault.Remove()
	connecttest.WaitFor(t, 30*time.Second, "t[0] resumed", func() bool {
		return len(connecttest.ReadCommitted(t, target, "t")[0]) >= 100
	})
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, target, src, "t", 0, 1)
	// The retries of the block go alone in transactions of their own:
	// after the first abort (which took t[1]'s records with it), each
	// retry aborted only itself.
	t.Logf("%d transactions aborted while t[0] was blocked", aborts)
	if aborts < 2 {
		t.Errorf("%d aborts: the refusal and its retries should each have aborted a transaction", aborts)
	}
}

// TestExactlyOnce_FencedTaskStopsWriting: another producer initializes the
// task's transactional id while the task runs (a second worker taking it
// over, say): the task's open transaction is aborted, the task fails with
// an error that says it was fenced, and nothing it wrote after the fence
// commits; restarted, it fences the other in turn and goes on from the
// committed offsets, each record once.
func TestExactlyOnce_FencedTaskStopsWriting(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	src := connecttest.NewSource()
	p0 := connecttest.Partition{Topic: "t"}
	src.Append("t", 0, connecttest.Records(100)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{p0})
	conn.MaxPoll = 10
	w := connect.NewWorker(eosConfig(target, 300*time.Millisecond), connect.WithRegistry(connecttest.Registry(conn)),
		connect.WithLogger(connecttest.Logger(t)))
	run := connecttest.Run(t, w, eosSpec(conn))
	connecttest.WaitFor(t, 30*time.Second, "the first records committed", func() bool {
		return len(connecttest.ReadCommitted(t, target, "t")[0]) >= 100
	})
	zombieKiller, err := kgo.NewClient(kgo.SeedBrokers(target.ListenAddrs()...), kgo.TransactionalID(connect.TransactionalID("source-mm2", "fake", 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer zombieKiller.Close()
	src.Append("t", 0, connecttest.RecordsFrom(100, 1000)...)
	connecttest.WaitFor(t, 30*time.Second, "a transaction open", func() bool {
		st, _ := txnState(t, target, "source-mm2-fake-0")
		return st == "Ongoing"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := zombieKiller.ProducerID(ctx); err != nil {
		t.Fatal(err)
	}
	connecttest.WaitFor(t, 30*time.Second, "the task failed, fenced", func() bool {
		ts, _ := run.Task("fake", 0)
		return strings.Contains(ts.LastError, "was fenced")
	})
	connecttest.WaitFor(t, 30*time.Second, "the restarted task copied the rest", func() bool {
		return len(connecttest.ReadCommitted(t, target, "t")[0]) >= 1100
	})
	if err := run.Stop(); err == nil || !strings.Contains(err.Error(), "was fenced") {
		t.Logf("Run = %v", err)
	}
	checkExactlyOnce(t, target, src, "t", 0)
	ts, _ := run.Task("fake", 0)
	if ts.Restarts < 1 {
		t.Errorf("%d restarts, want the fenced task restarted", ts.Restarts)
	}
}

// TestExactlyOnce_FencesTasksThatWentAway: a worker with fewer tasks than
// before fences the transactional ids of the tasks that are gone, whose
// zombies could otherwise commit: an open transaction of task 1 is
// aborted, and its producer cannot commit any more.
func TestExactlyOnce_FencesTasksThatWentAway(t *testing.T) {
	target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	zombie, err := kgo.NewClient(kgo.SeedBrokers(target.ListenAddrs()...), kgo.TransactionalID(connect.TransactionalID("source-mm2", "fake", 1)),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close()
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	src := connecttest.NewSource()
	src.Append("t", 0, connecttest.Records(10)...)
	conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
	w := connect.NewWorker(eosConfig(target, 50*time.Millisecond), connect.WithRegistry(connecttest.Registry(conn)),
		connect.WithLogger(connecttest.Logger(t)))
	run := connecttest.Run(t, w, eosSpec(conn, "tasks.max", "2"))
	connecttest.WaitFor(t, 30*time.Second, "the records committed", func() bool {
		return len(connecttest.ReadCommitted(t, target, "t")[0]) >= 10
	})
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Errorf("the zombie of task 1 committed after the worker started with one task")
	} else {
		t.Logf("zombie commit: %v", err)
	}
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, r := range connecttest.ReadCommitted(t, target, "t")[0] {
		if string(r.Value) == "zombie" {
			t.Errorf("the zombie's record is committed")
		}
	}
	checkExactlyOnce(t, target, src, "t", 0)
}

// TestExactlyOnce_RequiredWithoutIt: exactly.once.support=required on a
// connector whose herder does not copy exactly once fails the connector,
// saying why; transaction.boundary=connector is refused by name.
func TestExactlyOnce_RefusedConfigs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		eos   bool
		props []string
		want  string
	}{
		{"required", false, []string{connect.KeyExactlyOnceSupport, "required"}, "exactly.once.support=required, but flow source->target does not copy exactly once"},
		{"connector boundary", true, []string{connect.KeyTransactionBoundary, "connector"}, "transaction.boundary=connector: fake does not define transaction boundaries"},
		{"interval above timeout", true, []string{connect.KeyTransactionInterval, "40000"}, "must be below half the producer's transaction.timeout.ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := connecttest.NewCluster(t, kfake.SeedTopics(1, "t"))
			src := connecttest.NewSource()
			conn := connecttest.NewConnector("fake", src, []connecttest.Partition{{Topic: "t"}})
			cfg := connecttest.Config(target)
			if tc.eos {
				cfg = eosConfig(target, time.Second)
			}
			w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
			run := connecttest.Run(t, w, eosSpec(conn, tc.props...))
			connecttest.WaitFor(t, 30*time.Second, "the failure reported", func() bool {
				for _, cs := range w.Status() {
					if strings.Contains(cs.Error, tc.want) {
						return true
					}
					for _, ts := range cs.Tasks {
						if strings.Contains(ts.LastError, tc.want) {
							return true
						}
					}
				}
				return false
			})
			if err := run.Stop(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want %q", err, tc.want)
			}
		})
	}
}
