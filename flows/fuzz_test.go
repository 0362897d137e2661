package flows

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds adds the testdata files with the extension as fuzz seeds.
func addSeeds(f *testing.F, ext string) {
	paths, err := filepath.Glob("testdata/*" + ext)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkFile runs everything after parsing that must not panic, and checks
// that no warning or problem shows a control character raw.
func checkFile(t *testing.T, file *File) {
	for _, w := range file.Warnings {
		if _, what, bad := badRune(w, false); bad {
			t.Fatalf("warning %q holds %s", w, what)
		}
	}
	for _, e := range flattenErrors(file.Check()) {
		if _, what, bad := badRune(e.Error(), false); bad {
			t.Fatalf("problem %q holds %s", e.Error(), what)
		}
	}
	x, err := file.Expand()
	if err != nil {
		return
	}
	if _, err := json.Marshal(x); err != nil {
		t.Fatalf("marshal Expanded: %v", err)
	}
	for _, fc := range x.Flows {
		if fc.Props["enabled"] != "true" || fc.Props["source.cluster.alias"] == "" {
			t.Fatalf("flow %s props %v lack enabled or source.cluster.alias", fc.Name(), fc.Props)
		}
	}
}

func FuzzParseProperties(f *testing.F) {
	addSeeds(f, ".properties")
	for _, s := range []string{
		"k=\\u00e9\\uD83D\\uDE00 \\\n  next", "a\\\r\n b:c", "\\u12", "# c \\\n!x\n k v", "\xff\xfe=\x80",
		"clusters=A,B\nA.bootstrap.servers=a:1\nB.bootstrap.servers=b:1\nA->B.enabled=true\nA->B.topics=(a",
		"clusters=A\nA.security.protocol=SASL_SSL\nA.sasl.jaas.config=X required a=\"\\\\\";",
		// Hostile input: NUL and terminal escapes, direction overrides,
		// Latin-1 C1 bytes, a long value, provider references.
		"clusters=A,B\nA.bootstrap.servers=a:1\nB.bootstrap.servers=b:1\nA->B.enabled=true\nA->B.topics=t\x00",
		"clusters=A\nA.\x1b[2J=1\nA->\x1b]0;x\x07.enabled=true",
		"clusters=A\nA.bootstrap.servers=a:1\u202e\nk=\x9b31m",
		"clusters=A,B\nA->B.topics=" + strings.Repeat("(a|", 1500), // long inputs are in TestParse_LongKeysAndValues: minimizing them takes the fuzzer minutes
		"config.providers=env,x\nconfig.providers.env.class=EnvVarConfigProvider\nclusters=A\nA.client.id=${env:HOME}${x:y:z}${env:/p:k}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		props, err := parseProperties(data)
		if err != nil {
			return
		}
		// Writing the entries back with escapes and parsing them again must
		// give the same entries.
		var b strings.Builder
		for _, p := range props {
			b.WriteString(escapeProperty(p.key, true) + "=" + escapeProperty(p.value, false) + "\n")
		}
		again, err := parseProperties([]byte(b.String()))
		if err != nil {
			t.Fatalf("re-parse %q: %v", b.String(), err)
		}
		if len(again) != len(props) {
			t.Fatalf("re-parse of %q gave %d entries, want %d", b.String(), len(again), len(props))
		}
		for i := range props {
			if again[i].key != props[i].key || again[i].value != props[i].value {
				t.Fatalf("entry %d: re-parsed %q=%q, want %q=%q", i, again[i].key, again[i].value, props[i].key, props[i].value)
			}
		}
		file, err := Parse(data, FormatProperties)
		if err != nil {
			if len(data) > MaxFileSize {
				return
			}
			t.Fatalf("Parse failed after parseProperties succeeded: %v", err)
		}
		checkFile(t, file)
	})
}

// escapeProperty escapes s for a .properties key or value.
func escapeProperty(s string, key bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == ' ' && (key || i == 0):
			b.WriteString(`\ `)
		case (r == '=' || r == ':') && key, (r == '#' || r == '!') && i == 0:
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func FuzzParseYAML(f *testing.F) {
	addSeeds(f, ".yaml")
	for _, s := range []string{
		"clusters: {1: {bootstrap_servers: [1]}}\nflows: [[{2: 3}]]",
		"settings: {a: [1, {b: 2}], replication.factor: 2024-01-02}",
		"clusters:\n  a: &x {bootstrap_servers: [a:1]}\n  b: *x\nflows: [{source: a, target: b, topics: \"x,(\"}]",
		"flows: [null, {}, {source: a}]\nclusters: null",
		"clusters: {a: {tls: {ca_file: [x]}, sasl: 3, properties: {x: {y: z}}}}",
		"? [a]\n: b",
		// Hostile input.
		"clusters: {a: {bootstrap_servers: [\"a:1\\0\"]}}\nflows: [{source: a, target: b, topics: [\"\\e[2J\"]}]",
		"clusters: {\"a\\u202e\": {bootstrap_servers: [a:1]}}",
		"config_providers: {env: {class: EnvVarConfigProvider}}\nclusters: {a: {properties: {client.id: \"${env:HOME}\"}}}",
		"settings: {topics: \"" + strings.Repeat("a*", 2100) + "\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, FormatYAML)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		checkFile(t, file)
	})
}
