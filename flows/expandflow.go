package flows

import (
	"fmt"
	"sort"
	"strings"
)

// ExpandFlow is Expand with the flow source->target enabled, even when the
// file disables it (after a cut-over or a failover it may well be off), for
// the commands and tools that work on one flow. It returns the expansion
// and that flow's config, and leaves the file as it was. Errors name a
// cluster the file lacks (listing the file's clusters) or the flow it
// lacks; they call the file name (its path, or "the flow file").
func (f *File) ExpandFlow(name, source, target string) (*Expanded, FlowConfig, error) {
	for _, alias := range []string{source, target} {
		if _, ok := f.Clusters[alias]; !ok {
			names := make([]string, 0, len(f.Clusters))
			for a := range f.Clusters {
				names = append(names, a)
			}
			sort.Strings(names)
			return nil, FlowConfig{}, fmt.Errorf("cluster %q is not in %s (its clusters: %s)", alias, name, strings.Join(names, ", "))
		}
	}
	var fl *Flow
	for _, c := range f.Flows {
		if c.Source == source && c.Target == target {
			fl = c
		}
	}
	if fl == nil {
		return nil, FlowConfig{}, fmt.Errorf("%s has no flow %s->%s", name, source, target)
	}
	// Expand resolves only enabled flows: enable this one for as long as
	// it takes.
	was := fl.Enabled
	fl.Enabled = true
	x, err := f.Expand()
	fl.Enabled = was
	if err != nil {
		return nil, FlowConfig{}, err
	}
	for _, fc := range x.Flows {
		if fc.Source == source && fc.Target == target {
			return x, fc, nil
		}
	}
	// Expand keeps every enabled flow; this one was.
	return nil, FlowConfig{}, fmt.Errorf("%s has no flow %s->%s", name, source, target)
}
