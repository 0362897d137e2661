package harness

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
)

// CommitHistory reads every MirrorSource offset that workers of flows from
// source committed for topic to the Connect offsets topic on the target
// (opts reach the target): by source partition, in the order they were
// written, each the offset of the last record copied. A scenario in which
// a worker re-copies from a commit checks with it where the re-copy
// resumed, without snapshots taken while the worker runs. A tombstone is
// -1 (the partition starts over).
func CommitHistory(ctx context.Context, opts []kgo.Opt, source, topic string) (map[int32][]int64, error) {
	offsetsTopic := connect.OffsetsTopic(source)
	log, err := readRaw(ctx, opts, offsetsTopic)
	if err != nil {
		return nil, err
	}
	out := make(map[int32][]int64)
	for _, r := range log {
		ns, fields, err := connect.ParseOffsetKey(r.Key)
		if err != nil || ns != "MirrorSourceConnector" {
			continue
		}
		var (
			t string
			p int64 = -1
		)
		for _, f := range fields {
			switch f.Name {
			case "topic":
				t = f.Str
			case "partition":
				p = f.Int
			}
		}
		if t != topic || p < 0 {
			continue
		}
		off, ok, err := connect.ParseOffsetValue(r.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: unparseable source offset %q for %s[%d]: %w", offsetsTopic, r.Value, t, p, err)
		}
		if !ok {
			off = -1
		}
		out[int32(p)] = append(out[int32(p)], off)
	}
	return out, nil
}
