package connect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"testing"

	"github.com/mm2go/mm2go/connect"
	"github.com/twmb/franz-go/pkg/kgo"
	"pgregory.net/rapid"
)

// Exact strings from spec/mm2-compat.md §3.
func TestOffsetKey_SpecStrings(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"source", connect.MirrorSourceOffsetKey("MirrorSourceConnector", "A", "t", 0),
			`["MirrorSourceConnector",{"cluster":"A","partition":0,"topic":"t"}]`},
		{"source us-west", connect.MirrorSourceOffsetKey("MirrorSourceConnector", "us-west", "orders", 3),
			`["MirrorSourceConnector",{"cluster":"us-west","partition":3,"topic":"orders"}]`},
		{"checkpoint", connect.MirrorCheckpointOffsetKey("MirrorCheckpointConnector", "g1", "A.t", 0),
			`["MirrorCheckpointConnector",{"partition":0,"topic":"A.t","group":"g1"}]`},
		{"heartbeat", connect.MirrorHeartbeatOffsetKey("MirrorHeartbeatConnector", "A", "B"),
			`["MirrorHeartbeatConnector",{"sourceClusterAlias":"A","targetClusterAlias":"B"}]`},
		{"source via OffsetKey", connect.OffsetKey("MirrorSourceConnector",
			connect.StrField("cluster", "A"), connect.IntField("partition", 0), connect.StrField("topic", "t")),
			`["MirrorSourceConnector",{"cluster":"A","partition":0,"topic":"t"}]`},
		{"checkpoint via OffsetKey", connect.OffsetKey("MirrorCheckpointConnector",
			connect.IntField("partition", 0), connect.StrField("topic", "A.t"), connect.StrField("group", "g1")),
			`["MirrorCheckpointConnector",{"partition":0,"topic":"A.t","group":"g1"}]`},
		{"heartbeat via OffsetKey", connect.OffsetKey("MirrorHeartbeatConnector",
			connect.StrField("sourceClusterAlias", "A"), connect.StrField("targetClusterAlias", "B")),
			`["MirrorHeartbeatConnector",{"sourceClusterAlias":"A","targetClusterAlias":"B"}]`},
		{"custom connector name", connect.MirrorSourceOffsetKey("mm2-a-to-b", "a", "x.y", 2147483647),
			`["mm2-a-to-b",{"cluster":"a","partition":2147483647,"topic":"x.y"}]`},
		{"no fields", connect.OffsetKey("ns"), `["ns",{}]`},
		{"negative int", connect.OffsetKey("ns", connect.IntField("n", math.MinInt64)), `["ns",{"n":-9223372036854775808}]`},
		{"value 1234", connect.AppendOffsetValue(nil, 1234), `{"offset":1234}`},
		{"value 0", connect.AppendOffsetValue(nil, 0), `{"offset":0}`},
		{"value -1", connect.AppendOffsetValue(nil, -1), `{"offset":-1}`},
		{"value max", connect.AppendOffsetValue(nil, math.MaxInt64), `{"offset":9223372036854775807}`},
		{"value appends", connect.AppendOffsetValue([]byte("x"), 7), `x{"offset":7}`},
		{"key appends", connect.AppendOffsetKey([]byte("x"), "ns", connect.StrField("a", "b")), `x["ns",{"a":"b"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Fatalf("got  %s\nwant %s", tc.got, tc.want)
			}
		})
	}
}

// TestOffsetKey_Murmur2Partition checks the spec §3 vectors: the partition
// of the offsets topic (25 partitions) that Java's default partitioner picks
// for each key, using franz-go's Kafka-compatible murmur2 partitioner.
func TestOffsetKey_Murmur2Partition(t *testing.T) {
	tests := []struct {
		name      string
		key       []byte
		wantLen   int
		wantHash  uint32 // murmur2 of the key, as in the spec
		wantIn25  int
		wantBytes string
	}{
		{"source", connect.MirrorSourceOffsetKey("MirrorSourceConnector", "A", "t", 0), 67, 0x8408a780, 7,
			`["MirrorSourceConnector",{"cluster":"A","partition":0,"topic":"t"}]`},
		{"checkpoint", connect.MirrorCheckpointOffsetKey("MirrorCheckpointConnector", "g1", "A.t", 0), 72, 0x63159f16, 16,
			`["MirrorCheckpointConnector",{"partition":0,"topic":"A.t","group":"g1"}]`},
		{"heartbeat", connect.MirrorHeartbeatOffsetKey("MirrorHeartbeatConnector", "A", "B"), 80, 0x454ff714, 0,
			`["MirrorHeartbeatConnector",{"sourceClusterAlias":"A","targetClusterAlias":"B"}]`},
		{"source us-west orders", connect.MirrorSourceOffsetKey("MirrorSourceConnector", "us-west", "orders", 3), 78, 0xfec483ca, 10,
			`["MirrorSourceConnector",{"cluster":"us-west","partition":3,"topic":"orders"}]`},
	}
	p := kgo.StickyKeyPartitioner(nil).ForTopic("x")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.key) != tc.wantBytes || len(tc.key) != tc.wantLen {
				t.Fatalf("key = %s (%d bytes), want %s (%d bytes)", tc.key, len(tc.key), tc.wantBytes, tc.wantLen)
			}
			r := &kgo.Record{Key: tc.key}
			if !p.RequiresConsistency(r) {
				t.Fatalf("partitioner does not hash keyed records consistently")
			}
			// With 2^31 partitions the partition is the masked hash itself.
			if got, want := p.Partition(r, 1<<31), int(tc.wantHash&0x7fffffff); got != want {
				t.Fatalf("murmur2(key) & 0x7fffffff = %#x, want %#x", got, want)
			}
			for range 3 { // sticky state must not matter for keyed records
				if got := p.Partition(r, 25); got != tc.wantIn25 {
					t.Fatalf("Partition(key, 25) = %d, want %d", got, tc.wantIn25)
				}
			}
		})
	}
}

func TestOffsetKey_Escaping(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "orders", `"orders"`},
		{"empty", "", `""`},
		{"quote", `a"b`, `"a\"b"`},
		{"backslash", `a\b`, `"a\\b"`},
		{"slash not escaped", "a/b", `"a/b"`},
		{"backspace", "\b", `"\b"`},
		{"tab", "\t", `"\t"`},
		{"newline", "\n", `"\n"`},
		{"form feed", "\f", `"\f"`},
		{"carriage return", "\r", `"\r"`},
		{"NUL", "\x00", `"\u0000"`},
		{"0x01", "\x01", `"\u0001"`},
		{"vertical tab", "\v", `"\u000B"`},
		{"0x1f upper-case hex", "\x1f", `"\u001F"`},
		{"0x1a upper-case hex", "a\x1ab", `"a\u001Ab"`},
		{"DEL not escaped", "\x7f", "\"\x7f\""},
		{"space", " ", `" "`},
		{"html not escaped", "<a&b>", `"<a&b>"`},
		{"non-ASCII raw", "é東京🦀", `"é東京🦀"`},
		{"U+2028 raw", "\u2028\u2029", "\"\u2028\u2029\""},
		{"invalid byte", "a\xffb", "\"a\uFFFDb\""},
		{"truncated sequence", "\xe2\x82", "\"\uFFFD\uFFFD\""},
		{"mixed", "x\"\\\n\x00é<", `"x\"\\\n\u0000é<"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(connect.OffsetKey(tc.in, connect.StrField(tc.in, tc.in)))
			want := "[" + tc.want + ",{" + tc.want + ":" + tc.want + "}]"
			if got != want {
				t.Fatalf("OffsetKey(%q, ...) = %s, want %s", tc.in, got, want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("OffsetKey(%q, ...) = %s is not valid JSON", tc.in, got)
			}
		})
	}
}

func TestParseOffsetKey(t *testing.T) {
	tests := []struct {
		name       string
		key        string
		wantNS     string
		wantFields []connect.OffsetField
	}{
		{"source", `["MirrorSourceConnector",{"cluster":"A","partition":0,"topic":"t"}]`, "MirrorSourceConnector",
			[]connect.OffsetField{connect.StrField("cluster", "A"), connect.IntField("partition", 0), connect.StrField("topic", "t")}},
		{"checkpoint order kept", `["MirrorCheckpointConnector",{"partition":0,"topic":"A.t","group":"g1"}]`, "MirrorCheckpointConnector",
			[]connect.OffsetField{connect.IntField("partition", 0), connect.StrField("topic", "A.t"), connect.StrField("group", "g1")}},
		{"whitespace and other order", " [ \"ns\" ,\n\t{ \"topic\" : \"t\" , \"partition\" : -3 , \"cluster\" : \"A\" } ]\r\n", "ns",
			[]connect.OffsetField{connect.StrField("topic", "t"), connect.IntField("partition", -3), connect.StrField("cluster", "A")}},
		{"escapes", `["n\u0073\/",{"a\"":"\b\t\n\f\r\\\u00e9\ud83e\udd80"}]`, "ns/",
			[]connect.OffsetField{connect.StrField("a\"", "\b\t\n\f\r\\é🦀")}},
		{"int64 bounds", `["ns",{"min":-9223372036854775808,"max":9223372036854775807,"zero":-0}]`, "ns",
			[]connect.OffsetField{connect.IntField("min", math.MinInt64), connect.IntField("max", math.MaxInt64), connect.IntField("zero", 0)}},
		{"no fields", `["",{}]`, "", nil},
		{"numeric string stays a string", `["ns",{"partition":"0"}]`, "ns",
			[]connect.OffsetField{connect.StrField("partition", "0")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns, fields, err := connect.ParseOffsetKey([]byte(tc.key))
			if err != nil {
				t.Fatalf("ParseOffsetKey(%s): %v", tc.key, err)
			}
			if ns != tc.wantNS || !slices.Equal(fields, tc.wantFields) {
				t.Fatalf("ParseOffsetKey(%s) = %q, %+v; want %q, %+v", tc.key, ns, fields, tc.wantNS, tc.wantFields)
			}
		})
	}
}

func TestParseOffsetKey_Errors(t *testing.T) {
	tests := []struct {
		name, key, wantMsg string
	}{
		{"empty", ``, "parse offset key: unexpected EOF"},
		{"not an array", `{"a":1}`, `parse offset key: got "{", want [namespace, partition]`},
		{"namespace number", `[1,{}]`, "parse offset key: namespace is the number 1, want a string"},
		{"namespace null", `[null,{}]`, "parse offset key: namespace is null, want a string"},
		{"partition null", `["ns",null]`, "parse offset key: got null, want partition object"},
		{"partition array", `["ns",[]]`, `parse offset key: got "[", want partition object`},
		{"one element", `["ns"]`, `parse offset key: got "]", want partition object`},
		{"three elements", `["ns",{},1]`, "parse offset key: array has more than 2 elements"},
		{"float", `["ns",{"p":1.5}]`, `parse offset key: field "p": 1.5 is not an int64`},
		{"exponent", `["ns",{"p":1e3}]`, `parse offset key: field "p": 1e3 is not an int64`},
		{"too big", `["ns",{"p":9223372036854775808}]`, `parse offset key: field "p": 9223372036854775808 is not an int64`},
		{"bool", `["ns",{"p":true}]`, `parse offset key: field "p" is true, want a string or an integer`},
		{"null value", `["ns",{"p":null}]`, `parse offset key: field "p" is null, want a string or an integer`},
		{"nested", `["ns",{"p":{}}]`, `parse offset key: field "p" is "{", want a string or an integer`},
		{"duplicate", `["ns",{"p":1,"p":2}]`, `parse offset key: duplicate field "p"`},
		{"trailing data", `["ns",{}] x`, "parse offset key: invalid character 'x' looking for beginning of value"},
		{"trailing value", `["ns",{}][]`, `parse offset key: trailing data: "["`},
		{"truncated", `["ns",{"p":1`, "parse offset key: unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns, fields, err := connect.ParseOffsetKey([]byte(tc.key))
			if err == nil {
				t.Fatalf("ParseOffsetKey(%s) = %q, %+v; want error %q", tc.key, ns, fields, tc.wantMsg)
			}
			if err.Error() != tc.wantMsg {
				t.Fatalf("ParseOffsetKey(%s) error = %q, want %q", tc.key, err, tc.wantMsg)
			}
			if ns != "" || fields != nil {
				t.Fatalf("ParseOffsetKey(%s) returned %q, %+v with an error", tc.key, ns, fields)
			}
		})
	}
}

func TestParseOffsetKey_TruncatedIsUnexpectedEOF(t *testing.T) {
	key := connect.MirrorSourceOffsetKey("MirrorSourceConnector", "A", "t", 0)
	for n := range len(key) {
		_, _, err := connect.ParseOffsetKey(key[:n])
		if err == nil {
			t.Fatalf("ParseOffsetKey(%s) succeeded, want error", key[:n])
		}
	}
	_, _, err := connect.ParseOffsetKey(key[:len(key)-1])
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ParseOffsetKey(key without ']') error = %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestOffsetKey_RoundTrip_Property checks that what AppendOffsetKey writes is
// valid JSON that ParseOffsetKey reads back unchanged.
func TestOffsetKey_RoundTrip_Property(t *testing.T) {
	field := rapid.Custom(func(t *rapid.T) connect.OffsetField {
		name := rapid.String().Draw(t, "name")
		if rapid.Bool().Draw(t, "isInt") {
			return connect.IntField(name, rapid.Int64().Draw(t, "int"))
		}
		return connect.StrField(name, rapid.String().Draw(t, "str"))
	})
	rapid.Check(t, func(t *rapid.T) {
		ns := rapid.String().Draw(t, "namespace")
		fields := rapid.SliceOfNDistinct(field, 0, 6, func(f connect.OffsetField) string { return f.Name }).Draw(t, "fields")
		key := connect.AppendOffsetKey([]byte("prefix"), ns, fields...)
		if !bytes.HasPrefix(key, []byte("prefix")) {
			t.Fatalf("AppendOffsetKey overwrote dst: %q", key)
		}
		key = key[len("prefix"):]
		if !json.Valid(key) {
			t.Fatalf("AppendOffsetKey wrote invalid JSON: %q", key)
		}
		var generic []any
		if err := json.Unmarshal(key, &generic); err != nil || len(generic) != 2 || generic[0] != ns {
			t.Fatalf("encoding/json reads %q as %v, %v; want namespace %q", key, generic, err, ns)
		}
		gotNS, gotFields, err := connect.ParseOffsetKey(key)
		if err != nil {
			t.Fatalf("ParseOffsetKey(%q): %v", key, err)
		}
		if len(fields) == 0 {
			fields = nil
		}
		if gotNS != ns || !slices.Equal(gotFields, fields) {
			t.Fatalf("ParseOffsetKey(%q) = %q, %+v; want %q, %+v", key, gotNS, gotFields, ns, fields)
		}
	})
}

func TestParseOffsetValue(t *testing.T) {
	tests := []struct {
		name    string
		value   []byte
		want    int64
		wantOK  bool
		wantMsg string
	}{
		{name: "nil is deleted", value: nil},
		{name: "empty is deleted", value: []byte{}},
		{name: "JSON null is deleted", value: []byte(" null ")},
		{name: "spec value", value: []byte(`{"offset":1234}`), want: 1234, wantOK: true},
		{name: "zero", value: []byte(`{"offset":0}`), want: 0, wantOK: true},
		{name: "negative", value: []byte(`{"offset":-1}`), want: -1, wantOK: true},
		{name: "max", value: []byte(`{"offset":9223372036854775807}`), want: math.MaxInt64, wantOK: true},
		{name: "whitespace", value: []byte(" {\n \"offset\" :\t42 }\n"), want: 42, wantOK: true},
		{name: "extra fields", value: []byte(`{"a":[1,{"b":null}],"offset":5,"z":"x"}`), want: 5, wantOK: true},
		{name: "float", value: []byte(`{"offset":1.0}`), wantMsg: "parse offset value: offset 1.0 is not an int64"},
		{name: "too big", value: []byte(`{"offset":9223372036854775808}`), wantMsg: "parse offset value: offset 9223372036854775808 is not an int64"},
		{name: "string", value: []byte(`{"offset":"5"}`), wantMsg: "parse offset value: offset is a string, want an integer"},
		{name: "null offset", value: []byte(`{"offset":null}`), wantMsg: "parse offset value: offset is null, want an integer"},
		{name: "missing", value: []byte(`{"other":1}`), wantMsg: `parse offset value: no "offset" field`},
		{name: "duplicate", value: []byte(`{"offset":1,"offset":2}`), wantMsg: `parse offset value: duplicate field "offset"`},
		{name: "array", value: []byte(`[1]`), wantMsg: `parse offset value: got "[", want an object`},
		{name: "bare number", value: []byte(`5`), wantMsg: "parse offset value: got the number 5, want an object"},
		{name: "whitespace only", value: []byte(" "), wantMsg: "parse offset value: unexpected EOF"},
		{name: "truncated", value: []byte(`{"offset":1`), wantMsg: "parse offset value: unexpected EOF"},
		{name: "trailing", value: []byte(`{"offset":1}{}`), wantMsg: `parse offset value: trailing data: "{"`},
		{name: "null then data", value: []byte(`null 1`), wantMsg: "parse offset value: trailing data: the number 1"},
		{name: "garbage", value: []byte(`offset`), wantMsg: "parse offset value: invalid character 'o' looking for beginning of value"},
		{name: "minus zero", value: []byte(`{"offset":-0}`), want: 0, wantOK: true},
		{name: "leading zero", value: []byte(`{"offset":007}`), wantMsg: "parse offset value: invalid character '0' after object key:value pair"},
		{name: "plus sign", value: []byte(`{"offset":+5}`), wantMsg: "parse offset value: invalid character '+' looking for beginning of value"},
		{name: "lone minus", value: []byte(`{"offset":-}`), wantMsg: "parse offset value: invalid character '}' in numeric literal"},
		{name: "no number", value: []byte(`{"offset":}`), wantMsg: "parse offset value: invalid character '}' looking for beginning of value"},
		{name: "underscore", value: []byte(`{"offset":1_000}`), wantMsg: "parse offset value: invalid character '_' after object key:value pair"},
		{name: "compact min", value: []byte(`{"offset":-9223372036854775808}`), want: math.MinInt64, wantOK: true},
		{name: "compact too small", value: []byte(`{"offset":-9223372036854775809}`), wantMsg: "parse offset value: offset -9223372036854775809 is not an int64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := connect.ParseOffsetValue(tc.value)
			if tc.wantMsg != "" {
				if err == nil || err.Error() != tc.wantMsg {
					t.Fatalf("ParseOffsetValue(%q) error = %v, want %q", tc.value, err, tc.wantMsg)
				}
				if got != 0 || ok {
					t.Fatalf("ParseOffsetValue(%q) = %d, %v with an error", tc.value, got, ok)
				}
				return
			}
			if err != nil || got != tc.want || ok != tc.wantOK {
				t.Fatalf("ParseOffsetValue(%q) = %d, %v, %v; want %d, %v, nil", tc.value, got, ok, err, tc.want, tc.wantOK)
			}
		})
	}
}

func TestOffsetValue_RoundTrip(t *testing.T) {
	for _, off := range []int64{0, 1, -1, 1234, math.MaxInt64, math.MinInt64} {
		got, ok, err := connect.ParseOffsetValue(connect.AppendOffsetValue(nil, off))
		if err != nil || !ok || got != off {
			t.Fatalf("ParseOffsetValue(AppendOffsetValue(%d)) = %d, %v, %v", off, got, ok, err)
		}
	}
}

func TestAppendOffsetKey_ZeroAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	cluster, topic, group := "us-west", "orders\n<&>é", "app-1"
	allocs := testing.AllocsPerRun(100, func() {
		buf = connect.AppendOffsetKey(buf[:0], "MirrorSourceConnector",
			connect.StrField("cluster", cluster), connect.IntField("partition", 3), connect.StrField("topic", topic))
		buf = connect.AppendOffsetKey(buf[:0], "MirrorCheckpointConnector",
			connect.IntField("partition", 3), connect.StrField("topic", topic), connect.StrField("group", group))
		buf = connect.AppendOffsetValue(buf[:0], 1234)
	})
	if allocs != 0 {
		t.Fatalf("AppendOffsetKey/AppendOffsetValue into a reused buffer: %v allocs/op, want 0", allocs)
	}
}

func TestParseOffsetValue_CompactZeroAllocs(t *testing.T) {
	v := connect.AppendOffsetValue(nil, 123456789)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := connect.ParseOffsetValue(v); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ParseOffsetValue(%s): %v allocs/op, want 0", v, allocs)
	}
}

func BenchmarkAppendOffsetKey(b *testing.B) {
	buf := make([]byte, 0, 128)
	cluster, topic := "us-west", "orders"
	b.ReportAllocs()
	for b.Loop() {
		buf = connect.AppendOffsetKey(buf[:0], "MirrorSourceConnector",
			connect.StrField("cluster", cluster), connect.IntField("partition", 3), connect.StrField("topic", topic))
	}
}

func BenchmarkParseOffsetValue(b *testing.B) {
	v := connect.AppendOffsetValue(nil, 123456789)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := connect.ParseOffsetValue(v); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseOffsetKey checks that ParseOffsetKey never panics, and that a key
// it accepts re-encodes to a canonical key that parses to the same result
// and re-encodes to the same bytes.
func FuzzParseOffsetKey(f *testing.F) {
	for _, s := range []string{
		`["MirrorSourceConnector",{"cluster":"A","partition":0,"topic":"t"}]`,
		`["MirrorCheckpointConnector",{"partition":0,"topic":"A.t","group":"g1"}]`,
		`["MirrorHeartbeatConnector",{"sourceClusterAlias":"A","targetClusterAlias":"B"}]`,
		` [ "ns" , { "p" : -9223372036854775808 , "s" : "\u00e9\ud83e\udd80\"\\\n" } ] `,
		`["ns",{"p":1.5}]`,
		`["ns",{"p":1,"p":2}]`,
		`["ns",{}] x`,
		`["\u0000\u001F",{"\ud800":"\xff"}]`,
		`[`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		ns, fields, err := connect.ParseOffsetKey(key)
		if err != nil {
			return
		}
		canon := connect.OffsetKey(ns, fields...)
		ns2, fields2, err := connect.ParseOffsetKey(canon)
		if err != nil {
			t.Fatalf("ParseOffsetKey(%q) (canonical form of %q): %v", canon, key, err)
		}
		if ns2 != ns || !slices.Equal(fields2, fields) {
			t.Fatalf("ParseOffsetKey(%q) = %q, %+v; want %q, %+v", canon, ns2, fields2, ns, fields)
		}
		if again := connect.OffsetKey(ns2, fields2...); !bytes.Equal(again, canon) {
			t.Fatalf("canonical key not stable: %q then %q", canon, again)
		}
	})
}

// FuzzParseOffsetValue checks that ParseOffsetValue never panics, and that an
// offset it accepts round-trips through AppendOffsetValue.
func FuzzParseOffsetValue(f *testing.F) {
	for _, s := range []string{
		`{"offset":1234}`, `{"offset":0}`, ` { "a" : [ {} ] , "offset" : -1 } `,
		`{"offset":1.0}`, `{"offset":"1"}`, `null`, ``, `{"offset":1}x`, `{`,
		`{"offset":-0}`, `{"offset":007}`, `{"offset":+5}`, `{"offset":-}`, `{"offset":-9223372036854775809}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		off, ok, err := connect.ParseOffsetValue(v)
		if len(v) > 0 {
			// A leading space takes the general parser rather than the
			// fast path for compact values; both must agree.
			off2, ok2, err2 := connect.ParseOffsetValue(append([]byte(" "), v...))
			if off2 != off || ok2 != ok || (err2 == nil) != (err == nil) {
				t.Fatalf("ParseOffsetValue(%q) = %d, %v, %v but with a leading space %d, %v, %v", v, off, ok, err, off2, ok2, err2)
			}
		}
		if err != nil || !ok {
			return
		}
		got, ok, err := connect.ParseOffsetValue(connect.AppendOffsetValue(nil, off))
		if err != nil || !ok || got != off {
			t.Fatalf("ParseOffsetValue(AppendOffsetValue(%d)) = %d, %v, %v", off, got, ok, err)
		}
	})
}

// TestOffsetValue_Fields covers the fields stored beside the offset
// (MirrorSource's topic ID): written after "offset", read back in order,
// and invisible to a reader of "offset" alone, as Java MM2 is.
func TestOffsetValue_Fields(t *testing.T) {
	v := connect.AppendOffsetValue(nil, 99, connect.StrField("topicId", "r6OFzo_NgAlXNOFLTv9byQ"), connect.IntField("n", -3))
	if want := `{"offset":99,"topicId":"r6OFzo_NgAlXNOFLTv9byQ","n":-3}`; string(v) != want {
		t.Fatalf("AppendOffsetValue = %s, want %s", v, want)
	}
	// What Java's JsonConverter (schemas off) hands MirrorUtils.unwrapOffset:
	// a map whose "offset" is an integer; other entries are primitives.
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if n, ok := m["offset"].(json.Number); !ok || n.String() != "99" {
		t.Fatalf(`"offset" = %#v, want the integer 99`, m["offset"])
	}
	if off, ok, err := connect.ParseOffsetValue(v); err != nil || !ok || off != 99 {
		t.Fatalf("ParseOffsetValue = %d, %v, %v; want 99", off, ok, err)
	}
	got, ok, err := connect.ParseOffsetValueFields(v)
	want := connect.OffsetValue{Offset: 99, Fields: []connect.OffsetField{
		connect.StrField("topicId", "r6OFzo_NgAlXNOFLTv9byQ"), connect.IntField("n", -3)}}
	if err != nil || !ok || got.Offset != want.Offset || !slices.Equal(got.Fields, want.Fields) {
		t.Fatalf("ParseOffsetValueFields = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if f, ok := got.Field("topicId"); !ok || f.Str != "r6OFzo_NgAlXNOFLTv9byQ" {
		t.Fatalf(`Field("topicId") = %+v, %v`, f, ok)
	}
	if _, ok := got.Field("missing"); ok {
		t.Fatal(`Field("missing") found`)
	}

	for _, tc := range []struct {
		name  string
		value string
		want  connect.OffsetValue
		ok    bool
	}{
		{"Java's plain value", `{"offset":5}`, connect.OffsetValue{Offset: 5}, true},
		{"deleted", ``, connect.OffsetValue{}, false},
		{"null", `null`, connect.OffsetValue{}, false},
		{"other types skipped", `{"a":[1],"b":true,"c":1.5,"offset":-1,"d":"x"}`,
			connect.OffsetValue{Offset: -1, Fields: []connect.OffsetField{connect.StrField("d", "x")}}, true},
	} {
		got, ok, err := connect.ParseOffsetValueFields([]byte(tc.value))
		if err != nil || ok != tc.ok || got.Offset != tc.want.Offset || !slices.Equal(got.Fields, tc.want.Fields) {
			t.Errorf("%s: ParseOffsetValueFields(%q) = %+v, %v, %v; want %+v, %v", tc.name, tc.value, got, ok, err, tc.want, tc.ok)
		}
	}
	if _, _, err := connect.ParseOffsetValueFields([]byte(`{"topicId":"x"}`)); err == nil || err.Error() != `parse offset value: no "offset" field` {
		t.Errorf(`ParseOffsetValueFields without "offset": error %v`, err)
	}
}
