package connectors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/internal/ktopic"
	"github.com/mm2go/mm2go/offsets"
)

// CheckpointConfig is MirrorCheckpoint's typed config.
type CheckpointConfig struct {
	SourceAlias, TargetAlias string
	Policy                   policy.ReplicationPolicy
	// Topics and Groups are the flow's filters: a group is checkpointed when
	// Groups accepts it and it has committed offsets on a topic that Topics
	// accepts; only those topics' partitions are checkpointed.
	Topics *policy.TopicFilter
	Groups *policy.GroupFilter
	// CheckpointsTopic is "<source>.checkpoints.internal" on the target (the
	// policy's CheckpointsTopic of the source alias).
	CheckpointsTopic string
	// IndexTopic is mm2go's offset index of the flow's source on the target
	// (offsets.IndexTopic), written by MirrorSource tasks.
	IndexTopic string
	// ReplicationFactor is used when the connector creates CheckpointsTopic.
	ReplicationFactor int16
	// RefreshGroupsInterval is how often the connector looks for new and
	// gone groups; 0 when refresh.groups.enabled is false or the interval
	// negative.
	RefreshGroupsInterval time.Duration
	// EmitInterval is how often tasks emit checkpoints; 0 when
	// emit.checkpoints.enabled is false or the interval negative.
	EmitInterval time.Duration
	// SyncInterval is how often tasks commit translated offsets into the
	// target's consumer groups; 0 when sync.group.offsets.enabled is false
	// (the default, as in MM2) or the interval negative.
	SyncInterval time.Duration
	// PollTimeout is how long a task's Poll waits for checkpoints
	// (consumer.poll.timeout.ms).
	PollTimeout time.Duration
}

// ParseCheckpointConfig parses and checks MirrorCheckpoint's props:
// source.cluster.alias and target.cluster.alias (required), the replication
// policy keys, the topic and group filters, refresh.groups.enabled (true)
// and refresh.groups.interval.seconds (5), emit.checkpoints.enabled (true)
// and emit.checkpoints.interval.seconds (5), sync.group.offsets.enabled
// (false) and sync.group.offsets.interval.seconds (5), and
// checkpoints.topic.replication.factor (-1, the broker default).
//
// A zero interval is refused (it would loop without pause; disable with a
// negative interval or the *.enabled key), and so are checkpoint emission
// and group offset sync both disabled, which MM2 refuses too: the connector
// would have nothing to do.
func ParseCheckpointConfig(p connect.Props) (CheckpointConfig, error) {
	var c CheckpointConfig
	var f policy.Filters
	var err error
	if c.SourceAlias, c.TargetAlias, c.Policy, f, err = parseFlow(p); err != nil {
		return c, err
	}
	c.Topics, c.Groups = f.Topics, f.Groups
	c.CheckpointsTopic = c.Policy.CheckpointsTopic(c.SourceAlias)
	c.IndexTopic = offsets.IndexTopic(c.SourceAlias)
	if c.ReplicationFactor, err = replicationFactor(p, KeyCheckpointsReplicationFactor, DefaultCheckpointsReplicationFactor); err != nil {
		return c, err
	}
	for _, iv := range []struct {
		enabledKey, secondsKey string
		enabledDef             bool
		def                    time.Duration
		dst                    *time.Duration
	}{
		{KeyRefreshGroupsEnabled, KeyRefreshGroupsSeconds, true, DefaultRefreshGroupsInterval, &c.RefreshGroupsInterval},
		{KeyEmitCheckpointsEnabled, KeyEmitCheckpointsSeconds, true, DefaultEmitCheckpointsInterval, &c.EmitInterval},
		{KeySyncGroupOffsetsEnabled, KeySyncGroupOffsetsSeconds, false, DefaultSyncGroupOffsetsInterval, &c.SyncInterval},
	} {
		if *iv.dst, err = parseInterval(p, iv.enabledKey, iv.secondsKey, iv.enabledDef, iv.def); err != nil {
			return c, err
		}
	}
	if c.PollTimeout, err = pollTimeoutOf(p); err != nil {
		return c, err
	}
	if c.EmitInterval == 0 && c.SyncInterval == 0 {
		return c, fmt.Errorf("%s and %s are both off: the checkpoint connector would have nothing to do (MM2 refuses this too; turn one of them on)",
			KeyEmitCheckpointsEnabled, KeySyncGroupOffsetsEnabled)
	}
	return c, nil
}

// parseInterval reads an "<x>.enabled" and "<x>.interval.seconds" pair: 0
// when disabled or negative, an error for exactly zero.
func parseInterval(p connect.Props, enabledKey, secondsKey string, enabledDef bool, def time.Duration) (time.Duration, error) {
	enabled, err := p.Bool(enabledKey, enabledDef)
	if err != nil {
		return 0, err
	}
	d, err := p.Seconds(secondsKey, def)
	if err != nil {
		return 0, err
	}
	switch {
	case !enabled, d < 0:
		return 0, nil
	case d == 0:
		return 0, fmt.Errorf("%s: %q is no interval (use a positive number of seconds, or %s=false)", secondsKey, p[secondsKey], enabledKey)
	}
	return d, nil
}

// MirrorCheckpoint is MM2's MirrorCheckpointConnector. Start creates the
// checkpoints topic on the target if it is missing (one partition,
// cleanup.policy=compact) and finds the source consumer groups to
// checkpoint: those the group filter accepts that have committed offsets on
// at least one topic the topic filter accepts. It deals them to tasks in
// contiguous chunks of the sorted list (task.assigned.groups), and looks for
// new and gone groups every RefreshGroupsInterval, asking for new task
// configs when the set changed. Each MirrorCheckpointTask translates its
// groups' offsets exactly with the offset index, emits MM2-format
// checkpoints and, when enabled, commits the translations into the target's
// idle consumer groups.
type MirrorCheckpoint struct {
	cc  *connect.ConnectorContext
	cfg CheckpointConfig
	src *kadm.Client

	mu     sync.Mutex // guards groups
	groups []string   // sorted

	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// NewMirrorCheckpoint returns an unstarted MirrorCheckpoint.
func NewMirrorCheckpoint() connect.Connector { return &MirrorCheckpoint{} }

// Start implements connect.Connector. A config error and a refused topic
// creation fail the connector; an unreachable cluster is retried by the
// worker.
func (m *MirrorCheckpoint) Start(ctx context.Context, cc *connect.ConnectorContext) error {
	cfg, err := ParseCheckpointConfig(cc.Props)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	m.cc, m.cfg = cc, cfg
	tcl, err := cc.NewClient(cc.Target, connect.RoleAdmin)
	if err != nil {
		return err
	}
	_, err = ktopic.CreateCompacted(ctx, kadm.NewClient(tcl), ktopic.Compacted{Topic: cfg.CheckpointsTopic, Cluster: cc.Target,
		ReplicationFactor: cfg.ReplicationFactor, ReplicationFactorKey: KeyCheckpointsReplicationFactor}, cc.Logger)
	tcl.Close()
	if err != nil {
		return err
	}
	if m.src == nil {
		scl, err := cc.NewClient(cc.Source, connect.RoleAdmin, freshMetadata)
		if err != nil {
			return err
		}
		m.src = kadm.NewClient(scl)
	}
	groups, err := findGroups(ctx, m.src, cfg.Groups, cfg.Topics)
	if err != nil {
		// The worker does not call Stop after a failed Start.
		m.src.Close()
		m.src = nil
		return connect.Retriable(fmt.Errorf("find consumer groups on %s: %w", cc.Source, err))
	}
	m.mu.Lock()
	m.groups = groups
	m.mu.Unlock()
	cc.Logger.Info("checkpointing consumer groups", "groups", len(groups), "topic", cfg.CheckpointsTopic,
		"emit_interval", cfg.EmitInterval, "sync_interval", cfg.SyncInterval)
	if cfg.RefreshGroupsInterval > 0 {
		rctx, cancel := context.WithCancel(context.Background())
		m.stop = cancel
		m.wg.Go(func() { m.refreshLoop(rctx) })
	}
	return nil
}

// findGroups lists the consumer groups of the cluster of adm that groups
// accepts and that have a committed offset on a topic that topics accepts,
// sorted. Groups that are not consumer groups (share groups, Connect worker
// groups) have no such offsets and are left out.
func findGroups(ctx context.Context, adm *kadm.Client, groups *policy.GroupFilter, topics *policy.TopicFilter) ([]string, error) {
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	var candidates []string
	for _, g := range listed.Sorted() {
		if g.GroupType == "share" || g.GroupType == "streams" || (g.ProtocolType != "" && g.ProtocolType != "consumer") {
			continue
		}
		// An empty group id (an admin commit can make one) cannot be used
		// by a consumer on the target, and would not survive
		// task.assigned.groups on its own.
		if g.Group != "" && groups.ShouldReplicateGroup(g.Group) {
			candidates = append(candidates, g.Group)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	fetched := adm.FetchManyOffsets(ctx, candidates...)
	var (
		out  []string
		errs []error
	)
	for _, g := range candidates {
		r, ok := fetched[g]
		switch {
		case !ok || errors.Is(r.Err, kerr.GroupIDNotFound):
			continue // deleted since the listing
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("fetch offsets of group %s: %w", g, r.Err))
			continue
		}
		relevant := false
		r.Fetched.Each(func(o kadm.OffsetResponse) {
			relevant = relevant || (o.Err == nil && o.At >= 0 && topics.ShouldReplicateTopic(o.Topic))
		})
		if relevant {
			out = append(out, g)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// refreshLoop looks for new and gone groups every RefreshGroupsInterval and
// asks for new task configs when the set changed.
func (m *MirrorCheckpoint) refreshLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.RefreshGroupsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, max(m.cfg.RefreshGroupsInterval, 30*time.Second))
		groups, err := findGroups(rctx, m.src, m.cfg.Groups, m.cfg.Topics)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				m.cc.Logger.Warn("consumer group refresh failed; will retry", "error", err)
			}
			continue
		}
		m.mu.Lock()
		changed := !slices.Equal(groups, m.groups)
		if changed {
			added, removed := diffSorted(m.groups, groups)
			m.cc.Logger.Info("consumer groups changed", "added", added, "removed", removed, "groups", len(groups))
			m.groups = groups
		}
		m.mu.Unlock()
		if changed {
			m.cc.RequestReconfiguration()
		}
	}
}

// diffSorted returns what cur has that old has not, and the reverse; both
// are sorted.
func diffSorted(old, cur []string) (added, removed []string) {
	for _, s := range cur {
		if _, ok := slices.BinarySearch(old, s); !ok {
			added = append(added, s)
		}
	}
	for _, s := range old {
		if _, ok := slices.BinarySearch(cur, s); !ok {
			removed = append(removed, s)
		}
	}
	return added, removed
}

// TaskConfigs implements connect.Connector: min(maxTasks, groups) tasks,
// each with a contiguous chunk of the sorted groups, the first ones a group
// larger when they do not divide evenly (MM2's ConnectorUtils.groupPartitions).
// No groups, no tasks.
func (m *MirrorCheckpoint) TaskConfigs(maxTasks int) ([]connect.Props, error) {
	m.mu.Lock()
	groups := m.groups
	m.mu.Unlock()
	chunks := chunkGroups(groups, maxTasks)
	out := make([]connect.Props, len(chunks))
	for i, chunk := range chunks {
		p := m.cc.Props.Clone()
		p[KeyAssignedGroups] = joinGroups(chunk)
		p[KeyTaskIndex] = strconv.Itoa(i)
		out[i] = p
	}
	return out, nil
}

// chunkGroups splits groups into min(n, len(groups)) contiguous chunks whose
// sizes differ by at most one, larger ones first.
func chunkGroups(groups []string, n int) [][]string {
	n = min(n, len(groups))
	if n <= 0 {
		return nil
	}
	out := make([][]string, n)
	size, extra := len(groups)/n, len(groups)%n
	for i, start := 0, 0; i < n; i++ {
		end := start + size
		if i < extra {
			end++
		}
		out[i] = groups[start:end:end]
		start = end
	}
	return out
}

// joinGroups writes task.assigned.groups: a comma list, as in MM2, with
// "," and "\" in group names escaped by "\" so that any group name survives
// (MM2 splits a name containing a comma in two).
func joinGroups(groups []string) string {
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteByte(',')
		}
		for j := 0; j < len(g); j++ {
			if g[j] == ',' || g[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(g[j])
		}
	}
	return b.String()
}

// splitGroups parses task.assigned.groups as joinGroups writes it.
func splitGroups(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var (
		out []string
		cur []byte
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("%s: %q ends in an unfinished escape", KeyAssignedGroups, s)
			}
			i++
			cur = append(cur, s[i])
		case ',':
			out = append(out, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	return append(out, string(cur)), nil
}

// NewTask implements connect.Connector.
func (m *MirrorCheckpoint) NewTask() connect.SourceTask { return &MirrorCheckpointTask{} }

// Stop implements connect.Connector.
func (m *MirrorCheckpoint) Stop(context.Context) error {
	if m.closed {
		return nil
	}
	m.closed = true
	if m.stop != nil {
		m.stop()
	}
	m.wg.Wait()
	if m.src != nil {
		m.src.Close()
	}
	return nil
}
