package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
)

// pollTimeout bounds one Poll, so the runner regularly gets to commit offsets
// and apply reconfigurations even when the source is idle.
const pollTimeout = time.Second

// MirrorSourceTask copies its assigned source partitions to the target: the
// same partition number, key, value, headers and timestamp, under the
// replication policy's remote topic name. Fetched records are renamed in
// place and handed to the worker as they are: no copy, no per-record
// allocation.
type MirrorSourceTask struct {
	tc  *connect.TaskContext
	cfg SourceConfig
	cl  *kgo.Client

	// parts maps a source topic to its partition handles by partition
	// number, and remote to its remote name: looked up once per fetched
	// partition, not per record.
	parts  map[string][]*connect.SourcePartition
	remote map[string]string
	out    []connect.SourceRecord // reused across polls
}

// Start implements connect.SourceTask.
func (t *MirrorSourceTask) Start(ctx context.Context, tc *connect.TaskContext) error {
	cfg, err := ParseSourceConfig(tc.Props)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	assigned, err := parseAssigned(tc.Props[KeyAssignedPartitions])
	if err != nil {
		return err
	}
	t.tc, t.cfg = tc, cfg
	t.parts = make(map[string][]*connect.SourcePartition)
	t.remote = make(map[string]string)
	start := t.track(assigned)
	t.cl, err = tc.NewClient(tc.Source, connect.RoleConsumer,
		kgo.ConsumePartitions(start),
		freshMetadata, // partitions added by Reconfigure start within 250ms, not 5s
		kgo.ClientID(fmt.Sprintf("%s->%s|%s-%d|replication-consumer", tc.Source, tc.Target, tc.Connector, tc.ID)),
	)
	if err != nil {
		return err
	}
	tc.Logger.Info("copying partitions", "partitions", len(assigned))
	return nil
}

// track registers partition handles for tps and returns where each partition
// starts: after its stored source offset, or at the reset point.
func (t *MirrorSourceTask) track(tps []topicPartition) map[string]map[int32]kgo.Offset {
	start := make(map[string]map[int32]kgo.Offset)
	for _, tp := range tps {
		key := connect.MirrorSourceOffsetKey(t.tc.Connector, t.cfg.SourceAlias, tp.Topic, tp.Partition)
		sp := t.tc.Partition(key)
		ps := t.parts[tp.Topic]
		for int32(len(ps)) <= tp.Partition {
			ps = append(ps, nil)
		}
		ps[tp.Partition] = sp
		t.parts[tp.Topic] = ps
		if _, ok := t.remote[tp.Topic]; !ok {
			t.remote[tp.Topic] = t.cfg.Policy.FormatRemoteTopic(t.cfg.SourceAlias, tp.Topic)
		}
		o := kgo.NewOffset().AtStart()
		if t.cfg.StartAtEnd {
			o = kgo.NewOffset().AtEnd()
		}
		if stored, ok := t.tc.StoredOffset(key); ok {
			o = kgo.NewOffset().At(stored + 1) // MM2 stores the last copied offset
		}
		if start[tp.Topic] == nil {
			start[tp.Topic] = make(map[int32]kgo.Offset)
		}
		start[tp.Topic][tp.Partition] = o
	}
	return start
}

// Reconfigure implements connect.Reconfigurable: partitions added to the
// assignment start copying, removed ones stop, and the rest go on untouched.
func (t *MirrorSourceTask) Reconfigure(_ context.Context, props connect.Props) error {
	assigned, err := parseAssigned(props[KeyAssignedPartitions])
	if err != nil {
		return err
	}
	want := make(map[topicPartition]bool, len(assigned))
	var added []topicPartition
	for _, tp := range assigned {
		want[tp] = true
		if ps := t.parts[tp.Topic]; int(tp.Partition) >= len(ps) || ps[tp.Partition] == nil {
			added = append(added, tp)
		}
	}
	removed := make(map[string][]int32)
	for topic, ps := range t.parts {
		for p, sp := range ps {
			if sp != nil && !want[topicPartition{topic, int32(p)}] {
				removed[topic] = append(removed[topic], int32(p))
				ps[p] = nil
			}
		}
	}
	if len(removed) > 0 {
		t.cl.RemoveConsumePartitions(removed)
	}
	if len(added) > 0 {
		t.cl.AddConsumePartitions(t.track(added))
	}
	t.tc.Logger.Info("assignment changed", "added", len(added), "removed", len(removed), "partitions", len(assigned))
	return nil
}

// Poll implements connect.SourceTask.
func (t *MirrorSourceTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	pctx, cancel := context.WithTimeout(ctx, pollTimeout)
	fetches := t.cl.PollFetches(pctx)
	cancel()
	var fatal error
	fetches.EachError(func(topic string, p int32, err error) {
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		case connect.IsRetriable(err), errors.Is(err, kerr.UnknownTopicOrPartition):
			// The client retries by itself; say so once per poll at most.
			t.tc.Logger.Warn("fetch failed; the client retries", "topic", topic, "partition", p, "error", err)
		default:
			fatal = errors.Join(fatal, fmt.Errorf("fetch %s[%d] from %s: %w", topic, p, t.tc.Source, err))
		}
	})
	if fatal != nil {
		return nil, fatal
	}
	out := t.out[:0]
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		ps := t.parts[fp.Topic]
		if int(fp.Partition) >= len(ps) || ps[fp.Partition] == nil {
			return // unassigned while the fetch was in flight
		}
		sp, remote := ps[fp.Partition], t.remote[fp.Topic]
		for _, r := range fp.Records {
			r.Topic = remote // partition, key, value, headers, timestamp stay
			out = append(out, connect.SourceRecord{Record: r, Partition: sp, Offset: r.Offset})
		}
	})
	t.out = out
	return out, nil
}

// Stop implements connect.SourceTask.
func (t *MirrorSourceTask) Stop(context.Context) error {
	if t.cl != nil {
		t.cl.Close()
	}
	return nil
}
