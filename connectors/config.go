package connectors

import (
	"fmt"
	"strings"
	"time"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/offsets"
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
	// KeyPollTimeout bounds how long a task's Poll waits for records
	// (consumer.poll.timeout.ms, MM2's default 1000).
	KeyPollTimeout        = "consumer.poll.timeout.ms"
	KeyAssignedPartitions = "task.assigned.partitions"
	// KeyEndedPartitions (task-internal, mm2go) lists, in the form of
	// task.assigned.partitions, source partitions that no longer exist (topic
	// deleted, or re-created with fewer partitions) and that the task held
	// until now or whose stored offsets nobody else will close: the task
	// reports what they held past the last copied record and deletes their
	// stored offsets.
	KeyEndedPartitions = "task.ended.partitions"
	// KeyTopicIDs (task-internal, mm2go) lists topic=ID for the task's
	// topics that were deleted and re-created while the connector ran: the
	// task looks such a topic up again at once instead of waiting for its
	// fetches of the old topic ID to fail.
	KeyTopicIDs  = "task.topic.ids"
	KeyTaskIndex = "task.index"
)

// MM2 property names of offset syncs, read by MirrorSource.
const (
	KeyEmitOffsetSyncs              = "emit.offset-syncs.enabled"
	KeyOffsetSyncsTopicLocation     = "offset-syncs.topic.location"
	KeyOffsetSyncsReplicationFactor = "offset-syncs.topic.replication.factor"
	KeyOffsetLagMax                 = "offset.lag.max"
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
	// DefaultOffsetSyncsReplicationFactor is -1 (the broker default), not
	// MM2's 3, for the same reason.
	DefaultOffsetSyncsReplicationFactor = -1
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
	// PollTimeout bounds one Poll (consumer.poll.timeout.ms).
	PollTimeout time.Duration
	// EmitOffsetSyncs is emit.offset-syncs.enabled: write MM2 offset syncs.
	// mm2go's offset index is written either way.
	EmitOffsetSyncs bool
	// OffsetSyncsOnTarget is offset-syncs.topic.location=target: the
	// offset-syncs topic is on the target cluster instead of the source.
	OffsetSyncsOnTarget bool
	// OffsetSyncsReplicationFactor is used when the connector creates the
	// offset-syncs topic and the offset index topic.
	OffsetSyncsReplicationFactor int16
	// OffsetLagMax is offset.lag.max: how far a partition's target offset
	// may move past its last offset sync before the next one.
	OffsetLagMax int64

	// SyncConfigsInterval is how often changed topic configs are copied
	// (sync.topic.configs.*); 0 when off.
	SyncConfigsInterval time.Duration
	// SyncACLsInterval is how often topic ACLs are copied
	// (sync.topic.acls.*); 0 when off.
	SyncACLsInterval time.Duration
	// CarryMinISR also copies min.insync.replicas (MM2 never does).
	CarryMinISR bool
	// TargetKeep matches properties that are never set on the target
	// (config.properties.target.keep): operators set them there by hand.
	TargetKeep *policy.ConfigPropertyFilter
	// RFFromSource creates remote topics with their source topic's
	// replication factor instead of ReplicationFactor.
	RFFromSource bool
	// DefaultsFromSource is use.defaults.from=source: remote topics get the
	// source topic's default values too, not only its overrides.
	DefaultsFromSource bool
	// FailOnDataLoss is on.data.loss=fail: a task fails when source records
	// were deleted before it copied them, instead of reporting and going on.
	FailOnDataLoss bool
}

// OffsetSyncsTopic returns the offset-syncs topic's name and the alias of
// the cluster it is on: "mm2-offset-syncs.<target>.internal" on the source,
// or with OffsetSyncsOnTarget "mm2-offset-syncs.<source>.internal" on the
// target (the name carries the other cluster's alias), with the policy's
// internal separator.
func (c SourceConfig) OffsetSyncsTopic() (topic, cluster string) {
	if c.OffsetSyncsOnTarget {
		return c.Policy.OffsetSyncsTopic(c.SourceAlias), c.TargetAlias
	}
	return c.Policy.OffsetSyncsTopic(c.TargetAlias), c.SourceAlias
}

// ParseSourceConfig parses and checks MirrorSource's props.
func ParseSourceConfig(p connect.Props) (SourceConfig, error) {
	var c SourceConfig
	var f policy.Filters
	var err error
	if c.SourceAlias, c.TargetAlias, c.Policy, f, err = parseFlow(p); err != nil {
		return c, err
	}
	c.Topics, c.ConfigProperties = f.Topics, f.ConfigProperties
	if c.ReplicationFactor, err = replicationFactor(p, KeyReplicationFactor, DefaultReplicationFactor); err != nil {
		return c, err
	}
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
	if c.PollTimeout, err = pollTimeoutOf(p); err != nil {
		return c, err
	}
	if c.EmitOffsetSyncs, err = p.Bool(KeyEmitOffsetSyncs, true); err != nil {
		return c, err
	}
	switch loc := strings.TrimSpace(p.Get(KeyOffsetSyncsTopicLocation, "source")); {
	case strings.EqualFold(loc, "source"):
	case strings.EqualFold(loc, "target"):
		c.OffsetSyncsOnTarget = true
	default:
		return c, fmt.Errorf("%s: %q is not source or target", KeyOffsetSyncsTopicLocation, loc)
	}
	if c.OffsetSyncsReplicationFactor, err = replicationFactor(p, KeyOffsetSyncsReplicationFactor, DefaultOffsetSyncsReplicationFactor); err != nil {
		return c, err
	}
	// Any value, as in MM2: zero or less makes every record a sync.
	if c.OffsetLagMax, err = p.Int(KeyOffsetLagMax, offsets.DefaultOffsetLagMax); err != nil {
		return c, err
	}
	if c.SyncConfigsInterval, err = enabledInterval(p, KeySyncConfigsEnabled, KeySyncConfigsSeconds, DefaultSyncInterval); err != nil {
		return c, err
	}
	if c.SyncACLsInterval, err = enabledInterval(p, KeySyncACLsEnabled, KeySyncACLsSeconds, DefaultSyncInterval); err != nil {
		return c, err
	}
	if c.CarryMinISR, err = p.Bool(KeySyncMinISR, false); err != nil {
		return c, err
	}
	if c.RFFromSource, err = p.Bool(KeyRFFromSource, false); err != nil {
		return c, err
	}
	if keep := strings.TrimSpace(p[KeyTargetKeep]); keep != "" {
		f, err := policy.NewConfigPropertyFilter(keep)
		if err != nil {
			return c, fmt.Errorf("%s: %w", KeyTargetKeep, err)
		}
		c.TargetKeep = f
	}
	switch v := strings.ToLower(strings.TrimSpace(p.Get(KeyUseDefaultsFrom, "target"))); v {
	case "target":
	case "source":
		c.DefaultsFromSource = true
	default:
		return c, fmt.Errorf("%s: %q is not target or source", KeyUseDefaultsFrom, v)
	}
	switch v := strings.ToLower(strings.TrimSpace(p.Get(KeyOnDataLoss, "continue"))); v {
	case "continue":
	case "fail":
		c.FailOnDataLoss = true
	default:
		return c, fmt.Errorf("%s: %q is not continue or fail", KeyOnDataLoss, v)
	}
	return c, nil
}

// pollTimeoutOf reads consumer.poll.timeout.ms: a positive number of
// milliseconds, 1000 by default.
func pollTimeoutOf(p connect.Props) (time.Duration, error) {
	ms, err := p.Int(KeyPollTimeout, int64(defaultPollTimeout/time.Millisecond))
	if err != nil {
		return 0, err
	}
	if ms <= 0 || ms > int64(time.Hour/time.Millisecond) {
		return 0, fmt.Errorf("%s: %d is out of range: use 1 to 3600000 milliseconds", KeyPollTimeout, ms)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// parseFlow reads what every connector of a flow needs: the two aliases,
// the replication policy and the filters.
func parseFlow(p connect.Props) (source, target string, pol policy.ReplicationPolicy, f policy.Filters, err error) {
	source, target = p[KeySourceAlias], p[KeyTargetAlias]
	if source == "" || target == "" {
		return "", "", nil, f, fmt.Errorf("%s and %s are required", KeySourceAlias, KeyTargetAlias)
	}
	if pol, err = policy.FromProps(p); err != nil {
		return "", "", nil, f, err
	}
	if f, err = policy.FiltersFromProps(p); err != nil {
		return "", "", nil, f, err
	}
	return source, target, pol, f, nil
}

// replicationFactor reads a replication factor key: a positive factor, or
// -1 for the broker default.
func replicationFactor(p connect.Props, key string, def int64) (int16, error) {
	rf, err := p.Int(key, def)
	if err != nil {
		return 0, err
	}
	if rf < -1 || rf == 0 || rf > 32767 {
		return 0, fmt.Errorf("%s: %d is not a replication factor (use -1 for the broker default)", key, rf)
	}
	return int16(rf), nil
}

// enabledInterval reads a feature's <x>.enabled and <x>.interval.seconds
// pair: 0 when the feature is off (disabled, or a negative interval as in
// MM2).
func enabledInterval(p connect.Props, enabledKey, secondsKey string, def time.Duration) (time.Duration, error) {
	on, err := p.Bool(enabledKey, true)
	if err != nil || !on {
		return 0, err
	}
	d, err := p.Seconds(secondsKey, def)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, nil
	}
	return d, nil
}

// Topic config and ACL sync keys, and mm2go's own source keys.
const (
	KeySyncConfigsEnabled = "sync.topic.configs.enabled"
	KeySyncConfigsSeconds = "sync.topic.configs.interval.seconds"
	KeySyncACLsEnabled    = "sync.topic.acls.enabled"
	KeySyncACLsSeconds    = "sync.topic.acls.interval.seconds"
	KeySyncMinISR         = "sync.topic.configs.min.insync.replicas"
	KeyTargetKeep         = "config.properties.target.keep"
	KeyRFFromSource       = "replication.factor.from.source"
	KeyOnDataLoss         = "on.data.loss"
	// KeyUseDefaultsFrom is MM2's use.defaults.from: target (the default)
	// or source.
	KeyUseDefaultsFrom = "use.defaults.from"

	// DefaultSyncInterval is how often topic configs and ACLs are synced:
	// 10s, not MM2's 10 minutes.
	DefaultSyncInterval = 10 * time.Second
)

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

// ClassMirrorCheckpoint is MirrorCheckpoint's class name, as MM2 names the
// connector (and its source-offsets namespace under the dedicated driver).
const ClassMirrorCheckpoint = "MirrorCheckpointConnector"

// MM2 property names read by MirrorCheckpoint (besides the filters and the
// replication policy keys).
const (
	KeyRefreshGroupsEnabled         = "refresh.groups.enabled"
	KeyRefreshGroupsSeconds         = "refresh.groups.interval.seconds"
	KeyEmitCheckpointsEnabled       = "emit.checkpoints.enabled"
	KeyEmitCheckpointsSeconds       = "emit.checkpoints.interval.seconds"
	KeySyncGroupOffsetsEnabled      = "sync.group.offsets.enabled"
	KeySyncGroupOffsetsSeconds      = "sync.group.offsets.interval.seconds"
	KeyCheckpointsReplicationFactor = "checkpoints.topic.replication.factor"
	KeyAssignedGroups               = "task.assigned.groups"
)

// MirrorCheckpoint's defaults where mm2go differs from MM2, and why.
const (
	// DefaultRefreshGroupsInterval is 5s, not MM2's 10 minutes: a new
	// consumer group is checkpointed seconds after its first commit.
	DefaultRefreshGroupsInterval = 5 * time.Second
	// DefaultEmitCheckpointsInterval is 5s, not MM2's 60s: a checkpoint is
	// what a consumer resumes from after a failover, so its age is the
	// failover's re-read window (MM2 limitation 13).
	DefaultEmitCheckpointsInterval = 5 * time.Second
	// DefaultSyncGroupOffsetsInterval is 5s, not MM2's 60s, for the same
	// reason. Syncing itself stays off by default, as in MM2.
	DefaultSyncGroupOffsetsInterval = 5 * time.Second
	// DefaultCheckpointsReplicationFactor is -1 (the target broker's
	// default.replication.factor), not MM2's 3, for the reason given at
	// DefaultReplicationFactor.
	DefaultCheckpointsReplicationFactor = -1
)
