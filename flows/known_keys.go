package flows

import (
	"sort"
	"strconv"
	"strings"
)

// This file is the one list of the MM2 keys mm2go knows: the connector and
// worker keys it uses (with MM2's defaults, spec §5.2, as documentation),
// the keys of MM2's Java runtime it accepts and ignores, the 3.x aliases,
// and the client properties it maps onto franz-go.

// keyKind says how a setting's value is checked and written.
type keyKind int

const (
	kindString    keyKind = iota
	kindInt               // Java int: 32-bit
	kindLong              // Java long: 64-bit
	kindBool              // true or false, any case
	kindRegexList         // comma-separated Java regexes, each matching a whole name
	kindEnum              // one of values, any case
	kindPolicy            // replication.policy.class
)

// keyInfo describes one MM2 key.
type keyInfo struct {
	kind keyKind
	// def is MM2's default, for documentation; the connectors own defaults.
	def string
	// values are the allowed values of a kindEnum key.
	values []string
	// min is the smallest allowed value of an integer key, if hasMin.
	min    int64
	hasMin bool
	// notZero rejects 0 (replication factors: -1 means the broker default).
	notZero bool
	// flowOnly keys only make sense per flow, never at the top level.
	flowOnly bool
}

func longKey(def string) keyInfo   { return keyInfo{kind: kindLong, def: def} }
func boolKey(def string) keyInfo   { return keyInfo{kind: kindBool, def: def} }
func regexKey(def string) keyInfo  { return keyInfo{kind: kindRegexList, def: def} }
func stringKey(def string) keyInfo { return keyInfo{kind: kindString, def: def} }
func rfKey(def string) keyInfo {
	return keyInfo{kind: kindInt, def: def, min: -1, hasMin: true, notZero: true}
}
func enumKey(def string, values ...string) keyInfo {
	return keyInfo{kind: kindEnum, def: def, values: values}
}

// knownKeys are the connector and worker keys mm2go uses, valid at the top
// level (all flows) and per flow.
var knownKeys = map[string]keyInfo{
	// Common to the three connectors.
	"source.cluster.alias": {kind: kindString, flowOnly: true}, // set per flow from the flow's source
	"target.cluster.alias": {kind: kindString, flowOnly: true}, // set per flow from the flow's target
	"enabled":              {kind: kindBool, def: "false", flowOnly: true},
	"tasks.max":            {kind: kindInt, def: "1", min: 1, hasMin: true},
	"admin.timeout.ms":     longKey("60000"),
	"replication.policy.class": {kind: kindPolicy,
		def: "org.apache.kafka.connect.mirror.DefaultReplicationPolicy"},
	"replication.policy.separator":                        stringKey("."),
	"replication.policy.internal.topic.separator.enabled": boolKey("true"),
	"offset-syncs.topic.location":                         enumKey("source", "source", "target"),
	"emit.offset-syncs.enabled":                           boolKey("true"),
	"consumer.poll.timeout.ms":                            longKey("1000"),
	"exactly.once.support":                                enumKey("requested", "requested", "required"),

	// MirrorSourceConnector.
	"topics":                                regexKey(".*"),
	"topics.exclude":                        regexKey(`.*[\-\.]internal, .*\.replica, __.*`),
	"config.properties.exclude":             regexKey(`follower\.replication\.throttled\.replicas, leader\.replication\.throttled\.replicas, message\.timestamp\.difference\.max\.ms, message\.timestamp\.type, unclean\.leader\.election\.enable, min\.insync\.replicas`),
	"use.defaults.from":                     stringKey("target"),
	"refresh.topics.enabled":                boolKey("true"),
	"refresh.topics.interval.seconds":       longKey("600"),
	"sync.topic.configs.enabled":            boolKey("true"),
	"sync.topic.configs.interval.seconds":   longKey("600"),
	"sync.topic.acls.enabled":               boolKey("true"),
	"sync.topic.acls.interval.seconds":      longKey("600"),
	"replication.factor":                    rfKey("2"),
	"offset-syncs.topic.replication.factor": rfKey("3"),
	"offset.lag.max":                        longKey("100"),
	"heartbeats.replication.enabled":        boolKey("true"),

	// MirrorCheckpointConnector.
	"groups":                               regexKey(".*"),
	"groups.exclude":                       regexKey("console-consumer-.*, connect-.*, __.*"),
	"refresh.groups.enabled":               boolKey("true"),
	"refresh.groups.interval.seconds":      longKey("600"),
	"emit.checkpoints.enabled":             boolKey("true"),
	"emit.checkpoints.interval.seconds":    longKey("60"),
	"sync.group.offsets.enabled":           boolKey("false"),
	"sync.group.offsets.interval.seconds":  longKey("60"),
	"checkpoints.topic.replication.factor": rfKey("3"),

	// MirrorHeartbeatConnector.
	"emit.heartbeats.enabled":             boolKey("true"),
	"emit.heartbeats.interval.seconds":    longKey("1"),
	"heartbeats.topic.replication.factor": rfKey("3"),

	// mm2go's own keys (no MM2 equivalent).
	"sync.topic.configs.min.insync.replicas": boolKey("false"),                        // also copy min.insync.replicas, which MM2 never does
	"config.properties.target.keep":          regexKey(""),                            // properties never touched on the target (set there by hand)
	"replication.factor.from.source":         boolKey("false"),                        // create remote topics with the source topic's replication factor
	"on.data.loss":                           enumKey("continue", "continue", "fail"), // records deleted before they were copied: report and go on, or fail the task

	// Worker keys mm2go honours at the top level, per flow and per target
	// cluster (MM2 honours them only per target cluster, spec §8.9).
	"offset.flush.interval.ms":          longKey("60000"),
	"offset.storage.topic":              stringKey("mm2-offsets.<source>.internal"),
	"offset.storage.partitions":         {kind: kindInt, def: "25", min: 1, hasMin: true},
	"offset.storage.replication.factor": rfKey("3"),
	"exactly.once.source.support":       enumKey("disabled", "disabled", "preparing", "enabled"),
}

// workerKeys are the known keys that may also be set per cluster
// ("<alias>.<key>"), where they apply to flows targeting that cluster.
var workerKeys = map[string]bool{
	"offset.flush.interval.ms":          true,
	"offset.storage.topic":              true,
	"offset.storage.partitions":         true,
	"offset.storage.replication.factor": true,
	"exactly.once.source.support":       true,
}

// listFields maps the list keys that are Flow fields to their YAML names.
var listFields = map[string]string{
	"topics":         "topics",
	"topics.exclude": "topics_exclude",
	"groups":         "groups",
	"groups.exclude": "groups_exclude",
}

// renamedKeys are MM2 3.x aliases (removed in Kafka 4.0) and the key that
// replaced each.
var renamedKeys = map[string]string{
	"topics.blacklist":            "topics.exclude",
	"groups.blacklist":            "groups.exclude",
	"config.properties.blacklist": "config.properties.exclude",
}

// Policy class names: short and Java FQCN.
const (
	defaultPolicy  = "org.apache.kafka.connect.mirror.DefaultReplicationPolicy"
	identityPolicy = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
)

// policyClasses maps the accepted replication.policy.class values to the
// Java FQCN written into connector configs.
var policyClasses = map[string]string{
	"DefaultReplicationPolicy":  defaultPolicy,
	defaultPolicy:               defaultPolicy,
	"IdentityReplicationPolicy": identityPolicy,
	identityPolicy:              identityPolicy,
}

// defaultClasses are Java class keys whose default value mm2go implements.
// Any other value names Java code mm2go cannot run.
var defaultClasses = map[string]string{
	"topic.filter.class":           "org.apache.kafka.connect.mirror.DefaultTopicFilter",
	"group.filter.class":           "org.apache.kafka.connect.mirror.DefaultGroupFilter",
	"config.property.filter.class": "org.apache.kafka.connect.mirror.DefaultConfigPropertyFilter",
	"forwarding.admin.class":       "org.apache.kafka.clients.admin.ForwardingAdmin",
}

// ignoredKeys are keys MM2 knows that mm2go accepts and ignores, with why.
var ignoredKeys = map[string]string{
	"config.providers":                    "config providers are Java plugins; mm2go does not resolve ${provider:path:key} references",
	"metric.reporters":                    "mm2go exports Prometheus metrics",
	"add.source.alias.to.metrics":         "removed in Kafka 4.0; mm2go labels metrics with both aliases",
	"use.incremental.alter.configs":       "removed in Kafka 4.0; mm2go always uses IncrementalAlterConfigs",
	"dedicated.mode.enable.internal.rest": "mm2go workers coordinate through Kafka, without an internal REST API",
	"listeners":                           "the REST listener is set on the mm2go command line",
	"transforms":                          "single message transforms are Java plugins",
	"predicates":                          "single message transforms are Java plugins",
	"transaction.boundary":                "mm2go commits a transaction per produced batch in exactly-once mode",
	"task.assigned.partitions":            "task-internal; the connector assigns partitions",
	"task.assigned.groups":                "task-internal; the connector assigns groups",
	"task.index":                          "task-internal",
	"name":                                "mm2go names the connectors after MM2's classes",
	"connector.class":                     "mm2go picks the connector classes itself",
	"plugin.path":                         "mm2go has no Java plugins",
}

// ignoredPrefixes are key prefixes MM2 knows that mm2go ignores, with why.
var ignoredPrefixes = []struct{ prefix, why string }{
	{"config.providers.", "config providers are Java plugins; mm2go does not resolve ${provider:path:key} references"},
	{"key.converter", "mm2go copies keys as bytes (ByteArrayConverter)"},
	{"value.converter", "mm2go copies values as bytes (ByteArrayConverter)"},
	{"header.converter", "mm2go copies headers as bytes (ByteArrayConverter)"},
	{"internal.key.converter", "mm2go writes Connect's JSON offsets itself"},
	{"internal.value.converter", "mm2go writes Connect's JSON offsets itself"},
	{"config.storage.", "mm2go does not use Connect's config topic"},
	{"status.storage.", "mm2go does not use Connect's status topic"},
	{"metrics.", "mm2go exports Prometheus metrics"},
	{"rest.", "the REST listener is set on the mm2go command line"},
	{"admin.listeners", "the REST listener is set on the mm2go command line"},
	{"transforms.", "single message transforms are Java plugins"},
	{"predicates.", "single message transforms are Java plugins"},
	{"errors.", "Connect's error handling is for sink connectors and transforms"},
	{"task.", "Connect task settings; mm2go runs tasks itself"},
	{"worker.", "Connect worker settings; mm2go runs the worker itself"},
	{"scheduled.rebalance.", "mm2go workers rebalance through the group protocol"},
	{"connect.protocol", "mm2go workers rebalance through the group protocol"},
	{"heartbeat.interval.ms", "Connect worker group setting; mm2go's worker group uses its own"},
	{"session.timeout.ms", "Connect worker group setting; mm2go's worker group uses its own"},
	{"rebalance.timeout.ms", "Connect worker group setting; mm2go's worker group uses its own"},
	{"offset.flush.timeout.ms", "mm2go waits for every produce before committing source offsets"},
}

// flowClientPrefixes are prefixes of Java client properties that MM2 passes
// to the clients of one flow ("<s>-><t>.consumer.fetch.max.bytes").
var flowClientPrefixes = []string{
	"consumer.", "producer.", "admin.",
	"source.consumer.", "source.producer.", "source.admin.",
	"target.consumer.", "target.producer.", "target.admin.",
	"source.cluster.", "target.cluster.",
}

// structuredKeys are cluster keys the model holds in typed fields
// (bootstrap_servers, security_protocol, tls, sasl), with the YAML field to
// use instead.
var structuredKeys = map[string]string{
	"bootstrap.servers":                   "bootstrap_servers",
	"security.protocol":                   "security_protocol",
	"sasl.mechanism":                      "sasl.mechanism",
	"sasl.jaas.config":                    "sasl.username and sasl.password, sasl.aws, sasl.oauth or sasl.kerberos",
	"sasl.client.callback.handler.class":  "sasl.aws or sasl.oauth (the handler follows from them)",
	"sasl.login.callback.handler.class":   "sasl.aws or sasl.oauth (the handler follows from them)",
	"sasl.login.class":                    "sasl.mechanism (mm2go logs in itself)",
	"sasl.kerberos.service.name":          "sasl.kerberos.service_name",
	"java.security.krb5.conf":             "sasl.kerberos.config_file",
	"sasl.oauthbearer.token.endpoint.url": "sasl.oauth.token_endpoint_url",
	"sasl.oauthbearer.scope.claim.name":   "sasl.oauth.scope_claim_name",
	"sasl.oauthbearer.sub.claim.name":     "sasl.oauth.sub_claim_name",
	"sasl.oauthbearer.header.urlencode":   "sasl.oauth.header_urlencode",
	"ssl.truststore.location":             "tls.truststore_file (JKS, PKCS12) or tls.ca_file (PEM)",
	"ssl.truststore.type":                 "tls.truststore_type",
	"ssl.truststore.certificates":         "tls.ca_pem",
	"ssl.truststore.password":             "tls.truststore_password",
	"ssl.keystore.location":               "tls.keystore_file (JKS, PKCS12) or tls.cert_file and tls.key_file (PEM)",
	"ssl.keystore.type":                   "tls.keystore_type",
	"ssl.keystore.certificate.chain":      "tls.cert_pem",
	"ssl.keystore.key":                    "tls.key_pem",
	"ssl.keystore.password":               "tls.keystore_password",
	"ssl.key.password":                    "tls.key_password",
}

// isClusterKey reports whether key is one of the client keys MM2 also
// takes from the top level as a fallback for every cluster.
func isClusterKey(key string) bool {
	return key == "bootstrap.servers" || key == "security.protocol" || key == "java.security.krb5.conf" ||
		strings.HasPrefix(key, "ssl.") || strings.HasPrefix(key, "sasl.")
}

// keyClass is what a settings key is.
type keyClass int

const (
	classUnknown keyClass = iota
	classKnown            // in knownKeys
	classClient           // a flow-level client property (flowClientPrefixes)
	classIgnored          // MM2 runtime key mm2go ignores; detail says why
	classRenamed          // 3.x alias; detail is the new key
	classCluster          // belongs to a cluster (isClusterKey)
)

// classify says what a settings key is. detail is the reason (ignored), the
// new name (renamed), or a suggestion (unknown, may be empty).
func classify(key, value string) (class keyClass, detail string) {
	if _, ok := knownKeys[key]; ok {
		return classKnown, ""
	}
	if newKey, ok := renamedKeys[key]; ok {
		return classRenamed, newKey
	}
	if def, ok := defaultClasses[key]; ok {
		if v := strings.TrimSpace(value); v == "" || v == def || v == shortName(def) {
			return classIgnored, "mm2go implements the default " + shortName(def)
		}
		return classIgnored, "custom Java class " + strings.TrimSpace(value) +
			" cannot run in mm2go; the built-in " + shortName(def) + " is used instead"
	}
	if why, ok := ignoredKeys[key]; ok {
		return classIgnored, why
	}
	if isClusterKey(key) {
		return classCluster, ""
	}
	for _, p := range flowClientPrefixes {
		if strings.HasPrefix(key, p) && len(key) > len(p) {
			return classClient, ""
		}
	}
	for _, p := range ignoredPrefixes {
		if strings.HasPrefix(key, p.prefix) {
			return classIgnored, p.why
		}
	}
	return classUnknown, suggest(key, settingNames())
}

// shortName returns the last dotted element of a Java class name.
func shortName(class string) string {
	return class[strings.LastIndexByte(class, '.')+1:]
}

// settingNames returns every key name a suggestion may point to.
func settingNames() []string {
	names := make([]string, 0, len(knownKeys)+len(renamedKeys))
	for k := range knownKeys {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// suggest returns the candidate closest to s by edit distance, if it is
// close enough to be a likely typo, else "".
func suggest(s string, candidates []string) string {
	// A third of the name may be wrong, but not all of it ("C" is no typo
	// of "A").
	limit := min(max(1, len(s)/3), len(s)-1)
	if limit < 1 || len(s) > 128 {
		return ""
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if abs(len(c)-len(s)) >= bestDist {
			continue // the distance is at least the difference in length
		}
		if d := editDistance(s, c, bestDist-1); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// quote quotes s for a message without Go's escaping of backslashes, which
// would double those of a regex; strings with quotes or control characters
// get Go quoting.
func quote(s string) string {
	for _, r := range s {
		if r == '"' || r < ' ' || r == 0x7f {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}

// editDistance returns the Levenshtein distance between a and b, counting
// an adjacent transposition as one edit, or limit+1 if it exceeds limit.
func editDistance(a, b string, limit int) int {
	// Three rows of the optimal string alignment distance.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit+1 {
			return limit + 1 // two rows are needed for a transposition
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit+1)
}

// didYouMean formats a suggestion for a message.
func didYouMean(s string) string {
	if s == "" {
		return ""
	}
	return " (did you mean " + s + "?)"
}
