package flows

import (
	"strings"
	"testing"
	"time"
)

func TestGroupSettings(t *testing.T) {
	props := `clusters = A, B
A.bootstrap.servers = a:9092
B.bootstrap.servers = b:9092
A->B.enabled = true
mm2go.group.id = mirror-east
mm2go.group.cluster = A
session.timeout.ms = 6000
heartbeat.interval.ms = 1000
rebalance.timeout.ms = 20000
config.storage.replication.factor = 1
`
	yaml := `clusters:
  A: {bootstrap_servers: [a:9092]}
  B: {bootstrap_servers: [b:9092]}
settings:
  mm2go.group.id: mirror-east
  mm2go.group.cluster: A
  session.timeout.ms: 6000
  heartbeat.interval.ms: 1000
  rebalance.timeout.ms: 20000
  config.storage.replication.factor: 1
flows:
  - {source: A, target: B, enabled: true}
`
	want := GroupSettings{ID: "mirror-east", Cluster: "A", SessionTimeout: 6 * time.Second,
		HeartbeatInterval: time.Second, RebalanceTimeout: 20 * time.Second, ConfigReplication: 1}
	for _, c := range []struct {
		name   string
		data   string
		format Format
	}{{"properties", props, FormatProperties}, {"yaml", yaml, FormatYAML}} {
		f, err := Parse([]byte(c.data), c.format)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(f.Warnings) > 0 {
			t.Errorf("%s: warnings %v, want none: the group keys are honoured", c.name, f.Warnings)
		}
		e, err := f.Expand()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := e.Group(); got != want {
			t.Errorf("%s: Group() = %+v, want %+v", c.name, got, want)
		}
	}
	f, err := Parse([]byte("clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.Expand()
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Group(); got != (GroupSettings{}) {
		t.Errorf("Group() of a file without group keys = %+v, want zero", got)
	}
}

func TestGroupSettingsRefusedPerFlowAndBad(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"A->B.session.timeout.ms = 6000", "A->B.session.timeout.ms: a worker key: set it once, at the top level"},
		{"A->B.mm2go.group.id = x", "A->B.mm2go.group.id: a worker key"},
		{"session.timeout.ms = soon", "session.timeout.ms"},
		{"heartbeat.interval.ms = 0", "heartbeat.interval.ms"},
	} {
		f, err := Parse([]byte("clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"+c.line+"\n"), FormatProperties)
		if err == nil {
			err = f.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.line, err, c.want)
		}
	}
}

// TestGroupKeysWarnTruthfully: Connect's worker-group keys that mm2go does
// not take are accepted with a warning that says what mm2go's group does
// instead; the group keys it honours give none.
func TestGroupKeysWarnTruthfully(t *testing.T) {
	base := "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"
	for _, c := range []struct{ line, want string }{
		{"config.storage.topic = mm2-configs", "mm2go-configs.<group>.internal"},
		{"status.storage.topic = mm2-status", "publish their status in the group's config topic"},
		{"scheduled.rebalance.max.delay.ms = 300000", "at once for a worker that left, after session.timeout.ms for one that died"},
		{"connect.protocol = eager", "always rebalance incrementally"},
		{"inter.worker.key.generation.algorithm = HmacSHA256", "bearer token"},
		{"group.id = mm2", "mm2go.group.id"},
		{"config.storage.replication.factor = 1", ""},
		{"session.timeout.ms = 6000", ""},
	} {
		f, err := Parse([]byte(base+c.line+"\n"), FormatProperties)
		if err == nil {
			err = f.Validate()
		}
		if err != nil {
			t.Errorf("%s: %v", c.line, err)
			continue
		}
		got := strings.Join(f.Warnings, "\n")
		switch {
		case c.want == "" && got != "":
			t.Errorf("%s: warnings %q, want none (the group honours it)", c.line, got)
		case c.want != "" && !strings.Contains(got, c.want):
			t.Errorf("%s: warnings %q, want one saying %q", c.line, got, c.want)
		}
	}
}
