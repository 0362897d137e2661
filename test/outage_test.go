package test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
)

// freePort returns a loopback port that nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// restartableCluster is a fake cluster on a fixed port whose data survives a
// restart, so a test can take it away and bring it back.
type restartableCluster struct {
	t    testing.TB
	id   string
	port int
	dir  string
	c    *kfake.Cluster
}

func newRestartableCluster(t testing.TB, id string, port int) *restartableCluster {
	rc := &restartableCluster{t: t, id: id, port: port, dir: t.TempDir()}
	t.Cleanup(func() {
		if rc.c != nil {
			rc.c.Close()
		}
	})
	return rc
}

func (rc *restartableCluster) start() {
	rc.t.Helper()
	c, err := kfake.NewCluster(kfake.ClusterID(rc.id), kfake.NumBrokers(1), kfake.Ports(rc.port), kfake.DataDir(rc.dir))
	if err != nil {
		rc.t.Fatalf("start cluster %s on port %d: %v", rc.id, rc.port, err)
	}
	rc.c = c
}

func (rc *restartableCluster) stop() {
	rc.c.Close()
	rc.c = nil
}

func (rc *restartableCluster) addr() string { return "127.0.0.1:" + strconv.Itoa(rc.port) }

// TestOutage_SourceDownAtStart starts the worker while the source cluster is
// not there yet; once it comes up, everything is copied.
func TestOutage_SourceDownAtStart(t *testing.T) {
	dst := newCluster(t, "dst")
	src := newRestartableCluster(t, "src", freePort(t))
	cfg := connect.WorkerConfig{
		Clusters: map[string]connect.ClusterConfig{
			"A": {Alias: "A", Opts: []kgo.Opt{kgo.SeedBrokers(src.addr())}},
			"B": {Alias: "B", Opts: []kgo.Opt{kgo.SeedBrokers(dst.ListenAddrs()...)}},
		},
		RetryBackoffMax: 500 * time.Millisecond,
	}
	startWorker(t, cfg, []connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	time.Sleep(2 * time.Second) // the worker retries against a dead address meanwhile

	src.start()
	adm := kadm.NewClient(client(t, src.c))
	if _, err := adm.CreateTopic(context.Background(), 3, 1, nil, "late"); err != nil {
		t.Fatal(err)
	}
	want := produceRecords(t, client(t, src.c, kgo.RecordPartitioner(kgo.ManualPartitioner())), "late", 3, 2000, "late")
	compareTopic(t, "A.late", want, consumeAll(t, dst, "A.late", 6000, 60*time.Second))
}

// TestOutage_SourceGoesAwayMidRun takes the source cluster away while records
// are being copied and brings it back with its data: the worker retries and
// copies every record exactly once.
func TestOutage_SourceGoesAwayMidRun(t *testing.T) {
	dst := newCluster(t, "dst")
	src := newRestartableCluster(t, "src", freePort(t))
	src.start()
	adm := kadm.NewClient(client(t, src.c))
	if _, err := adm.CreateTopic(context.Background(), 4, 1, nil, "steady"); err != nil {
		t.Fatal(err)
	}
	want := produceRecords(t, client(t, src.c, kgo.RecordPartitioner(kgo.ManualPartitioner())), "steady", 4, 5000, "before")
	cfg := connect.WorkerConfig{
		Clusters: map[string]connect.ClusterConfig{
			"A": {Alias: "A", Opts: []kgo.Opt{kgo.SeedBrokers(src.addr())}},
			"B": {Alias: "B", Opts: []kgo.Opt{kgo.SeedBrokers(dst.ListenAddrs()...)}},
		},
		RetryBackoffMax: 500 * time.Millisecond,
	}
	startWorker(t, cfg, []connect.ConnectorSpec{sourceSpec("A", "B", nil)})
	waitFor(t, 30*time.Second, "the first records copied", func() bool {
		return totalRecords(endOffsets(t, dst, "A.steady")) == 20000
	})

	src.stop()
	time.Sleep(3 * time.Second) // fetches, metadata and topic refreshes fail meanwhile
	src.start()
	more := produceRecords(t, client(t, src.c, kgo.RecordPartitioner(kgo.ManualPartitioner())), "steady", 4, 3000, "after")
	for p, rs := range more {
		want[p] = append(want[p], rs...)
	}
	compareTopic(t, "A.steady", want, consumeAll(t, dst, "A.steady", 32000, 60*time.Second))
}
