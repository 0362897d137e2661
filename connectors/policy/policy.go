package policy

import (
	"fmt"
	"strings"
)

const (
	// DefaultSeparator is the separator Default uses when replication.policy.separator is unset.
	DefaultSeparator = "."

	// HeartbeatsTopicName is the local name of the heartbeats topic under both policies.
	HeartbeatsTopicName = "heartbeats"
)

// ReplicationPolicy names remote topics and MM2's internal topics, and reads provenance back out of
// topic names. It mirrors org.apache.kafka.connect.mirror.ReplicationPolicy method for method; a Java
// null result is reported as ok == false.
//
// Implementations are immutable values: every method is a pure function of its arguments and the
// policy's configuration, never blocks, and is safe to call from any goroutine. Connectors, flows and
// the command line call them freely, for example once per discovered topic on every refresh.
type ReplicationPolicy interface {
	// FormatRemoteTopic returns the name that topic of the cluster sourceAlias gets on the target
	// cluster.
	FormatRemoteTopic(sourceAlias, topic string) string

	// TopicSource returns the alias of the cluster that topic was replicated from. ok is false when the
	// policy does not see topic as remote (Java's null). An empty alias with ok == true is a legitimate
	// answer: Default reads ".t" as coming from the cluster "".
	TopicSource(topic string) (alias string, ok bool)

	// UpstreamTopic returns the name topic has on the cluster it was replicated from, one hop back. ok
	// is false when topic is not remote.
	UpstreamTopic(topic string) (upstream string, ok bool)

	// OriginalTopic follows UpstreamTopic until it reports false or returns its input unchanged, and
	// returns the last name: the topic's name on the cluster where it was first produced.
	OriginalTopic(topic string) string

	// HeartbeatsTopic returns the local name of the heartbeats topic.
	HeartbeatsTopic() string

	// IsHeartbeatsTopic reports whether topic is a heartbeats topic, local or remote after any number
	// of hops: OriginalTopic(topic) == HeartbeatsTopic().
	IsHeartbeatsTopic(topic string) bool

	// CheckpointsTopic returns the name of the checkpoints topic that the checkpoint connector of a
	// flow from cluster alias writes on the target cluster.
	CheckpointsTopic(alias string) string

	// IsCheckpointsTopic reports whether topic is named like a checkpoints topic of any alias.
	IsCheckpointsTopic(topic string) bool

	// OffsetSyncsTopic returns the name of the offset-syncs topic that carries alias, the cluster on
	// the other side of the flow from where the topic lives (see offset-syncs.topic.location).
	OffsetSyncsTopic(alias string) string

	// IsMM2InternalTopic reports whether topic is named like one of MM2's own internal topics
	// (checkpoints, offset syncs, and the Connect topics mm2-offsets, mm2-status and mm2-configs).
	IsMM2InternalTopic(topic string) bool

	// IsInternalTopic reports whether topic is internal to MM2, Connect or Kafka and so must never be
	// replicated: IsMM2InternalTopic, or a name starting with "__" or ".", or ending with "-internal"
	// or ".internal".
	IsInternalTopic(topic string) bool
}

// Compile-time checks that both policies implement ReplicationPolicy as values and as pointers.
var (
	_ ReplicationPolicy = Default{}
	_ ReplicationPolicy = (*Default)(nil)
	_ ReplicationPolicy = Identity{}
	_ ReplicationPolicy = (*Identity)(nil)
)

// Default is MM2's DefaultReplicationPolicy: a remote topic is named "<source alias><separator><topic>",
// so names carry their provenance and replication cycles can be detected. The zero value is the MM2
// default configuration ("." separator, internal topics named with the separator).
type Default struct {
	// Separator joins the source alias and the topic (replication.policy.separator). "" means
	// DefaultSeparator. FromProps rejects an empty configured separator.
	Separator string

	// DisableInternalTopicSeparator names the checkpoints and offset-syncs topics with "." whatever
	// Separator is: replication.policy.internal.topic.separator.enabled=false, the pre-3.1 naming
	// that upgraded deployments with a custom separator may still use. Default false (enabled).
	DisableInternalTopicSeparator bool
}

func (d Default) separator() string {
	if d.Separator == "" {
		return DefaultSeparator
	}
	return d.Separator
}

// internalSeparator is the separator of checkpoints and offset-syncs topic names.
func (d Default) internalSeparator() string {
	if d.DisableInternalTopicSeparator {
		return "."
	}
	return d.separator()
}

// FormatRemoteTopic returns sourceAlias + separator + topic.
func (d Default) FormatRemoteTopic(sourceAlias, topic string) string {
	return sourceAlias + d.separator() + topic
}

// TopicSource returns the text before the first separator. It reproduces Java's
// String.split on the literal separator (leading empty pieces kept, trailing ones dropped, fewer than
// two pieces means "not remote"): "t", "A." and "A.." are not remote, ".t" comes from "", and both
// "A.B.t" and "A..t" come from "A".
func (d Default) TopicSource(topic string) (string, bool) {
	src, _, ok := splitRemote(topic, d.separator())
	return src, ok
}

// UpstreamTopic returns topic without its first "<source><separator>": "B.A.t" gives "A.t".
func (d Default) UpstreamTopic(topic string) (string, bool) {
	_, up, ok := splitRemote(topic, d.separator())
	return up, ok
}

// OriginalTopic strips every "<alias><separator>" prefix: "B.A.t" gives "t".
func (d Default) OriginalTopic(topic string) string {
	return originalTopic(d.UpstreamTopic, topic)
}

// HeartbeatsTopic returns HeartbeatsTopicName.
func (d Default) HeartbeatsTopic() string { return HeartbeatsTopicName }

// IsHeartbeatsTopic reports whether OriginalTopic(topic) is "heartbeats": true for "heartbeats",
// "A.heartbeats" and "B.A.heartbeats".
func (d Default) IsHeartbeatsTopic(topic string) bool {
	return d.OriginalTopic(topic) == HeartbeatsTopicName
}

// CheckpointsTopic returns "<alias>.checkpoints.internal", with the internal separator in place of ".".
func (d Default) CheckpointsTopic(alias string) string {
	return alias + d.checkpointsSuffix()
}

// IsCheckpointsTopic reports whether topic ends with ".checkpoints.internal" (internal separator).
func (d Default) IsCheckpointsTopic(topic string) bool {
	return strings.HasSuffix(topic, d.checkpointsSuffix())
}

// OffsetSyncsTopic returns "mm2-offset-syncs.<alias>.internal", with the internal separator in place
// of ".".
func (d Default) OffsetSyncsTopic(alias string) string {
	s := d.internalSeparator()
	return "mm2-offset-syncs" + s + alias + s + "internal"
}

// IsMM2InternalTopic reports whether topic ends with ".internal" (internal separator).
func (d Default) IsMM2InternalTopic(topic string) bool {
	return strings.HasSuffix(topic, d.internalSeparator()+"internal")
}

// IsInternalTopic reports whether topic is internal to MM2, Connect or Kafka; see
// ReplicationPolicy.IsInternalTopic.
func (d Default) IsInternalTopic(topic string) bool {
	return d.IsMM2InternalTopic(topic) || isKafkaOrConnectInternal(topic)
}

func (d Default) checkpointsSuffix() string {
	s := d.internalSeparator()
	return s + "checkpoints" + s + "internal"
}

// Identity is MM2's IdentityReplicationPolicy: remote topics keep their source names, so names carry
// no provenance and cycles cannot be detected (see the package documentation). Topics whose names end
// with "heartbeats" are the exception: they are named and parsed exactly as by Default, which keeps
// heartbeat-based hop counting working. The embedded Default supplies the separator for those names and
// for the checkpoints and offset-syncs topics.
type Identity struct {
	Default

	// SourceClusterAlias is the flow's source alias (source.cluster.alias), which TopicSource reports
	// for every topic that does not end with "heartbeats". "" means unset: TopicSource then reports
	// ok == false for those topics.
	SourceClusterAlias string
}

func looksLikeHeartbeats(topic string) bool {
	return strings.HasSuffix(topic, HeartbeatsTopicName)
}

// FormatRemoteTopic returns topic unchanged, or Default's name for topics ending with "heartbeats".
func (i Identity) FormatRemoteTopic(sourceAlias, topic string) string {
	if looksLikeHeartbeats(topic) {
		return i.Default.FormatRemoteTopic(sourceAlias, topic)
	}
	return topic
}

// TopicSource returns SourceClusterAlias (ok == false if it is unset), or Default's answer for topics
// ending with "heartbeats".
func (i Identity) TopicSource(topic string) (string, bool) {
	if looksLikeHeartbeats(topic) {
		return i.Default.TopicSource(topic)
	}
	return i.SourceClusterAlias, i.SourceClusterAlias != ""
}

// UpstreamTopic returns topic itself with ok == true (any topic may be remote), or Default's answer for
// topics ending with "heartbeats".
func (i Identity) UpstreamTopic(topic string) (string, bool) {
	if looksLikeHeartbeats(topic) {
		return i.Default.UpstreamTopic(topic)
	}
	return topic, true
}

// OriginalTopic returns topic unchanged, or strips the alias prefixes of topics ending with
// "heartbeats".
func (i Identity) OriginalTopic(topic string) string {
	return originalTopic(i.UpstreamTopic, topic)
}

// IsHeartbeatsTopic reports whether OriginalTopic(topic) is "heartbeats".
func (i Identity) IsHeartbeatsTopic(topic string) bool {
	return i.OriginalTopic(topic) == HeartbeatsTopicName
}

// IsIdentity reports whether p is an Identity policy (value or pointer), whose topic names do not
// carry their provenance: every topic looks remote, cycles go undetected and remote topics merge
// with local ones of the same name.
func IsIdentity(p ReplicationPolicy) bool {
	switch p.(type) {
	case Identity, *Identity:
		return true
	}
	return false
}

// ValidateAlias reports an error if p cannot read alias back out of the names it gives remote topics,
// the ambiguity of known MM2 limitation 6: under Default an alias containing the separator, such as
// "us.west", yields "us.west.t", which every MM2 component reads as coming from "us". The check
// formats the heartbeats topic, which every policy names with its alias, and parses it back.
func ValidateAlias(p ReplicationPolicy, alias string) error {
	if alias == "" {
		return fmt.Errorf("validate cluster alias: alias is empty")
	}
	hb := p.HeartbeatsTopic()
	remote := p.FormatRemoteTopic(alias, hb)
	src, ok := p.TopicSource(remote)
	switch {
	case !ok:
		return fmt.Errorf("validate cluster alias %q: remote topic %q would not be read as remote", alias, remote)
	case src != alias:
		return fmt.Errorf("validate cluster alias %q: remote topic %q would be read as coming from %q", alias, remote, src)
	}
	if up, ok := p.UpstreamTopic(remote); !ok || up != hb {
		return fmt.Errorf("validate cluster alias %q: remote topic %q would be read as a copy of %q", alias, remote, up)
	}
	return nil
}

// splitRemote splits topic at the first sep into source and upstream name, with the semantics of
// Java's String.split(Pattern.quote(sep)) used by DefaultReplicationPolicy: no sep means not remote,
// and so does a remainder made only of seps, because Java drops trailing empty pieces and a name needs
// two pieces to be remote. sep must not be empty.
func splitRemote(topic, sep string) (src, upstream string, ok bool) {
	i := strings.Index(topic, sep)
	if i < 0 {
		return "", "", false
	}
	rest := topic[i+len(sep):]
	if onlySeparators(rest, sep) {
		return "", "", false
	}
	return topic[:i], rest, true
}

// onlySeparators reports whether s is zero or more copies of sep. A left-to-right scan for sep, as
// Java's split does, finds only empty pieces in such an s, and a non-empty piece otherwise.
func onlySeparators(s, sep string) bool {
	for s != "" {
		if !strings.HasPrefix(s, sep) {
			return false
		}
		s = s[len(sep):]
	}
	return true
}

// originalTopic is the Java interface default: follow upstream until it reports false or returns its
// input. It terminates for Default and Identity because each hop either stops or strips a non-empty
// prefix.
func originalTopic(upstream func(string) (string, bool), topic string) string {
	for {
		up, ok := upstream(topic)
		if !ok || up == topic {
			return topic
		}
		topic = up
	}
}

// isKafkaOrConnectInternal is the part of Java's isInternalTopic default that does not depend on the
// policy: Kafka's internal topics ("__consumer_offsets", "__transaction_state", ".t") and Connect's
// default topic names ("connect-offsets-internal", "mm2-offsets.A.internal").
func isKafkaOrConnectInternal(topic string) bool {
	return strings.HasPrefix(topic, "__") || strings.HasPrefix(topic, ".") ||
		strings.HasSuffix(topic, "-internal") || strings.HasSuffix(topic, ".internal")
}
