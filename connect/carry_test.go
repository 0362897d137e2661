package connect_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connect/connecttest"
	"github.com/mm2go/mm2go/connect/group"
)

// TestRunGroup_LostLeaseCarriesTheCommit runs a worker alone in its group
// and cuts it off from the group's coordinator (its group requests get no
// answer, as when the target is away) after its task copied records it has
// not committed yet. The worker loses its lease, and the task stops with
// its commit refused. Once the coordinator answers again, the worker is
// given the task back:
//   - it commits what the task had copied (after the task's own records,
//     CommitCarrier) and goes on from there: nothing is copied twice;
//   - if somebody else committed the partition meanwhile (another worker
//     that ran the task, or an operator who set its offsets), it goes on
//     from that commit, never over it, whether it is before or past what
//     the task had copied;
//   - if the task cannot say what its commit writes (CommitCarrier fails,
//     or it has a Committer without it), it copies the uncommitted records
//     again, as without the carry.
func TestRunGroup_LostLeaseCarriesTheCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a lease to end and the group to settle again")
	}
	t.Parallel()
	for _, c := range []struct {
		name string
		// foreign is a commit of the partition written while the worker is
		// cut off (-1: none), after another worker's copies of source
		// offsets 100 up to it if it is past 199.
		foreign     int64
		carrierErr  error
		plain       bool    // the task has a Committer but no CommitCarrier
		wantSources []int64 // the source offsets on the target, in order
		wantCarried bool    // the task's carried records written
	}{
		{"nothing copied twice", -1, nil, false, seq(0, 300), true},
		{"a commit meanwhile before what was copied wins", 149, nil, false, append(seq(0, 200), seq(150, 300)...), false},
		{"a commit meanwhile past what was copied wins", 249, nil, false, append(append(seq(0, 200), seq(100, 250)...), seq(250, 300)...), false},
		{"task cannot carry its commit", -1, errors.New("index entries unknown"), false, append(seq(0, 200), seq(100, 300)...), false},
		{"task without CommitCarrier", -1, nil, true, append(seq(0, 200), seq(100, 300)...), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			target := connecttest.NewCluster(t, kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
			adm := kadm.NewClient(seedClient(t, target))
			if _, err := adm.CreateTopics(context.Background(), 1, 1, nil, "ta", "carried"); err != nil {
				t.Fatal(err)
			}
			src := connecttest.NewSource()
			tp := connecttest.Partition{Topic: "ta"}
			conn := connecttest.NewConnector("a", src, []connecttest.Partition{tp})
			conn.NoPause = c.plain
			conn.Hooks.Uncommitted = func(task int) ([]*kgo.Record, error) {
				if c.carrierErr != nil {
					return nil, c.carrierErr
				}
				return []*kgo.Record{{Topic: "carried", Value: fmt.Appendf(nil, "task %d", task)}}, nil
			}
			cfg := connecttest.Config(target)
			cfg.OffsetFlushInterval = time.Hour // only the first acks of a run are committed (soon)
			cfg.WorkerID = "w1"
			w := connect.NewWorker(cfg, connect.WithRegistry(connecttest.Registry(conn)), connect.WithLogger(connecttest.Logger(t)))
			run := connecttest.RunGroup(t, w, connect.GroupConfig{
				ID: "carry", Cluster: "target", Fingerprint: group.Fingerprint{Hash: "f"}, ConfigTopicReplication: 1,
				// A join sent into the cut waits for the rebalance timeout
				// (and kgo's overhead) for its answer.
				SessionTimeout: 3 * time.Second, RebalanceTimeout: 3 * time.Second, HeartbeatInterval: 300 * time.Millisecond,
			}, conn.Spec())
			key := string(connecttest.OffsetKey("a", tp))
			committed := func() int64 {
				o, ok := connecttest.Committed(t, target, connect.OffsetsTopic("source"))[key]
				if !ok {
					return -1
				}
				return o
			}
			onTarget := func() int { return len(connecttest.ReadTopic(t, target, "ta")[0]) }

			// 100 records copied and committed (a run's first acks are
			// committed soon), then 100 copied and not committed.
			src.Append("ta", 0, connecttest.RecordsFrom(0, 100)...)
			connecttest.WaitFor(t, 30*time.Second, "the first 100 records committed", func() bool { return committed() == 99 })
			src.Append("ta", 0, connecttest.RecordsFrom(100, 100)...)
			connecttest.WaitFor(t, 30*time.Second, "200 records on the target", func() bool { return onTarget() == 200 })

			// The coordinator stops answering the worker.
			heal := connecttest.CutGroupRequests(target)
			stops := conn.TaskStops.Load()
			connecttest.WaitFor(t, 30*time.Second, "the task stopped: the worker lost its lease", func() bool { return conn.TaskStops.Load() > stops })
			if got := committed(); got != 99 {
				t.Fatalf("committed %d after the task stopped without its lease, want 99 (its last commit)", got)
			}
			if c.foreign > 199 {
				recs := connecttest.RecordsFrom(100, int(c.foreign)-99)
				for _, r := range recs {
					r.Topic = "ta"
				}
				if err := seedClient(t, target).ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			if c.foreign >= 0 {
				commitForeign(t, target, key, c.foreign)
			}
			src.Append("ta", 0, connecttest.RecordsFrom(200, 100)...)
			heal()

			connecttest.WaitFor(t, 60*time.Second, "every record copied again", func() bool { return onTarget() >= len(c.wantSources) })
			if err := run.Stop(); err != nil {
				t.Errorf("RunGroup: %v", err)
			}
			got := connecttest.ReadTopic(t, target, "ta")[0]
			if len(got) != len(c.wantSources) {
				t.Fatalf("%d records on the target, want %d", len(got), len(c.wantSources))
			}
			for i, r := range got {
				if want := fmt.Sprintf("v%d", c.wantSources[i]); string(r.Value) != want {
					t.Fatalf("target record %d is %s, want %s (the copy: %s)", i, r.Value, want, values(got))
				}
			}
			if got := committed(); got != 299 {
				t.Errorf("committed %d at the end, want 299", got)
			}
			carried := connecttest.ReadTopic(t, target, "carried")[0]
			if (len(carried) > 0) != c.wantCarried {
				t.Errorf("the task's carried records on the target: %d, want them there: %v", len(carried), c.wantCarried)
			}
		})
	}
}

// seedClient is a client of c, closed when the test ends.
func seedClient(t *testing.T, c *kfake.Cluster) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// commitForeign commits offset for key to the source offsets topic, as
// another worker would.
func commitForeign(t *testing.T, target *kfake.Cluster, key string, offset int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := &kgo.Record{Topic: connect.OffsetsTopic("source"), Key: []byte(key), Value: connect.AppendOffsetValue(nil, offset)}
	if err := seedClient(t, target).ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("commit %d for %s: %v", offset, key, err)
	}
}

func seq(from, to int64) []int64 {
	out := make([]int64, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func values(recs []*kgo.Record) string {
	var b []byte
	for i, r := range recs {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, r.Value...)
	}
	return string(b)
}
