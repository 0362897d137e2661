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
//	            │   (RequestReconfiguration: TaskConfigs again; changed props
//	            │    go to Reconfigure, or restart the task)
//	            └─ per task, one runner goroutine:
//	                 Start → Poll → produce → (acks) → commit offsets → … → Poll
//	                 a refused record: its partition pauses, retries, resumes
//	                 ctx cancelled: stop polling → commit → flush → commit → Stop
//	                 task failed: FAILED, restarted after a capped backoff
//
// Cancelling Run's ctx is a graceful stop. It has one deadline,
// WorkerConfig.ShutdownTimeout after the cancel, for the whole worker: every
// task commits what the target acknowledged, flushes its producers, commits
// again and stops, and then every connector stops, all by that deadline.
// The clients of a task, a connector and the offset store live in a
// context (kgo.WithContext) that ends at that deadline, so that what still
// waits for a broker that does not answer gives up then, and closing them
// takes no time. A task stopped alone (a reconfiguration) has
// ShutdownTimeout of its own. Run returns after every goroutine it started
// has exited.
//
// # Offsets and acknowledgements
//
// Each task record carries its SourcePartition handle. The worker sets the
// partition's produce context on the produced record's Context (allocated
// once per partition) and the producer's promise, called serially and in
// order per partition, pops the record's source offset from the
// partition's in-flight queue. The committed source offset is the highest
// one acknowledged with every record before it, so a commit never passes a
// record that is not on the target. A task commits every
// WorkerConfig.OffsetFlushInterval, and soon after the first records of a
// partition are acknowledged since the partition came to the task (its
// start, a new assignment, a hand-off) or its offsets started over (a
// re-created topic): such early commits cover every partition acknowledged
// by then, at most one per 500 ms. So after a crash only records after the
// last commit are copied again, even from a worker killed every few
// seconds.
//
// # Failures stay local
//
// A record the target refuses (MESSAGE_TOO_LARGE, INVALID_RECORD, a policy
// or authorization error, any error the producer gives up on) stops its own
// partition at that record, in order: the producer fails what it buffered of
// the partition, the partition's produce context fails what comes after, and
// the task (PartitionPauser) stops reading it. The rest of the task's
// partitions go on. The partition is retried with capped exponential
// backoff from the refused record and resumes by itself once the target
// takes it. When the target refused a batch of several records, the retry
// sends them one at a time to find the record it refuses. Status, the REST
// task status and the metrics name each blocked partition, its source offset
// and the target's error, and the block is logged at ERROR once.
//
// Records larger than the producer's batches (producer.batch.size) are sent
// on their own through a single-record producer, in order;
// ClusterConfig.MaxRequestSize (producer.max.request.size) is the largest
// record sent at all. See block.go for how the order is kept.
//
// A task that fails (an error from Start, Poll, Reconfigure, or a refused
// record in a task without PartitionPauser) is restarted by its connector
// after a capped exponential backoff (RetryBackoffMax); Status shows it
// FAILED meanwhile, and then counts its restarts and keeps its last error
// while it runs again. A connector whose Start fails with an error that is
// not retriable (a bad config) fails, alone, until a restart request starts
// it again; when every connector of the worker failed, Run ends.
//
// # Control and the REST API
//
// Each connector follows its target state (TargetStates: in memory alone,
// the group's config topic in a group): PAUSED tasks stop polling, send and
// commit what they polled and show PAUSED, keeping their partitions;
// STOPPED connectors stop with their tasks, offsets committed, and show
// STOPPED without tasks; STARTED runs. Worker.PauseConnector,
// ResumeConnector and StopConnector set it; RestartConnector and
// RestartTask queue restarts for the connector's goroutine, shown
// RESTARTING until done (control.go). Worker.RESTHandler serves Kafka
// Connect's REST API over these, for the whole group through GroupView
// (reads fan out to the members; restarts go to the unit's worker, target
// states to the leader; a forwarded request is never forwarded again),
// with Connect's offsets API (a STOPPED connector's offsets can be changed)
// and KIP-1017's /health; ListenREST opens its listener, with TLS and a
// bearer token (rest_*.go).
//
// # Optional interfaces
//
//   - Committer: a task asked to make its own records durable just before
//     each source-offset commit.
//   - Reconfigurable: a task that takes new props without a restart.
//   - PartitionPauser: a task that can pause a source partition and read it
//     again from an offset, so that a refused record stops only its
//     partition.
//   - AckObserver: set on a SourcePartition, told of every acknowledged
//     (source offset, target offset) pair.
//   - Revoker: a connector whose tasks share out units of work (source
//     partitions) that must never have two tasks at once.
//   - TransactionListener: a task told when its transaction committed
//     (exactly-once mode).
//
// # Handing work over between tasks
//
// When new task configs move work from one task to another, the worker
// does it in two steps: every task that loses work gets the props the
// connector's Revoker returns, flushes its producer and commits, and tasks
// that go away stop (which commits); only then do the tasks get their new
// configs. A unit's new task therefore starts where the old one stopped,
// and a graceful move copies nothing twice.
//
// # Stored values
//
// A source offset's value may carry fields beside "offset" (MirrorSource
// stores the source topic's ID): see OffsetValue and
// SourcePartition.SetOffsetFields. A task whose source log starts over
// calls SourcePartition.RestartOffsets (or ForgetOffsets for one that is
// gone): the worker then stores the lower offsets, once the records handed
// over before are acknowledged, and commits at once.
//
// The package connecttest is a test kit for all of this: a scripted fake
// connector and task, and helpers that run a Worker against in-process fake
// clusters.
//
// # Metrics
//
// Worker.Collector exports mm2go's own series and the ones of MM2, Kafka
// Connect and the Java clients under the names Strimzi's JMX-exporter rules
// give them (see metrics.go). Tasks feed the per-partition series through
// their SourcePartition handles: ExportMetrics names a partition (MM2's
// MirrorSourceConnector or MirrorCheckpointConnector series), ObserveFetch
// gives the source's high watermark per fetched partition, StopMetrics ends
// them. The runner records per run of records it hands to the producer and
// per ack, under the partition's lock, without allocating. Every client a
// task or connector opens carries a kgo hook that counts its traffic and
// tells the owner whether the cluster answers: a task that gets no answer
// from one of its clusters for WorkerConfig.UnreachableAfter is UNREACHABLE.
//
// # Worker groups
//
// Worker.RunGroup runs a worker as one member of a group (package group):
// workers with the same specs share the units, each connector
// ("A->B/Name", ConnectorUnit) and each task slot up to tasks.max
// ("A->B/Name/0", TaskUnit). The member that owns a connector starts it and
// writes its task configs to the group's config topic (ConfigTopic, one
// compacted partition on the group's cluster), keyed by the configuration
// fingerprint's hash, after giving the connector the configs written before
// (TaskConfigHistory); the member that owns a task reads its config there,
// reads the committed source offsets again (its previous owner may have
// committed since) and runs it, restarting it when its config changes.
// Each member follows group's sequence: revoked units stop and commit while
// Member.Owns holds, fenced ones stop at once, and both are released. Every
// source-offset commit checks Owns first and is bounded by its lease, so a
// worker that lost a task never commits over its new owner. A task stopped
// with its last commit refused (the worker lost its lease: the target,
// where the group lives, was away) leaves what the target acknowledged,
// and what its Committer would write first (CommitCarrier), to the
// worker, which commits it if the task comes back to it and nobody
// committed its partitions meanwhile (carry.go). Target states
// (TargetStates) and the state of every unit, with the worker running it,
// are records of the same topic, so Status and GroupView answer for the
// whole group. Control requests work as alone: every member registers
// every connector, shows its task configs from the topic, pauses the
// tasks it runs in place while their connector's target state is PAUSED
// and stops them while it is STOPPED; a restart request is handed, through
// the member's reconcile loop, to the run of each unit it names, which
// answers once it runs again (groupunits.go). The member's rebalances feed
// Connect's connect-worker-rebalance-metrics.
//
// # Exactly-once
//
// With HerderConfig.ExactlyOnce (exactly.once.source.support=enabled) a
// task writes in transactions on the target, as KIP-618's Connect does
// (txn.go): its records, their source offsets and what the task writes
// about them (TaskContext.TransactionalProducer: MirrorSource's offset
// index and target-side offset syncs) commit together or not at all, so
// a read_committed consumer of the target sees each record once whatever
// happens to the worker. Task t of connector c has the stable
// transactional id "<group.id>-<c>-<t>" (TransactionalID; MM2's group.id
// is "<source>-mm2"); a task that starts initializes it, which fences every
// earlier producer with it (a killed or frozen worker's, another worker's
// in a group, Java MM2's) and aborts its open transaction, then reads the
// offsets topic to its end, waiting for open transactions
// (kread.UntilWritten), and starts from what is committed there. A
// transaction ends at its boundary (transaction.boundary=poll, or
// interval: transaction.boundary.interval.ms, by default the flush
// interval capped at 1s, or transaction.boundary.max.bytes; a task caught
// up with its source commits at once, at most every 100ms). One that
// cannot commit is aborted and the task starts again in place from its
// committed offsets (a refused record still stops only its partition,
// whose retries go alone in transactions of their own). A paused task,
// one that gives work up (revoke) and one that stops commit their open
// transaction first. In a group no task fences or commits without its
// lease, and the worker that runs a connector fences the tasks whose
// configs change before it writes them (a generation fence), so work
// moves between tasks only through committed offsets. Before the offsets
// API changes a stopped connector's offsets it fences the transactional ids
// of all of its tasks, as Connect's zombie fencing does, and writes the
// offsets in one transaction of task 0's id (rest_offsets_eos.go).
//
// # Errors
//
// Retriable marks an error worth retrying; IsRetriable is the one place that
// decides. A fatal error fails its task (which is restarted) or connector,
// which is logged and shown by Worker.Status; other flows go on.
package connect
