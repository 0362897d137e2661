package offsets_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/mm2go/mm2go/offsets"
	"pgregory.net/rapid"
)

// unhex decodes a spec-style hex dump such as "00 01 41".
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// prefix is put in front of every Append* destination to check that the
// encoders append rather than overwrite.
var prefix = []byte{0xca, 0xfe}

// checkEncoded checks that Key/Value and AppendKey/AppendValue (after prefix)
// both produce want.
func checkEncoded(t *testing.T, name string, got []byte, err error, appended []byte, appendErr error, want []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s() error: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s() = % x, want % x", name, got, want)
	}
	if appendErr != nil {
		t.Fatalf("Append%s(prefix) error: %v", name, appendErr)
	}
	if !bytes.Equal(appended, append(append([]byte{}, prefix...), want...)) {
		t.Fatalf("Append%s(prefix) = % x, want prefix then % x", name, appended, want)
	}
}

func withPrefix() []byte { return append([]byte{}, prefix...) }

// Vectors from spec/mm2-compat.md §1.2 (H1-H3).
func TestHeartbeat_SpecVectors(t *testing.T) {
	tests := []struct {
		name       string
		hb         offsets.Heartbeat
		key, value string
	}{
		{"H1", offsets.Heartbeat{SourceClusterAlias: "A", TargetClusterAlias: "B", Timestamp: 1700000000000},
			"00 01 41 00 01 42", "00 00  00 00 01 8b cf e5 68 00"},
		{"H2", offsets.Heartbeat{SourceClusterAlias: "us-west", TargetClusterAlias: "us-east", Timestamp: 1735689600000},
			"00 07 75 73 2d 77 65 73 74  00 07 75 73 2d 65 61 73 74", "00 00  00 00 01 94 1f 29 7c 00"},
		{"H3", offsets.Heartbeat{SourceClusterAlias: "A", TargetClusterAlias: "B", Timestamp: 1},
			"00 01 41 00 01 42", "00 00 00 00 00 00 00 00 00 01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, value := unhex(t, tc.key), unhex(t, tc.value)
			k, err := tc.hb.Key()
			ak, aerr := tc.hb.AppendKey(withPrefix())
			checkEncoded(t, "Key", k, err, ak, aerr, key)
			v, err := tc.hb.Value()
			av, aerr := tc.hb.AppendValue(withPrefix())
			checkEncoded(t, "Value", v, err, av, aerr, value)
			got, err := offsets.DecodeHeartbeat(key, value)
			if err != nil {
				t.Fatalf("DecodeHeartbeat: %v", err)
			}
			if got != tc.hb {
				t.Fatalf("DecodeHeartbeat = %+v, want %+v", got, tc.hb)
			}
			checkTruncations(t, key, value, func(k, v []byte) error { _, err := offsets.DecodeHeartbeat(k, v); return err })
		})
	}
}

// Vectors from spec/mm2-compat.md §1.3 (C1-C3).
func TestCheckpoint_SpecVectors(t *testing.T) {
	tests := []struct {
		name       string
		cp         offsets.Checkpoint
		key, value string
	}{
		{"C1", offsets.Checkpoint{ConsumerGroupID: "g1", Topic: "t", Partition: 0, UpstreamOffset: 100, DownstreamOffset: 90},
			"00 02 67 31  00 01 74  00 00 00 00",
			"00 00  00 00 00 00 00 00 00 64  00 00 00 00 00 00 00 5a  00 00"},
		{"C2", offsets.Checkpoint{ConsumerGroupID: "app-1", Topic: "A.orders", Partition: 7, UpstreamOffset: 123456789, DownstreamOffset: 123400000, Metadata: "ok"},
			"00 05 61 70 70 2d 31  00 08 41 2e 6f 72 64 65 72 73  00 00 00 07",
			"00 00  00 00 00 00 07 5b cd 15  00 00 00 00 07 5a ef 40  00 02 6f 6b"},
		// C3 gives only the value; the key is C1's.
		{"C3", offsets.Checkpoint{ConsumerGroupID: "g1", Topic: "t", Metadata: "é"},
			"00 02 67 31  00 01 74  00 00 00 00",
			"00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 02 c3 a9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, value := unhex(t, tc.key), unhex(t, tc.value)
			k, err := tc.cp.Key()
			ak, aerr := tc.cp.AppendKey(withPrefix())
			checkEncoded(t, "Key", k, err, ak, aerr, key)
			v, err := tc.cp.Value()
			av, aerr := tc.cp.AppendValue(withPrefix())
			checkEncoded(t, "Value", v, err, av, aerr, value)
			got, err := offsets.DecodeCheckpoint(key, value)
			if err != nil {
				t.Fatalf("DecodeCheckpoint: %v", err)
			}
			if got != tc.cp {
				t.Fatalf("DecodeCheckpoint = %+v, want %+v", got, tc.cp)
			}
			checkTruncations(t, key, value, func(k, v []byte) error { _, err := offsets.DecodeCheckpoint(k, v); return err })
		})
	}
}

// Vectors from spec/mm2-compat.md §1.4 (O1-O3).
func TestOffsetSync_SpecVectors(t *testing.T) {
	tests := []struct {
		name       string
		osync      offsets.OffsetSync
		key, value string
	}{
		{"O1", offsets.OffsetSync{Topic: "t", Partition: 3, UpstreamOffset: 1000, DownstreamOffset: 500},
			"00 01 74  00 00 00 03", "00 00 00 00 00 00 03 e8  00 00 00 00 00 00 01 f4"},
		{"O2", offsets.OffsetSync{Topic: "orders", Partition: 12, UpstreamOffset: 4294967296, DownstreamOffset: 0},
			"00 06 6f 72 64 65 72 73  00 00 00 0c", "00 00 00 01 00 00 00 00  00 00 00 00 00 00 00 00"},
		{"O3", offsets.OffsetSync{Topic: "B.t", Partition: 0, UpstreamOffset: 99, DownstreamOffset: 12345},
			"00 03 42 2e 74  00 00 00 00", "00 00 00 00 00 00 00 63  00 00 00 00 00 00 30 39"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, value := unhex(t, tc.key), unhex(t, tc.value)
			k, err := tc.osync.Key()
			ak, aerr := tc.osync.AppendKey(withPrefix())
			checkEncoded(t, "Key", k, err, ak, aerr, key)
			v, err := tc.osync.Value()
			av, aerr := tc.osync.AppendValue(withPrefix())
			checkEncoded(t, "Value", v, err, av, aerr, value)
			got, err := offsets.DecodeOffsetSync(key, value)
			if err != nil {
				t.Fatalf("DecodeOffsetSync: %v", err)
			}
			if got != tc.osync {
				t.Fatalf("DecodeOffsetSync = %+v, want %+v", got, tc.osync)
			}
			checkTruncations(t, key, value, func(k, v []byte) error { _, err := offsets.DecodeOffsetSync(k, v); return err })
		})
	}
}

// checkTruncations checks that decode rejects every strict prefix of a valid
// key or value with an error wrapping ErrTruncated, and accepts both with
// trailing bytes.
func checkTruncations(t *testing.T, key, value []byte, decode func(k, v []byte) error) {
	t.Helper()
	for n := range len(key) {
		if err := decode(key[:n], value); !errors.Is(err, offsets.ErrTruncated) {
			t.Fatalf("decode(key[:%d], value) error = %v, want ErrTruncated", n, err)
		}
	}
	for n := range len(value) {
		if err := decode(key, value[:n]); !errors.Is(err, offsets.ErrTruncated) {
			t.Fatalf("decode(key, value[:%d]) error = %v, want ErrTruncated", n, err)
		}
	}
	trailing := []byte{0xff, 0xff, 0x00, 0x01}
	if err := decode(append(bytes.Clone(key), trailing...), append(bytes.Clone(value), trailing...)); err != nil {
		t.Fatalf("decode with trailing bytes: %v", err)
	}
}

func TestDecode_TrailingBytesIgnored(t *testing.T) {
	cp := offsets.Checkpoint{ConsumerGroupID: "g", Topic: "t", Partition: 1, UpstreamOffset: 2, DownstreamOffset: 3, Metadata: "m"}
	key, _ := cp.Key()
	value, _ := cp.Value()
	got, err := offsets.DecodeCheckpoint(append(key, "extra"...), append(value, 0, 0, 0, 0, 0, 0, 0, 9))
	if err != nil {
		t.Fatalf("DecodeCheckpoint: %v", err)
	}
	if got != cp {
		t.Fatalf("DecodeCheckpoint = %+v, want %+v", got, cp)
	}
}

func TestDecode_Errors(t *testing.T) {
	c1Key := "00 02 67 31  00 01 74  00 00 00 00"
	c1Value := "00 00  00 00 00 00 00 00 00 64  00 00 00 00 00 00 00 5a  00 00"
	h1Key, h1Value := "00 01 41 00 01 42", "00 00  00 00 01 8b cf e5 68 00"
	o1Key, o1Value := "00 01 74  00 00 00 03", "00 00 00 00 00 00 03 e8  00 00 00 00 00 00 01 f4"

	tests := []struct {
		name       string
		record     string // heartbeat, checkpoint or offsetsync
		key, value string
		wantIs     error // sentinel, or nil for *UnsupportedVersionError
		wantMsg    string
	}{
		{"heartbeat empty key", "heartbeat", "", h1Value, offsets.ErrTruncated,
			"decode heartbeat key: source cluster alias: truncated"},
		{"heartbeat nil value", "heartbeat", h1Key, "", offsets.ErrTruncated,
			"decode heartbeat value: version: truncated"},
		{"heartbeat short timestamp", "heartbeat", h1Key, "00 00 00 00 01", offsets.ErrTruncated,
			"decode heartbeat value: timestamp: truncated"},
		{"heartbeat version 1", "heartbeat", h1Key, "00 01  00 00 01 8b cf e5 68 00", nil,
			"decode heartbeat value: unsupported version 1"},
		{"heartbeat version -1", "heartbeat", h1Key, "ff ff", nil,
			"decode heartbeat value: unsupported version -1"},
		{"heartbeat negative target length", "heartbeat", "00 01 41 80 00", h1Value, offsets.ErrNegativeLength,
			"decode heartbeat key: target cluster alias: negative string length -32768"},
		{"checkpoint group beyond key", "checkpoint", "00 05 61", c1Value, offsets.ErrTruncated,
			"decode checkpoint key: group: truncated: needs 5 bytes, has 1"},
		{"checkpoint null group", "checkpoint", "ff ff 00 01 74 00 00 00 00", c1Value, offsets.ErrNegativeLength,
			"decode checkpoint key: group: negative string length -1"},
		{"checkpoint short partition", "checkpoint", "00 02 67 31  00 01 74  00 00 00", c1Value, offsets.ErrTruncated,
			"decode checkpoint key: partition: truncated"},
		{"checkpoint short upstream", "checkpoint", c1Key, "00 00  00 00 00 00 00 00 00", offsets.ErrTruncated,
			"decode checkpoint value: upstream offset: truncated"},
		{"checkpoint short downstream", "checkpoint", c1Key, "00 00  00 00 00 00 00 00 00 64  00", offsets.ErrTruncated,
			"decode checkpoint value: downstream offset: truncated"},
		{"checkpoint missing metadata", "checkpoint", c1Key, "00 00  00 00 00 00 00 00 00 64  00 00 00 00 00 00 00 5a", offsets.ErrTruncated,
			"decode checkpoint value: metadata: truncated"},
		{"checkpoint metadata beyond value", "checkpoint", c1Key, "00 00  00 00 00 00 00 00 00 64  00 00 00 00 00 00 00 5a  00 03 6f 6b", offsets.ErrTruncated,
			"decode checkpoint value: metadata: truncated: needs 3 bytes, has 2"},
		{"checkpoint version 2", "checkpoint", c1Key, "00 02  00 00 00 00 00 00 00 64  00 00 00 00 00 00 00 5a  00 00", nil,
			"decode checkpoint value: unsupported version 2"},
		{"checkpoint key checked before value", "checkpoint", "00", "00 07", offsets.ErrTruncated,
			"decode checkpoint key: group: truncated"},
		{"offset sync topic beyond key", "offsetsync", "7f ff 74", o1Value, offsets.ErrTruncated,
			"decode offset sync key: topic: truncated: needs 32767 bytes, has 1"},
		{"offset sync short partition", "offsetsync", "00 01 74 00", o1Value, offsets.ErrTruncated,
			"decode offset sync key: partition: truncated"},
		{"offset sync empty value", "offsetsync", o1Key, "", offsets.ErrTruncated,
			"decode offset sync value: upstream offset: truncated"},
		{"offset sync short downstream", "offsetsync", o1Key, "00 00 00 00 00 00 03 e8  00 00 00 00 00 00 01", offsets.ErrTruncated,
			"decode offset sync value: downstream offset: truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, value := unhex(t, tc.key), unhex(t, tc.value)
			var err error
			switch tc.record {
			case "heartbeat":
				var got offsets.Heartbeat
				got, err = offsets.DecodeHeartbeat(key, value)
				if got != (offsets.Heartbeat{}) {
					t.Fatalf("DecodeHeartbeat returned %+v with error, want zero value", got)
				}
			case "checkpoint":
				var got offsets.Checkpoint
				got, err = offsets.DecodeCheckpoint(key, value)
				if got != (offsets.Checkpoint{}) {
					t.Fatalf("DecodeCheckpoint returned %+v with error, want zero value", got)
				}
			case "offsetsync":
				var got offsets.OffsetSync
				got, err = offsets.DecodeOffsetSync(key, value)
				if got != (offsets.OffsetSync{}) {
					t.Fatalf("DecodeOffsetSync returned %+v with error, want zero value", got)
				}
			}
			if err == nil {
				t.Fatalf("decode %s succeeded, want error %q", tc.record, tc.wantMsg)
			}
			if err.Error() != tc.wantMsg {
				t.Fatalf("error = %q, want %q", err, tc.wantMsg)
			}
			if tc.wantIs != nil {
				if !errors.Is(err, tc.wantIs) {
					t.Fatalf("error %q does not wrap %v", err, tc.wantIs)
				}
				return
			}
			var verr *offsets.UnsupportedVersionError
			if !errors.As(err, &verr) {
				t.Fatalf("error %q (%T) is not an *UnsupportedVersionError", err, err)
			}
		})
	}
}

func TestUnsupportedVersionError_Fields(t *testing.T) {
	_, err := offsets.DecodeCheckpoint(unhex(t, "00 00 00 00 00 00 00 00"), unhex(t, "00 05"))
	var verr *offsets.UnsupportedVersionError
	if !errors.As(err, &verr) {
		t.Fatalf("DecodeCheckpoint error = %v, want *UnsupportedVersionError", err)
	}
	if verr.Record != "checkpoint" || verr.Version != 5 {
		t.Fatalf("UnsupportedVersionError = %+v, want {Record:checkpoint Version:5}", *verr)
	}
}

func TestEncode_StringTooLong(t *testing.T) {
	longest := strings.Repeat("x", offsets.MaxStringLen)
	long := longest + "x"
	tests := []struct {
		name    string
		encode  func(dst []byte) ([]byte, error)
		wantMsg string // "" when the encode must succeed
	}{
		{"heartbeat source max", offsets.Heartbeat{SourceClusterAlias: longest}.AppendKey, ""},
		{"heartbeat source", offsets.Heartbeat{SourceClusterAlias: long}.AppendKey,
			"encode heartbeat key: source cluster alias: string too long: 32768 bytes, max 32767"},
		{"heartbeat target", offsets.Heartbeat{SourceClusterAlias: "A", TargetClusterAlias: long}.AppendKey,
			"encode heartbeat key: target cluster alias: string too long: 32768 bytes, max 32767"},
		{"checkpoint group max", offsets.Checkpoint{ConsumerGroupID: longest, Topic: longest}.AppendKey, ""},
		{"checkpoint group", offsets.Checkpoint{ConsumerGroupID: long}.AppendKey,
			"encode checkpoint key: group: string too long: 32768 bytes, max 32767"},
		{"checkpoint topic", offsets.Checkpoint{ConsumerGroupID: "g", Topic: long}.AppendKey,
			"encode checkpoint key: topic: string too long: 32768 bytes, max 32767"},
		{"checkpoint metadata max", offsets.Checkpoint{Metadata: longest}.AppendValue, ""},
		{"checkpoint metadata", offsets.Checkpoint{Metadata: long}.AppendValue,
			"encode checkpoint value: metadata: string too long: 32768 bytes, max 32767"},
		{"offset sync topic max", offsets.OffsetSync{Topic: longest}.AppendKey, ""},
		{"offset sync topic", offsets.OffsetSync{Topic: long}.AppendKey,
			"encode offset sync key: topic: string too long: 32768 bytes, max 32767"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.encode(withPrefix())
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("encode error: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantMsg {
				t.Fatalf("encode error = %v, want %q", err, tc.wantMsg)
			}
			if !errors.Is(err, offsets.ErrStringTooLong) {
				t.Fatalf("error %q does not wrap ErrStringTooLong", err)
			}
			if !bytes.Equal(got, prefix) {
				t.Fatalf("encode returned % x on error, want dst unchanged (% x)", got[:min(len(got), 8)], prefix)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	longest := strings.Repeat("é", offsets.MaxStringLen/2) + "x"
	tests := []struct {
		name  string
		hb    offsets.Heartbeat
		cp    offsets.Checkpoint
		osync offsets.OffsetSync
	}{
		{name: "zero"},
		{name: "extremes",
			hb:    offsets.Heartbeat{SourceClusterAlias: longest, TargetClusterAlias: "", Timestamp: math.MinInt64},
			cp:    offsets.Checkpoint{ConsumerGroupID: longest, Topic: longest, Partition: math.MaxInt32, UpstreamOffset: math.MaxInt64, DownstreamOffset: math.MinInt64, Metadata: longest},
			osync: offsets.OffsetSync{Topic: longest, Partition: math.MinInt32, UpstreamOffset: -1, DownstreamOffset: math.MaxInt64}},
		{name: "non-ASCII and invalid UTF-8",
			hb:    offsets.Heartbeat{SourceClusterAlias: "東京", TargetClusterAlias: "\xff\xfe", Timestamp: -1},
			cp:    offsets.Checkpoint{ConsumerGroupID: "grüppe\x00", Topic: "a.b_c-d", Partition: -1, Metadata: "\xc3"},
			osync: offsets.OffsetSync{Topic: "🦀", Partition: 1 << 30, UpstreamOffset: 1 << 40, DownstreamOffset: 7}},
		{name: "typical",
			hb:    offsets.Heartbeat{SourceClusterAlias: "primary", TargetClusterAlias: "backup", Timestamp: 1735689600000},
			cp:    offsets.Checkpoint{ConsumerGroupID: "orders-app", Topic: "primary.orders", Partition: 11, UpstreamOffset: 1_000_000, DownstreamOffset: 999_000, Metadata: `{"by":"x"}`},
			osync: offsets.OffsetSync{Topic: "orders", Partition: 11, UpstreamOffset: 1_000_000, DownstreamOffset: 999_000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hb, err := roundTripHeartbeat(tc.hb)
			if err != nil || hb != tc.hb {
				t.Fatalf("heartbeat round trip = %+v, %v; want %+v", hb, err, tc.hb)
			}
			cp, err := roundTripCheckpoint(tc.cp)
			if err != nil || cp != tc.cp {
				t.Fatalf("checkpoint round trip = %+v, %v; want %+v", cp, err, tc.cp)
			}
			osync, err := roundTripOffsetSync(tc.osync)
			if err != nil || osync != tc.osync {
				t.Fatalf("offset sync round trip = %+v, %v; want %+v", osync, err, tc.osync)
			}
		})
	}
}

func roundTripHeartbeat(h offsets.Heartbeat) (offsets.Heartbeat, error) {
	k, err := h.Key()
	if err != nil {
		return offsets.Heartbeat{}, err
	}
	v, err := h.Value()
	if err != nil {
		return offsets.Heartbeat{}, err
	}
	return offsets.DecodeHeartbeat(k, v)
}

func roundTripCheckpoint(c offsets.Checkpoint) (offsets.Checkpoint, error) {
	k, err := c.Key()
	if err != nil {
		return offsets.Checkpoint{}, err
	}
	v, err := c.Value()
	if err != nil {
		return offsets.Checkpoint{}, err
	}
	return offsets.DecodeCheckpoint(k, v)
}

func roundTripOffsetSync(s offsets.OffsetSync) (offsets.OffsetSync, error) {
	k, err := s.Key()
	if err != nil {
		return offsets.OffsetSync{}, err
	}
	v, err := s.Value()
	if err != nil {
		return offsets.OffsetSync{}, err
	}
	return offsets.DecodeOffsetSync(k, v)
}

// anyString draws valid UTF-8 text or arbitrary bytes; the codecs carry both.
var anyString = rapid.OneOf(
	rapid.String(),
	rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 64), func(b []byte) string { return string(b) }),
)

func TestRoundTrip_Property(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		hb := offsets.Heartbeat{
			SourceClusterAlias: anyString.Draw(t, "source"),
			TargetClusterAlias: anyString.Draw(t, "target"),
			Timestamp:          rapid.Int64().Draw(t, "timestamp"),
		}
		cp := offsets.Checkpoint{
			ConsumerGroupID:  anyString.Draw(t, "group"),
			Topic:            anyString.Draw(t, "topic"),
			Partition:        rapid.Int32().Draw(t, "partition"),
			UpstreamOffset:   rapid.Int64().Draw(t, "upstream"),
			DownstreamOffset: rapid.Int64().Draw(t, "downstream"),
			Metadata:         anyString.Draw(t, "metadata"),
		}
		osync := offsets.OffsetSync{Topic: cp.Topic, Partition: cp.Partition, UpstreamOffset: cp.UpstreamOffset, DownstreamOffset: cp.DownstreamOffset}

		if got, err := roundTripHeartbeat(hb); err != nil || got != hb {
			t.Fatalf("heartbeat round trip = %+v, %v; want %+v", got, err, hb)
		}
		if got, err := roundTripCheckpoint(cp); err != nil || got != cp {
			t.Fatalf("checkpoint round trip = %+v, %v; want %+v", got, err, cp)
		}
		if got, err := roundTripOffsetSync(osync); err != nil || got != osync {
			t.Fatalf("offset sync round trip = %+v, %v; want %+v", got, err, osync)
		}

		// Sizes are fixed by the schema: nothing but the fields is written.
		k, _ := cp.Key()
		v, _ := cp.Value()
		if len(k) != 2+len(cp.ConsumerGroupID)+2+len(cp.Topic)+4 || len(v) != 2+8+8+2+len(cp.Metadata) {
			t.Fatalf("checkpoint key/value are %d/%d bytes for %+v", len(k), len(v), cp)
		}
	})
}

func TestOffsetSync_AppendValueZeroAllocs(t *testing.T) {
	s := offsets.OffsetSync{Topic: "orders", Partition: 3, UpstreamOffset: 1 << 33, DownstreamOffset: 42}
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = s.AppendValue(buf[:0])
		buf, _ = s.AppendKey(buf[:0])
	})
	if allocs != 0 {
		t.Fatalf("OffsetSync.AppendValue+AppendKey into a reused buffer: %v allocs/op, want 0", allocs)
	}
}

func BenchmarkOffsetSync_AppendValue(b *testing.B) {
	s := offsets.OffsetSync{Topic: "orders", Partition: 3, UpstreamOffset: 1 << 33, DownstreamOffset: 42}
	buf := make([]byte, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.AppendValue(buf[:0])
	}
}

func BenchmarkOffsetSync_AppendKey(b *testing.B) {
	s := offsets.OffsetSync{Topic: "orders", Partition: 3, UpstreamOffset: 1 << 33, DownstreamOffset: 42}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.AppendKey(buf[:0])
	}
}

func BenchmarkCheckpoint_Append(b *testing.B) {
	c := offsets.Checkpoint{ConsumerGroupID: "orders-app", Topic: "primary.orders", Partition: 11, UpstreamOffset: 1_000_000, DownstreamOffset: 999_000}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = c.AppendKey(buf[:0])
		buf, _ = c.AppendValue(buf[:0])
	}
}

func BenchmarkDecodeOffsetSync(b *testing.B) {
	s := offsets.OffsetSync{Topic: "orders", Partition: 3, UpstreamOffset: 1 << 33, DownstreamOffset: 42}
	k, _ := s.Key()
	v, _ := s.Value()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := offsets.DecodeOffsetSync(k, v); err != nil {
			b.Fatal(err)
		}
	}
}
