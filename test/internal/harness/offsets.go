package harness

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/internal/kread"
)

// CommittedOffsets reads the MirrorSource offsets that workers of flows
// from source committed to the Connect offsets topic on the target (opts
// reach the target): by source topic and partition, the offset of the last
// record copied (the next worker resumes after it). A partition without a
// committed offset is absent.
func CommittedOffsets(ctx context.Context, opts []kgo.Opt, source string) (map[string]map[int32]int64, error) {
	topic := connect.OffsetsTopic(source)
	out := make(map[string]map[int32]int64)
	log, err := readRaw(ctx, opts, topic)
	if err != nil {
		return nil, err
	}
	for _, r := range log {
		ns, fields, err := connect.ParseOffsetKey(r.Key)
		if err != nil || ns != "MirrorSourceConnector" {
			continue
		}
		var t string
		var p int64 = -1
		for _, f := range fields {
			switch f.Name {
			case "topic":
				t = f.Str
			case "partition":
				p = f.Int
			}
		}
		if t == "" || p < 0 {
			continue
		}
		off, ok, err := connect.ParseOffsetValue(r.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: unparseable source offset %q for %s[%d]: %w", topic, r.Value, t, p, err)
		}
		if !ok { // a tombstone: the offset was removed
			delete(out[t], int32(p))
			continue
		}
		if out[t] == nil {
			out[t] = make(map[int32]int64)
		}
		out[t][int32(p)] = off
	}
	return out, nil
}

// readRaw reads every committed record of topic (read_committed, up to
// the last stable offsets at the call), in offset order per partition,
// partitions one after the other.
func readRaw(ctx context.Context, opts []kgo.Opt, topic string) ([]*kgo.Record, error) {
	var out []*kgo.Record
	err := kread.ReadToEnd(ctx, opts, topic, nil, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	})
	if errors.Is(err, kread.ErrTopicNotFound) {
		return nil, nil
	}
	return out, err
}

// EndOffsets returns the end offset of every partition of topic; an error
// if the topic does not exist.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	out := make(map[int32]int64)
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}
