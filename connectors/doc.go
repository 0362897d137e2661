// Package connectors holds mm2go's connectors, hosted by the connect
// runtime and named as in MM2:
//
//   - MirrorSource (MirrorSourceConnector): finds the source topics a flow
//     replicates, creates their remote topics on the target with the source
//     partition count and topic configs, and copies records partition for
//     partition (key, value, headers, timestamp) under the replication
//     policy's names. New topics and partitions are found every
//     refresh.topics.interval.seconds (5 s by default, MM2's is 10 minutes)
//     and start copying without restarting the task.
//
//   - MirrorHeartbeat (MirrorHeartbeatConnector): writes a heartbeat to the
//     target's "heartbeats" topic every emit.heartbeats.interval.seconds in
//     MM2's bytes. Heartbeats are replicated like any topic ("A.heartbeats"),
//     so any cluster can tell its upstream clusters and how many hops away.
//
//   - MirrorCheckpoint (MirrorCheckpointConnector): for the flow's consumer
//     groups, translates their committed source offsets exactly (with the
//     offset index MirrorSource writes) and emits MM2-format checkpoints to
//     "<source>.checkpoints.internal" on the target; with
//     sync.group.offsets.enabled it also commits them to target groups that
//     have no active members, never moving a group backwards.
//
// MirrorSource also writes MM2 offset syncs and mm2go's offset index, keeps
// topic configs and ACLs in sync, and reports source records deleted before
// they were copied.
//
// # Re-created topics and moving partitions
//
// A source partition's stored offset carries its topic's ID
// ({"offset":N,"topicId":"..."}, OffsetFieldTopicID; Java MM2 reads only
// "offset"). A task checks the topic ID of every fetch against the one it
// copies: a topic deleted and re-created, while the worker ran or not, is
// copied from its new start, what the old topic held past the last copied
// record is reported (exactly when the task had read it, from the first
// offset not copied when it had not), and the new position is committed at
// once. The connector lists partitions that left the source in the config
// of the task that held them (KeyEndedPartitions), which reports and
// deletes their offsets, and hands tasks the new IDs of topics re-created
// while it ran (KeyTopicIDs) so that they look again at once.
//
// Partitions are assigned to tasks stickily (MirrorSource.TaskConfigs) and,
// when one moves, MirrorSource.Revoked lets the runtime have the old task
// commit it before the new task starts it (connect.Revoker).
//
// With the identity replication policy, MirrorSource stamps each copied
// record with a provenance header (ProvenanceHeader) listing the clusters it
// came through, and never copies a record to a cluster on that list.
//
// PlanTarget plans what a flow needs on its target before any data moves
// (remote topics with partitions, replication factor and configs, topic
// ACLs, the groups a cut-over will move) with MirrorSource's own selection,
// naming, config filtering and ACL mapping; TargetPlan.Apply creates it with
// the calls MirrorSource makes. `mm2go migrate plan` prints and applies it.
//
// Register adds them to a connect.Registry. Each connector parses its
// connect.Props (MM2 property names) once in Start into a typed config
// (ParseSourceConfig).
package connectors
