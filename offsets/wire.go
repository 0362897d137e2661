package offsets

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxStringLen is the longest STRING field, in UTF-8 bytes, that the Kafka
// protocol Struct encoding can carry: its length prefix is a signed INT16.
const MaxStringLen = 32767

// ErrTruncated is wrapped by decode errors when the input ends before a field
// is complete, including a STRING whose length prefix claims more bytes than
// remain.
var ErrTruncated = errors.New("truncated")

// ErrNegativeLength is wrapped by decode errors when a STRING length prefix is
// negative. MM2 strings are not nullable, so Java never writes one.
var ErrNegativeLength = errors.New("negative string length")

// ErrStringTooLong is wrapped by encode errors when a string field is longer
// than [MaxStringLen] bytes; Java's Struct writer refuses such a string too.
var ErrStringTooLong = errors.New("string too long")

// UnsupportedVersionError is returned by DecodeHeartbeat and DecodeCheckpoint
// when a value's header carries a version other than 0, the only version MM2
// has defined. Java parses any version as version 0 (its check is a JVM
// assert); this package refuses instead of guessing at an unknown layout.
type UnsupportedVersionError struct {
	// Record is the kind of record: "heartbeat" or "checkpoint".
	Record string
	// Version is the version found in the value header.
	Version int16
}

// Error implements error.
func (e *UnsupportedVersionError) Error() string {
	return fmt.Sprintf("decode %s value: unsupported version %d", e.Record, e.Version)
}

// appendString appends s as a STRING: an INT16 byte length, then the bytes.
// what and field name the record part and field for the error.
func appendString(dst []byte, s, what, field string) ([]byte, error) {
	if len(s) > MaxStringLen {
		return dst, fmt.Errorf("encode %s: %s: %w: %d bytes, max %d", what, field, ErrStringTooLong, len(s), MaxStringLen)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...), nil
}

// decoder reads Struct fields in order from b. The first failure is kept in
// err and makes every later read a no-op returning the zero value, so a
// record decoder can read all its fields and check err once.
type decoder struct {
	b    []byte
	what string // "checkpoint value", for errors
	err  error
}

func (d *decoder) fail(field string, cause error) {
	d.err = fmt.Errorf("decode %s: %s: %w", d.what, field, cause)
}

func (d *decoder) int16(field string) int16 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 2 {
		d.fail(field, ErrTruncated)
		return 0
	}
	v := int16(binary.BigEndian.Uint16(d.b))
	d.b = d.b[2:]
	return v
}

func (d *decoder) int32(field string) int32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.fail(field, ErrTruncated)
		return 0
	}
	v := int32(binary.BigEndian.Uint32(d.b))
	d.b = d.b[4:]
	return v
}

func (d *decoder) int64(field string) int64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail(field, ErrTruncated)
		return 0
	}
	v := int64(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) string(field string) string {
	if d.err != nil {
		return ""
	}
	if len(d.b) < 2 {
		d.fail(field, ErrTruncated)
		return ""
	}
	n := int(int16(binary.BigEndian.Uint16(d.b)))
	switch {
	case n < 0:
		d.err = fmt.Errorf("decode %s: %s: %w %d", d.what, field, ErrNegativeLength, n)
		return ""
	case n > len(d.b)-2:
		d.err = fmt.Errorf("decode %s: %s: %w: needs %d bytes, has %d", d.what, field, ErrTruncated, n, len(d.b)-2)
		return ""
	}
	s := string(d.b[2 : 2+n])
	d.b = d.b[2+n:]
	return s
}

// version reads the INT16 value header of a heartbeat or checkpoint and
// refuses any version but 0.
func (d *decoder) version(record string) {
	v := d.int16("version")
	if d.err == nil && v != 0 {
		d.err = &UnsupportedVersionError{Record: record, Version: v}
	}
}
