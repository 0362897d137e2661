package flows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

// Plan turns the expanded file into what a connect.Worker runs: the
// clusters with their client options, and the connectors of every enabled
// flow, named as MM2 names them (the names are also the namespaces of the
// source offsets in the Connect offsets topic, so a worker resumes from what
// Java MM2 stored; "name" renames the source connector, for a takeover
// from MM2 hosted on Connect), each with its flow's client options
// (ConnectorSpec.Clients and RecordProducer) and herder settings.
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
		if err := herderConfig(&cfg, fl.Name(), fl.Worker); err != nil {
			errs = append(errs, err)
		}
		clients, records, err := e.clientOpts(fl)
		if err != nil {
			errs = append(errs, err)
		}
		for _, class := range flowConnectors {
			name := class
			if n := fl.Props["name"]; n != "" && class == connectors.ClassMirrorSource {
				name = n
			}
			specs = append(specs, connect.ConnectorSpec{
				Name: name, Class: class, Source: fl.Source, Target: fl.Target,
				Props: connect.Props(fl.Props).Clone(), Clients: clients, RecordProducer: records,
			})
		}
	}
	reverse, err := e.reverseHeartbeats(&cfg)
	if err != nil {
		errs = append(errs, err)
	}
	specs = append(specs, reverse...)
	if err := errors.Join(errs...); err != nil {
		return connect.WorkerConfig{}, nil, e.secrets.cleanError(err)
	}
	for i := range specs { // the REST API hides what config providers resolved
		specs[i].Secrets = e.secrets.list()
	}
	return cfg, specs, nil
}

// clientOpts returns the options a flow's connectors add for their clients
// on top of the clusters' (connect.ConnectorSpec.Clients), and for the
// producer of their records (RecordProducer): for each client whose
// properties differ from what every client of its cluster and role gets,
// the options of all its properties, which give it exactly its own. An
// admin.timeout.ms bounds the connectors' admin calls (kgo.RetryTimeout).
func (e *Expanded) clientOpts(fl FlowConfig) (map[string]connect.RoleOpts, []kgo.Opt, error) {
	clients := make(map[string]connect.RoleOpts)
	var records []kgo.Opt
	var errs []error
	for _, name := range sortedKeys(fl.Clients) {
		alias, role := sideCluster(name, fl.Source, fl.Target)
		c := e.Clusters[alias]
		if c == nil || sameValues(toPropSet(fl.Clients[name]), c.clusterProps(role)) {
			continue
		}
		opts, rerrs := roleOpts(toPropSet(fl.Clients[name]), role)
		for _, err := range rerrs {
			errs = append(errs, fmt.Errorf("%s: %s client: %w", fl.Name(), name, err))
		}
		if name == ClientWorkerProducer {
			records = opts
			continue
		}
		ro := clients[alias]
		switch role {
		case roleConsumer:
			ro.Consumer = opts
		case roleProducer:
			ro.Producer = opts
		default:
			ro.Admin = opts
		}
		clients[alias] = ro
	}
	if v, ok := fl.Props["admin.timeout.ms"]; ok {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			errs = append(errs, fmt.Errorf("%s: admin.timeout.ms: %q is not a number of milliseconds", fl.Name(), v))
		} else {
			for _, alias := range []string{fl.Source, fl.Target} {
				ro := clients[alias]
				ro.Admin = append(ro.Admin, kgo.RetryTimeout(time.Duration(ms)*time.Millisecond))
				clients[alias] = ro
			}
		}
	}
	if len(clients) == 0 {
		clients = nil
	}
	return clients, records, errors.Join(errs...)
}

// toPropSet returns values as a property set without paths.
func toPropSet(values map[string]string) propSet {
	set := make(propSet, len(values))
	for k, v := range values {
		set[k] = propAt{value: v}
	}
	return set
}

// herderConfig applies the worker keys of herder ("A->B") to cfg. Validate
// checked them; Plan checks again for Expanded values built by hand.
func herderConfig(cfg *connect.WorkerConfig, herder string, worker map[string]string) error {
	var h connect.HerderConfig
	switch v := strings.ToLower(worker[KeyExactlyOnceSourceSupport]); v {
	case "", "disabled", "preparing":
		// preparing is Connect's step before enabled on a running cluster;
		// mm2go needs none (no config topic), so it copies at least once.
	case "enabled":
		h.ExactlyOnce = true
	default:
		return fmt.Errorf("%s: %s: expected disabled, preparing or enabled, got %q", herder, KeyExactlyOnceSourceSupport, v)
	}
	h.GroupID = strings.TrimSpace(worker["group.id"])
	h.OffsetsTopic = worker["offset.storage.topic"]
	if v, ok := worker["offset.storage.partitions"]; ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return fmt.Errorf("%s: offset.storage.partitions: %q is not a positive number", herder, v)
		}
		h.OffsetsTopicPartitions = int32(n)
	}
	if v, ok := worker["offset.storage.replication.factor"]; ok {
		n, err := strconv.ParseInt(v, 10, 16)
		if err != nil || n == 0 || n < -1 {
			return fmt.Errorf("%s: offset.storage.replication.factor: %q is not a replication factor (-1 for the broker default)", herder, v)
		}
		h.OffsetsTopicReplication = int16(n)
	}
	if v, ok := worker["offset.flush.interval.ms"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%s: offset.flush.interval.ms: %q is not a positive number of milliseconds", herder, v)
		}
		h.OffsetFlushInterval = time.Duration(n) * time.Millisecond
	}
	if h != (connect.HerderConfig{}) {
		if cfg.Herders == nil {
			cfg.Herders = make(map[string]connect.HerderConfig)
		}
		cfg.Herders[herder] = h
	}
	return nil
}

// reverseHeartbeats returns a heartbeat connector for the reverse of every
// enabled flow that is not enabled itself. MM2 runs heartbeat connectors for
// every pair of clusters: for flow A->B, the B->A heartbeats written to A's
// "heartbeats" topic come back to B as "A.heartbeats", which is how tools on
// B discover that A is upstream and how many hops away. mm2go does it only
// for pairs joined by an enabled flow. When the file defines B->A (not
// enabled), its own settings apply, as in MM2: emit.heartbeats.enabled=false
// there turns the reverse heartbeats off, and its interval, client and
// worker settings are used. Otherwise the heartbeats take A->B's settings
// (emit.heartbeats.enabled=false on A->B turns them off), and the herder's
// worker keys and clients those of cluster A and the top level, as in MM2.
func (e *Expanded) reverseHeartbeats(cfg *connect.WorkerConfig) ([]connect.ConnectorSpec, error) {
	have := make(map[string]bool, len(e.Flows))
	for _, fl := range e.Flows {
		have[fl.Source+"->"+fl.Target] = true
	}
	var out []connect.ConnectorSpec
	var errs []error
	for _, fl := range e.Flows {
		name := fl.Target + "->" + fl.Source
		if have[name] {
			continue
		}
		have[name] = true
		rev, defined := e.disabled[name]
		if !defined {
			if fl.Props[connectors.KeyEmitHeartbeatsEnabled] == "false" {
				continue
			}
			props := connect.Props(fl.Props).Clone()
			props[connectors.KeySourceAlias], props[connectors.KeyTargetAlias] = fl.Target, fl.Source
			rev = FlowConfig{Source: fl.Target, Target: fl.Source, Props: props,
				Worker: herderProps(e.Clusters[fl.Source].Properties, e.settings, nil)}
			top := settingsLayer{settings: e.settings, path: func(k string) string { return k }}
			rev.Clients = make(map[string]map[string]string)
			for name, set := range flowClients(e.Clusters[rev.Source], e.Clusters[rev.Target], top, settingsLayer{}) {
				rev.Clients[name] = trimmed(set.values())
			}
		} else if rev.Props[connectors.KeyEmitHeartbeatsEnabled] == "false" {
			continue
		}
		if err := herderConfig(cfg, rev.Name(), rev.Worker); err != nil {
			errs = append(errs, err)
		}
		clients, records, err := e.clientOpts(rev)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, connect.ConnectorSpec{
			Name: connectors.ClassMirrorHeartbeat, Class: connectors.ClassMirrorHeartbeat,
			Source: rev.Source, Target: rev.Target, Props: connect.Props(rev.Props).Clone(),
			Clients: clients, RecordProducer: records,
		})
	}
	return out, errors.Join(errs...)
}

// flowConnectors are the connectors every enabled flow runs.
var flowConnectors = []string{connectors.ClassMirrorSource, connectors.ClassMirrorHeartbeat, connectors.ClassMirrorCheckpoint}
