package policy

// ShouldReplicate is MirrorSourceConnector.shouldReplicateTopic: the source connector of the flow to
// targetAlias replicates topic iff
//
//	(f accepts topic OR (heartbeatsReplication AND p.IsHeartbeatsTopic(topic)))
//	AND NOT p.IsInternalTopic(topic) AND NOT IsCycle(p, topic, targetAlias)
//
// heartbeatsReplication is heartbeats.replication.enabled (default true, added in Kafka 4.0; earlier
// versions behave as if it were true), so heartbeats topics travel even when the topic filter leaves
// them out. A nil f accepts no topic.
func ShouldReplicate(p ReplicationPolicy, f *TopicFilter, topic, targetAlias string, heartbeatsReplication bool) bool {
	return (f.ShouldReplicateTopic(topic) || (heartbeatsReplication && p.IsHeartbeatsTopic(topic))) &&
		!p.IsInternalTopic(topic) && !IsCycle(p, topic, targetAlias)
}

// trackLoopsAfter is the number of upstream hops IsCycle follows before it starts remembering names to
// detect a policy whose UpstreamTopic goes round in circles. Real topologies have a handful of hops,
// so the common path allocates nothing.
const trackLoopsAfter = 16

// IsCycle is MirrorSourceConnector.isCycle: it reports whether topic already passed through
// targetAlias, so that copying it there would close a loop. Walking back one hop at a time, it is a
// cycle as soon as TopicSource names targetAlias; the walk ends with false when TopicSource reports
// not remote, or UpstreamTopic reports not remote or returns its input (Identity's answer for every
// non-heartbeats topic, which is why Identity cannot stop A->B->A loops).
//
// Under Default with target B, "B.t" and "C.B.t" are cycles, "A.t" and "t" are not.
//
// Java recurses without a bound and overflows its stack on a custom policy whose upstream names form
// a loop; IsCycle instead returns false once a name repeats, having checked the source of every name
// in the loop.
func IsCycle(p ReplicationPolicy, topic, targetAlias string) bool {
	var seen map[string]struct{}
	for hops := 0; ; hops++ {
		src, ok := p.TopicSource(topic)
		if !ok {
			return false
		}
		if src == targetAlias {
			return true
		}
		up, ok := p.UpstreamTopic(topic)
		if !ok || up == topic {
			return false
		}
		if hops >= trackLoopsAfter {
			if seen == nil {
				seen = make(map[string]struct{})
			}
			if _, dup := seen[up]; dup {
				return false
			}
			seen[topic] = struct{}{}
		}
		topic = up
	}
}
