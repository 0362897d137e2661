package flows

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

// Plan turns the expanded file into what a connect.Worker runs: the
// clusters with their client options, and the connectors of every enabled
// flow, named as MM2 names them (the names are also the namespaces of the
// source offsets in the Connect offsets topic, so a worker resumes from what
// Java MM2 stored).
func (e *Expanded) Plan() (connect.WorkerConfig, []connect.ConnectorSpec, error) {
	cfg := connect.WorkerConfig{Clusters: make(map[string]connect.ClusterConfig, len(e.Clusters))}
	var errs []error
	for alias, c := range e.Clusters {
		opts, err := c.ClientOpts()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Clusters[alias] = connect.ClusterConfig{
			Alias: alias, Opts: opts.Common,
			ConsumerOpts: opts.Consumer, ProducerOpts: opts.Producer, AdminOpts: opts.Admin,
		}
	}
	var specs []connect.ConnectorSpec
	for _, fl := range e.Flows {
		if ms, ok := fl.Props["offset.flush.interval.ms"]; ok {
			n, err := strconv.ParseInt(ms, 10, 64)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("%s: offset.flush.interval.ms: %q is not a positive number of milliseconds", fl.Name(), ms))
			} else if d := time.Duration(n) * time.Millisecond; cfg.OffsetFlushInterval == 0 || d < cfg.OffsetFlushInterval {
				// One worker-wide interval: the shortest asked for.
				cfg.OffsetFlushInterval = d
			}
		}
		if err := herderConfig(&cfg, fl); err != nil {
			errs = append(errs, err)
		}
		for _, class := range flowConnectors {
			specs = append(specs, connect.ConnectorSpec{
				Name: class, Class: class, Source: fl.Source, Target: fl.Target,
				Props: connect.Props(fl.Props).Clone(),
			})
		}
	}
	specs = append(specs, reverseHeartbeats(e.Flows)...)
	if err := errors.Join(errs...); err != nil {
		return connect.WorkerConfig{}, nil, err
	}
	return cfg, specs, nil
}

// herderConfig applies a flow's offset.storage.* keys and refuses what
// mm2go cannot do.
func herderConfig(cfg *connect.WorkerConfig, fl FlowConfig) error {
	switch v := fl.Props["exactly.once.source.support"]; v {
	case "", "disabled", "preparing":
	default:
		return fmt.Errorf("%s: exactly.once.source.support=%s: mm2go does not copy exactly-once yet; remove the key or set it to disabled", fl.Name(), v)
	}
	var h connect.HerderConfig
	h.OffsetsTopic = fl.Props["offset.storage.topic"]
	if v, ok := fl.Props["offset.storage.partitions"]; ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return fmt.Errorf("%s: offset.storage.partitions: %q is not a positive number", fl.Name(), v)
		}
		h.OffsetsTopicPartitions = int32(n)
	}
	if v, ok := fl.Props["offset.storage.replication.factor"]; ok {
		n, err := strconv.ParseInt(v, 10, 16)
		if err != nil || n == 0 || n < -1 {
			return fmt.Errorf("%s: offset.storage.replication.factor: %q is not a replication factor (-1 for the broker default)", fl.Name(), v)
		}
		h.OffsetsTopicReplication = int16(n)
	}
	if h != (connect.HerderConfig{}) {
		if cfg.Herders == nil {
			cfg.Herders = make(map[string]connect.HerderConfig)
		}
		cfg.Herders[fl.Name()] = h
	}
	return nil
}

// reverseHeartbeats returns a heartbeat connector for the reverse of every
// enabled flow that is not enabled itself. MM2 runs heartbeat connectors for
// every pair of clusters: for flow A->B, the B->A heartbeats written to A's
// "heartbeats" topic come back to B as "A.heartbeats", which is how tools on
// B discover that A is upstream and how many hops away. mm2go does it only
// for pairs joined by an enabled flow, and emit.heartbeats.enabled=false on
// the flow turns it off.
func reverseHeartbeats(enabled []FlowConfig) []connect.ConnectorSpec {
	have := make(map[string]bool, len(enabled))
	for _, fl := range enabled {
		have[fl.Source+"->"+fl.Target] = true
	}
	var out []connect.ConnectorSpec
	for _, fl := range enabled {
		if have[fl.Target+"->"+fl.Source] || fl.Props[connectors.KeyEmitHeartbeatsEnabled] == "false" {
			continue
		}
		have[fl.Target+"->"+fl.Source] = true
		props := connect.Props(fl.Props).Clone()
		props[connectors.KeySourceAlias], props[connectors.KeyTargetAlias] = fl.Target, fl.Source
		out = append(out, connect.ConnectorSpec{
			Name: connectors.ClassMirrorHeartbeat, Class: connectors.ClassMirrorHeartbeat,
			Source: fl.Target, Target: fl.Source, Props: props,
		})
	}
	return out
}

// flowConnectors are the connectors every enabled flow runs.
var flowConnectors = []string{connectors.ClassMirrorSource, connectors.ClassMirrorHeartbeat, connectors.ClassMirrorCheckpoint}
