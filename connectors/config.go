package connectors

import (
	"fmt"
	"time"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors/policy"
)

// Connector class names, as MM2 names its connectors (and as the
// source-offsets namespace when the connector name is not set).
const (
	ClassMirrorSource = "MirrorSourceConnector"
)

// MM2 property names used by the connectors.
const (
	KeySourceAlias          = "source.cluster.alias"
	KeyTargetAlias          = "target.cluster.alias"
	KeyReplicationFactor    = "replication.factor"
	KeyRefreshTopicsEnabled = "refresh.topics.enabled"
	KeyRefreshTopicsSeconds = "refresh.topics.interval.seconds"
	KeyHeartbeatsReplicate  = "heartbeats.replication.enabled"
	KeyOffsetReset          = "consumer.auto.offset.reset"
	KeyAssignedPartitions   = "task.assigned.partitions"
	KeyTaskIndex            = "task.index"
)

// Defaults where mm2go differs from MM2, and why.
const (
	// DefaultRefreshTopicsInterval is 5s, not MM2's 10 minutes: new topics
	// and partitions are copied seconds after they appear.
	DefaultRefreshTopicsInterval = 5 * time.Second
	// DefaultReplicationFactor is -1 (the target broker's
	// default.replication.factor), not MM2's 2: it is right on a one-broker
	// development cluster and on a production cluster whose default is 3.
	DefaultReplicationFactor = -1
)

// SourceConfig is MirrorSource's typed config.
type SourceConfig struct {
	SourceAlias, TargetAlias string
	Policy                   policy.ReplicationPolicy
	Topics                   *policy.TopicFilter
	ConfigProperties         *policy.ConfigPropertyFilter
	ReplicationFactor        int16
	RefreshTopics            bool
	RefreshInterval          time.Duration
	HeartbeatsReplication    bool
	// StartAtEnd is true when consumer.auto.offset.reset=latest: partitions
	// with no stored offset start at their end instead of their start.
	StartAtEnd bool
}

// ParseSourceConfig parses and checks MirrorSource's props.
func ParseSourceConfig(p connect.Props) (SourceConfig, error) {
	var c SourceConfig
	c.SourceAlias = p[KeySourceAlias]
	c.TargetAlias = p[KeyTargetAlias]
	if c.SourceAlias == "" || c.TargetAlias == "" {
		return c, fmt.Errorf("%s and %s are required", KeySourceAlias, KeyTargetAlias)
	}
	var err error
	if c.Policy, err = policy.FromProps(p); err != nil {
		return c, err
	}
	f, err := policy.FiltersFromProps(p)
	if err != nil {
		return c, err
	}
	c.Topics, c.ConfigProperties = f.Topics, f.ConfigProperties
	rf, err := p.Int(KeyReplicationFactor, DefaultReplicationFactor)
	if err != nil {
		return c, err
	}
	if rf < -1 || rf == 0 || rf > 32767 {
		return c, fmt.Errorf("%s: %d is not a replication factor (use -1 for the broker default)", KeyReplicationFactor, rf)
	}
	c.ReplicationFactor = int16(rf)
	if c.RefreshTopics, err = p.Bool(KeyRefreshTopicsEnabled, true); err != nil {
		return c, err
	}
	if c.RefreshInterval, err = p.Seconds(KeyRefreshTopicsSeconds, DefaultRefreshTopicsInterval); err != nil {
		return c, err
	}
	if c.RefreshInterval <= 0 {
		c.RefreshTopics = false
	}
	if c.HeartbeatsReplication, err = p.Bool(KeyHeartbeatsReplicate, true); err != nil {
		return c, err
	}
	switch reset := p.Get(KeyOffsetReset, "earliest"); reset {
	case "earliest":
	case "latest":
		c.StartAtEnd = true
	default:
		return c, fmt.Errorf("%s: %q is not earliest or latest", KeyOffsetReset, reset)
	}
	return c, nil
}

// ClassMirrorHeartbeat is MirrorHeartbeat's class name, as MM2 names the
// connector (and its source-offsets namespace under the dedicated driver).
const ClassMirrorHeartbeat = "MirrorHeartbeatConnector"

// MM2 property names read by MirrorHeartbeat.
const (
	KeyEmitHeartbeatsEnabled       = "emit.heartbeats.enabled"
	KeyEmitHeartbeatsSeconds       = "emit.heartbeats.interval.seconds"
	KeyHeartbeatsReplicationFactor = "heartbeats.topic.replication.factor"
)

// MirrorHeartbeat's defaults.
const (
	// DefaultEmitHeartbeatsInterval is MM2's: one heartbeat a second.
	DefaultEmitHeartbeatsInterval = time.Second
	// DefaultHeartbeatsReplicationFactor is -1 (the target broker's
	// default.replication.factor), not MM2's 3, for the reason given at
	// DefaultReplicationFactor.
	DefaultHeartbeatsReplicationFactor = -1
)
