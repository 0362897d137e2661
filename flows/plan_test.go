package flows

import (
	"strings"
	"testing"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

func mustExpand(t *testing.T, yaml string) *Expanded {
	t.Helper()
	f, err := Parse([]byte(yaml), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.Expand()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const planClusters = `clusters:
  A: {bootstrap_servers: ["127.0.0.1:9092"]}
  B: {bootstrap_servers: ["127.0.0.1:9093"]}
`

func TestPlan_ConnectorsAndHerders(t *testing.T) {
	e := mustExpand(t, planClusters+`settings:
  offset.flush.interval.ms: 2000
flows:
  - source: A
    target: B
    settings:
      offset.storage.topic: my-offsets
      offset.storage.partitions: 5
      offset.storage.replication.factor: -1
`)
	cfg, specs, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Clusters) != 2 || len(cfg.Clusters["A"].Opts) == 0 {
		t.Errorf("clusters = %+v", cfg.Clusters)
	}
	if h := cfg.Herders["A->B"]; h.OffsetsTopic != "my-offsets" || h.OffsetsTopicPartitions != 5 || h.OffsetsTopicReplication != -1 ||
		h.OffsetFlushInterval.Milliseconds() != 2000 {
		t.Errorf("herder A->B = %+v", h)
	}
	// The reverse heartbeats' herder takes the top level's flush interval,
	// not the flow's offsets topic.
	if h := cfg.Herders["B->A"]; h.OffsetsTopic != "" || h.OffsetFlushInterval.Milliseconds() != 2000 {
		t.Errorf("herder B->A = %+v", h)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Herder()+"/"+s.Name)
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"A->B/" + connectors.ClassMirrorSource, "A->B/" + connectors.ClassMirrorHeartbeat, "B->A/" + connectors.ClassMirrorHeartbeat} {
		if !strings.Contains(got, want) {
			t.Errorf("specs %s lack %s", got, want)
		}
	}
	if strings.Contains(got, "B->A/"+connectors.ClassMirrorSource) {
		t.Errorf("specs %s copy B->A, which is not enabled", got)
	}
}

// TestValidate_RefusesExactlyOnce: exactly.once.source.support=enabled is
// refused wherever MM2 or mm2go reads it (top level, the target cluster, the
// flow), and exactly.once.support=required too, each with its path.
func TestValidate_RefusesExactlyOnce(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n" +
			"B.exactly.once.source.support = enabled\n", "B.exactly.once.source.support: mm2go does not copy exactly-once yet"},
		{"clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n" +
			"exactly.once.source.support = enabled\n", "exactly.once.source.support: mm2go does not copy exactly-once yet"},
		{"clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n" +
			"A->B.exactly.once.source.support = enabled\n", "A->B.exactly.once.source.support: mm2go does not copy exactly-once yet"},
		{"clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n" +
			"A->B.exactly.once.support = required\n", "A->B.exactly.once.support: mm2go does not copy exactly-once yet"},
	} {
		if err := parseAndValidate(tc.src, FormatProperties); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want %q", err, tc.want)
		}
	}
	for _, ok := range []string{"preparing", "disabled"} {
		src := "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\nB.exactly.once.source.support = " + ok + "\n"
		if err := parseAndValidate(src, FormatProperties); err != nil {
			t.Errorf("exactly.once.source.support = %s: %v", ok, err)
		}
	}
}

func TestPlan_NoReverseHeartbeatsWhenDisabled(t *testing.T) {
	e := mustExpand(t, planClusters+`flows:
  - source: A
    target: B
    settings: {emit.heartbeats.enabled: false}
`)
	_, specs, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Source == "B" {
			t.Errorf("spec %s/%s with heartbeats disabled", s.Herder(), s.Name)
		}
	}
}

// TestPlan_ReverseHeartbeatsOfADefinedFlow: when the file defines the
// reverse flow without enabling it, its reverse heartbeats take its own
// settings, as MM2's herder for that pair does; emit.heartbeats.enabled=false
// there turns them off.
func TestPlan_ReverseHeartbeatsOfADefinedFlow(t *testing.T) {
	for _, tc := range []struct {
		reverse  string
		want     bool
		interval string
	}{
		{"B->A.emit.heartbeats.interval.seconds = 7\nB->A.producer.override.linger.ms = 9\n", true, "7"},
		{"B->A.emit.heartbeats.enabled = false\n", false, ""},
		{"", true, "2"},
	} {
		f, err := Parse([]byte("clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\n"+
			"A->B.enabled = true\nemit.heartbeats.interval.seconds = 2\n"+tc.reverse), FormatProperties)
		if err != nil {
			t.Fatal(err)
		}
		x, err := f.Expand()
		if err != nil {
			t.Fatal(err)
		}
		_, specs, err := x.Plan()
		if err != nil {
			t.Fatal(err)
		}
		var rev *connect.ConnectorSpec
		for i := range specs {
			if specs[i].Source == "B" {
				rev = &specs[i]
			}
		}
		switch {
		case (rev != nil) != tc.want:
			t.Errorf("%q: reverse heartbeats %v, want %v", tc.reverse, rev != nil, tc.want)
		case rev != nil && rev.Props[connectors.KeyEmitHeartbeatsSeconds] != tc.interval:
			t.Errorf("%q: interval %q, want %q", tc.reverse, rev.Props[connectors.KeyEmitHeartbeatsSeconds], tc.interval)
		case rev != nil && strings.Contains(tc.reverse, "linger") && len(rev.RecordProducer) == 0:
			t.Errorf("%q: B->A's producer.override.* not applied", tc.reverse)
		}
	}
}
