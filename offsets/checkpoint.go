package offsets

import "encoding/binary"

// Checkpoint is a record of MM2's checkpoints topic,
// "<source>.checkpoints.internal" on the target cluster. The checkpoint
// connector emits one per consumer group and partition: the group's committed
// offset on the source and that offset translated to the target.
//
// Key: group STRING, topic STRING, partition INT32.
// Value: version INT16 (0), upstreamOffset INT64, offset INT64, metadata STRING.
type Checkpoint struct {
	// ConsumerGroupID is the consumer group, named as on the source.
	ConsumerGroupID string
	// Topic is the target-side (already renamed) topic, such as "A.orders".
	Topic string
	// Partition is the partition, the same on both sides.
	Partition int32
	// UpstreamOffset is the group's committed offset on the source.
	UpstreamOffset int64
	// DownstreamOffset is UpstreamOffset translated to the target topic; MM2
	// names it "offset".
	DownstreamOffset int64
	// Metadata is the metadata of the source commit, "" when there is none.
	Metadata string
}

// AppendKey appends the record key of c to dst and returns the extended
// slice. It fails only when the group or topic is longer than [MaxStringLen]
// bytes, and then returns dst unchanged.
func (c Checkpoint) AppendKey(dst []byte) ([]byte, error) {
	n := len(dst)
	dst, err := appendString(dst, c.ConsumerGroupID, "checkpoint key", "group")
	if err == nil {
		dst, err = appendString(dst, c.Topic, "checkpoint key", "topic")
	}
	if err != nil {
		return dst[:n], err
	}
	return binary.BigEndian.AppendUint32(dst, uint32(c.Partition)), nil
}

// AppendValue appends the record value of c (version 0) to dst and returns
// the extended slice. It fails only when Metadata is longer than
// [MaxStringLen] bytes, and then returns dst unchanged.
func (c Checkpoint) AppendValue(dst []byte) ([]byte, error) {
	n := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(c.UpstreamOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(c.DownstreamOffset))
	dst, err := appendString(dst, c.Metadata, "checkpoint value", "metadata")
	if err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// Key returns the record key of c in a new slice; see AppendKey.
func (c Checkpoint) Key() ([]byte, error) {
	return c.AppendKey(make([]byte, 0, 8+len(c.ConsumerGroupID)+len(c.Topic)))
}

// Value returns the record value of c in a new slice; see AppendValue.
func (c Checkpoint) Value() ([]byte, error) {
	return c.AppendValue(make([]byte, 0, 20+len(c.Metadata)))
}

// DecodeCheckpoint parses a checkpoint record's key and value. Bytes after
// the last field of either are ignored, as Java does. A truncated field or a
// negative string length is an error wrapping [ErrTruncated] or
// [ErrNegativeLength]; a value version other than 0 is an
// [*UnsupportedVersionError]. Strings keep their raw bytes, even when those
// are not valid UTF-8.
func DecodeCheckpoint(key, value []byte) (Checkpoint, error) {
	var c Checkpoint
	d := decoder{b: key, what: "checkpoint key"}
	c.ConsumerGroupID = d.string("group")
	c.Topic = d.string("topic")
	c.Partition = d.int32("partition")
	if d.err != nil {
		return Checkpoint{}, d.err
	}
	d = decoder{b: value, what: "checkpoint value"}
	d.version("checkpoint")
	c.UpstreamOffset = d.int64("upstream offset")
	c.DownstreamOffset = d.int64("downstream offset")
	c.Metadata = d.string("metadata")
	if d.err != nil {
		return Checkpoint{}, d.err
	}
	return c, nil
}
