package offsets

import "encoding/binary"

// OffsetSync is a record of MM2's offset-syncs topic, by default
// "mm2-offset-syncs.<target>.internal" on the source cluster. A source task
// emits one when the shift between upstream and downstream offsets of a
// partition changes: the record at UpstreamOffset in the source partition was
// written at DownstreamOffset in the target partition. Checkpoint tasks read
// these to translate consumer-group offsets.
//
// Key: topic STRING, partition INT32. Value: upstreamOffset INT64, offset
// INT64. Unlike the other records the value has no version header.
type OffsetSync struct {
	// Topic is the source-cluster topic name, not renamed (it may itself be a
	// remote topic such as "B.t").
	Topic string
	// Partition is the partition, the same on both sides.
	Partition int32
	// UpstreamOffset is the offset of the record in the source partition.
	UpstreamOffset int64
	// DownstreamOffset is the offset at which that record was written to the
	// target partition; MM2 names it "offset".
	DownstreamOffset int64
}

// AppendKey appends the record key of s to dst and returns the extended
// slice. It fails only when the topic is longer than [MaxStringLen] bytes,
// and then returns dst unchanged.
func (s OffsetSync) AppendKey(dst []byte) ([]byte, error) {
	dst, err := appendString(dst, s.Topic, "offset sync key", "topic")
	if err != nil {
		return dst, err
	}
	return binary.BigEndian.AppendUint32(dst, uint32(s.Partition)), nil
}

// AppendValue appends the record value of s to dst and returns the extended
// slice. It never fails and does not allocate when dst has 16 bytes of spare
// capacity; the error is there for symmetry with the other records.
func (s OffsetSync) AppendValue(dst []byte) ([]byte, error) {
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.UpstreamOffset))
	return binary.BigEndian.AppendUint64(dst, uint64(s.DownstreamOffset)), nil
}

// Key returns the record key of s in a new slice; see AppendKey.
func (s OffsetSync) Key() ([]byte, error) {
	return s.AppendKey(make([]byte, 0, 6+len(s.Topic)))
}

// Value returns the record value of s in a new slice; see AppendValue.
func (s OffsetSync) Value() ([]byte, error) { return s.AppendValue(make([]byte, 0, 16)) }

// DecodeOffsetSync parses an offset-sync record's key and value. Bytes after
// the last field of either are ignored, as Java does. A truncated field or a
// negative string length is an error wrapping [ErrTruncated] or
// [ErrNegativeLength]. The topic keeps its raw bytes, even when those are not
// valid UTF-8.
func DecodeOffsetSync(key, value []byte) (OffsetSync, error) {
	var s OffsetSync
	d := decoder{b: key, what: "offset sync key"}
	s.Topic = d.string("topic")
	s.Partition = d.int32("partition")
	if d.err != nil {
		return OffsetSync{}, d.err
	}
	d = decoder{b: value, what: "offset sync value"}
	s.UpstreamOffset = d.int64("upstream offset")
	s.DownstreamOffset = d.int64("downstream offset")
	if d.err != nil {
		return OffsetSync{}, d.err
	}
	return s, nil
}
