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

// TestPlan_ExactlyOnce: exactly.once.source.support=enabled is honoured
// wherever MM2 or mm2go reads it (the target cluster as MM2 does, the top
// level, the flow, YAML's exactly_once field), per herder: it turns on
// HerderConfig.ExactlyOnce, and group.id names the transactional ids.
// preparing and disabled copy at least once.
func TestPlan_ExactlyOnce(t *testing.T) {
	const props = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"
	for _, tc := range []struct {
		name   string
		format Format
		src    string
		eos    bool
		group  string
	}{
		{"target cluster", FormatProperties, props + "B.exactly.once.source.support = enabled\n", true, ""},
		{"top level", FormatProperties, props + "exactly.once.source.support = Enabled\n", true, ""},
		{"flow", FormatProperties, props + "A->B.exactly.once.source.support = enabled\n", true, ""},
		{"group id", FormatProperties, props + "B.exactly.once.source.support = enabled\nB.group.id = mm2-dc2\n", true, "mm2-dc2"},
		{"preparing", FormatProperties, props + "B.exactly.once.source.support = preparing\n", false, ""},
		{"disabled", FormatProperties, props + "B.exactly.once.source.support = disabled\n", false, ""},
		{"other target", FormatProperties, props + "A.exactly.once.source.support = enabled\n", false, ""},
		{"yaml flow", FormatYAML, planClusters + "flows:\n  - {source: A, target: B, exactly_once: true}\n", true, ""},
		{"yaml top level", FormatYAML, planClusters + "exactly_once: true\nflows:\n  - {source: A, target: B}\n", true, ""},
		{"yaml flow off", FormatYAML, planClusters + "exactly_once: true\nflows:\n  - {source: A, target: B, exactly_once: false}\n", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.src), tc.format)
			if err != nil {
				t.Fatal(err)
			}
			e, err := f.Expand()
			if err != nil {
				t.Fatal(err)
			}
			cfg, _, err := e.Plan()
			if err != nil {
				t.Fatal(err)
			}
			h := cfg.Herders["A->B"]
			if h.ExactlyOnce != tc.eos || h.GroupID != tc.group {
				t.Errorf("herder A->B: ExactlyOnce %v, GroupID %q; want %v, %q", h.ExactlyOnce, h.GroupID, tc.eos, tc.group)
			}
		})
	}
}

// TestValidate_ExactlyOnceChecks: what cannot go with exactly-once is an
// error that names the key: exactly.once.support=required on a flow that
// does not copy exactly once (KIP-618 fails such a connector),
// transaction.boundary=connector (MirrorSource defines no boundaries), an
// explicit read_uncommitted on the replication consumer and a
// non-idempotent record producer in exactly-once mode, the YAML field and
// the key together.
func TestValidate_ExactlyOnceChecks(t *testing.T) {
	const props = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"
	for _, tc := range []struct {
		format    Format
		src, want string
	}{
		{FormatProperties, props + "A->B.exactly.once.support = required\n",
			"A->B.exactly.once.support: required, but flow A->B does not copy exactly once: set B.exactly.once.source.support=enabled"},
		{FormatProperties, props + "exactly.once.support = required\nB.exactly.once.source.support = preparing\n",
			"exactly.once.support: required, but flow A->B does not copy exactly once"},
		{FormatProperties, props + "B.exactly.once.source.support = enabled\ntransaction.boundary = connector\n",
			"transaction.boundary: MirrorSourceConnector does not define transaction boundaries"},
		{FormatProperties, props + "transaction.boundary = sometimes\n",
			`transaction.boundary: expected one of poll, interval, connector, got "sometimes"`},
		{FormatProperties, props + "A->B.transaction.boundary.interval.ms = -1\n",
			"A->B.transaction.boundary.interval.ms: -1 is too small; the minimum is 0"},
		{FormatProperties, props + "B.exactly.once.source.support = enabled\nA.consumer.isolation.level = read_uncommitted\n",
			"A.consumer.isolation.level: read_uncommitted is refused for the replication consumer of A->B, which copies exactly once"},
		{FormatProperties, props + "B.exactly.once.source.support = enabled\nA->B.producer.override.enable.idempotence = false\n",
			"A->B.producer.override.enable.idempotence: false is refused for the record producer of A->B, which copies exactly once"},
		{FormatYAML, planClusters + "flows:\n  - {source: A, target: B, exactly_once: true, settings: {exactly.once.source.support: enabled}}\n",
			"flows[0].exactly_once: set either exactly_once or flows[0].settings.exactly.once.source.support, not both"},
		{FormatYAML, planClusters + "flows:\n  - {source: A, target: B, exactly_once: yes please}\n",
			"flows[0].exactly_once"},
	} {
		if err := parseAndValidate(tc.src, tc.format); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%q) = %v, want %q", tc.src, err, tc.want)
		}
	}
	for _, ok := range []string{
		props + "A->B.exactly.once.support = required\nB.exactly.once.source.support = enabled\nA->B.transaction.boundary = poll\n",
		props + "B.exactly.once.source.support = enabled\nA.consumer.isolation.level = read_committed\nB.producer.transaction.timeout.ms = 30000\n",
		props + "A.consumer.isolation.level = read_uncommitted\n", // at least once: the operator's choice
	} {
		if err := parseAndValidate(ok, FormatProperties); err != nil {
			t.Errorf("Validate(%q): %v", ok, err)
		}
	}
}

// TestValidate_GroupIDWithoutExactlyOnce: group.id names only the
// transactional ids of exactly-once mode; set for a flow that copies at
// least once, it is accepted with a warning that says so and what names the
// worker group.
func TestValidate_GroupIDWithoutExactlyOnce(t *testing.T) {
	const props = "clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"
	for _, tc := range []struct {
		src  string
		warn bool
	}{
		{props + "group.id = mm2-dc2\n", true},
		{props + "B.group.id = mm2-dc2\n", true},
		{props + "B.group.id = mm2-dc2\nB.exactly.once.source.support = enabled\n", false},
		{props, false},
	} {
		f, err := Parse([]byte(tc.src), FormatProperties)
		if err == nil {
			err = f.Validate()
		}
		if err != nil {
			t.Fatalf("Validate(%q): %v", tc.src, err)
		}
		got := strings.Contains(strings.Join(f.Warnings, "\n"), "group.id is set for flow A->B, which does not copy exactly once")
		if got != tc.warn {
			t.Errorf("Validate(%q): warnings %q; want the group.id warning: %v", tc.src, f.Warnings, tc.warn)
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
