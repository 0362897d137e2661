// Package inspect reads how far a flow's copy is, from the clusters alone:
// what `mm2go status` and `mm2go verify` show, and what a cut-over script or
// a Go service asks before it moves consumers to the target.
//
//   - [Inspector.Status]: per source partition, the records not yet
//     confirmed on the target and the age of the oldest of them (what a
//     failover now would lose), records the source deleted before they were
//     copied, and whether the copy moves; per consumer group, its last
//     checkpoint, its lag on the target and whether its target offsets are
//     synced. It reads the source's offsets, the Connect offsets topic on
//     the target (the committed source offsets of the flow's source tasks),
//     the checkpoints topic and mm2go's offset index, and, given one, a
//     worker's REST status ([FetchWorkerStatus]) for why a copy stopped.
//   - [WaitCaughtUp]: polls Status until every partition is within a
//     number of records of its source, or the context ends.
//   - [Inspector.Verify]: compares, partition by partition, the records both
//     clusters still hold, matched record by record through the offset
//     index (source offset -> exact target offset), and reports missing,
//     extra and differing records with their offsets.
//
// A [Flow] names the clusters and the flow's settings; [FlowFromFile] reads
// it from a flow file. inspect only reads: it never writes to a cluster.
//
// # What the numbers mean
//
// The worker commits a partition's source offset (the last record the target
// acknowledged with every record before it) every offset.flush.interval.ms,
// so a running copy is confirmed up to one interval behind what it has
// written: Status counts such records as behind, which errs on the side of
// a failover losing less than it says. Records behind are counted from the
// source offsets, without the transaction markers and compaction gaps that
// the read of the oldest uncopied records sees; beyond that read, offsets
// are counted (PartitionStatus.RecordsBehindExact says which).
package inspect
