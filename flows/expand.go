package flows

import (
	"sort"
	"strconv"
	"strings"
	"time"
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

	// settings are the top-level settings, for the herders of reverse
	// heartbeats, which have no flow of their own.
	settings map[string]string
	// secrets are what config providers resolved, kept out of Plan's
	// errors.
	secrets *secretSet
	// disabled are the flows that are defined but not enabled, by name:
	// their pair still gets MM2's reverse heartbeats, with their settings.
	disabled map[string]FlowConfig
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
	// as the Java class name. "consumer.auto.offset.reset" is the
	// replication consumer's, after precedence (see Clients).
	Props map[string]string `json:"props"`
	// Clients are the Java client properties of each client of the flow,
	// after MM2's precedence (see the README's table): "source.consumer"
	// (the replication consumer), "source.producer", "source.admin",
	// "target.consumer", "target.producer" and "target.admin" for the
	// clients the connectors open, and "worker.producer" for the producer
	// that writes the records, checkpoints and heartbeats to the target.
	// Clients without properties are left out.
	Clients map[string]map[string]string `json:"clients,omitempty"`
	// Worker are the worker keys of the flow's herder, as MM2 reads them
	// (see herderProps): offset.storage.topic, offset.storage.partitions,
	// offset.storage.replication.factor, offset.flush.interval.ms and
	// exactly.once.source.support, when set.
	Worker map[string]string `json:"worker,omitempty"`
}

// Name returns "source->target".
func (fc FlowConfig) Name() string { return fc.Source + "->" + fc.Target }

// Expand validates the file and resolves it. It returns the error of
// [File.Validate] if the file is not valid.
func (f *File) Expand() (*Expanded, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	x := &Expanded{Clusters: make(map[string]*Cluster, len(f.Clusters)), Flows: []FlowConfig{}, secrets: f.secrets}
	if len(f.Settings) > 0 {
		x.settings = make(map[string]string, len(f.Settings))
		for k, v := range f.Settings {
			x.settings[k] = canonicalValue(k, v)
		}
	}
	for alias, c := range f.Clusters {
		x.Clusters[alias] = c.canonical()
	}
	for _, fl := range f.Flows {
		fc := f.flowConfig(fl)
		if !fl.Enabled {
			// MM2 still runs the heartbeats of a disabled flow's pair,
			// with the flow's settings: see Expanded.reverseHeartbeats.
			if x.disabled == nil {
				x.disabled = make(map[string]FlowConfig)
			}
			fc.Props["enabled"] = "false"
			x.disabled[fc.Name()] = fc
			continue
		}
		x.Flows = append(x.Flows, fc)
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

// flowConfig resolves one flow of a valid file.
func (f *File) flowConfig(fl *Flow) FlowConfig {
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
	fc := FlowConfig{Source: fl.Source, Target: fl.Target, Props: props}
	src, tgt := f.Clusters[fl.Source], f.Clusters[fl.Target]
	at := func(field string) string { return where(fl.origin, fl.path, field) }
	for name, set := range flowClients(src, tgt, f.topLayer(), fl.layer(at)) {
		if len(set) == 0 {
			continue
		}
		if fc.Clients == nil {
			fc.Clients = make(map[string]map[string]string)
		}
		fc.Clients[name] = trimmed(set.values())
	}
	if reset, ok := fc.Clients[ClientSourceConsumer]["auto.offset.reset"]; ok {
		props["consumer.auto.offset.reset"] = strings.ToLower(reset)
	}
	fc.Worker = herderProps(tgt.Properties, f.Settings, fl.Settings)
	return fc
}

// trimmed returns m with its values trimmed.
func trimmed(m map[string]string) map[string]string {
	for k, v := range m {
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// herderProps returns the worker keys of the herder of a flow to target
// (target's properties), as MM2 reads them (MirrorMakerConfig.workerConfig):
// "<target>.<key>", where a top-level offset.storage.* wins (MM2 gives
// those top-level prefixes precedence over the cluster's). MM2 reads
// offset.flush.interval.ms and exactly.once.source.support only per target;
// mm2go also takes them from the top level, below the target's. mm2go also
// takes every key per flow (flow, nil for none), above the rest.
func herderProps(target, top, flow map[string]string) map[string]string {
	var out map[string]string
	for _, key := range sortedKeys(workerKeys) {
		layers := []map[string]string{top, target, flow}
		if strings.HasPrefix(key, "offset.storage.") {
			layers = []map[string]string{target, top, flow}
		}
		for _, l := range layers {
			if v, ok := l[key]; ok {
				if out == nil {
					out = make(map[string]string)
				}
				out[key] = canonicalValue(key, v)
			}
		}
	}
	return out
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

// GroupSettings are the worker group's settings of a flow file (top-level
// keys; zero when not set): mm2go.group.id, mm2go.group.cluster, Connect's
// session.timeout.ms, heartbeat.interval.ms and rebalance.timeout.ms, and
// config.storage.replication.factor for the group's config topic.
type GroupSettings struct {
	ID, Cluster                                         string
	SessionTimeout, HeartbeatInterval, RebalanceTimeout time.Duration
	ConfigReplication                                   int16
}

// Group returns the worker group's settings. The file was validated, so
// the values parse.
func (e *Expanded) Group() GroupSettings {
	ms := func(key string) time.Duration {
		n, _ := strconv.ParseInt(e.settings[key], 10, 64)
		return time.Duration(n) * time.Millisecond
	}
	rf, _ := strconv.ParseInt(e.settings["config.storage.replication.factor"], 10, 16)
	return GroupSettings{
		ID: e.settings["mm2go.group.id"], Cluster: e.settings["mm2go.group.cluster"],
		SessionTimeout: ms("session.timeout.ms"), HeartbeatInterval: ms("heartbeat.interval.ms"),
		RebalanceTimeout: ms("rebalance.timeout.ms"), ConfigReplication: int16(rf),
	}
}
