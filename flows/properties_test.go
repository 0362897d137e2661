package flows

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want [][2]string // key, value
	}{
		{"separators", "a=1\nb: 2\nc 3\nd\t=\t4\ne :5\nf = = 6\n", [][2]string{
			{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}, {"f", "= 6"},
		}},
		{"comments and blank lines", "# c1\n! c2\n   # indented comment\n\n  \t\nk=v # not a comment\n", [][2]string{
			{"k", "v # not a comment"},
		}},
		{"leading whitespace trimmed, trailing kept", "   key = value  \n", [][2]string{{"key", "value  "}}},
		{"key without value", "alone\nempty=\n", [][2]string{{"alone", ""}, {"empty", ""}}},
		{"continuation", "list = a, \\\n     b, \\\n\t c\n", [][2]string{{"list", "a, b, c"}}},
		{"even backslashes do not continue", "path = C:\\\\\nnext = 1\n", [][2]string{{"path", `C:\`}, {"next", "1"}}},
		{"continuation of a comment does not continue", "# comment \\\nkey = v\n", [][2]string{{"key", "v"}}},
		{"continuation line starting with #", "k = a\\\n  #b\n", [][2]string{{"k", "a#b"}}},
		{"backslash at end of file", "k = v\\", [][2]string{{"k", "v"}}},
		{"escapes", `k = tab\there\nnl\rcr\fff \u00e9\u4E2D \= \: \\ \q`, [][2]string{
			{"k", "tab\there\nnl\rcr\fff é中 = : \\ q"},
		}},
		{"surrogate pair", `k = \uD83D\uDE00`, [][2]string{{"k", "😀"}}},
		{"escaped separators in key", `a\=b\:c\ d = v`, [][2]string{{"a=b:c d", "v"}}},
		{"regex escapes must be doubled", `topics = orders\\..*, a\.b`, [][2]string{{"topics", `orders\..*, a.b`}}},
		{"line endings", "a=1\r\nb=2\rc=3\n", [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}}},
		{"crlf continuation", "a=1,\\\r\n  2\r\n", [][2]string{{"a", "1,2"}}},
		{"utf-8 byte order mark", "\uFEFFclusters=A", [][2]string{{"clusters", "A"}}},
		{"latin-1 bytes", "k=caf\xe9", [][2]string{{"k", "café"}}},
		{"duplicates kept in order", "k=1\nk=2", [][2]string{{"k", "1"}, {"k", "2"}}},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props, err := parseProperties([]byte(tc.in))
			if err != nil {
				t.Fatalf("parseProperties: %v", err)
			}
			var got [][2]string
			for _, p := range props {
				got = append(got, [2]string{p.key, p.value})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseProperties(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseProperties_LineNumbers(t *testing.T) {
	props, err := parseProperties([]byte("# c\n\na = 1, \\\n  2\nb = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if props[0].line != 3 || props[1].line != 5 {
		t.Errorf("lines = %d, %d; want 3, 5", props[0].line, props[1].line)
	}
	for _, bad := range []string{`k=\u12`, `k=\u12G4`, "a=1\nk=\\uzzzz"} {
		if _, err := parseProperties([]byte(bad)); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("parseProperties(%q) = %v, want a malformed escape error", bad, err)
		}
	}
}

func TestParsePropertiesFile(t *testing.T) {
	f, err := Parse([]byte(`
clusters = us, us.west
us.bootstrap.servers = us:9092
us.west.bootstrap.servers = usw:9092
us.west.client.id = west
us->us.west.enabled = true
us->us.west.topics.exclude =
us.west->us.topics = a
replication.factor = 3
source.cluster.alias = nope
consumer.fetch.max.bytes = 1
config.providers = file
config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider
us.west.sasl.jaas.config = ${file:/etc/secret.properties:jaas}
other.bootstrap.servers = x:1
replication.factr = 3
us->us.west.security.protocol = SSL
us->us.west.topic.filter.class = org.apache.kafka.connect.mirror.DefaultTopicFilter
us->us.west.producer.override.linger.ms = 5
us->us.west.bogus = 1
us->us.west.groups.blacklist = old
us->us.west.groups.exclude = new
replication.factor = 2
`), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Clusters["us.west"]; got == nil || !reflect.DeepEqual(got.BootstrapServers, []string{"usw:9092"}) ||
		got.Properties["client.id"] != "west" {
		t.Errorf("dotted alias cluster = %+v", got)
	}
	if got := f.Clusters["us"].Properties; got != nil {
		t.Errorf("us.west keys leaked into us: %v", got)
	}
	if len(f.Flows) != 2 {
		t.Fatalf("flows = %d, want 2", len(f.Flows))
	}
	fl := f.Flows[0] // us->us.west
	if fl.Name() != "us->us.west" || !fl.Enabled {
		t.Errorf("flow 0 = %s enabled %v", fl.Name(), fl.Enabled)
	}
	if fl.TopicsExclude == nil || len(fl.TopicsExclude) != 0 {
		t.Errorf("empty topics.exclude = %#v, want an empty non-nil list", fl.TopicsExclude)
	}
	if !reflect.DeepEqual(fl.GroupsExclude, []string{"new"}) {
		t.Errorf("groups.exclude = %q, want the new key to win over groups.blacklist", fl.GroupsExclude)
	}
	if want := map[string]string{"producer.override.linger.ms": "5", "bogus": "1"}; !reflect.DeepEqual(fl.Settings, want) {
		t.Errorf("flow settings = %v, want %v (unknown keys are kept for Validate)", fl.Settings, want)
	}
	if f.Flows[1].Enabled {
		t.Error("flow without enabled is enabled; MM2's default is false")
	}
	if want := map[string]string{"replication.factor": "2", "source.cluster.alias": "nope", "consumer.fetch.max.bytes": "1",
		"other.bootstrap.servers": "x:1", "replication.factr": "3"}; !reflect.DeepEqual(f.Settings, want) {
		t.Errorf("settings = %v, want %v", f.Settings, want)
	}
	all := strings.Join(f.Warnings, "\n")
	for _, w := range []string{
		"replication.factor: set on line 9 and again on line 23; the last value wins",
		"us->us.west.security.protocol: ignored: connection settings have no effect per flow, in MM2 too",
		"us->us.west.groups.blacklist: ignored: us->us.west.groups.exclude is set too and wins",
		"us.west.sasl.jaas.config: ignored: us.west.security.protocol is PLAINTEXT",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("no warning %q; warnings:\n%s", w, all)
		}
	}
	if strings.Contains(all, "topic.filter.class") {
		t.Errorf("a warning about the default topic filter, which mm2go implements:\n%s", all)
	}
	err = f.Validate()
	if err == nil {
		t.Fatal("Validate: no error")
	}
	for _, w := range []string{
		"source.cluster.alias: only valid per flow",
		`other.bootstrap.servers: unknown MM2 key (is cluster "other" missing from clusters?)`,
		"replication.factr: unknown MM2 key (did you mean replication.factor?)",
		"us->us.west.bogus: unknown MM2 key",
		"us.west.sasl.jaas.config: resolve ${file:...}: read /etc/secret.properties: open /etc/secret.properties: no such file or directory",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no problem %q; got:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "consumer.fetch.max.bytes") {
		t.Errorf("top-level consumer.fetch.max.bytes refused; mm2go applies it to every flow's consumers:\n%v", err)
	}
}

func TestParseJAAS(t *testing.T) {
	for _, tc := range []struct {
		in         string
		wantModule string
		wantOpts   map[string]string
		wantErr    string
	}{
		{`org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="pw";`,
			"org.apache.kafka.common.security.plain.PlainLoginModule", map[string]string{"username": "alice", "password": "pw"}, ""},
		{"org.apache.kafka.common.security.scram.ScramLoginModule REQUIRED\n  username='bob' /* c */ password=\"a\\\"b;c\" // c\n  tokenauth=true ;  ",
			"org.apache.kafka.common.security.scram.ScramLoginModule", map[string]string{"username": "bob", "password": `a"b;c`, "tokenauth": "true"}, ""},
		{`X required;`, "X", map[string]string{}, ""},
		{``, "", nil, "empty"},
		{`X`, "", nil, "expected a control flag"},
		{`X sometimes;`, "", nil, `unknown control flag "sometimes"`},
		{`X required username="u"`, "", nil, "not terminated by ;"},
		{`X required username;`, "", nil, "expected = after option username"},
		{`X required username=;`, "", nil, "no value for option username"},
		{`X required password="open`, "", nil, "unterminated quoted value"},
		{`X required; Y required;`, "", nil, "more than one login module"},
		{`X required /* open`, "", nil, "unterminated /* comment"},
		{`= required;`, "", nil, "expected a login module class"},
	} {
		module, opts, err := parseJAAS(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseJAAS(%q) = %v, want error containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseJAAS(%q): %v", tc.in, err)
			continue
		}
		if module != tc.wantModule || !reflect.DeepEqual(opts, tc.wantOpts) {
			t.Errorf("parseJAAS(%q) = %q, %q; want %q, %q", tc.in, module, opts, tc.wantModule, tc.wantOpts)
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"replication.factr", "replication.factor"},
		{"replicaton.factor", "replication.factor"},
		{"sycn.group.offsets.enabled", "sync.group.offsets.enabled"}, // transposition
		{"tasks.maximum", "tasks.max"},
		{"offset.lag", ""},
		{"zzzzzzzzzzzz", ""},
	} {
		if got := suggest(tc.in, settingNames()); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := suggest("C", []string{"A", "B"}); got != "" {
		t.Errorf("suggest(C) = %q; a one-letter name is no typo of another", got)
	}
}
