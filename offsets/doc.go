// Package offsets holds MirrorMaker 2's wire formats for the three kinds of
// record MM2 keeps in its internal topics, encoded byte for byte as Java MM2
// writes them, so that mm2go and Java MM2 can read each other's topics:
//
//   - [Heartbeat]: written by the heartbeat connector to "heartbeats" on the
//     target cluster (always "heartbeats", whatever the separator) and
//     replicated downstream from there as "<source>.heartbeats",
//     "<source2>.<source>.heartbeats" and so on.
//   - [Checkpoint]: written by the checkpoint connector to
//     "<source>.checkpoints.internal" on the target cluster: a consumer
//     group's committed source offset and its translation to the target.
//   - [OffsetSync]: written by source tasks to
//     "mm2-offset-syncs.<target>.internal" on the source cluster by default
//     (with offset-syncs.topic.location=target, to
//     "mm2-offset-syncs.<source>.internal" on the target): pairs of upstream
//     and downstream offsets from which checkpoints are translated.
//
// All three topics are compacted, have one partition, and MM2 writes only to
// partition 0. The topic names above use the default separator "."; the
// replication policy decides the actual names.
//
// # Exact translation
//
// Beside MM2's sparse offset syncs, mm2go's source tasks keep an exact
// translation index: an [IndexEntry] in "mm2go-offset-index.<source>.internal"
// on the target ([IndexTopic]) wherever a partition's offset shift changes. A
// [ShiftTracker] decides both the syncs (by MM2's rules) and the entries from
// the acknowledged records; [LoadIndex] reads the index back and
// [Index.Translate] translates any upstream offset still on the target
// exactly. The Index doc gives its rules and how large it grows.
//
// # For Go services
//
// [TranslateGroup] says, per partition, where a consumer group resumes on
// the target (exact or not, and how much is left to replicate), and
// [CommitTranslated] commits that to the target group only if it has no
// active members and never backwards: what MM2's RemoteClusterUtils offers,
// made exact. [Client] answers MirrorClient's questions (heartbeat and
// checkpoint topics, upstream clusters, replication hops, latest
// heartbeats), and [ReadCheckpoints] reads a group's MM2 checkpoints.
//
// Failover and migration build on those:
//
//   - With the source down, [TranslateRequest].FromTarget translates a
//     group's last checkpoints ([CheckpointStore]) again with the index,
//     from the target alone; [ProbeCluster] is the bounded check that tells
//     whether the source answers. Each [PartitionTranslation] says its
//     [Basis], the checkpoint's time and what is not known.
//   - [TranslateGroupBack] (with [Index.TranslateBack]) is fail-back: a
//     group's offsets on the flow's target, translated back to its source.
//   - [Cutover] moves groups from the source to the target step by step
//     (ready, caught-up, committed), recording each step in
//     [CutoverTopic] on the target so that an interrupted cut-over resumes.
//
// # Encoding
//
// Keys and values use the Kafka protocol Struct encoding, not JSON or a
// Connect converter: fields in schema order with no tags, padding or
// lengths; INT16, INT32 and INT64 big-endian two's complement; STRING an
// INT16 byte length followed by that many bytes, not nullable and at most
// [MaxStringLen] bytes. Heartbeat and Checkpoint values begin with an INT16
// version, always 0; OffsetSync values and all keys have none.
//
// Each record type has append-style encoders (AppendKey, AppendValue) so a
// hot path can reuse its buffers, and Key and Value for convenience. Strings
// are written as their raw bytes; the only encode error is a string longer
// than MaxStringLen.
//
// # Decoding
//
// DecodeHeartbeat, DecodeCheckpoint and DecodeOffsetSync parse fields in
// order and, like Java, ignore any bytes after the last field, so records
// from a later MM2 that appends fields still decode. They refuse a value
// whose version is not 0 with an [*UnsupportedVersionError] (Java parses it
// as version 0 without checking). Truncated input and negative string
// lengths are errors that wrap [ErrTruncated] or [ErrNegativeLength] and
// name the record part and field, for example
// "decode checkpoint value: upstream offset: truncated". The decoders never
// panic, whatever the input; callers reading MM2's topics should skip records
// that fail to decode, as Java's readers do.
package offsets
