// Package connect is mm2go's worker runtime: a small Kafka Connect-like
// engine that runs source connectors and their tasks between Kafka clusters.
//
// # Model
//
// A Connector (MirrorSource, MirrorCheckpoint, MirrorHeartbeat) splits a job
// into task configs; a SourceTask polls records that the worker produces to
// the connector's target cluster. Connectors are grouped by herder, the
// source->target pair of a flow, as in MM2: each herder stores its source
// offsets on the target in the Connect offsets topic
// mm2-offsets.<source>.internal, byte for byte in Connect's format, so a
// worker resumes from what Java MM2 wrote and the reverse.
//
// # Lifecycle
//
//	Worker.Run
//	  └─ per herder: open the source-offset store (retry while unreachable)
//	       └─ per connector: Start (retry retriable errors) → TaskConfigs
//	            └─ per task, one runner goroutine:
//	                 Start → Poll → produce → (acks) → commit offsets → … → Poll
//	                 ctx cancelled: stop polling → flush producer → commit → Stop
//
// Cancelling Run's ctx is a graceful stop; WorkerConfig.ShutdownTimeout
// bounds it. Run returns after every goroutine it started has exited.
//
// # Offsets and acknowledgements
//
// Each task record carries its SourcePartition handle. The worker sets the
// handle on the produced record's Context (allocated once per partition) and
// the producer's promise, called serially and in order per partition, pops
// the record's source offset from the partition's in-flight queue. The
// committed source offset is the highest one acknowledged with every record
// before it, so a commit never passes a record that is not on the target;
// after a crash only records after the last commit are copied again.
//
// # Optional interfaces
//
//   - Committer: a task asked to make its own records durable just before
//     each source-offset commit.
//   - Reconfigurable: a task that takes new props without a restart.
//   - AckObserver: set on a SourcePartition, told of every acknowledged
//     (source offset, target offset) pair.
//
// # Errors
//
// Retriable marks an error worth retrying; IsRetriable is the one place that
// decides. A fatal error fails its task or connector, which is logged and
// shown by Worker.Status; other flows go on.
package connect
