package flows

import (
	"strings"
	"testing"

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
	if cfg.OffsetFlushInterval.Milliseconds() != 2000 {
		t.Errorf("OffsetFlushInterval = %v, want 2s", cfg.OffsetFlushInterval)
	}
	if h := cfg.Herders["A->B"]; h.OffsetsTopic != "my-offsets" || h.OffsetsTopicPartitions != 5 || h.OffsetsTopicReplication != -1 {
		t.Errorf("herder A->B = %+v", h)
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

func TestPlan_RefusesWhatItCannotDo(t *testing.T) {
	e := mustExpand(t, planClusters+`flows:
  - source: A
    target: B
    settings: {exactly.once.source.support: enabled}
`)
	if _, _, err := e.Plan(); err == nil || !strings.Contains(err.Error(), "A->B: exactly.once.source.support=enabled") {
		t.Errorf("Plan = %v, want an exactly-once refusal naming the flow", err)
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
