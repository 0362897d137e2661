package offsets

import "encoding/binary"

// Heartbeat is a record of MM2's heartbeats topic. The heartbeat connector of
// the herder source->target emits one every emit.heartbeats.interval.seconds
// to the topic "heartbeats" on the target; source connectors then replicate
// it downstream like any topic, so its presence in "<src>.heartbeats" shows
// that replication from src is alive and lets tools discover the path.
//
// Key: sourceClusterAlias STRING, targetClusterAlias STRING.
// Value: version INT16 (0), timestamp INT64.
type Heartbeat struct {
	// SourceClusterAlias is the alias of the herder's source cluster.
	SourceClusterAlias string
	// TargetClusterAlias is the alias of the herder's target cluster.
	TargetClusterAlias string
	// Timestamp is the emission time in milliseconds since the Unix epoch;
	// MM2 also uses it as the record timestamp.
	Timestamp int64
}

// AppendKey appends the record key of h to dst and returns the extended
// slice. It fails only when an alias is longer than [MaxStringLen] bytes, and
// then returns dst unchanged.
func (h Heartbeat) AppendKey(dst []byte) ([]byte, error) {
	n := len(dst)
	dst, err := appendString(dst, h.SourceClusterAlias, "heartbeat key", "source cluster alias")
	if err == nil {
		dst, err = appendString(dst, h.TargetClusterAlias, "heartbeat key", "target cluster alias")
	}
	if err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// AppendValue appends the record value of h (version 0) to dst and returns
// the extended slice. It never fails; the error is there for symmetry with
// the other records.
func (h Heartbeat) AppendValue(dst []byte) ([]byte, error) {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	return binary.BigEndian.AppendUint64(dst, uint64(h.Timestamp)), nil
}

// Key returns the record key of h in a new slice; see AppendKey.
func (h Heartbeat) Key() ([]byte, error) {
	return h.AppendKey(make([]byte, 0, 4+len(h.SourceClusterAlias)+len(h.TargetClusterAlias)))
}

// Value returns the record value of h in a new slice; see AppendValue.
func (h Heartbeat) Value() ([]byte, error) { return h.AppendValue(make([]byte, 0, 10)) }

// DecodeHeartbeat parses a heartbeat record's key and value. Bytes after the
// last field of either are ignored, as Java does. A truncated field or a
// negative string length is an error wrapping [ErrTruncated] or
// [ErrNegativeLength]; a value version other than 0 is an
// [*UnsupportedVersionError]. Strings keep their raw bytes, even when those
// are not valid UTF-8.
func DecodeHeartbeat(key, value []byte) (Heartbeat, error) {
	var h Heartbeat
	d := decoder{b: key, what: "heartbeat key"}
	h.SourceClusterAlias = d.string("source cluster alias")
	h.TargetClusterAlias = d.string("target cluster alias")
	if d.err != nil {
		return Heartbeat{}, d.err
	}
	d = decoder{b: value, what: "heartbeat value"}
	d.version("heartbeat")
	h.Timestamp = d.int64("timestamp")
	if d.err != nil {
		return Heartbeat{}, d.err
	}
	return h, nil
}
