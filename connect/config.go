package connect

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ClusterConfig says how to reach one cluster.
type ClusterConfig struct {
	// Alias is the cluster's name in the flow file (MM2's cluster alias).
	Alias string
	// Opts are the client options every client of this cluster gets: seed
	// brokers, TLS, SASL, client settings. Connectors add their own.
	Opts []kgo.Opt
	// ConsumerOpts, ProducerOpts and AdminOpts are added for clients of that
	// role (MM2's <alias>.consumer.*, .producer.*, .admin.* settings).
	ConsumerOpts, ProducerOpts, AdminOpts []kgo.Opt
	// MaxRequestSize is the largest record, in a batch of its own, that
	// tasks produce to this cluster (Java's producer.max.request.size). A
	// larger record is refused and blocks its partition, as Java's
	// RecordTooLargeException fails MM2's task. Records larger than the
	// producer's batches (kgo.ProducerBatchMaxBytes in ProducerOpts) but not
	// than this are sent on their own, in order. It is never less than the
	// producer's batch size (flows map producer.max.request.size and
	// producer.batch.size onto that). Default (0) 1 MiB, Java's default; at
	// most 1 GiB - 64 KiB.
	MaxRequestSize int32
}

// DefaultMaxRequestSize is Java's producer.max.request.size default.
const DefaultMaxRequestSize = 1 << 20

func (c ClusterConfig) maxRequestSize() int32 {
	if c.MaxRequestSize <= 0 {
		return DefaultMaxRequestSize
	}
	return min(c.MaxRequestSize, 1<<30-64<<10)
}

// RoleOpts are client options by role.
type RoleOpts struct {
	Consumer, Producer, Admin []kgo.Opt
}

// of returns the options of role.
func (o RoleOpts) of(role Role) []kgo.Opt {
	switch role {
	case RoleConsumer:
		return o.Consumer
	case RoleProducer:
		return o.Producer
	default:
		return o.Admin
	}
}

// ClientIDPrefix is kgo.ClientID for a client.id an operator set. A client
// opened with a ClientLabel gets "<id>|<label>", as MM2 composes its client
// ids; a client without a label gets id. The last ClientIDPrefix wins.
func ClientIDPrefix(id string) kgo.Opt { return clientIDPrefix{kgo.ClientID(id), id} }

// ClientLabel is kgo.ClientID for the id a connector or task gives one of
// its clients ("A->B|MirrorSourceConnector-0|replication-consumer"): it is
// prefixed with the operator's client.id when one is set (ClientIDPrefix).
func ClientLabel(label string) kgo.Opt { return clientLabel{kgo.ClientID(label), label} }

type clientIDPrefix struct {
	kgo.Opt
	id string
}

type clientLabel struct {
	kgo.Opt
	label string
}

// composeClientID replaces the last ClientLabel in opts by the client id
// MM2 would use: "<prefix>|<label>" with the last ClientIDPrefix before
// the end of opts, else the label.
func composeClientID(opts []kgo.Opt) []kgo.Opt {
	prefix, label := "", -1
	for i, o := range opts {
		switch o := o.(type) {
		case clientIDPrefix:
			prefix = o.id
		case clientLabel:
			label = i
		}
	}
	if label < 0 || prefix == "" {
		return opts
	}
	id := prefix + "|" + opts[label].(clientLabel).label
	return append(opts, kgo.ClientID(id))
}

// Role says what a client is for, so it gets the cluster's settings for that
// role.
type Role int

const (
	RoleAdmin    Role = iota // metadata and admin requests
	RoleConsumer             // fetches records
	RoleProducer             // produces records
)

func (r Role) String() string {
	switch r {
	case RoleConsumer:
		return "consumer"
	case RoleProducer:
		return "producer"
	default:
		return "admin"
	}
}

// clientFactory builds clients for connectors and tasks.
type clientFactory func(cluster string, role Role, opts ...kgo.Opt) (*kgo.Client, error)

// newClient returns a client for cluster with the cluster's options, the
// role's options, then opts.
func (c *WorkerConfig) newClient(cluster string, role Role, opts ...kgo.Opt) (*kgo.Client, error) {
	return c.newClientDefaults(cluster, role, nil, opts...)
}

// newClientDefaults is newClient with defaults that the cluster's settings
// override (a default client id).
func (c *WorkerConfig) newClientDefaults(cluster string, role Role, defaults []kgo.Opt, opts ...kgo.Opt) (*kgo.Client, error) {
	cc, ok := c.Clusters[cluster]
	if !ok {
		return nil, fmt.Errorf("cluster %q is not configured", cluster)
	}
	// Defaults first, so that the cluster's settings override them. The
	// consumer waits at most 500ms for data, as Java's fetch.max.wait.ms
	// does (kgo's default is 5s): a fetch in flight holds back partitions
	// added to the assignment until it returns.
	all := append([]kgo.Opt{kgo.FetchMaxWait(500 * time.Millisecond)}, defaults...)
	switch role {
	case RoleConsumer:
		// 8 MiB per fetch response (kgo and Java: 50 MiB). Fetched
		// batches stay in memory until the target acknowledges every
		// record in them, so this and the producer's buffer bound what a
		// worker holds: with 10,000 partitions the worker peaks near 200
		// MiB, where 16 MiB fetches and a 32 MiB buffer took it past 300,
		// and copies of 16 partitions are as fast. Over a slow link the
		// rate per source broker is at most fetch.max.bytes per round
		// trip (160 MiB/s at 50 ms): raise consumer.fetch.max.bytes there.
		all = append(all, kgo.FetchMaxBytes(8<<20))
	case RoleProducer:
		// Records reach the producer in whole fetched batches, so waiting
		// for more (kgo's default linger is 10 ms) only adds latency. The
		// buffer holds 16 MiB (Java's buffer.memory: 32 MiB), two fetch
		// responses' worth: enough to keep the target busy while the next
		// fetch is under way, see the fetch size above.
		// A transactional producer (exactly-once mode) times its
		// transactions out after Java's 60s, not kgo's 40s.
		all = append(all, kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedBytes(16<<20), kgo.TransactionTimeout(DefaultTransactionTimeout))
	}
	all = append(all, cc.Opts...)
	all = append(all, RoleOpts{cc.ConsumerOpts, cc.ProducerOpts, cc.AdminOpts}.of(role)...)
	all = append(all, opts...)
	cl, err := kgo.NewClient(composeClientID(all)...)
	if err != nil {
		return nil, fmt.Errorf("new %s client for cluster %s: %w", role, cluster, err)
	}
	return cl, nil
}

// ConnectorSpec names one connector to run and its config.
type ConnectorSpec struct {
	// Name is the connector's name, also its source-offsets namespace
	// (MM2: "MirrorSourceConnector").
	Name string
	// Class picks the connector implementation from the Registry.
	Class string
	// Source and Target are the cluster aliases of the flow (MM2 herder).
	// Records are produced to Target; source offsets are stored on Target in
	// the Connect offsets topic of Source (mm2-offsets.<Source>.internal).
	Source, Target string
	// Props is the connector config, MM2 property names.
	Props Props
	// Clients are options for the clients the connector and its tasks open,
	// by cluster alias, added after that cluster's options for the role:
	// a flow's own client settings (MM2's <source>-><target>.consumer.*,
	// .source.consumer.* and the like).
	Clients map[string]RoleOpts
	// RecordProducer are options for the worker's producer that writes the
	// tasks' records to Target, added after the target cluster's producer
	// options (Connect's producer.override.*).
	RecordProducer []kgo.Opt
	// Secrets are values config providers resolved into Props: the REST
	// API never shows a config value that holds one (nor one whose key
	// names a password, a JAAS config, a key, a token or a credential).
	Secrets []string
}

// clients returns the client factory for the connector of s and its tasks:
// newClient with s.Clients added for the cluster and role.
func (s ConnectorSpec) clients(newClient clientFactory) clientFactory {
	if len(s.Clients) == 0 {
		return newClient
	}
	return func(cluster string, role Role, opts ...kgo.Opt) (*kgo.Client, error) {
		extra := s.Clients[cluster].of(role)
		if len(extra) == 0 {
			return newClient(cluster, role, opts...)
		}
		return newClient(cluster, role, append(append([]kgo.Opt(nil), extra...), opts...)...)
	}
}

// Herder is the Source->Target pair a connector belongs to, as in MM2 where
// each pair has its own Connect herder and offsets topic.
func (s ConnectorSpec) Herder() string { return s.Source + "->" + s.Target }

// id names the connector uniquely within a worker: "A->B/MirrorSourceConnector".
func (s ConnectorSpec) id() string { return s.Herder() + "/" + s.Name }

// WorkerConfig holds what an operator sets for the worker as a whole.
type WorkerConfig struct {
	// Clusters by alias.
	Clusters map[string]ClusterConfig
	// OffsetFlushInterval is how often tasks commit source offsets (Connect's
	// offset.flush.interval.ms). Default 5s: Connect's 60s default means a
	// crash re-copies up to a minute of data, which helps nobody.
	OffsetFlushInterval time.Duration
	// ShutdownTimeout bounds a graceful stop of the worker, one deadline for
	// all of it: committing source offsets, flushing the producers,
	// committing again, stopping tasks and connectors. Default 30s.
	ShutdownTimeout time.Duration
	// UnreachableAfter is how long a task's or connector's requests and
	// connections to one of its clusters must have failed, with no answer
	// in between, before its status says UNREACHABLE instead of RUNNING.
	// Default 30s: longer than a broker restart or a leader election takes.
	UnreachableAfter time.Duration
	// RetryBackoffMax caps the exponential backoff (100ms, 200ms, ...)
	// between retries of a connector start or a task poll that failed with
	// a retriable error, between restarts of a failed task, and between
	// retries of a record the target refused. Default 30s.
	RetryBackoffMax time.Duration
	// firstTaskRestart is the first step of a failed task's restart
	// backoff (100ms when 0). Only tests change it, through
	// SetFirstTaskRestart, to keep a failed task FAILED until they act.
	firstTaskRestart time.Duration
	// OffsetsTopicPartitions and OffsetsTopicReplication are used when the
	// worker creates a Connect offsets topic (Connect defaults: 25 and 3;
	// -1 replication means the broker default).
	OffsetsTopicPartitions  int32
	OffsetsTopicReplication int16
	// WorkerID names this worker in status and the REST API (Connect's
	// worker_id): host:port of its REST listener, say. Default "mm2go".
	WorkerID string
	// Herders overrides, per source->target pair ("A->B"), where that pair
	// keeps its source offsets and how often it commits them (MM2's
	// offset.storage.* and offset.flush.interval.ms worker keys).
	Herders map[string]HerderConfig
}

// HerderConfig is the Connect offsets topic of one source->target pair and
// how often its tasks commit to it. Zero fields take the WorkerConfig
// values.
type HerderConfig struct {
	OffsetsTopic            string // default mm2-offsets.<source>.internal
	OffsetsTopicPartitions  int32
	OffsetsTopicReplication int16
	// OffsetFlushInterval is the pair's offset.flush.interval.ms.
	OffsetFlushInterval time.Duration
	// ExactlyOnce copies the pair's records exactly once
	// (exactly.once.source.support=enabled): each task writes its records,
	// their source offsets and what it records about them in transactions
	// on the target. See the package doc.
	ExactlyOnce bool
	// GroupID is the pair's Connect group id (group.id; MM2 uses
	// "<source>-mm2", the default). In exactly-once mode task t of
	// connector c has the transactional id "<GroupID>-<c>-<t>", as in
	// Connect, so a task fences the zombies of its predecessors, Java
	// MM2's included.
	GroupID string
}

// herder returns the offsets-topic settings of source->target.
func (c *WorkerConfig) herder(source, target string) HerderConfig {
	h := c.Herders[source+"->"+target]
	if h.OffsetsTopic == "" {
		h.OffsetsTopic = OffsetsTopic(source)
	}
	if h.OffsetsTopicPartitions <= 0 {
		h.OffsetsTopicPartitions = c.OffsetsTopicPartitions
	}
	if h.OffsetsTopicReplication == 0 {
		h.OffsetsTopicReplication = c.OffsetsTopicReplication
	}
	if h.OffsetFlushInterval <= 0 {
		h.OffsetFlushInterval = c.OffsetFlushInterval
	}
	if h.GroupID == "" {
		h.GroupID = source + "-mm2"
	}
	return h
}

func (c *WorkerConfig) setDefaults() {
	if c.OffsetFlushInterval <= 0 {
		c.OffsetFlushInterval = 5 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.UnreachableAfter <= 0 {
		c.UnreachableAfter = 30 * time.Second
	}
	if c.RetryBackoffMax <= 0 {
		c.RetryBackoffMax = 30 * time.Second
	}
	if c.OffsetsTopicPartitions <= 0 {
		c.OffsetsTopicPartitions = 25
	}
	if c.OffsetsTopicReplication == 0 {
		c.OffsetsTopicReplication = -1
	}
}

// validate reports every problem of the worker config and specs at once.
func validate(cfg *WorkerConfig, specs []ConnectorSpec, reg *Registry) error {
	var errs []error
	seen := make(map[string]bool)
	for i, s := range specs {
		id := s.id()
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("connectors[%d]: name is empty", i))
		}
		if seen[id] {
			errs = append(errs, fmt.Errorf("connectors[%d]: connector %s is listed twice", i, id))
		}
		seen[id] = true
		if _, ok := cfg.Clusters[s.Source]; !ok {
			errs = append(errs, fmt.Errorf("connectors[%d]: source cluster %q is not configured", i, s.Source))
		}
		if _, ok := cfg.Clusters[s.Target]; !ok {
			errs = append(errs, fmt.Errorf("connectors[%d]: target cluster %q is not configured", i, s.Target))
		}
		if _, ok := reg.lookup(s.Class); !ok {
			errs = append(errs, fmt.Errorf("connectors[%d]: connector class %q is not registered", i, s.Class))
		}
	}
	return errors.Join(errs...)
}
