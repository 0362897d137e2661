package harness

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

// FlowFile is a YAML flow file with one flow, from cluster A to cluster B:
// remote topics are named "A.<topic>" and source offsets are stored in
// "mm2-offsets.A.internal" on B.
type FlowFile struct {
	Source, Target string // bootstrap addresses of A and B
	// Topics are the flow's topic regexes; all topics when empty.
	Topics []string
	// Settings are MM2 settings for every flow (tasks.max, ...).
	Settings map[string]string
	// TargetProperties are client properties of cluster B
	// (producer.compression.type, ...).
	TargetProperties map[string]string
}

// DefaultSettings are the settings of the fault scenarios: frequent commits
// and topic refreshes so that a scenario sees their effect in seconds.
func DefaultSettings() map[string]string {
	return map[string]string{
		"offset.flush.interval.ms":        "500",
		"refresh.topics.interval.seconds": "1",
	}
}

// Write writes the flow file to path and returns path.
func (f FlowFile) Write(t testing.TB, path string) string {
	t.Helper()
	var b strings.Builder
	props := func(m map[string]string, indent string) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, "%s%s: %q\n", indent, k, m[k])
		}
	}
	fmt.Fprintf(&b, "clusters:\n  A:\n    bootstrap_servers: [%q]\n  B:\n    bootstrap_servers: [%q]\n", f.Source, f.Target)
	if len(f.TargetProperties) > 0 {
		b.WriteString("    properties:\n")
		props(f.TargetProperties, "      ")
	}
	if len(f.Settings) > 0 {
		b.WriteString("settings:\n")
		props(f.Settings, "  ")
	}
	b.WriteString("flows:\n  - source: A\n    target: B\n")
	if len(f.Topics) > 0 {
		var qs []string
		for _, tp := range f.Topics {
			qs = append(qs, fmt.Sprintf("%q", tp))
		}
		fmt.Fprintf(&b, "    topics: [%s]\n", strings.Join(qs, ", "))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
