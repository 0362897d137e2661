package flows

import (
	"sort"
	"strconv"
	"strings"
	"sync"
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
	kindName              // a connector name
	kindListeners         // Connect's listeners: one http:// or https:// URI
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
	// max is the largest allowed value of an integer key, if not 0.
	max int64
	// notZero rejects 0 (replication factors: -1 means the broker default).
	notZero bool
	// flowOnly keys only make sense per flow, never at the top level.
	flowOnly bool
	// topOnly keys are the worker's: set once, at the top level.
	topOnly bool
	// refuse are values (lower case) of a kindEnum key that MM2 accepts
	// and mm2go refuses, with why.
	refuse map[string]string
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
	// Exactly-once (KIP-618): exactly.once.support=required fails a flow
	// whose target does not have exactly.once.source.support=enabled;
	// transaction.boundary and its interval size the transactions.
	"exactly.once.support": enumKey("requested", "requested", "required"),
	"transaction.boundary": {kind: kindEnum, def: "interval (Connect: poll)", values: []string{"poll", "interval", "connector"},
		refuse: map[string]string{"connector": "MirrorSourceConnector does not define transaction boundaries (Connect refuses connector for it too); use interval (mm2go's default) or poll"}},
	"transaction.boundary.interval.ms": {kind: kindLong, def: "offset.flush.interval.ms (mm2go: 1000)", min: 0, hasMin: true},
	"name":                             {kind: kindName, def: "MirrorSourceConnector"}, // the source connector's name: the namespace of its stored source offsets

	// MirrorSourceConnector.
	"topics":                                regexKey(".*"),
	"topics.exclude":                        regexKey(`.*[\-\.]internal, .*\.replica, __.*`),
	"config.properties.exclude":             regexKey(`follower\.replication\.throttled\.replicas, leader\.replication\.throttled\.replicas, message\.timestamp\.difference\.max\.ms, message\.timestamp\.type, unclean\.leader\.election\.enable, min\.insync\.replicas`),
	"use.defaults.from":                     enumKey("target", "target", "source"),
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
	"sync.topic.configs.min.insync.replicas": boolKey("false"),                                         // also copy min.insync.replicas, which MM2 never does
	"config.properties.target.keep":          regexKey(""),                                             // properties never touched on the target (set there by hand)
	"replication.factor.from.source":         boolKey("false"),                                         // create remote topics with the source topic's replication factor
	"on.data.loss":                           enumKey("continue", "continue", "fail"),                  // records deleted before they were copied: report and go on, or fail the task
	"transaction.boundary.max.bytes":         {kind: kindLong, def: "268435456", min: 0, hasMin: true}, // exactly-once: a transaction also ends when its records reach this many bytes; 0 no bound

	// The worker group (see Expanded.Group): top level only. The timeouts
	// are Connect's worker keys, which MM2's dedicated mode reads.
	"mm2go.group.id":                    {kind: kindString, topOnly: true},
	"mm2go.group.cluster":               {kind: kindString, topOnly: true},
	"session.timeout.ms":                {kind: kindInt, def: "10000", min: 1, hasMin: true, topOnly: true},
	"heartbeat.interval.ms":             {kind: kindInt, def: "3000", min: 1, hasMin: true, topOnly: true},
	"rebalance.timeout.ms":              {kind: kindInt, def: "60000", min: 1, hasMin: true, topOnly: true},
	"config.storage.replication.factor": {kind: kindInt, def: "3", min: -1, hasMin: true, notZero: true, topOnly: true},

	// Worker keys mm2go honours at the top level, per flow and per target
	// cluster (MM2 honours them only per target cluster, spec §8.9).
	"offset.flush.interval.ms":          {kind: kindLong, def: "60000", min: 1, hasMin: true},
	"offset.storage.topic":              stringKey("mm2-offsets.<source>.internal"),
	"offset.storage.partitions":         {kind: kindInt, def: "25", min: 1, hasMin: true},
	"offset.storage.replication.factor": rfKey("3"),
	// enabled copies exactly once; preparing copies at least once, as
	// disabled does (mm2go has no Connect config topic to prepare).
	"exactly.once.source.support": enumKey("disabled", "disabled", "preparing", "enabled"),
	// Connect's worker group id, "<source>-mm2" in MM2: in exactly-once mode
	// the transactional ids are <group.id>-<connector>-<task>.
	"group.id": stringKey("<source>-mm2"),

	// The worker's REST listener (see REST); the command line overrides
	// them.
	"listeners":                           {kind: kindListeners, topOnly: true},
	"rest.advertised.host.name":           {kind: kindString, topOnly: true},
	"rest.advertised.port":                {kind: kindInt, min: 1, hasMin: true, max: 65535, topOnly: true},
	"rest.advertised.listener":            {kind: kindEnum, values: []string{"http", "https"}, topOnly: true},
	"dedicated.mode.enable.internal.rest": {kind: kindBool, def: "false", topOnly: true},
}

// Keys of exactly-once mode that the flows package checks together.
const (
	KeyExactlyOnceSourceSupport = "exactly.once.source.support" // worker key: disabled, preparing, enabled
	KeyExactlyOnceSupport       = "exactly.once.support"        // connector key: requested, required
)

// workerKeys are the known keys that may also be set per cluster
// ("<alias>.<key>"), where they apply to flows targeting that cluster.
var workerKeys = map[string]bool{
	"offset.flush.interval.ms":          true,
	"offset.storage.topic":              true,
	"offset.storage.partitions":         true,
	"offset.storage.replication.factor": true,
	"exactly.once.source.support":       true,
	"group.id":                          true,
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

// defaultClasses are Java class keys whose default value mm2go implements:
// it is accepted (by its full or short name), and any other class is an
// error that names the key, since mm2go cannot run Java code.
var defaultClasses = map[string]string{
	"topic.filter.class":           "org.apache.kafka.connect.mirror.DefaultTopicFilter",
	"group.filter.class":           "org.apache.kafka.connect.mirror.DefaultGroupFilter",
	"config.property.filter.class": "org.apache.kafka.connect.mirror.DefaultConfigPropertyFilter",
	"forwarding.admin.class":       "org.apache.kafka.clients.admin.ForwardingAdmin",
	"key.converter":                byteArrayConverter,
	"value.converter":              byteArrayConverter,
	"header.converter":             byteArrayConverter,
}

// byteArrayConverter is what MM2 sets for the converters: records are
// copied as bytes.
const byteArrayConverter = "org.apache.kafka.connect.converters.ByteArrayConverter"

// pluginListKeys are Connect keys that list Java plugins: empty is fine,
// any plugin is an error that names the key.
var pluginListKeys = map[string]string{
	"transforms": "single message transforms are Java plugins mm2go cannot run; mm2go copies records unchanged, as MM2 does without transforms",
	"predicates": "predicates belong to single message transforms, which are Java plugins mm2go cannot run",
}

// ignoredKeys are keys MM2 knows that do not matter for mm2go, with why:
// each is accepted with a warning.
var ignoredKeys = map[string]string{
	"add.source.alias.to.metrics":             "removed in Kafka 4.0; mm2go labels metrics with both aliases",
	"task.assigned.partitions":                "task-internal: the connector assigns partitions",
	"task.assigned.groups":                    "task-internal: the connector assigns groups",
	"task.index":                              "task-internal",
	"plugin.path":                             "mm2go has no Java plugins",
	"connector.client.config.override.policy": "mm2go always applies producer.override.* (Connect's default policy, All)",
}

// ignoredPrefixes are key prefixes MM2 knows that do not matter for mm2go,
// with why.
var ignoredPrefixes = []struct{ prefix, why string }{
	{"key.converter.", "parameters of the key converter: mm2go copies keys as bytes (ByteArrayConverter)"},
	{"value.converter.", "parameters of the value converter: mm2go copies values as bytes (ByteArrayConverter)"},
	{"header.converter.", "parameters of the header converter: mm2go copies headers as bytes (ByteArrayConverter)"},
	{"internal.key.converter", "removed in Kafka 3.0; mm2go writes Connect's JSON offsets itself"},
	{"internal.value.converter", "removed in Kafka 3.0; mm2go writes Connect's JSON offsets itself"},
	{"config.storage.", "Connect's config topic: mm2go's worker group keeps its configs in its own topic, mm2go-configs.<group>.internal (config.storage.replication.factor is honoured for it)"},
	{"status.storage.", "Connect's status topic: mm2go's workers publish their status in the group's config topic, and each answers for the group over REST"},
	{"metrics.", "mm2go exports Prometheus metrics (mm2go worker --http-addr, /metrics)"},
	{"transforms.", "parameters of single message transforms, which mm2go refuses (transforms)"},
	{"predicates.", "parameters of predicates, which mm2go refuses (predicates)"},
	{"errors.retry.", "Connect retries failed conversions and transforms; mm2go has neither, and retries produce errors itself"},
	{"errors.log.", "mm2go always logs a record it cannot write, with its exact offset"},
	{"errors.deadletterqueue.", "dead letter queues are for sink connectors"},
	{"task.", "Connect task settings; mm2go runs tasks itself (mm2go worker --shutdown-timeout bounds a graceful stop)"},
	{"worker.", "Connect worker settings; mm2go runs the worker itself"},
	{"scheduled.rebalance.", "Connect waits this long before a departed worker's tasks move: mm2go moves them at the next rebalance, at once for a worker that left, after session.timeout.ms for one that died"},
	{"connect.protocol", "mm2go's workers always rebalance incrementally (cooperative and sticky, as connect.protocol=sessioned)"},
	{"inter.worker.", "Connect signs the requests its workers forward to each other: mm2go's workers forward REST requests with the REST API's bearer token and TLS (--http-token-file, --http-tls-*)"},
	{"offset.flush.timeout.ms", "mm2go waits for every produce before committing source offsets"},
	{"offset.storage.file.", "standalone Connect only; mm2go keeps source offsets in Kafka, as MM2 does"},
	{"topic.creation.", "Connect's topic creation for source connectors: MM2 and mm2go create remote topics themselves"},
}

// flowClientPrefixes are prefixes of Java client properties that MM2 passes
// to the clients of one flow ("<s>-><t>.consumer.fetch.max.bytes"), with
// the role they apply to. "producer.override." is Connect's override of
// the worker's producer, the one that writes the records.
var flowClientPrefixes = []struct {
	prefix string
	role   int
}{
	{"producer.override.", roleProducer},
	{"source.consumer.", roleConsumer}, {"source.producer.", roleProducer}, {"source.admin.", roleAdmin},
	{"target.consumer.", roleConsumer}, {"target.producer.", roleProducer}, {"target.admin.", roleAdmin},
	{"consumer.", roleConsumer}, {"producer.", roleProducer}, {"admin.", roleAdmin},
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
func isClusterKey(key string) bool { return isConnectionKey(key) }

// keyClass is what a settings key is.
type keyClass int

const (
	classUnknown    keyClass = iota
	classKnown               // in knownKeys
	classClient              // a client property of a flow's clients (flowClientPrefixes)
	classIgnored             // does not matter for mm2go; detail says why (a warning)
	classRefused             // mm2go cannot do what it asks; detail says why (an error)
	classHonoured            // its value is what mm2go does (a default class); nothing to keep
	classRenamed             // 3.x alias; detail is the new key
	classCluster             // a connection setting (isConnectionKey)
	classBareClient          // a Java client property without a role prefix
	classProvider            // config.providers and its parameters, used by the loader
)

// classify says what a settings key is. detail is the reason (ignored,
// refused) or the new name (renamed).
func classify(key, value string) (class keyClass, detail string) {
	v := strings.TrimSpace(value)
	if _, ok := knownKeys[key]; ok {
		return classKnown, ""
	}
	if newKey, ok := renamedKeys[key]; ok {
		return classRenamed, newKey
	}
	if def, ok := defaultClasses[key]; ok {
		if v == "" || v == def || v == shortName(def) {
			return classHonoured, ""
		}
		return classRefused, "custom Java class " + v + " cannot run in mm2go, which implements only " +
			shortName(def) + ": remove the key or set it to " + def
	}
	if why := restKeyProblem(key, v); why != "" {
		return classRefused, why
	}
	if _, ok := restRefused[key]; ok {
		return classHonoured, ""
	}
	if why, ok := pluginListKeys[key]; ok {
		if len(splitList(v)) == 0 {
			return classHonoured, ""
		}
		return classRefused, why + ": remove the key"
	}
	switch key {
	case "metric.reporters":
		if _, err := metricReporters(v, 0, nil); err != nil {
			return classRefused, err.Error()
		}
		return classIgnored, "mm2go has no JMX; " + whyMetrics
	case "connector.class":
		return classRefused, "mm2go runs MirrorSourceConnector, MirrorCheckpointConnector and MirrorHeartbeatConnector for every enabled flow: remove the key"
	case "errors.tolerance":
		if strings.EqualFold(v, "none") || v == "" {
			return classHonoured, ""
		}
		return classRefused, "errors.tolerance=" + v + " would skip records; mm2go never skips a record it cannot write (it stops that partition and says so): remove the key or set it to none"
	case "use.incremental.alter.configs":
		if strings.EqualFold(v, "never") {
			return classRefused, "never (the legacy AlterConfigs API) is not supported; mm2go always uses IncrementalAlterConfigs: remove the key"
		}
		return classIgnored, "removed in Kafka 4.0; mm2go always uses IncrementalAlterConfigs"
	case "config.providers":
		return classProvider, ""
	}
	if strings.HasPrefix(key, "config.providers.") {
		return classProvider, ""
	}
	if why, ok := ignoredKeys[key]; ok {
		return classIgnored, why
	}
	if isConnectionKey(key) {
		return classCluster, ""
	}
	for _, side := range []string{"source.cluster.", "target.cluster."} {
		if rest, ok := strings.CutPrefix(key, side); ok && rest != "" {
			if isConnectionKey(rest) {
				return classRefused, "connection settings per flow are not supported: set them on the cluster (<alias>." + rest + ")"
			}
			return classRefused, "MM2 reads only connection settings from " + side + "*, so " + rest + " has no effect there: set it on the cluster (<alias>." + rest + ") or for a client role (" + strings.TrimSuffix(side, "cluster.") + "consumer." + rest + ")"
		}
	}
	for _, p := range flowClientPrefixes {
		if name, ok := strings.CutPrefix(key, p.prefix); ok && name != "" {
			if isConnectionKey(name) {
				return classRefused, "connection settings per flow or role are not supported: set them on the cluster (<alias>." + name + ")"
			}
			return classClient, ""
		}
	}
	for _, p := range ignoredPrefixes {
		if strings.HasPrefix(key, p.prefix) {
			return classIgnored, p.why
		}
	}
	for _, side := range []string{"consumer.override.", "admin.override."} {
		if strings.HasPrefix(key, side) {
			return classIgnored, "Connect applies " + side + "* to sink connectors and topic creation, which MM2 and mm2go do not use"
		}
	}
	if _, ok := clientProps[key]; ok {
		return classBareClient, ""
	}
	return classUnknown, "" // Validate suggests a key: see validator.setting
}

// flowClientRole returns the role of a client settings key and the Java
// property name in it.
func flowClientRole(key string) (name string, role int) {
	for _, p := range flowClientPrefixes {
		if name, ok := strings.CutPrefix(key, p.prefix); ok && name != "" {
			return name, p.role
		}
	}
	return "", 0
}

// shortName returns the last dotted element of a Java class name.
func shortName(class string) string {
	return class[strings.LastIndexByte(class, '.')+1:]
}

// settingNames returns every key name a suggestion may point to.
var settingNames = sync.OnceValue(func() []string {
	names := make([]string, 0, len(knownKeys))
	for k := range knownKeys {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
})

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
