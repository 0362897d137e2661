// Package flows reads mm2go flow files: which Kafka clusters exist, and
// which flows replicate between them. It loads two formats into one typed
// model, checks it strictly, and expands it into the connector config of
// every enabled flow.
//
// # The model
//
// A [File] holds clusters by alias, top-level settings and flows:
//
//	File
//	├── Clusters  map[alias]*Cluster   bootstrap servers, security protocol, TLS, SASL,
//	│                                  free-form Java client properties
//	├── Settings  map[key]value        MM2 keys every flow inherits ("replication.factor")
//	└── Flows     []*Flow              source -> target, enabled, topic and group
//	                                   patterns, per-flow settings (MM2 keys)
//
// Settings use MM2's own key names and string values, so an mm2.properties
// file maps onto the model without translation, and a YAML file reads like
// one.
//
// # YAML
//
// The YAML format is strict: a key that is not in the schema is an error
// naming its path ("clusters.primary.bootstrap_server: unknown key (did
// you mean bootstrap_servers?)"), and so is a settings key that is not an
// MM2 key mm2go knows ("settings.replication.factr: unknown MM2 key (did
// you mean replication.factor?)").
//
//	clusters:
//	  primary:
//	    bootstrap_servers: ["p1:9093", "p2:9093"]   # or "p1:9093, p2:9093"
//	    security_protocol: SASL_SSL                 # default: PLAINTEXT, or implied by tls/sasl
//	    tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client.pem}
//	    sasl: {mechanism: SCRAM-SHA-512, username: mm2, password: secret}
//	    properties: {client.id: mm2go, consumer.fetch.max.bytes: 52428800}
//	  backup:
//	    bootstrap_servers: ["b1:9092"]
//	settings:                      # MM2 keys, defaults for every flow
//	  replication.factor: 3        # numbers and bools are fine; stored as strings
//	  sync.group.offsets.enabled: true
//	flows:
//	  - source: primary
//	    target: backup             # enabled: true is the default in YAML
//	    topics: ["orders\\..*", "payments"]
//	    groups: [".*"]
//	    settings: {replication.factor: 2}
//
// tls has ca_file, cert_file, key_file, key_password, insecure_skip_verify
// and server_name; sasl has mechanism (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512), username and password. A flow has source, target,
// enabled, topics, topics_exclude, groups, groups_exclude and settings.
//
// # mm2.properties
//
// MM2's own file works unchanged, with MM2's keys and defaults:
//
//	clusters = primary, backup
//	primary.bootstrap.servers = p1:9093, p2:9093
//	primary.security.protocol = SASL_SSL
//	primary.ssl.truststore.location = ca.pem
//	primary.ssl.truststore.type = PEM
//	primary.sasl.mechanism = SCRAM-SHA-512
//	primary.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule \
//	    required username="mm2" password="secret";
//	backup.bootstrap.servers = b1:9092
//	replication.factor = 3
//	primary->backup.enabled = true
//	primary->backup.topics = orders\\..*, payments
//
// "<alias>.<key>" keys belong to a cluster ("<alias>.consumer.<key>",
// ".producer.", ".admin." are client properties for one role); top-level
// bootstrap.servers, security.protocol, ssl.* and sasl.* are a fallback for
// every cluster. "<source>-><target>.<key>" keys belong to a flow, which is
// disabled unless "<source>-><target>.enabled = true". Other top-level keys
// are settings. PEM files are the only key and trust stores mm2go reads
// (ssl.truststore.type=PEM, ssl.keystore.type=PEM; a JKS or PKCS12 store is
// an error that says how to convert it), and sasl.jaas.config must use
// PlainLoginModule or ScramLoginModule. Keys of MM2's Java runtime
// (converters, config providers, metric reporters, REST), keys MM2 itself
// drops (client properties at the top level), unknown keys and the 3.x
// aliases topics.blacklist, groups.blacklist and config.properties.blacklist
// (read as the *.exclude keys) are accepted with a warning in
// [File.Warnings], since MM2 accepts them too.
//
// # Precedence
//
// The connector config of a flow s->t is built as in MM2 (later wins):
//
//  1. the top-level settings;
//  2. the flow's settings ("<s>-><t>.<key>", or a flow's settings in YAML);
//  3. the flow's topics, topics.exclude, groups and groups.exclude, when
//     given;
//  4. source.cluster.alias = s and target.cluster.alias = t, unless the
//     flow sets them, and enabled = true.
//
// MM2's defaults are not filled in: the connectors own them. Cluster
// properties stay with the cluster and reach the clients through
// [Cluster.ClientOpts]; a worker key set on a cluster
// ("<t>.offset.flush.interval.ms") applies to the flows that target it.
//
// # Use
//
//	f, err := flows.Load("flows.yaml") // or mm2.properties
//	if err != nil {
//		return err // unreadable file, bad YAML, unknown YAML keys
//	}
//	for _, w := range f.Warnings {
//		log.Warn(w)
//	}
//	x, err := f.Expand() // validates first: every problem, by path
//	if err != nil {
//		return err
//	}
//	for _, fc := range x.Flows {
//		opts, err := x.Clusters[fc.Source].ClientOpts() // kgo options
//		...
//	}
//
// Validation errors are an errors.Join of [*FieldError]; paths are YAML
// paths ("flows[0].topics[1]") or property keys ("A->B.topics").
package flows
