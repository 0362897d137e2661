package connectors

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/internal/ktopic"
	"github.com/mm2go/mm2go/offsets"
)

// HeartbeatConfig is MirrorHeartbeat's typed config.
type HeartbeatConfig struct {
	SourceAlias, TargetAlias string
	// Topic is the heartbeats topic on the target: the replication policy's
	// HeartbeatsTopic, "heartbeats" under both Default and Identity.
	Topic string
	// Interval is the time between two heartbeats
	// (emit.heartbeats.interval.seconds, fractions allowed). It is 0 when
	// emission is off: emit.heartbeats.enabled=false or a negative interval,
	// as in MM2.
	Interval time.Duration
	// ReplicationFactor is used when the connector creates Topic.
	ReplicationFactor int16
}

// Enabled reports whether the connector emits heartbeats at all.
func (c HeartbeatConfig) Enabled() bool { return c.Interval > 0 }

// ParseHeartbeatConfig parses and checks MirrorHeartbeat's props:
// source.cluster.alias and target.cluster.alias (required), the replication
// policy keys, emit.heartbeats.enabled (true),
// emit.heartbeats.interval.seconds (1) and
// heartbeats.topic.replication.factor (-1, the broker default).
//
// An interval of zero is refused: MM2 would emit heartbeats in a busy loop.
// Disable emission with a negative interval or emit.heartbeats.enabled=false.
func ParseHeartbeatConfig(p connect.Props) (HeartbeatConfig, error) {
	var c HeartbeatConfig
	c.SourceAlias = p[KeySourceAlias]
	c.TargetAlias = p[KeyTargetAlias]
	if c.SourceAlias == "" || c.TargetAlias == "" {
		return c, fmt.Errorf("%s and %s are required", KeySourceAlias, KeyTargetAlias)
	}
	// The key is the same for every heartbeat; checking it here turns an
	// alias too long for MM2's STRING into a config error.
	if _, err := (offsets.Heartbeat{SourceClusterAlias: c.SourceAlias, TargetClusterAlias: c.TargetAlias}).Key(); err != nil {
		return c, err
	}
	pol, err := policy.FromProps(p)
	if err != nil {
		return c, err
	}
	c.Topic = pol.HeartbeatsTopic()
	enabled, err := p.Bool(KeyEmitHeartbeatsEnabled, true)
	if err != nil {
		return c, err
	}
	interval, err := p.Seconds(KeyEmitHeartbeatsSeconds, DefaultEmitHeartbeatsInterval)
	if err != nil {
		return c, err
	}
	switch {
	case !enabled, interval < 0:
	case interval == 0:
		return c, fmt.Errorf("%s: %q is no interval (use a positive number of seconds, or %s=false to emit no heartbeats)",
			KeyEmitHeartbeatsSeconds, p[KeyEmitHeartbeatsSeconds], KeyEmitHeartbeatsEnabled)
	default:
		c.Interval = interval
	}
	if c.ReplicationFactor, err = replicationFactor(p, KeyHeartbeatsReplicationFactor, DefaultHeartbeatsReplicationFactor); err != nil {
		return c, err
	}
	return c, nil
}

// MirrorHeartbeat is MM2's MirrorHeartbeatConnector. Start creates the
// heartbeats topic on the target if it is missing (one partition,
// cleanup.policy=compact), and its one task writes a heartbeat
// (offsets.Heartbeat) to partition 0 of that topic every Interval. Source
// connectors then carry the topic downstream as "<source>.heartbeats",
// "<source2>.<source>.heartbeats" and so on, which is how offsets.Client
// finds upstream clusters, counts hops and tells whether replication is
// alive.
//
// As in MM2 the connector has no task when emission is disabled, but still
// creates the topic. It does not read the flow's "enabled" key: MM2 runs the
// heartbeat connector of a pair of clusters even when the pair's flow is
// disabled (spec §6.1); whoever builds the connector specs decides which
// pairs get one.
type MirrorHeartbeat struct {
	cfg HeartbeatConfig
	cc  *connect.ConnectorContext
}

// NewMirrorHeartbeat returns an unstarted MirrorHeartbeat.
func NewMirrorHeartbeat() connect.Connector { return &MirrorHeartbeat{} }

// Start implements connect.Connector. A config error, a replication factor
// the target cannot meet, and a refused topic creation fail the connector;
// errors that may pass (an unreachable target, a timeout) are retried by the
// worker. Like MM2, it goes on without the topic when the target does not
// allow it to create topics or does not support creating them: an operator
// may have created it.
func (m *MirrorHeartbeat) Start(ctx context.Context, cc *connect.ConnectorContext) error {
	cfg, err := ParseHeartbeatConfig(cc.Props)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	m.cfg, m.cc = cfg, cc
	cl, err := cc.NewClient(cc.Target, connect.RoleAdmin)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = ktopic.CreateCompacted(ctx, kadm.NewClient(cl), ktopic.Compacted{Topic: cfg.Topic, Cluster: cc.Target,
		ReplicationFactor: cfg.ReplicationFactor, ReplicationFactorKey: KeyHeartbeatsReplicationFactor}, cc.Logger)
	return err
}

// TaskConfigs implements connect.Connector: one task, or none when
// emission is disabled.
func (m *MirrorHeartbeat) TaskConfigs(int) ([]connect.Props, error) {
	if !m.cfg.Enabled() {
		return nil, nil
	}
	return []connect.Props{m.cc.Props.Clone()}, nil
}

// NewTask implements connect.Connector.
func (m *MirrorHeartbeat) NewTask() connect.SourceTask { return &MirrorHeartbeatTask{} }

// Stop implements connect.Connector. Start leaves nothing running, so there
// is nothing to stop.
func (m *MirrorHeartbeat) Stop(context.Context) error { return nil }

// MirrorHeartbeatTask is MM2's MirrorHeartbeatTask: every Interval, Poll
// returns one record for partition 0 of the heartbeats topic whose key and
// value are offsets.Heartbeat{source, target, now} and whose timestamp is
// the same millisecond, with no headers: byte for byte what MM2 writes.
//
// Its source partition is MM2's {"sourceClusterAlias","targetClusterAlias"}
// map and its source offset always 0, so the worker stores
// {"offset":0} under connect.MirrorHeartbeatOffsetKey in the Connect offsets
// topic, as MM2 does. The runtime keeps in-flight offsets of a partition in
// FIFO order, so the repeated 0 is safe; it commits an offset only when it
// passes the committed one, so that entry is written once per connector name
// and pair, not on every offset flush as Connect does. It is never read back.
type MirrorHeartbeatTask struct {
	log  hclog.Logger
	cfg  HeartbeatConfig
	sp   *connect.SourcePartition
	key  []byte    // the same for every heartbeat; never changed once built
	next time.Time // when the next heartbeat is due
	out  []connect.SourceRecord
}

// Start implements connect.SourceTask.
func (t *MirrorHeartbeatTask) Start(_ context.Context, tc *connect.TaskContext) error {
	cfg, err := ParseHeartbeatConfig(tc.Props)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	t.init(cfg, tc.Partition(connect.MirrorHeartbeatOffsetKey(tc.Connector, cfg.SourceAlias, cfg.TargetAlias)), tc.Logger)
	tc.Logger.Info("emitting heartbeats", "topic", cfg.Topic, "interval", cfg.Interval)
	return nil
}

// init readies the task for its first Poll: the first heartbeat is due one
// interval from now, as in MM2.
func (t *MirrorHeartbeatTask) init(cfg HeartbeatConfig, sp *connect.SourcePartition, log hclog.Logger) {
	t.cfg, t.sp, t.log = cfg, sp, log
	// ParseHeartbeatConfig checked that the key encodes.
	t.key, _ = offsets.Heartbeat{SourceClusterAlias: cfg.SourceAlias, TargetClusterAlias: cfg.TargetAlias}.Key()
	t.next = time.Now().Add(cfg.Interval)
}

// Poll implements connect.SourceTask. It sleeps until the next heartbeat is
// due, or for at most pollTimeout, and returns that heartbeat or (nil, nil).
// Heartbeats are due at fixed intervals from Start; one that is late (a slow
// target) is sent at once and the schedule restarts from it, so a stall
// never causes a burst.
func (t *MirrorHeartbeatTask) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if !t.cfg.Enabled() {
		sleepUntilDone(ctx, pollTimeout)
		return nil, nil
	}
	if d := time.Until(t.next); d > 0 {
		if !sleepUntilDone(ctx, min(d, pollTimeout)) || time.Now().Before(t.next) {
			return nil, nil
		}
	}
	now := time.Now()
	t.next = t.next.Add(t.cfg.Interval)
	if !t.next.After(now) {
		t.next = now.Add(t.cfg.Interval)
	}
	hb := offsets.Heartbeat{SourceClusterAlias: t.cfg.SourceAlias, TargetClusterAlias: t.cfg.TargetAlias, Timestamp: now.UnixMilli()}
	value, _ := hb.Value() // a heartbeat value always encodes
	rec := &kgo.Record{
		Topic:     t.cfg.Topic,
		Partition: 0,
		Key:       t.key,
		Value:     value,
		Timestamp: time.UnixMilli(hb.Timestamp),
	}
	if t.log.IsTrace() {
		t.log.Trace("heartbeat", "topic", t.cfg.Topic, "timestamp", hb.Timestamp)
	}
	t.out = append(t.out[:0], connect.SourceRecord{Record: rec, Partition: t.sp, Offset: 0})
	return t.out, nil
}

// Stop implements connect.SourceTask. The task holds no resources.
func (t *MirrorHeartbeatTask) Stop(context.Context) error { return nil }

// sleepUntilDone sleeps for d or until ctx is done, and reports whether it
// slept the whole d.
func sleepUntilDone(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
