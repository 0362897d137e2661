package flows

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoad_Bounded: Load reads at most MaxFileSize bytes, so a huge file or
// a device costs no memory, and says what is wrong.
func TestLoad_Bounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.properties")
	if err := os.WriteFile(big, []byte("clusters = A\n"+strings.Repeat("#", MaxFileSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.yaml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{big, zero} {
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "is larger than 1048576 bytes (1 MiB)") {
			t.Errorf("Load(%s) = %v, want a size error", path, err)
		}
	}
	if _, err := Parse(make([]byte, MaxFileSize+1), FormatYAML); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Parse of %d bytes = %v, want a size error", MaxFileSize+1, err)
	}
}

// TestParse_LongKeysAndValues: a key or value far longer than any real one
// is reported with its length, not compiled as a regex or matched against
// every known key.
func TestParse_LongKeysAndValues(t *testing.T) {
	long := strings.Repeat("x", 1<<19)
	for _, tc := range []struct {
		format Format
		src    string
		want   string
	}{
		{FormatProperties, "clusters = A, B\nA.bootstrap.servers = a:1\nB.bootstrap.servers = b:1\nA->B.enabled = true\nA->B.topics = " + long + "\n",
			"A->B.topics: a value of 524288 bytes (line 5): values are at most 65536 bytes"},
		{FormatProperties, "clusters = A\nA.bootstrap.servers = a:1\n" + long + " = 1\n",
			strings.Repeat("x", 64) + "...: a key of 524288 bytes (line 3): keys are at most 1024 bytes"},
		{FormatYAML, "clusters: {A: {bootstrap_servers: [a:1]}, B: {bootstrap_servers: [b:1]}}\nflows: [{source: A, target: B, topics: [\"" + long + "\"]}]\n",
			"flows[0].topics[0]: a value of 524288 bytes: values are at most 65536 bytes"},
		{FormatYAML, "clusters: {A: {bootstrap_servers: [a:1]}}\nsettings:\n  ? " + long + "\n  : 1\n",
			"settings." + strings.Repeat("x", 64) + "...: a key of 524288 bytes: keys are at most 1024 bytes"},
	} {
		err := parseAndValidate(tc.src, tc.format)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %.300v; want %q", tc.format, err, tc.want)
		}
		if err != nil && len(err.Error()) > 4096 {
			t.Errorf("%v: a %d-byte error message", tc.format, len(err.Error()))
		}
	}
}

// TestParse_InvalidBytes: control characters, direction overrides and
// bytes that are not UTF-8 have no place in a flow file: each is an error
// that names the key and the character, and every message shows them
// escaped.
func TestParse_InvalidBytes(t *testing.T) {
	const head = "clusters = A, B\nA.bootstrap.servers = a:1\nB.bootstrap.servers = b:1\nA->B.enabled = true\n"
	for _, tc := range []struct {
		name   string
		format Format
		src    string
		want   string
	}{
		{"NUL in topics", FormatProperties, head + "A->B.topics = orders\x00\n",
			"A->B.topics: the value holds the control character U+0000 (NUL) (line 5): remove it"},
		{"escaped NUL in topics", FormatProperties, head + "A->B.topics = orders\\u0000\n",
			"A->B.topics: the value holds the control character U+0000 (NUL) (line 5)"},
		{"terminal escape in a key", FormatProperties, head + "A->B.\x1b[2Jtopics = x\n",
			`A->B.\x1b[2Jtopics: the key holds the control character U+001B (line 5)`},
		{"direction override", FormatProperties, head + "A->B.topics = a\u202e,b\n",
			"A->B.topics: the value holds the Unicode direction control U+202E (line 5)"},
		{"C1 control from Latin-1", FormatProperties, head + "A->B.topics = a\x9bb\n",
			"A->B.topics: the value holds the control character U+009B (line 5)"},
		{"NUL in YAML topics", FormatYAML, "clusters: {A: {bootstrap_servers: [a:1]}, B: {bootstrap_servers: [b:1]}}\nflows: [{source: A, target: B, topics: [\"orders\\0\"]}]\n",
			"flows[0].topics[0]: the value holds the control character U+0000 (NUL): remove it"},
		{"escape in a YAML key", FormatYAML, "clusters: {A: {bootstrap_servers: [a:1], properties: {\"x\\e[31m\": 1}}}\n",
			`clusters.A.properties.x\x1b[31m: the key holds the control character U+001B`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := parseAndValidate(tc.src, tc.format)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want %q", err, tc.want)
			}
			for _, e := range flattenErrors(err) {
				var fe *FieldError
				if errors.As(e, &fe) {
					for _, s := range []string{fe.Path, fe.Msg} {
						if _, what, bad := badRune(s, false); bad {
							t.Errorf("message %q holds %s raw", s, what)
						}
					}
				}
			}
		})
	}
}

// TestPrintable: what messages quote is escaped, and clean text is left as
// it is.
func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain é ü 日本":        "plain é ü 日本",
		"a\x00b\x1b[31mc\x7f": `a\x00b\x1b[31mc\x7f`,
		"line\nnext\tend\r":   `line\nnext\tend\r`,
		"rtl\u202eevil":       `rtl\u202eevil`,
		"c1\u009bx":           `c1\u009bx`,
		"bad\xffutf8":         `bad\xffutf8`,
		"sep\u2028x":          `sep\u2028x`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWarnings_Bounded: a file of many keys that do not matter gives a
// bounded list of warnings, and Validate a bounded list of problems.
func TestWarnings_Bounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("clusters = A, B\nA.bootstrap.servers = a:1\nB.bootstrap.servers = b:1\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "metrics.x%d = 1\nunknown.key.%d = 1\n", i, i)
	}
	f, err := Parse([]byte(b.String()), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.Warnings); n != maxWarnings+1 || !strings.HasPrefix(f.Warnings[n-1], "and ") {
		t.Errorf("%d warnings, last %q; want %d and a count", n, f.Warnings[n-1], maxWarnings+1)
	}
	errs := flattenErrors(f.Validate())
	if len(errs) != maxProblems+1 || errs[len(errs)-1].Error() != "and 2000 more problems" {
		t.Errorf("%d problems, last %v; want %d and a count", len(errs), errs[len(errs)-1], maxProblems+1)
	}
}
