package flows

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
)

// This file maps Java client properties onto franz-go options: every
// property of Kafka's producer, consumer and admin clients is mapped
// (honoured), listed as not mattering for mm2go (a warning that says why),
// or refused (an error that says why). ssl.* and sasl.* properties belong
// to the cluster's TLS and SASL settings (client.go).

// Client roles for properties.
const (
	roleConsumer = 1 << iota
	roleProducer
	roleAdmin
	roleAll = roleConsumer | roleProducer | roleAdmin
)

// roles in the order options are built for them.
var roles = []struct {
	role int
	name string
}{{roleConsumer, "consumer"}, {roleProducer, "producer"}, {roleAdmin, "admin"}}

var rolePrefixes = []struct {
	prefix string
	role   int
}{{"consumer.", roleConsumer}, {"producer.", roleProducer}, {"admin.", roleAdmin}}

// roleName returns "consumer", "producer" or "admin".
func roleName(role int) string {
	for _, r := range roles {
		if r.role == role {
			return r.name
		}
	}
	return "client"
}

// clientProp says what mm2go does with one Java client property.
type clientProp struct {
	// roles are the client types whose Java config defines the property.
	roles int
	// opts maps a value onto options for a client of role. get returns
	// the client's other properties, for properties that work together
	// (compression.type and its level). nil when the property is not
	// mapped.
	opts func(v string, role int, get func(string) (string, bool)) ([]kgo.Opt, error)
	// ignore is why the property does not matter for mm2go: accepted with
	// a warning that says so.
	ignore string
	// refuse is why mm2go cannot do what the property asks: an error.
	refuse string
}

// Reasons shared by several properties.
const (
	whyNoGroup    = "mm2go's clients read assigned partitions without a consumer group, as MM2's do"
	whyBytes      = "records are copied as bytes, as in MM2, which ignores it too"
	whyPartition  = "records keep their source partition, as in MM2, which ignores it too"
	whyBackoff    = "tuning only: kgo backs off exponentially with jitter (250ms up to 5s) on its own"
	whyMetrics    = "client metrics: mm2go serves its own Prometheus metrics (mm2go worker --http-addr, /metrics)"
	whySockets    = "tuning only: socket buffers are left to the operating system"
	whyMetadata   = "tuning only: kgo refreshes metadata when a request needs it and every metadata.max.age.ms"
	whyBlock      = "mm2go waits for room in the producer's buffer itself"
	whyClass      = "Java plugins cannot run in mm2go"
	whyRebootstr  = "kgo dials the seed brokers again when it knows no live broker"
	whyAPITimeout = "mm2go's consumers make no blocking API calls; admin calls are bounded by admin.timeout.ms"
)

// clientProps are the Java client properties by name (without role
// prefix), as of Kafka 4.0.
var clientProps = map[string]clientProp{
	"client.id": {roles: roleAll, opts: func(v string, _ int, _ func(string) (string, bool)) ([]kgo.Opt, error) {
		if v == "" {
			return nil, errors.New("empty client id")
		}
		return []kgo.Opt{connect.ClientIDPrefix(v)}, nil
	}},
	"client.rack": {roles: roleConsumer, opts: func(v string, _ int, _ func(string) (string, bool)) ([]kgo.Opt, error) {
		if v == "" {
			return nil, nil
		}
		return []kgo.Opt{kgo.Rack(v)}, nil
	}},
	"request.timeout.ms": {roles: roleAll, opts: msOpt(100*time.Millisecond, 15*time.Minute, kgo.RequestTimeoutOverhead)},
	"metadata.max.age.ms": {roles: roleAll, opts: func(v string, _ int, _ func(string) (string, bool)) ([]kgo.Opt, error) {
		d, err := parseMs(v, 10*time.Millisecond, time.Hour)
		if err != nil {
			return nil, err
		}
		opts := []kgo.Opt{kgo.MetadataMaxAge(d)}
		if d < 5*time.Second { // kgo's default minimum age; it must not exceed the maximum
			opts = append(opts, kgo.MetadataMinAge(d))
		}
		return opts, nil
	}},
	"connections.max.idle.ms":            {roles: roleAll, opts: msOpt(100*time.Millisecond, 15*time.Minute, kgo.ConnIdleTimeout)},
	"socket.connection.setup.timeout.ms": {roles: roleAll, opts: msOpt(time.Millisecond, time.Duration(math.MaxInt32)*time.Millisecond, kgo.DialTimeout)},
	"enable.metrics.push": {roles: roleAll, opts: func(v string, _ int, _ func(string) (string, bool)) ([]kgo.Opt, error) {
		switch strings.ToLower(v) {
		case "true":
			return nil, nil
		case "false":
			return []kgo.Opt{kgo.DisableClientMetrics()}, nil
		}
		return nil, fmt.Errorf("expected true or false, got %q", v)
	}},
	"retries": {roles: roleProducer | roleAdmin, opts: func(v string, role int, _ func(string) (string, bool)) ([]kgo.Opt, error) {
		n, err := parseInt(v, 0, math.MaxInt32)
		if err != nil {
			return nil, err
		}
		if role == roleProducer {
			return []kgo.Opt{kgo.RecordRetries(int(n))}, nil
		}
		return []kgo.Opt{kgo.RequestRetries(int(n))}, nil
	}},
	"default.api.timeout.ms": {roles: roleConsumer | roleAdmin, opts: func(v string, role int, _ func(string) (string, bool)) ([]kgo.Opt, error) {
		d, err := parseMs(v, 0, time.Duration(math.MaxInt32)*time.Millisecond)
		if err != nil || role != roleAdmin {
			return nil, err // consumer: see whyAPITimeout
		}
		return []kgo.Opt{kgo.RetryTimeout(d)}, nil
	}},
	"client.dns.lookup": {roles: roleAll, opts: func(v string, _ int, _ func(string) (string, bool)) ([]kgo.Opt, error) {
		switch strings.ToLower(v) {
		case "use_all_dns_ips":
			return nil, nil // Go's dialer tries every address a name resolves to
		case "resolve_canonical_bootstrap_servers_only":
			return nil, errors.New("resolve_canonical_bootstrap_servers_only is not supported: mm2go dials the bootstrap servers as written and tries every address they resolve to (use_all_dns_ips)")
		}
		return nil, fmt.Errorf("expected use_all_dns_ips, got %q", v)
	}},
	"socket.connection.setup.timeout.max.ms":   {roles: roleAll, ignore: "kgo dials with one timeout, socket.connection.setup.timeout.ms"},
	"receive.buffer.bytes":                     {roles: roleAll, ignore: whySockets},
	"send.buffer.bytes":                        {roles: roleAll, ignore: whySockets},
	"reconnect.backoff.ms":                     {roles: roleAll, ignore: whyBackoff},
	"reconnect.backoff.max.ms":                 {roles: roleAll, ignore: whyBackoff},
	"retry.backoff.ms":                         {roles: roleAll, ignore: whyBackoff},
	"retry.backoff.max.ms":                     {roles: roleAll, ignore: whyBackoff},
	"metadata.recovery.strategy":               {roles: roleAll, ignore: whyRebootstr},
	"metadata.recovery.rebootstrap.trigger.ms": {roles: roleAll, ignore: whyRebootstr},
	"metrics.num.samples":                      {roles: roleAll, ignore: whyMetrics},
	"metrics.recording.level":                  {roles: roleAll, ignore: whyMetrics},
	"metrics.sample.window.ms":                 {roles: roleAll, ignore: whyMetrics},
	"auto.include.jmx.reporter":                {roles: roleAll, ignore: whyMetrics},
	"metric.reporters":                         {roles: roleAll, opts: metricReporters},
	"security.providers":                       {roles: roleAll, refuse: "Java security providers: " + whyClass},
	"bootstrap.controllers":                    {roles: roleAdmin, refuse: "mm2go talks to brokers (bootstrap.servers), not to controllers"},
	"enable.auto.commit":                       {roles: roleConsumer, ignore: whyNoGroup},
	"auto.commit.interval.ms":                  {roles: roleConsumer, ignore: whyNoGroup},
	"group.id":                                 {roles: roleConsumer, ignore: whyNoGroup},
	"group.instance.id":                        {roles: roleConsumer, ignore: whyNoGroup},
	"group.protocol":                           {roles: roleConsumer, ignore: whyNoGroup},
	"group.remote.assignor":                    {roles: roleConsumer, ignore: whyNoGroup},
	"partition.assignment.strategy":            {roles: roleConsumer, ignore: whyNoGroup},
	"session.timeout.ms":                       {roles: roleConsumer, ignore: whyNoGroup},
	"heartbeat.interval.ms":                    {roles: roleConsumer, ignore: whyNoGroup},
	"max.poll.interval.ms":                     {roles: roleConsumer, ignore: whyNoGroup},
	"rebalance.timeout.ms":                     {roles: roleConsumer, ignore: whyNoGroup},
	"max.poll.records":                         {roles: roleConsumer, ignore: "tuning only: a poll hands over whole fetched batches"},
	"allow.auto.create.topics":                 {roles: roleConsumer, ignore: "mm2go's consumers never create topics; the source connector creates remote topics itself"},
	"exclude.internal.topics":                  {roles: roleConsumer, ignore: "mm2go's consumers subscribe to no patterns; internal topics are never replicated, as in MM2"},
	"key.deserializer":                         {roles: roleConsumer, ignore: whyBytes},
	"value.deserializer":                       {roles: roleConsumer, ignore: whyBytes},
	"key.serializer":                           {roles: roleProducer, ignore: whyBytes},
	"value.serializer":                         {roles: roleProducer, ignore: whyBytes},
	"partitioner.class":                        {roles: roleProducer, ignore: whyPartition},
	"partitioner.ignore.keys":                  {roles: roleProducer, ignore: whyPartition},
	"partitioner.adaptive.partitioning.enable": {roles: roleProducer, ignore: whyPartition},
	"partitioner.availability.timeout.ms":      {roles: roleProducer, ignore: whyPartition},
	"max.block.ms":                             {roles: roleProducer, ignore: whyBlock},
	"metadata.max.idle.ms":                     {roles: roleProducer, ignore: whyMetadata},
	"transaction.timeout.ms":                   {roles: roleProducer, opts: msOpt(time.Second, 15*time.Minute, func(d time.Duration) kgo.Opt { return kgo.TransactionTimeout(d) })},
	"transactional.id":                         {roles: roleProducer, refuse: "mm2go sets the transactional ids itself in exactly-once mode (<group.id>-<connector>-<task>, as Connect does): remove the key"},
	"interceptor.classes":                      {roles: roleConsumer | roleProducer, opts: noClasses},
	"check.crcs":                               {roles: roleConsumer, opts: boolOpt(nil, kgo.DisableFetchCRCValidation())},
	"fetch.max.bytes":                          {roles: roleConsumer, opts: fetchMaxBytes},
	"max.partition.fetch.bytes":                {roles: roleConsumer, opts: intOpt(1, math.MaxInt32, func(n int32) kgo.Opt { return kgo.FetchMaxPartitionBytes(n) })},
	"fetch.min.bytes":                          {roles: roleConsumer, opts: intOpt(0, math.MaxInt32, func(n int32) kgo.Opt { return kgo.FetchMinBytes(n) })},
	"fetch.max.wait.ms":                        {roles: roleConsumer, opts: msOpt(10*time.Millisecond, time.Duration(math.MaxInt32)*time.Millisecond, func(d time.Duration) kgo.Opt { return kgo.FetchMaxWait(d) })},
	"isolation.level":                          {roles: roleConsumer, opts: enumOpt(map[string]kgo.Opt{"read_committed": kgo.FetchIsolationLevel(kgo.ReadCommitted()), "read_uncommitted": kgo.FetchIsolationLevel(kgo.ReadUncommitted())})},
	"auto.offset.reset":                        {roles: roleConsumer, opts: enumOpt(map[string]kgo.Opt{"earliest": kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), "latest": kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), "none": kgo.ConsumeResetOffset(kgo.NoResetOffset())})},
	"linger.ms":                                {roles: roleProducer, opts: msOpt(0, time.Minute, func(d time.Duration) kgo.Opt { return kgo.ProducerLinger(d) })},
	"batch.size":                               {roles: roleProducer, opts: checkInt(0, 1<<30)},   // see batchMaxBytes
	"max.request.size":                         {roles: roleProducer, opts: checkInt(512, 1<<30)}, // see batchMaxBytes
	"buffer.memory":                            {roles: roleProducer, opts: bufferMemory},
	"compression.type":                         {roles: roleProducer, opts: compression},
	"compression.gzip.level":                   {roles: roleProducer, opts: compressionLevel("gzip", 1, 9)},
	"compression.lz4.level":                    {roles: roleProducer, opts: compressionLevel("lz4", 1, 17)},
	"compression.zstd.level":                   {roles: roleProducer, opts: compressionLevel("zstd", -131072, 22)},
	"delivery.timeout.ms":                      {roles: roleProducer, opts: deliveryTimeout},
	"acks":                                     {roles: roleProducer, opts: acks},
	"enable.idempotence":                       {roles: roleProducer, opts: idempotence},
	"max.in.flight.requests.per.connection":    {roles: roleProducer, opts: maxInFlight},
}

// get returns a property of a client's set.
type getProp = func(string) (string, bool)

func fetchMaxBytes(v string, _ int, _ getProp) ([]kgo.Opt, error) {
	n, err := parseInt(v, 1, 1<<30)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.FetchMaxBytes(int32(n))}
	if n > 100<<20 { // kgo's default BrokerMaxReadBytes must not be below it
		opts = append(opts, kgo.BrokerMaxReadBytes(int32(n)))
	}
	return opts, nil
}

func bufferMemory(v string, _ int, _ getProp) ([]kgo.Opt, error) {
	n, err := parseInt(v, 1, 64<<30)
	if err != nil {
		return nil, err
	}
	return []kgo.Opt{kgo.MaxBufferedBytes(int(n))}, nil
}

// javaMaxRequestSize is Java's max.request.size default.
const javaMaxRequestSize = 1 << 20

// batchMaxBytes maps batch.size and max.request.size together onto
// kgo.ProducerBatchMaxBytes, the largest batch kgo builds and so the
// largest record it sends. Java's batch.size is a target, not a limit: a
// larger record still goes out alone, up to max.request.size. So the limit
// is the larger of the two, and a small batch.size never refuses a record
// that Java would send. roleOpts calls it once for both; each key's own
// check reports a bad value.
func batchMaxBytes(get getProp) []kgo.Opt {
	limit := int64(javaMaxRequestSize)
	if v, ok := get("max.request.size"); ok {
		if n, err := parseInt(v, 512, 1<<30); err == nil {
			limit = n
		}
	}
	if v, ok := get("batch.size"); ok {
		if n, err := parseInt(v, 0, 1<<30); err == nil {
			limit = max(limit, n)
		}
	}
	opts := []kgo.Opt{kgo.ProducerBatchMaxBytes(int32(limit))}
	if limit > 100<<20 { // kgo's default BrokerMaxWriteBytes must not be below it
		opts = append(opts, kgo.BrokerMaxWriteBytes(int32(limit)+1<<20))
	}
	return opts
}

// checkInt checks an integer property; the option comes from elsewhere.
func checkInt(lo, hi int64) func(string, int, getProp) ([]kgo.Opt, error) {
	return func(v string, _ int, _ getProp) ([]kgo.Opt, error) {
		_, err := parseInt(v, lo, hi)
		return nil, err
	}
}

// compressionLevels holds, per codec, a constructor for the codec at a
// level.
var compressionCodecs = map[string]func(level int, leveled bool) kgo.CompressionCodec{
	"none":   func(int, bool) kgo.CompressionCodec { return kgo.NoCompression() },
	"snappy": func(int, bool) kgo.CompressionCodec { return kgo.SnappyCompression() },
	"gzip":   leveled(kgo.GzipCompression),
	"lz4":    leveled(kgo.Lz4Compression),
	"zstd":   leveled(kgo.ZstdCompression),
}

func leveled(codec func() kgo.CompressionCodec) func(int, bool) kgo.CompressionCodec {
	return func(level int, ok bool) kgo.CompressionCodec {
		if !ok {
			return codec()
		}
		return codec().WithLevel(level)
	}
}

// compression maps compression.type with the level of its codec
// (compression.gzip.level, compression.lz4.level, compression.zstd.level).
func compression(v string, _ int, get getProp) ([]kgo.Opt, error) {
	name := strings.ToLower(v)
	codec, ok := compressionCodecs[name]
	if !ok {
		return nil, fmt.Errorf("expected one of %s, got %q", strings.Join(sortedKeys(compressionCodecs), ", "), v)
	}
	level, set := 0, false
	if lv, ok := get("compression." + name + ".level"); ok {
		n, err := strconv.Atoi(lv)
		if err != nil {
			return nil, nil // reported by compressionLevel
		}
		level, set = n, true
	}
	// One compressor, built here and shared by every producer of these
	// options: kgo.ProducerBatchCompression would keep the codec slice in
	// the option, and kgo's NewClient writes to that slice while it builds
	// its compressor, a data race when two producers start at once.
	c, err := kgo.DefaultCompressor(codec(level, set))
	if err != nil {
		return nil, err
	}
	if c == nil {
		// DefaultCompressor has no compressor for none, and
		// kgo.WithCompressor(nil) means kgo's default, snappy.
		c = noCompression{}
	}
	return []kgo.Opt{kgo.WithCompressor(c)}, nil
}

// noCompression is compression.type=none: a kgo.Compressor that leaves
// every batch as it is (a nil result is not used).
type noCompression struct{}

func (noCompression) Compress(*bytes.Buffer, []byte, ...kgo.CompressFlag) ([]byte, kgo.CompressionCodecType) {
	return nil, kgo.CodecNone
}

// compressionLevel checks the level of one codec; compression applies it.
func compressionLevel(codec string, lo, hi int64) func(string, int, getProp) ([]kgo.Opt, error) {
	return func(v string, _ int, _ getProp) ([]kgo.Opt, error) {
		if _, err := parseInt(v, lo, hi); err != nil {
			return nil, fmt.Errorf("%s level: %w", codec, err)
		}
		return nil, nil
	}
}

func deliveryTimeout(v string, _ int, _ getProp) ([]kgo.Opt, error) {
	d, err := parseMs(v, 0, time.Duration(math.MaxInt32)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	if d > 0 && d < time.Second {
		return nil, fmt.Errorf("%s is below kgo's minimum of 1s (0 means no timeout)", d)
	}
	return []kgo.Opt{kgo.RecordDeliveryTimeout(d)}, nil
}

// acks accepts only all: mm2go commits a source offset once the target
// acknowledged the record, and with fewer acks an acknowledged record can
// still be lost.
func acks(v string, _ int, _ getProp) ([]kgo.Opt, error) {
	switch strings.ToLower(v) {
	case "all", "-1":
		return nil, nil // kgo's default: every in-sync replica
	case "0", "1":
		return nil, fmt.Errorf("acks=%s is refused: mm2go commits a source offset once the target acknowledged the record, "+
			"and with acks=%s a record the leader acknowledged is lost when the leader fails; remove the key or set it to all", v, v)
	}
	return nil, fmt.Errorf("expected all, -1, 0 or 1, got %q", v)
}

// idempotence: false turns kgo's idempotent writes off (for principals
// without IDEMPOTENT_WRITE on old brokers); kgo then keeps one produce
// request in flight per broker, so order is kept.
func idempotence(v string, _ int, get getProp) ([]kgo.Opt, error) {
	switch strings.ToLower(v) {
	case "true":
		return nil, nil
	case "false":
		if id, ok := get("transactional.id"); ok && id != "" {
			return nil, errors.New("false cannot go with a transactional.id")
		}
		return []kgo.Opt{kgo.DisableIdempotentWrite()}, nil
	}
	return nil, fmt.Errorf("expected true or false, got %q", v)
}

// maxInFlight checks max.in.flight.requests.per.connection. With idempotent
// writes kgo keeps up to 5 produce requests in flight per broker, in order
// (it refuses to be told otherwise); Java allows at most 5 then too, and
// values up to 5 keep their point, the order of records. Without idempotent
// writes only 1 keeps the order: more is refused.
func maxInFlight(v string, _ int, get getProp) ([]kgo.Opt, error) {
	n, err := parseInt(v, 1, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	idem := true
	if i, ok := get("enable.idempotence"); ok && strings.EqualFold(i, "false") {
		idem = false
	}
	switch {
	case idem && n > 5:
		return nil, fmt.Errorf("%d is above 5, the most an idempotent producer keeps in flight (Java refuses it too)", n)
	case !idem && n > 1:
		return nil, fmt.Errorf("%d with enable.idempotence=false could reorder records on a retry; mm2go keeps order: use 1", n)
	}
	if idem {
		return nil, nil
	}
	return []kgo.Opt{kgo.MaxProduceRequestsInflightPerBroker(int(n))}, nil
}

// jmxReporter is metric.reporters' default.
const jmxReporter = "org.apache.kafka.common.metrics.JmxReporter"

// metricReporters accepts the default JmxReporter, which has nothing to
// report to in mm2go (see whyMetrics), and refuses other classes.
func metricReporters(v string, _ int, _ getProp) ([]kgo.Opt, error) {
	for _, class := range splitList(v) {
		if class != jmxReporter && class != shortName(jmxReporter) {
			return nil, fmt.Errorf("metric reporter %s cannot run in mm2go (%s); mm2go serves Prometheus metrics (mm2go worker --http-addr, /metrics): remove the key", class, whyClass)
		}
	}
	return nil, nil
}

// noClasses refuses any class in a list of Java plugin classes.
func noClasses(v string, _ int, _ getProp) ([]kgo.Opt, error) {
	if list := splitList(v); len(list) > 0 {
		return nil, fmt.Errorf("%s: %s; remove the key", strings.Join(list, ", "), whyClass)
	}
	return nil, nil
}

func boolOpt(onTrue, onFalse kgo.Opt) func(string, int, getProp) ([]kgo.Opt, error) {
	return func(v string, _ int, _ getProp) ([]kgo.Opt, error) {
		b, ok := parseBool(v)
		if !ok {
			return nil, fmt.Errorf("expected true or false, got %q", v)
		}
		o := onFalse
		if b {
			o = onTrue
		}
		if o == nil {
			return nil, nil
		}
		return []kgo.Opt{o}, nil
	}
}

func parseInt(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected an integer, got %q", v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range: use %d to %d", n, lo, hi)
	}
	return n, nil
}

func parseMs(v string, lo, hi time.Duration) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected milliseconds, got %q", v)
	}
	if n < 0 || n > int64(hi/time.Millisecond) || time.Duration(n)*time.Millisecond < lo {
		return 0, fmt.Errorf("%dms is out of range: use %d to %d", n, lo.Milliseconds(), hi.Milliseconds())
	}
	return time.Duration(n) * time.Millisecond, nil
}

func msOpt[O kgo.Opt](lo, hi time.Duration, opt func(time.Duration) O) func(string, int, getProp) ([]kgo.Opt, error) {
	return func(v string, _ int, _ getProp) ([]kgo.Opt, error) {
		d, err := parseMs(v, lo, hi)
		if err != nil {
			return nil, err
		}
		return []kgo.Opt{opt(d)}, nil
	}
}

func intOpt(lo, hi int64, opt func(int32) kgo.Opt) func(string, int, getProp) ([]kgo.Opt, error) {
	return func(v string, _ int, _ getProp) ([]kgo.Opt, error) {
		n, err := parseInt(v, lo, hi)
		if err != nil {
			return nil, err
		}
		return []kgo.Opt{opt(int32(n))}, nil
	}
}

func enumOpt(values map[string]kgo.Opt) func(string, int, getProp) ([]kgo.Opt, error) {
	return func(v string, _ int, _ getProp) ([]kgo.Opt, error) {
		if o, ok := values[strings.ToLower(v)]; ok {
			return []kgo.Opt{o}, nil
		}
		return nil, fmt.Errorf("expected one of %s, got %q", strings.Join(sortedKeys(values), ", "), v)
	}
}

// propAt is a property value and where it was written.
type propAt struct {
	value, path string
}

// propSet is the Java client properties one client gets: name (without
// role prefix) -> value and where it was written.
type propSet map[string]propAt

// values returns the properties' values.
func (s propSet) values() map[string]string {
	out := make(map[string]string, len(s))
	for k, p := range s {
		out[k] = p.value
	}
	return out
}

// roleOpts maps the properties of one client of role onto kgo options, in
// name order. Properties that do not apply to role, or that mm2go ignores
// or refuses, add nothing (the loaders report them). Errors name the
// property's path.
func roleOpts(props propSet, role int) ([]kgo.Opt, []error) {
	var opts []kgo.Opt
	var errs []error
	get := func(name string) (string, bool) {
		p, ok := props[name]
		return strings.TrimSpace(p.value), ok
	}
	for _, name := range sortedKeys(props) {
		prop, ok := clientProps[name]
		if !ok || prop.opts == nil || prop.roles&role == 0 {
			continue
		}
		o, err := prop.opts(strings.TrimSpace(props[name].value), role, get)
		if err != nil {
			errs = append(errs, &FieldError{Path: props[name].path, Msg: err.Error()})
			continue
		}
		opts = append(opts, o...)
	}
	_, batch := props["batch.size"]
	_, request := props["max.request.size"]
	if role == roleProducer && (batch || request) {
		opts = append(opts, batchMaxBytes(get)...)
	}
	return opts, errs
}

// clientPropProblem says what is wrong with Java client property name for
// a client of role, if anything: refuse is an error, ignore a warning. A
// property of another client type is a warning, as in Java, which logs and
// ignores it; an unknown one is an error.
func clientPropProblem(name string, role int) (refuse, ignore string) {
	prop, ok := clientProps[name]
	switch {
	case !ok:
		return "not a Java client property" + didYouMean(suggest(name, clientPropNames())), ""
	case prop.refuse != "":
		return prop.refuse, ""
	case prop.roles&role == 0:
		return "", fmt.Sprintf("%s is not a %s property; Java ignores it too", name, roleName(role))
	case prop.ignore != "":
		return "", prop.ignore
	}
	return "", ""
}

// clientPropNames returns the Java client property names, sorted.
var clientPropNames = sync.OnceValue(func() []string { return sortedKeys(clientProps) })

// isConnectionKey reports whether key is a connection setting: it belongs
// to a cluster as a whole (bootstrap servers, security protocol, TLS and
// SASL), never to a role or a flow.
func isConnectionKey(key string) bool {
	return key == "bootstrap.servers" || key == "security.protocol" || key == "java.security.krb5.conf" ||
		strings.HasPrefix(key, "ssl.") || strings.HasPrefix(key, "sasl.")
}
