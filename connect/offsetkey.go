package connect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// This file writes and reads source offsets in the Kafka Connect offsets
// topic exactly as a Java Connect worker running MM2 does: JsonConverter with
// schemas.enable=false, serialised by Jackson in compact form. The key of a
// record is the JSON array [namespace, partitionMap], where the namespace is
// the connector name; the value is the offset map, which for MM2 is always
// {"offset":N}. A null value deletes the key.
//
// Java looks stored offsets up by the exact bytes of the key it serialises
// itself, so AppendOffsetKey must reproduce Jackson byte for byte: no
// whitespace, fields in the order Java's HashMap iterates them (which the
// caller supplies), and Jackson's escaping. Parsing is tolerant instead, so
// keys written by other tools can still be read.

// OffsetField is one entry of a Connect source-partition map; Str is used
// unless IsInt.
type OffsetField struct {
	// Name is the map key, such as "topic".
	Name string
	// Str is the value when IsInt is false.
	Str string
	// Int is the value when IsInt is true.
	Int int64
	// IsInt makes the value the JSON number Int rather than the string Str.
	IsInt bool
}

// StrField returns a string-valued OffsetField.
func StrField(name, v string) OffsetField { return OffsetField{Name: name, Str: v} }

// IntField returns an integer-valued OffsetField.
func IntField(name string, v int64) OffsetField { return OffsetField{Name: name, Int: v, IsInt: true} }

// AppendOffsetKey appends the Connect offsets-topic key
// [namespace,{fields...}] to dst in compact Jackson form and returns the
// extended slice. Fields are written in the order given, which must be the
// order Java's HashMap iterates them for the key to match Java's bytes (see
// MirrorSourceOffsetKey, MirrorCheckpointOffsetKey and
// MirrorHeartbeatOffsetKey). Strings are escaped as Jackson does: '"', '\'
// and control characters only (\b \t \n \f \r in short form, the others as
// \u00XX with upper-case hex); other characters, including non-ASCII and
// '<', '>', '&', are written as raw UTF-8. Bytes that are not valid UTF-8
// are written as U+FFFD, one per invalid byte, since Java strings cannot
// hold them. AppendOffsetKey does not allocate when dst has room.
func AppendOffsetKey(dst []byte, namespace string, fields ...OffsetField) []byte {
	dst = append(dst, '[')
	dst = appendJSONString(dst, namespace)
	dst = append(dst, ",{"...)
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, ':')
		if f.IsInt {
			dst = strconv.AppendInt(dst, f.Int, 10)
		} else {
			dst = appendJSONString(dst, f.Str)
		}
	}
	return append(dst, "}]"...)
}

// OffsetKey returns the Connect offsets-topic key for namespace and fields in
// a new slice; see AppendOffsetKey.
func OffsetKey(namespace string, fields ...OffsetField) []byte {
	n := len(namespace) + 8
	for _, f := range fields {
		n += len(f.Name) + len(f.Str) + 24
	}
	return AppendOffsetKey(make([]byte, 0, n), namespace, fields...)
}

// MirrorSourceOffsetKey returns the key under which MM2's source connector,
// named connector (MirrorSourceConnector under the dedicated MM2 driver),
// stores the offset of one source partition:
// [connector,{"cluster":cluster,"partition":partition,"topic":topic}], with
// cluster the source cluster alias and topic the source topic name.
func MirrorSourceOffsetKey(connector, cluster, topic string, partition int32) []byte {
	return OffsetKey(connector,
		StrField("cluster", cluster),
		IntField("partition", int64(partition)),
		StrField("topic", topic))
}

// MirrorCheckpointOffsetKey returns the key under which MM2's checkpoint
// connector, named connector (MirrorCheckpointConnector under the dedicated
// MM2 driver), stores its offset for a group and target-side partition:
// [connector,{"partition":partition,"topic":topic,"group":group}]. The field
// order is Java's HashMap order, not alphabetical.
func MirrorCheckpointOffsetKey(connector, group, topic string, partition int32) []byte {
	return OffsetKey(connector,
		IntField("partition", int64(partition)),
		StrField("topic", topic),
		StrField("group", group))
}

// MirrorHeartbeatOffsetKey returns the key under which MM2's heartbeat
// connector, named connector (MirrorHeartbeatConnector under the dedicated
// MM2 driver), stores its offset:
// [connector,{"sourceClusterAlias":source,"targetClusterAlias":target}].
func MirrorHeartbeatOffsetKey(connector, source, target string) []byte {
	return OffsetKey(connector,
		StrField("sourceClusterAlias", source),
		StrField("targetClusterAlias", target))
}

// AppendOffsetValue appends the Connect offsets-topic value {"offset":N} to
// dst, with fields after the offset ({"offset":N,"topicId":"..."}), and
// returns the extended slice. Java MM2 reads only "offset" and ignores the
// other fields of the map (MirrorUtils.unwrapOffset).
func AppendOffsetValue(dst []byte, offset int64, fields ...OffsetField) []byte {
	dst = append(dst, `{"offset":`...)
	dst = strconv.AppendInt(dst, offset, 10)
	for _, f := range fields {
		dst = append(dst, ',')
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, ':')
		if f.IsInt {
			dst = strconv.AppendInt(dst, f.Int, 10)
		} else {
			dst = appendJSONString(dst, f.Str)
		}
	}
	return append(dst, '}')
}

// OffsetValue is a source offset as the Connect offsets topic stores it: the
// "offset" of the value map and the map's other fields, such as the source
// topic ID that MirrorSource keeps beside the offset.
type OffsetValue struct {
	Offset int64
	// Fields are the other string or integer fields, in stored order.
	Fields []OffsetField
}

// Field returns the field called name.
func (v OffsetValue) Field(name string) (OffsetField, bool) {
	for _, f := range v.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return OffsetField{}, false
}

const hexDigits = "0123456789ABCDEF"

// appendJSONString appends s as a JSON string escaped as Jackson escapes it.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // start of the run of bytes not yet copied
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ParseOffsetKey parses a Connect offsets-topic key [namespace,{...}]. It is
// tolerant where JSON allows variation: any whitespace, any field order
// (fields are returned in the order they appear), any escaping. Field values
// must be strings or integers that fit in an int64; anything else (floats,
// booleans, null, nested values), duplicate field names, an array of other
// than two elements, and trailing data are errors.
func ParseOffsetKey(key []byte) (namespace string, fields []OffsetField, err error) {
	namespace, fields, err = parseOffsetKey(key)
	if err != nil {
		return "", nil, fmt.Errorf("parse offset key: %w", err)
	}
	return namespace, fields, nil
}

func parseOffsetKey(key []byte) (string, []OffsetField, error) {
	d := json.NewDecoder(bytes.NewReader(key))
	d.UseNumber()
	if err := expectDelim(d, '[', "[namespace, partition]"); err != nil {
		return "", nil, err
	}
	tok, err := nextToken(d)
	if err != nil {
		return "", nil, err
	}
	namespace, ok := tok.(string)
	if !ok {
		return "", nil, fmt.Errorf("namespace is %s, want a string", describeToken(tok))
	}
	if err := expectDelim(d, '{', "partition object"); err != nil {
		return "", nil, err
	}
	var fields []OffsetField
	for d.More() {
		tok, err := nextToken(d)
		if err != nil {
			return "", nil, err
		}
		name := tok.(string) // the decoder only yields strings as object keys
		for _, f := range fields {
			if f.Name == name {
				return "", nil, fmt.Errorf("duplicate field %q", name)
			}
		}
		tok, err = nextToken(d)
		if err != nil {
			return "", nil, err
		}
		switch v := tok.(type) {
		case string:
			fields = append(fields, StrField(name, v))
		case json.Number:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return "", nil, fmt.Errorf("field %q: %s is not an int64", name, v)
			}
			fields = append(fields, IntField(name, n))
		default:
			return "", nil, fmt.Errorf("field %q is %s, want a string or an integer", name, describeToken(tok))
		}
	}
	if err := expectDelim(d, '}', "end of partition object"); err != nil {
		return "", nil, err
	}
	if d.More() {
		return "", nil, errors.New("array has more than 2 elements")
	}
	if err := expectDelim(d, ']', "end of array"); err != nil {
		return "", nil, err
	}
	if err := expectEnd(d); err != nil {
		return "", nil, err
	}
	return namespace, fields, nil
}

// ParseOffsetValue parses a Connect offsets-topic value {"offset":N}. A nil
// or empty value, or the JSON literal null, is a deleted offset: ok is false
// and err nil. Whitespace and fields other than "offset" are tolerated; a
// missing or duplicate "offset", an offset that is not an integer fitting in
// an int64, and anything but an object are errors. The compact form that
// Java and AppendOffsetValue write is parsed without allocating.
func ParseOffsetValue(v []byte) (offset int64, ok bool, err error) {
	if len(v) == 0 {
		return 0, false, nil
	}
	if n, ok := parseCompactOffsetValue(v); ok {
		return n, true, nil
	}
	offset, ok, err = parseOffsetValue(v, nil)
	if err != nil {
		return 0, false, fmt.Errorf("parse offset value: %w", err)
	}
	return offset, ok, nil
}

// ParseOffsetValueFields is ParseOffsetValue that also returns the value's
// other fields whose values are strings or integers that fit in an int64;
// fields of other types are skipped, as ParseOffsetValue skips them.
func ParseOffsetValueFields(v []byte) (value OffsetValue, ok bool, err error) {
	if len(v) == 0 {
		return OffsetValue{}, false, nil
	}
	if n, ok := parseCompactOffsetValue(v); ok {
		return OffsetValue{Offset: n}, true, nil
	}
	var fields []OffsetField
	offset, ok, err := parseOffsetValue(v, &fields)
	if err != nil {
		return OffsetValue{}, false, fmt.Errorf("parse offset value: %w", err)
	}
	if !ok {
		return OffsetValue{}, false, nil
	}
	return OffsetValue{Offset: offset, Fields: fields}, true, nil
}

// parseCompactOffsetValue parses v without allocating when it is exactly
// what AppendOffsetValue (and Java) writes: {"offset":N} with N a JSON
// integer in int64 range. Anything else is left to parseOffsetValue.
func parseCompactOffsetValue(v []byte) (int64, bool) {
	const prefix = `{"offset":`
	if len(v) < len(prefix)+2 || string(v[:len(prefix)]) != prefix || v[len(v)-1] != '}' {
		return 0, false
	}
	num := v[len(prefix) : len(v)-1]
	digits := num
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	return n, err == nil
}

// parseOffsetValue parses a value that is not in compact form. With fields
// non-nil it appends the other string and integer fields to it.
func parseOffsetValue(v []byte, fields *[]OffsetField) (int64, bool, error) {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	tok, err := nextToken(d)
	if err != nil {
		return 0, false, err
	}
	if tok == nil {
		return 0, false, expectEnd(d)
	}
	if tok != json.Delim('{') {
		return 0, false, fmt.Errorf("got %s, want an object", describeToken(tok))
	}
	var (
		offset int64
		found  bool
	)
	for d.More() {
		tok, err := nextToken(d)
		if err != nil {
			return 0, false, err
		}
		if name := tok.(string); name != "offset" { // the decoder only yields strings as object keys
			var other json.RawMessage
			if err := d.Decode(&other); err != nil {
				return 0, false, err
			}
			if fields != nil {
				if f, ok := otherField(name, other); ok {
					*fields = append(*fields, f)
				}
			}
			continue
		}
		if found {
			return 0, false, errors.New(`duplicate field "offset"`)
		}
		tok, err = nextToken(d)
		if err != nil {
			return 0, false, err
		}
		n, isNum := tok.(json.Number)
		if !isNum {
			return 0, false, fmt.Errorf("offset is %s, want an integer", describeToken(tok))
		}
		offset, err = strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("offset %s is not an int64", n)
		}
		found = true
	}
	if err := expectDelim(d, '}', "end of object"); err != nil {
		return 0, false, err
	}
	if err := expectEnd(d); err != nil {
		return 0, false, err
	}
	if !found {
		return 0, false, errors.New(`no "offset" field`)
	}
	return offset, true, nil
}

// otherField returns a value's field other than "offset" when its value is a
// string or an integer that fits in an int64.
func otherField(name string, raw json.RawMessage) (OffsetField, bool) {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return StrField(name, str), true
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return IntField(name, n), true
	}
	return OffsetField{}, false
}

// nextToken is d.Token with a premature end of input reported as
// io.ErrUnexpectedEOF.
func nextToken(d *json.Decoder) (json.Token, error) {
	tok, err := d.Token()
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	return tok, err
}

func expectDelim(d *json.Decoder, want json.Delim, what string) error {
	tok, err := nextToken(d)
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("got %s, want %s", describeToken(tok), what)
	}
	return nil
}

// expectEnd checks that nothing but whitespace follows the parsed value.
func expectEnd(d *json.Decoder) error {
	tok, err := d.Token()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("trailing data: %s", describeToken(tok))
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case string:
		return "a string"
	case json.Number:
		return "the number " + string(v)
	case json.Delim:
		return strconv.Quote(v.String())
	default:
		return fmt.Sprintf("%v", v)
	}
}
