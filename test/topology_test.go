package test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/flows"
)

// startFlows runs one worker for a YAML flow file whose cluster addresses
// come from cs, the way `mm2go worker` does.
func startFlows(t *testing.T, cs map[string]*kfake.Cluster, flowsYAML string) *runningWorker {
	t.Helper()
	var b strings.Builder
	b.WriteString("clusters:\n")
	for alias, c := range cs {
		fmt.Fprintf(&b, "  %s:\n    bootstrap_servers: [%q]\n", alias, strings.Join(c.ListenAddrs(), ","))
	}
	b.WriteString(flowsYAML)
	f, err := flows.Parse([]byte(b.String()), flows.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.Expand()
	if err != nil {
		t.Fatal(err)
	}
	cfg, specs, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	return startWorker(t, cfg, specs)
}

// TestTopology_ThreeClustersOneWorker runs A->B, A->C and B->C in one worker:
// C gets A.t straight from A, B.t from B, and B.A.t (A's records via B).
func TestTopology_ThreeClustersOneWorker(t *testing.T) {
	cs := map[string]*kfake.Cluster{"A": newCluster(t, "A"), "B": newCluster(t, "B"), "C": newCluster(t, "C")}
	wantA := produceTopic(t, cs["A"], "t", 2, 300, "fromA")
	wantB := produceTopic(t, cs["B"], "t", 2, 200, "fromB")
	startFlows(t, cs, `settings:
  refresh.topics.interval.seconds: 1
flows:
  - {source: A, target: B}
  - {source: A, target: C}
  - {source: B, target: C}
`)
	compareTopic(t, "B:A.t", wantA, consumeAll(t, cs["B"], "A.t", 600, 30*time.Second))
	compareTopic(t, "C:A.t", wantA, consumeAll(t, cs["C"], "A.t", 600, 30*time.Second))
	compareTopic(t, "C:B.t", wantB, consumeAll(t, cs["C"], "B.t", 400, 30*time.Second))
	compareTopic(t, "C:B.A.t", wantA, consumeAll(t, cs["C"], "B.A.t", 600, 30*time.Second))
	// Nothing flows back: A and B have no copies of their own records.
	for _, topic := range []string{"B.A.t", "A.A.t"} {
		if n := totalRecords(endOffsets(t, cs["B"], topic)); n != 0 {
			t.Errorf("B has %d records in %s, want none", n, topic)
		}
	}
}

// TestTopology_ActiveActiveDefaultPolicy runs A <-> B with the default
// policy while producers write on both sides: at the end each cluster holds
// its own records once in t and the other's once in <other>.t; nothing
// loops back.
func TestTopology_ActiveActiveDefaultPolicy(t *testing.T) {
	cs := map[string]*kfake.Cluster{"A": newCluster(t, "A"), "B": newCluster(t, "B")}
	for _, c := range cs {
		if _, err := kadm.NewClient(client(t, c)).CreateTopic(context.Background(), 3, 1, nil, "t"); err != nil {
			t.Fatal(err)
		}
	}
	startFlows(t, cs, `settings:
  refresh.topics.interval.seconds: 1
flows:
  - {source: A, target: B}
  - {source: B, target: A}
`)
	// Both sides write while the flows run.
	wantA := produceTopic(t, cs["A"], "t", 3, 500, "fromA")
	wantB := produceTopic(t, cs["B"], "t", 3, 400, "fromB")
	compareTopic(t, "B:A.t", wantA, consumeAll(t, cs["B"], "A.t", 1500, 30*time.Second))
	compareTopic(t, "A:B.t", wantB, consumeAll(t, cs["A"], "B.t", 1200, 30*time.Second))
	time.Sleep(2 * time.Second) // two refresh intervals: a loop would show up now
	compareTopic(t, "A:t", wantA, consumeAll(t, cs["A"], "t", 1500, 10*time.Second))
	compareTopic(t, "B:t", wantB, consumeAll(t, cs["B"], "t", 1200, 10*time.Second))
	for _, bad := range []struct{ cluster, topic string }{{"A", "A.B.t"}, {"A", "B.A.t"}, {"B", "B.A.t"}, {"B", "A.B.t"}} {
		if n := totalRecords(endOffsets(t, cs[bad.cluster], bad.topic)); n != 0 {
			t.Errorf("%s has %d records in %s: a replication loop", bad.cluster, n, bad.topic)
		}
	}
}

// produceTopic creates topic on c and writes n records per partition.
func produceTopic(t *testing.T, c *kfake.Cluster, topic string, partitions int32, n int, seed string) map[int32][]*kgo.Record {
	t.Helper()
	resp, err := kadm.NewClient(client(t, c)).CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatal(err)
	}
	return produceRecords(t, client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, partitions, n, seed)
}

// TestTopology_ActiveActiveIdentityPolicy runs A <-> B with the identity
// policy (same topic names on both sides) while producers write on both
// sides: each cluster's t ends up with its own records and the other's,
// each exactly once and in order per partition. Only the provenance header
// stops the loop: topic names cannot.
func TestTopology_ActiveActiveIdentityPolicy(t *testing.T) {
	cs := map[string]*kfake.Cluster{"A": newCluster(t, "A"), "B": newCluster(t, "B")}
	for _, c := range cs {
		if _, err := kadm.NewClient(client(t, c)).CreateTopic(context.Background(), 3, 1, nil, "t"); err != nil {
			t.Fatal(err)
		}
	}
	startFlows(t, cs, `settings:
  refresh.topics.interval.seconds: 1
  replication.policy.class: IdentityReplicationPolicy
flows:
  - {source: A, target: B}
  - {source: B, target: A}
`)
	var fromB map[int32][]*kgo.Record
	prodB := client(t, cs["B"], kgo.RecordPartitioner(kgo.ManualPartitioner()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, recs := makeRecords("t", 3, 400, "fromB")
		fromB = map[int32][]*kgo.Record{}
		for _, r := range recs {
			fromB[r.Partition] = append(fromB[r.Partition], r)
		}
		if err := prodB.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Errorf("produce on B: %v", err)
		}
	}()
	fromA := produceRecords(t, client(t, cs["A"], kgo.RecordPartitioner(kgo.ManualPartitioner())), "t", 3, 500, "fromA")
	<-done
	want := map[string]map[int32][]*kgo.Record{"A": fromA, "B": fromB}
	total := 3 * (500 + 400)
	for _, alias := range []string{"A", "B"} {
		waitFor(t, 30*time.Second, alias+" holds both sides' records", func() bool {
			return totalRecords(endOffsets(t, cs[alias], "t")) >= int64(total)
		})
	}
	time.Sleep(2 * time.Second) // a loop would add records now
	for _, alias := range []string{"A", "B"} {
		other := map[string]string{"A": "B", "B": "A"}[alias]
		got := consumeAll(t, cs[alias], "t", total, 10*time.Second)
		local, remote := map[int32][]*kgo.Record{}, map[int32][]*kgo.Record{}
		n := 0
		for p, rs := range got {
			for _, r := range rs {
				n++
				if path := provenanceOf(r); path == "" {
					local[p] = append(local[p], r)
				} else if path == other {
					r.Headers = r.Headers[:len(r.Headers)-1] // the header mm2go added
					remote[p] = append(remote[p], r)
				} else {
					t.Errorf("%s:t[%d] record with provenance %q", alias, p, path)
				}
			}
		}
		if n != total {
			t.Errorf("%s:t holds %d records, want %d (each record once per origin)", alias, n, total)
		}
		compareTopic(t, alias+":t local", want[alias], local)
		compareTopic(t, alias+":t from "+other, want[other], remote)
	}
}

// provenanceOf returns the record's mm2go provenance header ("" if none).
func provenanceOf(r *kgo.Record) string {
	for _, h := range r.Headers {
		if h.Key == connectors.ProvenanceHeader {
			return string(h.Value)
		}
	}
	return ""
}
