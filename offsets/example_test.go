package offsets_test

import (
	"errors"
	"fmt"

	"github.com/mm2go/mm2go/offsets"
)

func ExampleCheckpoint() {
	c := offsets.Checkpoint{
		ConsumerGroupID:  "app-1",
		Topic:            "A.orders",
		Partition:        7,
		UpstreamOffset:   123456789,
		DownstreamOffset: 123400000,
		Metadata:         "ok",
	}
	key, _ := c.Key()
	value, _ := c.Value()
	fmt.Printf("key   % x\nvalue % x\n", key, value)

	got, err := offsets.DecodeCheckpoint(key, value)
	fmt.Println(got == c, err)
	// Output:
	// key   00 05 61 70 70 2d 31 00 08 41 2e 6f 72 64 65 72 73 00 00 00 07
	// value 00 00 00 00 00 00 07 5b cd 15 00 00 00 00 07 5a ef 40 00 02 6f 6b
	// true <nil>
}

func ExampleOffsetSync_AppendValue() {
	// A source task reuses one buffer for every offset sync it emits.
	var buf []byte
	for _, s := range []offsets.OffsetSync{
		{Topic: "t", Partition: 3, UpstreamOffset: 1000, DownstreamOffset: 500},
		{Topic: "t", Partition: 3, UpstreamOffset: 2000, DownstreamOffset: 1490},
	} {
		buf, _ = s.AppendValue(buf[:0])
		fmt.Printf("% x\n", buf)
	}
	// Output:
	// 00 00 00 00 00 00 03 e8 00 00 00 00 00 00 01 f4
	// 00 00 00 00 00 00 07 d0 00 00 00 00 00 00 05 d2
}

func ExampleDecodeHeartbeat_errors() {
	key := []byte{0x00, 0x01, 'A', 0x00, 0x01, 'B'}

	_, err := offsets.DecodeHeartbeat(key, []byte{0x00, 0x00, 0x00, 0x01})
	fmt.Println(err, errors.Is(err, offsets.ErrTruncated))

	_, err = offsets.DecodeHeartbeat(key, []byte{0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1})
	var verr *offsets.UnsupportedVersionError
	fmt.Println(err, errors.As(err, &verr))
	// Output:
	// decode heartbeat value: timestamp: truncated true
	// decode heartbeat value: unsupported version 1 true
}
