package harness

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBroker_KeepsStateAcrossRestart checks what the fault suite relies on
// in kfake's persistence: a broker process stopped with SIGTERM or killed
// with SIGKILL and started again on its data directory and port has the same
// topics (same topic IDs), records and committed group offsets, and appends
// after its old end offsets.
func TestBroker_KeepsStateAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs broker processes")
	}
	for _, kill := range []bool{false, true} {
		name := map[bool]string{false: "SIGTERM", true: "SIGKILL"}[kill]
		t.Run(name, func(t *testing.T) {
			b := StartBroker(t, BrokerConfig{ClusterID: "persist"})
			cl := b.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
			adm := kadm.NewClient(cl)
			ctx, cancel := timeout(60 * time.Second)
			defer cancel()
			if _, err := adm.CreateTopic(ctx, 3, 1, nil, "t"); err != nil {
				t.Fatal(err)
			}
			pr := StartProducer(cl, ProducerConfig{Topic: "t", Partitions: 3, Tag: "g1", Limit: 3000})
			<-pr.Done()
			if n, err := pr.Stop(30 * time.Second); err != nil || n != 3000 {
				t.Fatalf("produced %d of 3000: %v", n, err)
			}
			offs := kadm.Offsets{}
			offs.Add(kadm.Offset{Topic: "t", Partition: 1, At: 42, LeaderEpoch: -1})
			if err := adm.CommitAllOffsets(ctx, "grp", offs); err != nil {
				t.Fatal(err)
			}
			before, err := ReadTopic(ctx, b.Opts(), "t")
			if err != nil {
				t.Fatal(err)
			}
			id := topicID(t, adm, "t")

			if kill {
				b.Kill()
			} else {
				b.Stop()
			}
			b.Start()

			after, err := ReadTopic(ctx, b.Opts(), "t")
			if err != nil {
				t.Fatal(err)
			}
			if r := Compare(before, after); !r.Clean() || after.Len() != before.Len() {
				t.Errorf("records after the restart differ:\n%s", r)
			}
			if got := topicID(t, adm, "t"); got != id {
				t.Errorf("topic ID %v after the restart, was %v", got, id)
			}
			fetched, err := adm.FetchOffsets(ctx, "grp")
			if err != nil {
				t.Fatal(err)
			}
			if o, ok := fetched.Lookup("t", 1); !ok || o.At != 42 {
				t.Errorf("committed offset of grp on t[1] after the restart: %+v (found %v), want 42", o, ok)
			}
			r := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: 2, Value: []byte("after")})
			if rec, err := r.First(); err != nil || rec.Offset != 1000 {
				t.Errorf("record produced after the restart at offset %v (%v), want 1000", rec.Offset, err)
			}
		})
	}
}

func topicID(t *testing.T, adm *kadm.Client, topic string) kadm.TopicID {
	t.Helper()
	ctx, cancel := timeout(30 * time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return td[topic].ID
}

// TestBroker_BehindProxy checks that a client bootstrapping from a proxied
// broker's address goes through the proxy for every request (the broker
// advertises the proxy), while the test's own clients (Opts) bypass it.
func TestBroker_BehindProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs broker processes")
	}
	px, err := NewProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	b := StartBroker(t, BrokerConfig{ClusterID: "proxied", Proxy: px})
	if b.Addr() != px.Addr() {
		t.Fatalf("broker Addr %s, want the proxy's %s", b.Addr(), px.Addr())
	}
	ctx, cancel := timeout(60 * time.Second)
	defer cancel()
	if _, err := kadm.NewClient(b.Client()).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if px.Accepted() != 0 {
		t.Fatalf("the direct client went through the proxy (%d connections)", px.Accepted())
	}
	via, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RequestTimeoutOverhead(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer via.Close()
	if err := via.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Bootstrap, then the advertised address: two connections at least,
	// both through the proxy.
	if n := px.Accepted(); n < 2 {
		t.Errorf("proxy accepted %d connections, want the bootstrap and the advertised one", n)
	}

	// In the black hole the client retries (it times out requests and
	// reconnects) and never gets an answer; once healed, the record is
	// acknowledged.
	px.BlackHole()
	acked := make(chan error, 1)
	via.Produce(ctx, &kgo.Record{Topic: "t", Value: []byte("2")}, func(_ *kgo.Record, err error) { acked <- err })
	if err := b.Client().ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("3")}).FirstErr(); err != nil {
		t.Errorf("direct produce during the black hole: %v", err)
	}
	select {
	case err := <-acked:
		t.Fatalf("a record produced through a black hole was answered: %v", err)
	case <-time.After(3 * time.Second):
	}
	px.Heal()
	select {
	case err := <-acked:
		if err != nil {
			t.Errorf("produce after Heal: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a record held in the black hole was not acknowledged within 30s of Heal")
	}
}

// timeout is a context for one step of a test.
func timeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
