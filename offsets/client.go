package offsets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/internal/kread"
)

// TopicNamer reads MM2's provenance back out of topic names. It is the part
// of a replication policy that Client needs; connectors/policy's
// ReplicationPolicy (Default, Identity) satisfies it. Methods must be pure
// and safe to call from any goroutine. A Java null result is ok == false.
type TopicNamer interface {
	// TopicSource returns the alias of the cluster topic was replicated
	// from, one hop back.
	TopicSource(topic string) (alias string, ok bool)
	// UpstreamTopic returns the name topic has on that cluster.
	UpstreamTopic(topic string) (upstream string, ok bool)
	// IsHeartbeatsTopic reports whether topic is a heartbeats topic, local
	// or replicated any number of hops.
	IsHeartbeatsTopic(topic string) bool
	// IsCheckpointsTopic reports whether topic is a checkpoints topic.
	IsCheckpointsTopic(topic string) bool
	// IsInternalTopic reports whether topic is internal to MM2, Connect or
	// Kafka.
	IsInternalTopic(topic string) bool
}

// ErrTopicNotFound is wrapped by ReadCheckpoints when the checkpoints topic
// does not exist: a wrong alias or separator, or no checkpoint connector
// writes to this cluster.
var ErrTopicNotFound = kread.ErrTopicNotFound

// Tombstones (null values) carry only a key. Decoding the key with these
// well-formed version-0 values keeps one decoder per record type.
var (
	tombstoneHeartbeatValue  = make([]byte, 10)
	tombstoneCheckpointValue = make([]byte, 20)
)

// TopicPartition names a partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ReadStats counts what a read of an MM2 topic found.
type ReadStats struct {
	// Records is the number of records read, transaction markers excluded.
	Records int
	// Skipped is the number of records that failed to decode and were
	// skipped, as MM2's Java readers skip them.
	Skipped int
}

// Client interprets MM2's internal topics on one cluster: MM2's
// MirrorClient, and what RemoteClusterUtils offers on top of it. Topic
// methods (HeartbeatTopics, UpstreamClusters, ReplicationHops, ...) look
// only at topic names, through the TopicNamer, exactly as MM2 does; they list
// the cluster's topics on every call. LatestHeartbeats reads the heartbeats
// topics themselves.
//
// A Client is safe for concurrent use. Close it when done.
type Client struct {
	opts   []kgo.Opt
	cl     *kgo.Client
	adm    *kadm.Client
	namer  TopicNamer
	closed sync.Once
}

// NewClient returns a Client of the cluster that opts reach (seed brokers,
// TLS, SASL: whatever kgo needs), reading names with namer, for example
// policy.Default{}. With the Identity policy, set its SourceClusterAlias as
// MM2 requires. Every client the Client opens, including the consumers of
// LatestHeartbeats, gets opts, so they must not set a consumer group or
// topics to consume. Metadata is at most 250ms old (kgo's default: 5s) unless
// opts say otherwise. NewClient does not contact the cluster.
func NewClient(namer TopicNamer, opts ...kgo.Opt) (*Client, error) {
	if namer == nil {
		return nil, errors.New("new offsets client: namer is nil")
	}
	opts = append([]kgo.Opt{kgo.MetadataMinAge(250 * time.Millisecond)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("new offsets client: %w", err)
	}
	return &Client{opts: opts, cl: cl, adm: kadm.NewClient(cl), namer: namer}, nil
}

// Close closes the client's connections. It is idempotent.
func (c *Client) Close() { c.closed.Do(c.cl.Close) }

// topics lists the cluster's topics, without Kafka's internal ones, as
// Java's Admin.listTopics does.
func (c *Client) topics(ctx context.Context) ([]string, error) {
	details, err := c.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	return details.Names(), nil
}

// HeartbeatTopics returns the heartbeats topics of the cluster, local and
// replicated ("heartbeats", "A.heartbeats", "B.A.heartbeats"), sorted.
func (c *Client) HeartbeatTopics(ctx context.Context) ([]string, error) {
	ts, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	return heartbeatTopics(c.namer, ts), nil
}

// CheckpointTopics returns the checkpoints topics of the cluster
// ("A.checkpoints.internal"), sorted.
func (c *Client) CheckpointTopics(ctx context.Context) ([]string, error) {
	ts, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(ts, func(t string) bool { return !c.namer.IsCheckpointsTopic(t) })
	slices.Sort(out)
	return out, nil
}

// UpstreamClusters returns the aliases of every cluster that heartbeats
// reach this cluster from, any number of hops away, sorted: every source
// along the name of every heartbeats topic ("B.A.heartbeats" gives A and B).
func (c *Client) UpstreamClusters(ctx context.Context) ([]string, error) {
	ts, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	return upstreamClusters(c.namer, ts), nil
}

// RemoteTopics returns the topics replicated to this cluster directly from
// source, or from any cluster when source is "", sorted: topics that are not
// internal and whose name has a source. Replicated heartbeats topics are
// included, as in MM2.
func (c *Client) RemoteTopics(ctx context.Context, source string) ([]string, error) {
	ts, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	return remoteTopics(c.namer, ts, source), nil
}

// ReplicationHops returns the fewest hops between upstream and this cluster
// over its heartbeats topics (A->B->C: 2 from A to C), or -1 when no
// heartbeats topic comes from upstream.
func (c *Client) ReplicationHops(ctx context.Context, upstream string) (int, error) {
	ts, err := c.topics(ctx)
	if err != nil {
		return 0, err
	}
	return replicationHops(c.namer, ts, upstream), nil
}

// LatestHeartbeat is the newest heartbeat of one (source, target) pair in
// one heartbeats topic. A pair shows up in several topics when heartbeats
// reach this cluster over several paths.
type LatestHeartbeat struct {
	// Topic is the heartbeats topic that holds it: "heartbeats" for
	// heartbeats emitted to this cluster, "B.heartbeats" for those
	// emitted to B and replicated here, and so on.
	Topic string
	// Heartbeat is the heartbeat with the highest timestamp of its pair in
	// Topic. Its Timestamp is when it was emitted, in Unix milliseconds.
	Heartbeat
}

// LatestHeartbeats reads partition 0 of every heartbeats topic of the
// cluster from its start to its current end, and returns the newest
// heartbeat of every (topic, source, target), sorted by topic, source and
// target. How old a pair's newest heartbeat is tells whether the herder
// source->target still emits and every hop from there to here still
// replicates. Records that fail to decode are skipped and counted in the
// stats; a tombstone removes its pair; a topic deleted since the listing is
// left out. The read is bounded by the end offsets taken at its start; ctx
// bounds its time.
func (c *Client) LatestHeartbeats(ctx context.Context) ([]LatestHeartbeat, ReadStats, error) {
	var stats ReadStats
	topics, err := c.HeartbeatTopics(ctx)
	if err != nil {
		return nil, stats, err
	}
	type pair struct{ source, target string }
	var out []LatestHeartbeat
	for _, topic := range topics {
		latest := make(map[pair]Heartbeat)
		err := kread.ReadToEnd(ctx, c.opts, topic, []int32{0}, func(r *kgo.Record) error {
			stats.Records++
			value := r.Value
			if value == nil {
				value = tombstoneHeartbeatValue
			}
			h, err := DecodeHeartbeat(r.Key, value)
			if err != nil {
				stats.Skipped++
				return nil
			}
			k := pair{h.SourceClusterAlias, h.TargetClusterAlias}
			if r.Value == nil {
				delete(latest, k)
			} else if prev, ok := latest[k]; !ok || h.Timestamp > prev.Timestamp {
				latest[k] = h
			}
			return nil
		})
		switch {
		case errors.Is(err, kread.ErrTopicNotFound):
			continue
		case err != nil:
			return nil, stats, fmt.Errorf("read heartbeats from %s: %w", topic, err)
		}
		for _, h := range latest {
			out = append(out, LatestHeartbeat{Topic: topic, Heartbeat: h})
		}
	}
	slices.SortFunc(out, func(a, b LatestHeartbeat) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic),
			cmp.Compare(a.SourceClusterAlias, b.SourceClusterAlias),
			cmp.Compare(a.TargetClusterAlias, b.TargetClusterAlias))
	})
	return out, stats, nil
}

// ReadCheckpoints reads partition 0 of checkpointsTopic on the cluster that
// opts reach, from its start to the end offset it had when the read began,
// and returns the last checkpoint of each target-side partition of group:
// what MM2's RemoteClusterUtils.translateOffsets reads. checkpointsTopic is
// the policy's CheckpointsTopic of the remote (source) cluster alias, such as
// "A.checkpoints.internal".
//
// Records that fail to decode are skipped and counted in the stats, as Java
// skips them; that includes values with a version other than 0, which
// DecodeCheckpoint refuses. A tombstone (null value) of a checkpoint key
// removes that partition's checkpoint, as compaction would. A missing topic
// is an error wrapping ErrTopicNotFound. ctx bounds the read, as translateOffsets'
// timeout does; unlike Java, running out of time is an error, not a partial
// answer.
func ReadCheckpoints(ctx context.Context, opts []kgo.Opt, checkpointsTopic, group string) (map[TopicPartition]Checkpoint, ReadStats, error) {
	s, err := readCheckpointStore(ctx, opts, checkpointsTopic)
	if err != nil {
		return nil, s.stats, fmt.Errorf("read checkpoints of group %s from %s: %w", group, checkpointsTopic, err)
	}
	out := make(map[TopicPartition]Checkpoint)
	for _, cp := range s.Latest(group) {
		out[TopicPartition{cp.Topic, cp.Partition}] = cp.Checkpoint
	}
	return out, s.stats, nil
}

// heartbeatTopics returns the heartbeats topics among topics, sorted.
func heartbeatTopics(n TopicNamer, topics []string) []string {
	out := slices.DeleteFunc(slices.Clone(topics), func(t string) bool { return !n.IsHeartbeatsTopic(t) })
	slices.Sort(out)
	return out
}

// upstreamClusters is MirrorClient.upstreamClusters: the sources along the
// names of every heartbeats topic, sorted.
func upstreamClusters(n TopicNamer, topics []string) []string {
	all := make(map[string]bool)
	for _, t := range heartbeatTopics(n, topics) {
		// MirrorClient.allSources: walk one topic's name back hop by hop.
		// The per-topic set ends a policy's loop of names (Identity cannot
		// prevent cycles); it must not be shared between topics, or a
		// source seen in one name would cut the walk along another short.
		sources := make(map[string]bool)
		for {
			src, ok := n.TopicSource(t)
			if !ok || sources[src] {
				break
			}
			sources[src], all[src] = true, true
			if t, ok = n.UpstreamTopic(t); !ok {
				break
			}
		}
	}
	out := make([]string, 0, len(all))
	for s := range all {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// remoteTopics is MirrorClient.remoteTopics: topics that are not internal
// and have a source (source, unless ""), sorted.
func remoteTopics(n TopicNamer, topics []string, source string) []string {
	var out []string
	for _, t := range topics {
		if n.IsInternalTopic(t) {
			continue
		}
		if src, ok := n.TopicSource(t); ok && (source == "" || src == source) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// replicationHops is MirrorClient.replicationHops: the fewest hops to
// upstream over the heartbeats topics, or -1.
func replicationHops(n TopicNamer, topics []string, upstream string) int {
	best := -1
	for _, t := range heartbeatTopics(n, topics) {
		if h := countHops(n, t, upstream); h != -1 && (best == -1 || h < best) {
			best = h
		}
	}
	return best
}

// countHops is MirrorClient.countHopsForTopic: the hops back from topic to
// the cluster upstream, or -1 when its name leads elsewhere or loops.
func countHops(n TopicNamer, topic, upstream string) int {
	visited := make(map[string]bool)
	for hops := 1; ; hops++ {
		src, ok := n.TopicSource(topic)
		switch {
		case !ok:
			return -1
		case src == upstream:
			return hops
		case visited[src]:
			return -1
		}
		visited[src] = true
		if topic, ok = n.UpstreamTopic(topic); !ok {
			return -1
		}
	}
}
