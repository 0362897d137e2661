// Package policy names topics the way MirrorMaker 2 does and decides which topics and consumer
// groups a flow mirrors. It is a leaf package: it imports only the standard library, so connectors,
// flows and the command line can all share it.
//
// # Replication policies
//
// A ReplicationPolicy maps a topic of the source cluster to its name on the target cluster, reads
// provenance back out of a name, and names MM2's internal topics. FromProps builds one from a flow's
// MM2 properties (replication.policy.class, replication.policy.separator,
// replication.policy.internal.topic.separator.enabled, source.cluster.alias).
//
// Default (DefaultReplicationPolicy) prefixes the source alias: topic "t" of cluster A becomes "A.t"
// on B, and "A.t" of B becomes "B.A.t" on C. Reading a name back splits it at the first separator,
// with the exact quirks of Java's String.split:
//
//	topic    TopicSource   UpstreamTopic   OriginalTopic
//	t        (none)        (none)          t
//	A.       (none)        (none)          A.
//	A..      (none)        (none)          A..
//	.t       ""            t               t
//	A.t      A             t               t
//	A..t     A             .t              t
//	A.B.t    A             B.t             t
//
// The separator is configurable ("_", "--", ...). Checkpoints and offset-syncs topics
// ("A.checkpoints.internal", "mm2-offset-syncs.B.internal") use it too unless
// replication.policy.internal.topic.separator.enabled is false, which keeps the pre-3.1 "." names.
// The heartbeats topic is always "heartbeats" locally, and "A.heartbeats", "B.A.heartbeats" once
// replicated. The names are ambiguous when an alias or a local topic contains the separator: alias
// "us.west" yields "us.west.t", read back as coming from "us", and a local topic "foo.bar" looks like
// a copy of "bar" from cluster "foo". ValidateAlias rejects such aliases.
//
// Identity (IdentityReplicationPolicy) keeps names unchanged, for one-way migrations such as
// replacing MirrorMaker 1. Names then carry no provenance: every topic looks remote, attributed to the
// configured source.cluster.alias; remote and local topics of the same name merge; and cycles cannot
// be detected, so the topology must be acyclic. Topics whose names end with "heartbeats" are the
// exception and are named and parsed as under Default, so heartbeats still count hops. IsIdentity
// tells callers which kind of names they are dealing with.
//
// # What the source connector replicates
//
// ShouldReplicate is the source connector's decision for each topic it discovers:
//
//	(topic filter accepts t OR (heartbeats.replication.enabled AND IsHeartbeatsTopic(t)))
//	AND NOT IsInternalTopic(t) AND NOT IsCycle(t)
//
// The cycle rule walks a remote name back one hop at a time: it is a cycle as soon as a hop's source
// is the flow's target, and not a cycle once the name stops looking remote. With Default, in a flow
// to B, "B.t" is never copied back to B, nor is "C.B.t"; "A.t" and "C.A.t" are. Internal topics of
// MM2, Connect and Kafka ("mm2-offsets.A.internal", "__consumer_offsets", ...) never replicate.
//
// The checkpoint connector uses only the topic filter (TopicFilter.ShouldReplicateTopic) to decide
// which of a group's topics to checkpoint, and the GroupFilter to decide which groups to follow.
//
// # Filters
//
// TopicFilter, GroupFilter and ConfigPropertyFilter are MM2's DefaultTopicFilter, DefaultGroupFilter
// and DefaultConfigPropertyFilter; FiltersFromProps builds all three from a flow's properties. Each
// list property is split on commas with the whitespace around them trimmed; the items are regular
// expressions joined with "|" that must match the whole name; an empty list matches nothing. MM2's
// defaults are exported (DefaultTopicsExclude and so on). Lists are compiled with Go's RE2 syntax,
// which has no look-around, backreferences, atomic groups or possessive quantifiers; a list using them
// fails with a *PatternError naming the property and the item.
package policy
