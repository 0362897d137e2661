package offsets_test

import (
	"bytes"
	"testing"

	"github.com/mm2go/mm2go/offsets"
)

// The seed corpora in testdata/fuzz/<FuzzName>/ hold the spec vectors
// (H1-H3, C1-C3, O1-O3) plus truncated, trailing-byte, negative-length and
// wrong-version variants. Run one fuzzer with, for example,
//
//	go test -fuzz=FuzzDecodeCheckpoint -fuzztime=15s ./offsets/

// FuzzDecodeHeartbeat checks that DecodeHeartbeat never panics and that a
// decoded heartbeat encodes to a prefix of its input and decodes again to the
// same value.
func FuzzDecodeHeartbeat(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value []byte) {
		h, err := offsets.DecodeHeartbeat(key, value)
		if err != nil {
			return
		}
		k, err := h.Key()
		if err != nil {
			t.Fatalf("Key() of decoded %+v: %v", h, err)
		}
		v, err := h.Value()
		if err != nil {
			t.Fatalf("Value() of decoded %+v: %v", h, err)
		}
		checkPrefix(t, k, key, v, value)
		h2, err := offsets.DecodeHeartbeat(k, v)
		if err != nil || h2 != h {
			t.Fatalf("DecodeHeartbeat(re-encoded) = %+v, %v; want %+v", h2, err, h)
		}
	})
}

// FuzzDecodeCheckpoint checks that DecodeCheckpoint never panics and that a
// decoded checkpoint encodes to a prefix of its input and decodes again to
// the same value.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c, err := offsets.DecodeCheckpoint(key, value)
		if err != nil {
			return
		}
		k, err := c.Key()
		if err != nil {
			t.Fatalf("Key() of decoded %+v: %v", c, err)
		}
		v, err := c.Value()
		if err != nil {
			t.Fatalf("Value() of decoded %+v: %v", c, err)
		}
		checkPrefix(t, k, key, v, value)
		c2, err := offsets.DecodeCheckpoint(k, v)
		if err != nil || c2 != c {
			t.Fatalf("DecodeCheckpoint(re-encoded) = %+v, %v; want %+v", c2, err, c)
		}
	})
}

// FuzzDecodeOffsetSync checks that DecodeOffsetSync never panics and that a
// decoded offset sync encodes to a prefix of its input and decodes again to
// the same value.
func FuzzDecodeOffsetSync(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s, err := offsets.DecodeOffsetSync(key, value)
		if err != nil {
			return
		}
		k, err := s.Key()
		if err != nil {
			t.Fatalf("Key() of decoded %+v: %v", s, err)
		}
		v, err := s.Value()
		if err != nil {
			t.Fatalf("Value() of decoded %+v: %v", s, err)
		}
		checkPrefix(t, k, key, v, value)
		s2, err := offsets.DecodeOffsetSync(k, v)
		if err != nil || s2 != s {
			t.Fatalf("DecodeOffsetSync(re-encoded) = %+v, %v; want %+v", s2, err, s)
		}
	})
}

// checkPrefix checks that re-encoding reproduced the consumed part of the
// input byte for byte: decoders only ignore trailing bytes.
func checkPrefix(t *testing.T, k, key, v, value []byte) {
	t.Helper()
	if !bytes.HasPrefix(key, k) {
		t.Fatalf("re-encoded key % x is not a prefix of input % x", k, key)
	}
	if !bytes.HasPrefix(value, v) {
		t.Fatalf("re-encoded value % x is not a prefix of input % x", v, value)
	}
}
