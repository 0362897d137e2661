package flows

import (
	"sort"
	"strings"
)

// Expanded is a flow file resolved into what the worker runs: every
// cluster, and the connector config of every enabled flow. It is canonical:
// the same flows written as YAML and as mm2.properties expand to equal
// values (reflect.DeepEqual), so it can also be compared to detect a
// changed configuration.
type Expanded struct {
	// Clusters by alias, all of them, normalised: upper-case security
	// protocol and SASL mechanism, TLS only if the protocol uses it, nil
	// for empty maps.
	Clusters map[string]*Cluster `json:"clusters"`
	// Flows are the enabled flows, sorted by source, then target.
	Flows []FlowConfig `json:"flows"`
}

// FlowConfig is the connector config of one enabled flow.
type FlowConfig struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// Props is the flow's config with MM2's precedence (spec §5.3): the
	// top-level settings, overridden by the flow's settings; then "topics",
	// "topics.exclude", "groups" and "groups.exclude" from the flow's
	// fields when set; "source.cluster.alias" and "target.cluster.alias"
	// unless the flow sets them; and "enabled" = "true". MM2 defaults are
	// not filled in: the connectors own them. Values are canonical: trimmed,
	// bools in lower case, lists joined with ",", replication.policy.class
	// as the Java class name.
	Props map[string]string `json:"props"`
}

// Name returns "source->target".
func (fc FlowConfig) Name() string { return fc.Source + "->" + fc.Target }

// Expand validates the file and resolves it. It returns the error of
// [File.Validate] if the file is not valid.
func (f *File) Expand() (*Expanded, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	x := &Expanded{Clusters: make(map[string]*Cluster, len(f.Clusters)), Flows: []FlowConfig{}}
	for alias, c := range f.Clusters {
		x.Clusters[alias] = c.canonical()
	}
	for _, fl := range f.Flows {
		if !fl.Enabled {
			continue
		}
		props := make(map[string]string)
		for k, v := range f.Settings {
			props[k] = canonicalValue(k, v)
		}
		for k, v := range fl.Settings {
			props[k] = canonicalValue(k, v)
		}
		for _, l := range []struct {
			key   string
			items []string
		}{
			{"topics", fl.Topics},
			{"topics.exclude", fl.TopicsExclude},
			{"groups", fl.Groups},
			{"groups.exclude", fl.GroupsExclude},
		} {
			if l.items != nil {
				props[l.key] = joinList(l.items)
			}
		}
		if _, ok := props["source.cluster.alias"]; !ok {
			props["source.cluster.alias"] = fl.Source
		}
		if _, ok := props["target.cluster.alias"]; !ok {
			props["target.cluster.alias"] = fl.Target
		}
		props["enabled"] = "true"
		x.Flows = append(x.Flows, FlowConfig{Source: fl.Source, Target: fl.Target, Props: props})
	}
	sort.Slice(x.Flows, func(i, j int) bool {
		a, b := x.Flows[i], x.Flows[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.Target < b.Target
	})
	return x, nil
}

// canonical returns a normalised copy of c without its source locations.
func (c *Cluster) canonical() *Cluster {
	out := &Cluster{Alias: c.Alias, SecurityProtocol: c.protocol()}
	for _, s := range c.BootstrapServers {
		if s = strings.TrimSpace(s); s != "" {
			out.BootstrapServers = append(out.BootstrapServers, s)
		}
	}
	if c.TLS != nil && usesTLS(out.SecurityProtocol) && *c.TLS != (TLS{}) {
		t := *c.TLS
		out.TLS = &t
	}
	if c.SASL != nil && usesSASL(out.SecurityProtocol) {
		s := *c.SASL
		s.Mechanism = strings.ToUpper(strings.TrimSpace(s.Mechanism))
		out.SASL = &s
	}
	if len(c.Properties) > 0 {
		out.Properties = make(map[string]string, len(c.Properties))
		for k, v := range c.Properties {
			out.Properties[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// canonicalValue normalises a settings value by its key's type.
func canonicalValue(key, value string) string {
	v := strings.TrimSpace(value)
	info, ok := knownKeys[key]
	if !ok {
		return v
	}
	switch info.kind {
	case kindBool, kindEnum:
		return strings.ToLower(v)
	case kindRegexList:
		return joinList(splitList(v))
	case kindPolicy:
		if class := policyClasses[v]; class != "" {
			return class
		}
	}
	return v
}

// joinList joins list items with ",", trimmed, without empty items.
func joinList(items []string) string {
	out := make([]string, 0, len(items))
	for _, item := range items {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return strings.Join(out, ",")
}
