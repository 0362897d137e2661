package inspect

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/internal/kread"
	"github.com/mm2go/mm2go/offsets"
)

// Inspector reads the state of one flow from its two clusters. It keeps
// clients and tails of the flow's state topics (Connect offsets, offset
// index, checkpoints) open between calls, so a watcher that asks every few
// seconds reads only what changed, and it remembers when each partition last
// made progress, to tell a stalled copy from a slow one.
//
// An Inspector only reads. It is not safe for concurrent use. Close it when
// done.
type Inspector struct {
	flow           *Flow
	src, tgt       *kgo.Client
	srcAdm, tgtAdm *kadm.Client

	offsetsTail *kread.Tail
	committed   map[tp]int64 // last copied source offset, by source partition
	offsetsSeen bool         // the offsets topic exists

	index *offsets.IndexTail

	cpTail      *kread.Tail
	checkpoints map[cpKey]checkpointSeen
	cpSeen      bool // the checkpoints topic exists

	progress map[tp]progressMark // for stall detection
	now      func() time.Time
}

// tp is a source topic-partition.
type tp struct {
	topic     string
	partition int32
}

// cpKey identifies a checkpoint: group and target-side partition.
type cpKey struct {
	group, topic string
	partition    int32
}

type checkpointSeen struct {
	cp offsets.Checkpoint
	at time.Time // the checkpoint record's timestamp: when it was written
}

// progressMark is where a partition's copy was and since when.
type progressMark struct {
	next  int64
	since time.Time
}

// New returns an Inspector of flow. It does not contact the clusters.
func New(flow *Flow) (*Inspector, error) {
	if flow == nil || flow.Policy == nil {
		return nil, errors.New("new inspector: the flow has no replication policy")
	}
	in := &Inspector{flow: flow, committed: make(map[tp]int64), checkpoints: make(map[cpKey]checkpointSeen),
		progress: make(map[tp]progressMark), now: time.Now}
	fresh := kgo.MetadataMinAge(250 * time.Millisecond)
	var err error
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	if in.src, err = kgo.NewClient(append(append([]kgo.Opt(nil), flow.SourceOpts...), fresh)...); err != nil {
		return nil, fmt.Errorf("client for cluster %s: %w", flow.Source, err)
	}
	if in.tgt, err = kgo.NewClient(append(append([]kgo.Opt(nil), flow.TargetOpts...), fresh)...); err != nil {
		return nil, fmt.Errorf("client for cluster %s: %w", flow.Target, err)
	}
	in.srcAdm, in.tgtAdm = kadm.NewClient(in.src), kadm.NewClient(in.tgt)
	if in.offsetsTail, err = kread.NewTail(flow.TargetOpts, flow.OffsetsTopic); err != nil {
		return nil, fmt.Errorf("client for cluster %s: %w", flow.Target, err)
	}
	if in.index, err = offsets.NewIndexTail(flow.TargetOpts, flow.IndexTopic); err != nil {
		return nil, fmt.Errorf("client for cluster %s: %w", flow.Target, err)
	}
	if in.cpTail, err = kread.NewTail(flow.TargetOpts, flow.CheckpointsTopic); err != nil {
		return nil, fmt.Errorf("client for cluster %s: %w", flow.Target, err)
	}
	return in, nil
}

// Flow returns the flow the Inspector reads.
func (in *Inspector) Flow() *Flow { return in.flow }

// Close closes the Inspector's clients. It is idempotent.
func (in *Inspector) Close() {
	for _, t := range []*kread.Tail{in.offsetsTail, in.cpTail} {
		if t != nil {
			t.Close()
		}
	}
	in.offsetsTail, in.cpTail = nil, nil
	if in.index != nil {
		in.index.Close()
		in.index = nil
	}
	for _, c := range []*kgo.Client{in.src, in.tgt} {
		if c != nil {
			c.Close()
		}
	}
	in.src, in.tgt = nil, nil
}

// applyOffsetRecord folds one Connect offsets-topic record into committed.
// Records of other connectors or source clusters, and records that do not
// parse (other Connect connectors share the format), are skipped, as a
// Connect worker skips them.
func (in *Inspector) applyOffsetRecord(r *kgo.Record) {
	ns, fields, err := connect.ParseOffsetKey(r.Key)
	if err != nil || ns != in.flow.Connector {
		return
	}
	var k tp
	var cluster string
	var havePart, haveTopic bool
	for _, f := range fields {
		switch {
		case f.Name == "cluster" && !f.IsInt:
			cluster = f.Str
		case f.Name == "topic" && !f.IsInt:
			k.topic, haveTopic = f.Str, true
		case f.Name == "partition" && f.IsInt:
			k.partition, havePart = int32(f.Int), true
		}
	}
	if cluster != in.flow.Source || !haveTopic || !havePart {
		return
	}
	off, ok, err := connect.ParseOffsetValue(r.Value)
	switch {
	case err != nil:
	case !ok || off < 0: // deleted, or "no offset": the reset policy applies
		delete(in.committed, k)
	default:
		in.committed[k] = off
	}
}
