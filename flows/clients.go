package flows

import (
	"maps"
	"strings"
)

// The clients of a flow and the Java client properties each gets, with
// MM2's precedence (MirrorMakerConfig.clusterProps and connectorBaseConfig,
// MirrorConnectorConfig.sourceConsumerConfig and its siblings, spec §5.3).
// For flow s->t, a client the connectors open on side X (source: cluster s,
// target: cluster t) in role R (consumer, producer, admin) gets, later
// winning:
//
//  1. the cluster's bare properties ("<c>.request.timeout.ms"), which MM2
//     gives only to the worker's clients and mm2go to every client of the
//     cluster;
//  2. the top-level "R.<k>" (MM2 drops these; mm2go applies them to every
//     flow), then the flow's "s->t.R.<k>";
//  3. the cluster's "<c>.R.<k>", which in MM2 beats the flow's "R.<k>";
//  4. the top-level "X.R.<k>" (mm2go), then the flow's "s->t.X.R.<k>".
//
// The producer that writes the records to t is the Connect worker's
// producer in MM2: it gets t's bare and "<t>.producer.<k>" properties, then
// "producer.override.<k>" (top level, then the flow's); the flow's
// "s->t.producer.<k>" does not reach it, as in MM2.

// Names of the clients of a flow, as in FlowConfig.Clients.
const (
	ClientSourceConsumer = "source.consumer" // the replication consumer; the offset-syncs reader on the source
	ClientSourceProducer = "source.producer" // the offset-syncs producer on the source
	ClientSourceAdmin    = "source.admin"    // topic, config, ACL and group listings on the source
	ClientTargetConsumer = "target.consumer" // readers of internal topics on the target
	ClientTargetProducer = "target.producer" // the offset index and offset-syncs producers on the target
	ClientTargetAdmin    = "target.admin"    // topic creation, config and ACL sync, group offset sync on the target
	ClientWorkerProducer = "worker.producer" // the producer of the records, checkpoints and heartbeats
)

// clientSide is a side of a flow.
type clientSide struct {
	name    string // "source" or "target"
	cluster *Cluster
}

// settingsLayer is settings at one level (top level or a flow) with where
// each key was written.
type settingsLayer struct {
	settings map[string]string
	path     func(key string) string
}

// flowClients returns the Java client properties of every client of the
// flow source->target, with where each was written. top and flow are the
// top-level settings and the flow's (flow is empty for a pair without an
// enabled flow, such as the reverse heartbeats).
func flowClients(source, target *Cluster, top, flow settingsLayer) map[string]propSet {
	out := make(map[string]propSet, 7)
	for _, side := range []clientSide{{"source", source}, {"target", target}} {
		for _, r := range roles {
			set := side.cluster.bareProps()
			for _, l := range []settingsLayer{top, flow} {
				l.addPrefixed(set, r.name+".")
			}
			side.cluster.addPrefixed(set, r.name+".")
			for _, l := range []settingsLayer{top, flow} {
				l.addPrefixed(set, side.name+"."+r.name+".")
			}
			out[side.name+"."+r.name] = set
		}
	}
	set := target.clusterProps(roleProducer)
	for _, l := range []settingsLayer{top, flow} {
		l.addPrefixed(set, "producer.override.")
	}
	out[ClientWorkerProducer] = set
	return out
}

// addPrefixed adds the settings "<prefix><name>" as name, unless the key is
// an MM2 key mm2go knows ("consumer.poll.timeout.ms").
func (l settingsLayer) addPrefixed(set propSet, prefix string) {
	for _, key := range sortedKeys(l.settings) {
		name, ok := strings.CutPrefix(key, prefix)
		if !ok || name == "" || isSettingKey(key) {
			continue
		}
		if prefix == "producer." && strings.HasPrefix(name, "override.") {
			continue // producer.override.* is the worker producer's
		}
		set[name] = propAt{value: l.settings[key], path: l.path(key)}
	}
}

// isSettingKey reports whether key is an MM2 connector or worker key rather
// than a client property, though it has a client prefix.
func isSettingKey(key string) bool {
	_, ok := knownKeys[key]
	return ok
}

// clientKey says whether a cluster property is a Java client property:
// bare (role 0) or for one role ("consumer.fetch.max.bytes"). Worker keys
// and connection settings are not.
func clientKey(key string) (name string, role int, ok bool) {
	if workerKeys[key] || isConnectionKey(key) {
		return "", 0, false
	}
	for _, p := range rolePrefixes {
		if rest, found := strings.CutPrefix(key, p.prefix); found && rest != "" {
			return rest, p.role, true
		}
	}
	if _, known := clientProps[key]; known {
		return key, 0, true
	}
	return "", 0, false
}

// bareProps returns the cluster's bare Java client properties.
func (c *Cluster) bareProps() propSet {
	set := make(propSet)
	for key, v := range c.Properties {
		if name, role, ok := clientKey(key); ok && role == 0 {
			set[name] = propAt{value: v, path: c.at("properties." + key)}
		}
	}
	return set
}

// addPrefixed adds the cluster's properties "<prefix><name>" as name.
func (c *Cluster) addPrefixed(set propSet, prefix string) {
	for key, v := range c.Properties {
		if name, ok := strings.CutPrefix(key, prefix); ok && name != "" {
			set[name] = propAt{value: v, path: c.at("properties." + key)}
		}
	}
}

// clusterProps returns what every client of role on the cluster gets: the
// bare properties, then the role's ("consumer.fetch.max.bytes" wins over
// "fetch.max.bytes").
func (c *Cluster) clusterProps(role int) propSet {
	set := c.bareProps()
	c.addPrefixed(set, roleName(role)+".")
	return set
}

// sideCluster returns the cluster alias and role of a flow client name
// ("source.consumer").
func sideCluster(client, source, target string) (alias string, role int) {
	side, r, _ := strings.Cut(client, ".")
	alias = source
	if side == "target" || side == "worker" {
		alias = target
	}
	for _, x := range roles {
		if x.name == r {
			role = x.role
		}
	}
	return alias, role
}

// sameValues reports whether two property sets hold the same values.
func sameValues(a, b propSet) bool {
	return maps.Equal(a.values(), b.values())
}
