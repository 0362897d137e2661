package flows

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// expandFile loads, validates and expands a flow file.
func expandFile(t *testing.T, path string) (*File, *Expanded) {
	t.Helper()
	f, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	x, err := f.Expand()
	if err != nil {
		t.Fatalf("Expand(%s): %v", path, err)
	}
	return f, x
}

func marshal(t *testing.T, x *Expanded) []byte {
	t.Helper()
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return append(b, '\n')
}

// TestGolden expands every testdata/<case>.yaml and compares it with
// <case>.golden.json; <case>.properties, the same flows in MM2's format,
// must expand to the same value.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 3 {
		t.Fatalf("found %d golden cases, want at least 3", len(cases))
	}
	for _, yamlPath := range cases {
		name := strings.TrimSuffix(filepath.Base(yamlPath), ".yaml")
		t.Run(name, func(t *testing.T) {
			golden := filepath.Join("testdata", name+".golden.json")
			_, fromYAML := expandFile(t, yamlPath)
			got := marshal(t, fromYAML)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run go test ./flows -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s expands to\n%s\nwant (%s)\n%s", yamlPath, got, golden, want)
			}

			propsPath := filepath.Join("testdata", name+".properties")
			if _, err := os.Stat(propsPath); err != nil {
				t.Fatalf("no %s: every YAML case needs its mm2.properties twin", propsPath)
			}
			_, fromProps := expandFile(t, propsPath)
			if gotProps := marshal(t, fromProps); !bytes.Equal(gotProps, want) {
				t.Errorf("%s expands to\n%s\nwant (%s)\n%s", propsPath, gotProps, golden, want)
			}
			if !reflect.DeepEqual(fromYAML, fromProps) {
				t.Errorf("Expanded of %s and %s are not reflect.DeepEqual", yamlPath, propsPath)
			}
		})
	}
}

func TestExpand_Precedence(t *testing.T) {
	f, err := Parse([]byte(`
clusters:
  a: {bootstrap_servers: ["a:9092"]}
  b: {bootstrap_servers: ["b:9092"]}
  c: {bootstrap_servers: ["c:9092"]}
settings:
  replication.factor: 3
  topics: "x.*, y.*"
  sync.group.offsets.enabled: TRUE
  replication.policy.class: IdentityReplicationPolicy
flows:
  - {source: b, target: a, topics: [only], settings: {replication.factor: 1, source.cluster.alias: renamed}}
  - {source: a, target: c, enabled: false}
  - {source: a, target: b, groups: []}
`), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.Expand()
	if err != nil {
		t.Fatal(err)
	}
	want := []FlowConfig{
		{Source: "a", Target: "b", Props: map[string]string{
			"replication.factor":         "3",
			"topics":                     "x.*,y.*",
			"groups":                     "",
			"sync.group.offsets.enabled": "true",
			"replication.policy.class":   identityPolicy,
			"source.cluster.alias":       "a",
			"target.cluster.alias":       "b",
			"enabled":                    "true",
		}},
		{Source: "b", Target: "a", Props: map[string]string{
			"replication.factor":         "1",
			"topics":                     "only",
			"sync.group.offsets.enabled": "true",
			"replication.policy.class":   identityPolicy,
			"source.cluster.alias":       "renamed",
			"target.cluster.alias":       "a",
			"enabled":                    "true",
		}},
	}
	if !reflect.DeepEqual(x.Flows, want) {
		t.Errorf("Flows = %+v\nwant %+v", x.Flows, want)
	}
	if len(x.Clusters) != 3 {
		t.Errorf("Expanded has %d clusters, want all 3", len(x.Clusters))
	}
}

func TestExpand_Invalid(t *testing.T) {
	f, err := Parse([]byte("clusters:\n  a: {}\n"), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Expand(); err == nil {
		t.Fatal("Expand of an invalid file succeeded")
	}
}

// TestBadFiles checks that each problem is reported with its path, and
// that Validate reports every problem of a file at once.
func TestBadFiles(t *testing.T) {
	const okClusters = `
clusters:
  primary: {bootstrap_servers: ["p:9092"]}
  backup: {bootstrap_servers: ["b:9092"]}
`
	for _, tc := range []struct {
		name   string
		format Format
		src    string
		want   []string // each must appear in the error text
	}{
		{"yaml unknown cluster", FormatYAML, okClusters + `
flows: [{source: primray, target: backup}]`,
			[]string{`flows[0].source: unknown cluster "primray" (did you mean "primary"? known: backup, primary)`}},
		{"yaml bad regex", FormatYAML, okClusters + `
flows: [{source: primary, target: backup, topics: [ok, "orders(?=x)"], groups_exclude: ["(a"]}]`,
			[]string{
				`flows[0].topics[1]: bad regex "orders(?=x)"`,
				"RE2 regexps have no look-around",
				`flows[0].groups_exclude[0]: bad regex "(a"`,
			}},
		{"yaml comma in pattern", FormatYAML, okClusters + `
flows: [{source: primary, target: backup, topics: ["a{1,3}"]}]`,
			[]string{`flows[0].topics[0]: pattern "a{1,3}" has a comma`}},
		{"yaml missing bootstrap", FormatYAML, `
clusters:
  primary: {security_protocol: SSL}
  backup: {bootstrap_servers: ["b"]}
flows: [{source: primary, target: backup}]`,
			[]string{
				"clusters.primary.bootstrap_servers: required",
				`clusters.backup.bootstrap_servers[0]: bad address "b": want host:port`,
			}},
		{"yaml structural key typo", FormatYAML, `
clusters:
  primary: {bootstrap_server: ["p:9092"]}
flows: [{source: primary, target: backup, topic: [x]}]`,
			[]string{
				"clusters.primary.bootstrap_server: unknown key (did you mean bootstrap_servers?)",
				"flows[0].topic: unknown key (did you mean topics?)",
			}},
		{"yaml settings key typo", FormatYAML, okClusters + `
settings: {replication.factr: 3}
flows: [{source: primary, target: backup, settings: {sync.group.offset.enabled: true}}]`,
			[]string{
				"settings.replication.factr: unknown MM2 key (did you mean replication.factor?)",
				"flows[0].settings.sync.group.offset.enabled: unknown MM2 key (did you mean sync.group.offsets.enabled?)",
			}},
		{"yaml dotted key outside settings", FormatYAML, okClusters + `
replication.factor: 3`,
			[]string{"replication.factor: unknown key (MM2 keys go under settings)"}},
		{"yaml java key on a cluster", FormatYAML, `
clusters:
  primary: {bootstrap.servers: "p:9092", fetch.max.bytes: 1}`,
			[]string{
				"clusters.primary.bootstrap.servers: unknown key (use bootstrap_servers)",
				"clusters.primary.fetch.max.bytes: unknown key (Java client properties go under properties)",
			}},
		{"yaml wrong types", FormatYAML, `
clusters:
  primary: {bootstrap_servers: {a: 1}, tls: {insecure_skip_verify: maybe}}
settings: {replication.factor: {nested: 1}}
flows: {source: a}`,
			[]string{
				"clusters.primary.bootstrap_servers: expected a list, got a mapping",
				`clusters.primary.tls.insecure_skip_verify: expected true or false, got the string "maybe"`,
				"settings.replication.factor: expected a value or a list of values, got a mapping",
				"flows: expected a list, got a mapping",
			}},
		{"yaml syntax", FormatYAML, "clusters: [\n", []string{"parse yaml: "}},
		{"yaml not a mapping", FormatYAML, "- a\n- b\n", []string{"parse yaml: "}},
		{"yaml empty", FormatYAML, "", []string{"clusters: no clusters defined"}},
		{"yaml empty flow", FormatYAML, okClusters + "flows: [null]", []string{"flows[0]: empty flow"}},
		{"yaml bad values", FormatYAML, okClusters + `
settings:
  replication.factor: three
  tasks.max: 0
  offset.lag.max: 1.5
  refresh.topics.enabled: yes
  replication.policy.class: com.example.MyPolicy
  offset-syncs.topic.location: middle
  checkpoints.topic.replication.factor: 0
  emit.checkpoints.interval.seconds: 99999999999999999999`,
			[]string{
				`settings.replication.factor: expected an integer, got "three"`,
				"settings.tasks.max: 0 is too small; the minimum is 1",
				`settings.offset.lag.max: expected an integer, got "1.5"`,
				`settings.refresh.topics.enabled: expected true or false, got "yes"`,
				`settings.replication.policy.class: replication policy "com.example.MyPolicy" is not supported`,
				`settings.offset-syncs.topic.location: expected one of source, target, got "middle"`,
				"settings.checkpoints.topic.replication.factor: 0 is not a replication factor",
				"settings.emit.checkpoints.interval.seconds: ",
			}},
		{"yaml flow rules", FormatYAML, okClusters + `
settings: {enabled: true, fetch.max.bytes: 1, topics.blacklist: x, bootstrap.servers: "x:1"}
flows:
  - {source: primary, target: primary}
  - {source: primary, target: backup}
  - {source: primary, target: backup, settings: {topics: x}}
  - {target: backup}`,
			[]string{
				"settings.enabled: only valid per flow",
				"settings.fetch.max.bytes: a Java client property",
				"settings.topics.blacklist: old name of topics.exclude (removed in Kafka 4.0); use topics.exclude",
				"settings.bootstrap.servers: a connection setting",
				`flows[0].target: same as the source "primary"`,
				"flows[2]: duplicate flow primary->backup; first defined at flows[1]",
				"flows[2].settings.topics: set the flow's topics instead",
				"flows[3].source: required",
			}},
		{"yaml security", FormatYAML, `
clusters:
  a:
    bootstrap_servers: ["a:9092"]
    security_protocol: TLS
  b:
    bootstrap_servers: ["b:9092"]
    security_protocol: PLAINTEXT
    tls: {ca_file: ca.pem, key_file: k.pem}
    sasl: {mechanism: PLAIN, username: u, password: p}
  c:
    bootstrap_servers: ["c:9092"]
    security_protocol: sasl_ssl
    sasl: {mechanism: GSSAPI}
  d:
    bootstrap_servers: ["d:9092"]
    security_protocol: SASL_PLAINTEXT
  e:
    bootstrap_servers: ["e:9092"]
    properties:
      ssl.truststore.location: x
      consumer.fetch.max.bytes: lots
      consumer.isolation.level: serializable
      producer.linger.ms: "-1"
      offset.flush.interval.ms: soon`,
			[]string{
				`clusters.a.security_protocol: unknown security protocol "TLS"`,
				"clusters.b.tls: set, but security protocol PLAINTEXT does not use TLS",
				"clusters.b.tls.key_file: set without a client certificate",
				"clusters.b.sasl: set, but security protocol PLAINTEXT does not use SASL",
				"clusters.c.sasl.kerberos: required by GSSAPI: give service_name, principal and keytab_file",
				"clusters.d.sasl: required by security protocol SASL_PLAINTEXT",
				"clusters.e.properties.ssl.truststore.location: not a free-form property: use tls.truststore_file (JKS, PKCS12) or tls.ca_file (PEM)",
				`clusters.e.properties.consumer.fetch.max.bytes: expected an integer, got "lots"`,
				`clusters.e.properties.consumer.isolation.level: expected one of read_committed, read_uncommitted, got "serializable"`,
				"clusters.e.properties.producer.linger.ms: -1ms is out of range",
				`clusters.e.properties.offset.flush.interval.ms: expected an integer, got "soon"`,
			}},
		{"yaml bad alias", FormatYAML, `
clusters:
  "us west": {bootstrap_servers: ["a:9092"]}`,
			[]string{`clusters.us west: cluster alias "us west" may only hold`}},

		{"properties unknown cluster", FormatProperties, `
clusters = A, B
A.bootstrap.servers = a:9092
B.bootstrap.servers = b:9092
A->C.enabled = true
A->B.enabled = maybe
`,
			[]string{
				`A->C.enabled: unknown cluster "C" (known: A, B)`,
				`A->B.enabled: expected true or false, got "maybe"`,
			}},
		{"properties bad regex", FormatProperties, `
clusters = A, B
A.bootstrap.servers = a:9092
B.bootstrap.servers = b:9092
A->B.enabled = true
A->B.topics = ok, (?!internal).*
A->B.groups.exclude = x[
topics.exclude = (\\w+)\\1
`,
			[]string{
				`A->B.topics: bad regex "(?!internal).*"`,
				`A->B.groups.exclude: bad regex "x["`,
				`topics.exclude: bad regex "(\w+)\1"`,
				"no look-around, backreferences",
			}},
		{"properties missing bootstrap and clusters", FormatProperties, `
A.bootstrap.servers = a:9092
`,
			[]string{"clusters: required: list the cluster aliases"}},
		{"properties missing bootstrap", FormatProperties, `
clusters = A, B
A.bootstrap.servers = a:9092
A->B.enabled = true
`,
			[]string{"B.bootstrap.servers: required"}},
		{"properties bad values", FormatProperties, `
clusters = A, B
A.bootstrap.servers = a:9092
B.bootstrap.servers = b:9092
replication.factor = 3x
A->B.enabled = true
A->B.sync.group.offsets.enabled = ja
A->B.replication.policy.class = org.example.Custom
A.consumer.fetch.max.wait.ms = 5
B.producer.max.request.size = 10
`,
			[]string{
				`replication.factor: expected an integer, got "3x"`,
				`A->B.sync.group.offsets.enabled: expected true or false, got "ja"`,
				`A->B.replication.policy.class: replication policy "org.example.Custom" is not supported`,
				"A.consumer.fetch.max.wait.ms: 5ms is out of range",
				"B.producer.max.request.size: 10 is out of range: use 512 to 1073741824",
			}},
		{"properties JKS store", FormatProperties, `
clusters = A, B
A.bootstrap.servers = a:9093
A.security.protocol = SSL
A.ssl.truststore.location = /etc/truststore.jceks
A.ssl.truststore.type = JCEKS
A.ssl.keystore.location = /etc/keystore.p12
A.ssl.keystore.type = PKCS12
A.ssl.truststore.certificates = -----BEGIN CERTIFICATE----- MII= -----END CERTIFICATE-----
B.bootstrap.servers = b:9092
`,
			[]string{
				"A.ssl.truststore.type: store type JCEKS is not supported; use JKS, PKCS12 or PEM",
				"A.ssl.keystore.password: required by tls.keystore_file (ssl.keystore.password)",
				"A.ssl.truststore.certificates: inline certificates need A.ssl.truststore.type=PEM",
			}},
		{"properties SASL", FormatProperties, `
clusters = A, B, C, D
A.bootstrap.servers = a:9093
A.security.protocol = SASL_SSL
A.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";
B.bootstrap.servers = b:9093
B.security.protocol = SASL_PLAINTEXT
B.sasl.mechanism = SCRAM-SHA-256
B.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";
C.bootstrap.servers = c:9093
C.security.protocol = SASL_PLAINTEXT
C.sasl.mechanism = OAUTHBEARER
C.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
D.bootstrap.servers = d:9093
D.security.protocol = SASL_PLAINTEXT
D.sasl.mechanism = PLAIN
D.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p"
`,
			[]string{
				"A.sasl.jaas.config: login module PlainLoginModule serves PLAIN, but sasl.mechanism is not set, so it is Kafka's default, GSSAPI; set A.sasl.mechanism",
				"B.sasl.jaas.config: login module PlainLoginModule does not match sasl.mechanism SCRAM-SHA-256 (it serves PLAIN)",
				"C.sasl.login.callback.handler.class: required with OAuthBearerLoginModule: set it to org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler (client credentials)",
				"D.sasl.jaas.config: parse sasl.jaas.config: entry not terminated by ;",
			}},
		{"properties top-level fallback path", FormatProperties, `
clusters = A, B
bootstrap.servers = localhost
security.protocol = SSL
ssl.truststore.location = ca.jks
ssl.keystore.location = ks.p12
`,
			[]string{
				`bootstrap.servers: bad address "localhost"`,
				"A.ssl.keystore.password: required by tls.keystore_file",
				"B.ssl.keystore.password: required by tls.keystore_file",
			}},
		{"properties bad escape", FormatProperties, "clusters = A\nA.bootstrap.servers = \\u00zz\n",
			[]string{`A.bootstrap.servers: malformed \uxxxx escape "\u00zz" (line 2)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := parseAndValidate(tc.src, tc.format)
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q; got:\n%v", w, err)
				}
			}
		})
	}
}

func parseAndValidate(src string, format Format) error {
	f, err := Parse([]byte(src), format)
	if err != nil {
		return err
	}
	return f.Validate()
}

func TestValidate_FieldErrors(t *testing.T) {
	err := parseAndValidate(`
clusters:
  a: {}
flows: [{source: x, target: y}]`, FormatYAML)
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() = %T, want an errors.Join", err)
	}
	var paths []string
	for _, e := range j.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v is %T, want *FieldError", e, e)
		}
		paths = append(paths, fe.Path)
	}
	want := []string{"clusters.a.bootstrap_servers", "flows[0].source", "flows[0].target"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
	if fe := (&FieldError{Path: "a.b", Msg: "bad"}); fe.Error() != "a.b: bad" {
		t.Errorf("FieldError.Error() = %q", fe.Error())
	}
}

func TestValidate_Programmatic(t *testing.T) {
	f := &File{
		Clusters: map[string]*Cluster{
			"a": {Alias: "a", BootstrapServers: []string{"a:9092"}},
			"b": {Alias: "b", BootstrapServers: []string{"b:9092"}, TLS: &TLS{}, SASL: &SASL{Mechanism: "PLAIN", Username: "u", Password: "p"}},
		},
		Settings: map[string]string{"replication.factor": "2"},
		Flows:    []*Flow{{Source: "a", Target: "b", Enabled: true, Topics: []string{"t"}}},
	}
	x, err := f.Expand()
	if err != nil {
		t.Fatalf("Expand: %v", err)
	}
	if got := x.Clusters["b"].SecurityProtocol; got != "SASL_SSL" {
		t.Errorf("implied security protocol = %q, want SASL_SSL", got)
	}
	if got := x.Clusters["b"].TLS; got != nil {
		t.Errorf("empty TLS expands to %+v, want nil", got)
	}
	f.Flows = append(f.Flows, &Flow{Source: "a", Target: "c"}, nil)
	err = f.Validate()
	for _, w := range []string{`flows[1].target: unknown cluster "c"`, "flows[2]: empty flow"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v, want %q", err, w)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, wantErr string
	}{
		{"f.yaml", "clusters: {}\n", ""},
		{"f.YML", "clusters: {}\n", ""},
		{"mm2.properties", "clusters = A\n", ""},
		{"flows.json", "{}", `unsupported extension ".json"; use .yaml, .yml or .properties`},
		{"flows", "", "no file extension; use .yaml, .yml or .properties"},
		{"bad.yaml", "clusters: {a: {bogus: 1}}\n", "clusters.a.bogus: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Load(path)
			if err == nil && strings.HasPrefix(tc.name, "bad") {
				err = f.Validate() // unknown keys are reported with the other problems
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Load(%s): %v", tc.name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Load(%s) = %v, want error containing %q", tc.name, err, tc.wantErr)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "read flow file") {
		t.Errorf("Load(missing) = %v, want a read error", err)
	}
	if _, err := Parse(nil, Format(9)); err == nil {
		t.Error("Parse with an unknown format succeeded")
	}
}

func TestYAML_Defaults(t *testing.T) {
	f, err := Parse([]byte(`
clusters:
  a: {bootstrap_servers: "a1:9092, a2:9092", tls: {ca_file: ca.pem}, properties: {fetch.min.bytes: 1, enabled: true}}
  b: {bootstrap_servers: [b:9092]}
settings:
  metric.reporters: com.example.Reporter
  topic.filter.class: com.example.Filter
flows:
  - {source: a, target: b}
  - {source: b, target: a, enabled: "false"}
`), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Flows[0].Enabled || f.Flows[1].Enabled {
		t.Errorf("Enabled = %v, %v; want true (default), false", f.Flows[0].Enabled, f.Flows[1].Enabled)
	}
	if f.Flows[0].Topics != nil {
		t.Errorf("unset topics = %q, want nil (inherit)", f.Flows[0].Topics)
	}
	if got := f.Clusters["a"].BootstrapServers; !reflect.DeepEqual(got, []string{"a1:9092", "a2:9092"}) {
		t.Errorf("bootstrap_servers from a string = %q", got)
	}
	if got := f.Clusters["a"].protocol(); got != "SSL" {
		t.Errorf("protocol implied by tls = %q, want SSL", got)
	}
	if len(f.Warnings) != 0 {
		t.Errorf("warnings: %q", f.Warnings)
	}
	// Refused and unknown keys are errors, not warnings.
	err = f.Validate()
	for _, w := range []string{
		"clusters.a.properties.enabled: a flow setting, not a cluster property",
		"settings.metric.reporters: metric reporter com.example.Reporter cannot run in mm2go",
		"settings.topic.filter.class: custom Java class com.example.Filter cannot run in mm2go, which implements only DefaultTopicFilter",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v; want a problem %q", err, w)
		}
	}
	if err != nil && strings.Contains(err.Error(), "fetch.min.bytes") {
		t.Errorf("fetch.min.bytes, which mm2go maps, refused: %v", err)
	}
}

// TestCheck_EveryProblemInOnePass: one Check lists every problem of a file:
// unknown YAML keys and malformed escapes no longer hide the rest, and the
// problems only Plan used to find (a TLS file that cannot be read, worker
// keys mm2go refuses) are among them.
func TestCheck_EveryProblemInOnePass(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-ca.pem")
	for _, tc := range []struct {
		format Format
		src    string
		want   []string
	}{
		{FormatYAML, `
clusters:
  a:
    bootstrap_servers: [a:9093]
    bogus: 1
    tls: {ca_file: ` + missing + `}
    properties: {consumer.fetch.max.bytes: lots, offset.flush.interval.ms: 0}
  b: {bootstrap_servers: [b:9092], properties: {exactly.once.source.support: always}}
settings: {replication.factor: three}
flows:
  - {source: a, target: b, topicz: [x]}
  - {source: a, target: c}
`, []string{
			"clusters.a.bogus: unknown key",
			"clusters.a.tls.ca_file: read CA file: open " + missing,
			`clusters.a.properties.consumer.fetch.max.bytes: expected an integer, got "lots"`,
			"clusters.a.properties.offset.flush.interval.ms: 0 is too small; the minimum is 1",
			`clusters.b.properties.exactly.once.source.support: expected one of disabled, preparing, enabled, got "always"`,
			`settings.replication.factor: expected an integer, got "three"`,
			"flows[0].topicz: unknown key (did you mean topics?)",
			`flows[1].target: unknown cluster "c"`,
		}},
		{FormatProperties, `
clusters = a, b
a.bootstrap.servers = a:9093
a.security.protocol = SSL
a.ssl.truststore.location = ` + missing + `
a.ssl.truststore.type = PEM
a.client.id = \u00zz
b.bootstrap.servers = b:9092
a->b.enabled = true
a->b.replication.factor = three
a->b.topics = (x
`, []string{
			`a.client.id: malformed \uxxxx escape "\u00zz" (line 7)`,
			"a.ssl.truststore.location: read CA file: open " + missing,
			`a->b.replication.factor: expected an integer, got "three"`,
			`a->b.topics: bad regex "(x"`,
		}},
	} {
		f, err := Parse([]byte(tc.src), tc.format)
		if err != nil {
			t.Fatalf("%v: Parse: %v", tc.format, err)
		}
		err = f.Check()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: Check() = %v\nwant a problem %q", tc.format, err, w)
			}
		}
	}
}
