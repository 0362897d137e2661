package inspect

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/flows"
)

// Flow is what inspect needs to know of one flow source->target: how to
// reach both clusters, which topics and groups it replicates and under
// which names, and where the worker keeps its state on the target. Build it
// with FlowFromFile, or fill it in for a flow configured some other way.
type Flow struct {
	// Source and Target are the cluster aliases.
	Source, Target string
	// SourceOpts and TargetOpts reach each cluster (seed brokers, TLS,
	// SASL), with the options the worker's consumers of that cluster get
	// (isolation.level among them), so that records are read as the worker
	// reads them. They must not consume (no group, topics or partitions).
	SourceOpts, TargetOpts []kgo.Opt
	// Policy names remote topics and tells internal ones.
	Policy policy.ReplicationPolicy
	// Topics and Groups are the flow's filters.
	Topics *policy.TopicFilter
	Groups *policy.GroupFilter
	// HeartbeatsReplication is heartbeats.replication.enabled: heartbeats
	// topics are copied whatever the topic filter says.
	HeartbeatsReplication bool
	// StartAtEnd is consumer.auto.offset.reset=latest: a partition with no
	// committed source offset starts copying at its end, not its start.
	StartAtEnd bool
	// Connector is the namespace of the flow's source offsets in the
	// Connect offsets topic: MirrorSourceConnector, as MM2 names it.
	Connector string
	// OffsetsTopic is the Connect offsets topic on the target
	// (offset.storage.topic, mm2-offsets.<source>.internal by default).
	OffsetsTopic string
	// IndexTopic is mm2go's offset index on the target.
	IndexTopic string
	// CheckpointsTopic is the flow's checkpoints topic on the target.
	CheckpointsTopic string
	// SyncGroupOffsets is sync.group.offsets.enabled: the worker commits
	// translated offsets into the target's idle groups.
	SyncGroupOffsets bool
	// ReadCommitted is isolation.level=read_committed for the source's
	// consumers: records of open transactions are not copied yet, so the
	// source's end is its last stable offset.
	ReadCommitted bool
	// FlushInterval is offset.flush.interval.ms: how often the worker
	// commits source offsets, so how far the committed offsets may trail
	// the copy. 0 means the worker's default, 5s.
	FlushInterval time.Duration
}

// Name returns "source->target".
func (f *Flow) Name() string { return f.Source + "->" + f.Target }

// RemoteTopic returns the name a source topic has on the target.
func (f *Flow) RemoteTopic(topic string) string { return f.Policy.FormatRemoteTopic(f.Source, topic) }

// replicates reports whether the flow copies source topic, by the rules the
// worker's MirrorSource applies.
func (f *Flow) replicates(topic string) bool {
	return policy.ShouldReplicate(f.Policy, f.Topics, topic, f.Target, f.HeartbeatsReplication)
}

// FlowFromFile returns the flow source->target of a validated flow file,
// even when it is disabled (after a cut-over it may well be): its clusters'
// client options and the settings the worker would run it with.
func FlowFromFile(f *flows.File, source, target string) (*Flow, error) {
	e, _, err := f.ExpandFlow("the flow file", source, target)
	if err != nil {
		return nil, err
	}
	return flowFromExpanded(e, source, target)
}

// EnabledFlows returns every enabled flow of a validated flow file, sorted
// by source and target.
func EnabledFlows(f *flows.File) ([]*Flow, error) {
	e, err := f.Expand()
	if err != nil {
		return nil, err
	}
	var out []*Flow
	for _, fc := range e.Flows {
		fl, err := flowFromExpanded(e, fc.Source, fc.Target)
		if err != nil {
			return nil, err
		}
		out = append(out, fl)
	}
	return out, nil
}

func flowFromExpanded(e *flows.Expanded, source, target string) (*Flow, error) {
	var props connect.Props
	for _, fc := range e.Flows {
		if fc.Source == source && fc.Target == target {
			props = connect.Props(fc.Props)
		}
	}
	if props == nil {
		return nil, fmt.Errorf("the flow file has no enabled flow %s->%s", source, target)
	}
	sc, err := connectors.ParseSourceConfig(props)
	if err != nil {
		return nil, fmt.Errorf("flow %s->%s: %w", source, target, err)
	}
	cc, err := connectors.ParseCheckpointConfig(props)
	if err != nil {
		return nil, fmt.Errorf("flow %s->%s: %w", source, target, err)
	}
	fl := &Flow{
		Source: source, Target: target,
		Policy: sc.Policy, Topics: sc.Topics, Groups: cc.Groups,
		HeartbeatsReplication: sc.HeartbeatsReplication, StartAtEnd: sc.StartAtEnd,
		Connector:    connectors.ClassMirrorSource,
		OffsetsTopic: connect.OffsetsTopic(source),
		IndexTopic:   cc.IndexTopic, CheckpointsTopic: cc.CheckpointsTopic,
		SyncGroupOffsets: cc.SyncInterval > 0,
	}
	if ms, err := strconv.ParseInt(props["offset.flush.interval.ms"], 10, 64); err == nil && ms > 0 {
		fl.FlushInterval = time.Duration(ms) * time.Millisecond
	}
	if t := strings.TrimSpace(props["offset.storage.topic"]); t != "" {
		fl.OffsetsTopic = t
	}
	cprops := e.Clusters[source].Properties
	level, ok := cprops["consumer.isolation.level"]
	if !ok {
		level = cprops["isolation.level"]
	}
	fl.ReadCommitted = strings.EqualFold(strings.TrimSpace(level), "read_committed")
	for _, c := range []struct {
		dst   *[]kgo.Opt
		alias string
	}{{&fl.SourceOpts, source}, {&fl.TargetOpts, target}} {
		opts, err := e.Clusters[c.alias].ClientOpts()
		if err != nil {
			return nil, err
		}
		*c.dst = append(append([]kgo.Opt(nil), opts.Common...), opts.Consumer...)
	}
	return fl, nil
}
