package flows

import (
	"strings"
	"testing"
)

// TestExpandFlow: a flow the file disables is expanded enabled, with its
// own settings, and the file stays as it was; a cluster or a flow the file
// lacks is an error that names it, calling the file as asked.
func TestExpandFlow(t *testing.T) {
	f, err := Parse([]byte(planClusters+`flows:
  - {source: A, target: B, enabled: false, topics: ["orders.*"]}
`), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	e, fc, err := f.ExpandFlow("the flow file", "A", "B")
	if err != nil {
		t.Fatal(err)
	}
	if fc.Source != "A" || fc.Target != "B" || fc.Props["enabled"] != "true" || fc.Props["topics"] != "orders.*" {
		t.Errorf("flow config = %+v, want A->B enabled with topics orders.*", fc)
	}
	if len(e.Flows) != 1 || e.Clusters["A"] == nil || e.Clusters["B"] == nil {
		t.Errorf("expanded: %d flows, clusters %v", len(e.Flows), e.Clusters)
	}
	if f.Flows[0].Enabled {
		t.Error("ExpandFlow left the flow enabled in the file")
	}
	if all, err := f.Expand(); err != nil || len(all.Flows) != 0 {
		t.Errorf("Expand after ExpandFlow: %d flows, %v; want none enabled", len(all.Flows), err)
	}

	for _, tc := range []struct{ name, source, target, want string }{
		{"/etc/mm2go/flows.yaml", "C", "B", `cluster "C" is not in /etc/mm2go/flows.yaml (its clusters: A, B)`},
		{"the flow file", "A", "C", `cluster "C" is not in the flow file (its clusters: A, B)`},
		{"the flow file", "B", "A", "the flow file has no flow B->A"},
	} {
		if _, _, err := f.ExpandFlow(tc.name, tc.source, tc.target); err == nil || err.Error() != tc.want {
			t.Errorf("ExpandFlow(%s->%s) = %v, want %q", tc.source, tc.target, err, tc.want)
		}
	}
	bad, err := Parse([]byte(planClusters+"settings: {no.such.key: 1}\nflows:\n  - {source: A, target: B}\n"), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bad.ExpandFlow("the flow file", "A", "B"); err == nil || !strings.Contains(err.Error(), "no.such.key") {
		t.Errorf("ExpandFlow of an invalid file = %v, want Validate's error", err)
	}
}
