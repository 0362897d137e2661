package connectors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors/policy"
	"github.com/mm2go/mm2go/internal/ktopic"
	"github.com/mm2go/mm2go/offsets"
)

// MirrorSource finds the source topics a flow replicates, creates their
// remote topics on the target (same partition count, the source topic's
// configs), splits the partitions among tasks, and watches for new topics and
// partitions on RefreshInterval.
type MirrorSource struct {
	cc  *connect.ConnectorContext
	cfg SourceConfig
	src *kadm.Client
	tgt *kadm.Client
	// srcCl and tgtCl are the clients under src and tgt, for raw requests.
	srcCl, tgtCl *kgo.Client

	mu    sync.Mutex // guards parts, owner, ended, endedAtStart and newIDs
	parts []topicPartition
	// newIDs are the topic IDs of topics re-created while the connector
	// ran, handed to their tasks (KeyTopicIDs) so that they look again at
	// once rather than when the old topic ID fails their fetches.
	newIDs    map[string]kadm.TopicID
	hintedIDs map[string]kadm.TopicID // newIDs as of the last refresh
	// owner is the task of each partition as of the last TaskConfigs: the
	// assignment is sticky (see TaskConfigs).
	owner  map[topicPartition]int
	ntasks int // tasks of the last TaskConfigs
	// ended are, by task, the partitions the last TaskConfigs found gone
	// from the source, and endedAtStart the stored partitions Start found
	// gone (see goneWhileStopped), for the first TaskConfigs.
	ended        map[int][]topicPartition
	endedAtStart []topicPartition

	srcRF   map[string]int16 // source replication factors, with RFFromSource; sync's goroutine only
	configs *configSync
	// topicIDs are the source topics' IDs as last seen (sync's goroutine
	// only), to say when a topic was deleted and re-created. Tasks find out
	// by themselves, from the topic IDs of what they fetch.
	topicIDs map[string]kadm.TopicID

	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

type topicPartition struct {
	Topic     string
	Partition int32
}

func (tp topicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// freshMetadata makes kadm's topic listings at most 250ms old: kadm answers
// from the client's metadata cache, 5s old by default, which would hide new
// topics for a whole extra refresh.
var freshMetadata = kgo.MetadataMinAge(250 * time.Millisecond)

// NewMirrorSource returns an unstarted MirrorSource.
func NewMirrorSource() connect.Connector { return &MirrorSource{} }

// Start implements connect.Connector. When it fails it closes the clients it
// opened: the worker does not call Stop after a failed Start, and calls
// Start again after a retriable error.
func (m *MirrorSource) Start(ctx context.Context, cc *connect.ConnectorContext) (err error) {
	cfg, err := ParseSourceConfig(cc.Props)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	m.cc, m.cfg = cc, cfg
	defer func() {
		if err != nil {
			m.closeClients()
		}
	}()
	if m.src == nil {
		cl, err := cc.NewClient(cc.Source, connect.RoleAdmin, freshMetadata)
		if err != nil {
			return err
		}
		m.src, m.srcCl = kadm.NewClient(cl), cl
	}
	if m.tgt == nil {
		cl, err := cc.NewClient(cc.Target, connect.RoleAdmin, freshMetadata)
		if err != nil {
			return err
		}
		m.tgt, m.tgtCl = kadm.NewClient(cl), cl
	}
	m.srcRF = make(map[string]int16)
	if m.topicIDs == nil {
		m.topicIDs = make(map[string]kadm.TopicID)
	}
	m.configs = newConfigSync(cfg, m.src, m.tgt, cc.Logger)
	parts, listed, err := m.list(ctx)
	if err != nil {
		return err
	}
	// After sync, which shows the source is reachable: creating the
	// offset-syncs topic there would otherwise spend its retries on it.
	if err := m.ensureOffsetTopics(ctx); err != nil {
		return err
	}
	gone := m.goneWhileStopped(parts)
	m.warnUnlisted(listed)
	m.mu.Lock()
	m.parts, m.endedAtStart = parts, gone
	m.mu.Unlock()
	cc.Logger.Info("replicating topics", "topics", countTopics(parts), "partitions", len(parts))
	rctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	if cfg.RefreshTopics {
		m.wg.Go(func() { m.refreshLoop(rctx) })
	}
	if cfg.SyncConfigsInterval > 0 || cfg.SyncACLsInterval > 0 {
		m.wg.Go(func() { m.metadataSyncLoop(rctx) })
	}
	return nil
}

// metadataSyncLoop copies topic configs and ACLs of the replicated topics
// right away and then every SyncConfigsInterval and SyncACLsInterval.
func (m *MirrorSource) metadataSyncLoop(ctx context.Context) {
	tick := func(d time.Duration) (<-chan time.Time, func()) {
		if d <= 0 {
			return nil, func() {}
		}
		t := time.NewTicker(d)
		return t.C, t.Stop
	}
	configsC, stopConfigs := tick(m.cfg.SyncConfigsInterval)
	defer stopConfigs()
	aclsC, stopACLs := tick(m.cfg.SyncACLsInterval)
	defer stopACLs()
	doConfigs, doACLs := m.cfg.SyncConfigsInterval > 0, m.cfg.SyncACLsInterval > 0
	aclsOff := false // the source or target has no authorizer: said once
	for {
		if doConfigs {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if n, err := m.configs.run(sctx, m.replicatedTopics()); err != nil && ctx.Err() == nil {
				m.cc.Logger.Warn("topic config sync failed; will retry", "error", err)
			} else if n > 0 {
				m.cc.Logger.Debug("topic configs synced", "properties", n)
			}
			cancel()
		}
		if doACLs && !aclsOff {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			n, ok, err := syncTopicACLs(sctx, m.srcCl, m.tgtCl, m.cfg.Policy, m.cfg.SourceAlias, replicatedIn(m.replicatedTopics()))
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				m.cc.Logger.Warn("topic ACL sync failed; will retry", "error", err)
			case !ok:
				aclsOff = true
				m.cc.Logger.Info("topic ACL sync skipped: a cluster has no authorizer")
			case n > 0:
				m.cc.Logger.Info("synced topic ACLs", "created", n)
			}
		}
		doConfigs, doACLs = false, false
		select {
		case <-ctx.Done():
			return
		case <-configsC:
			doConfigs = true
		case <-aclsC:
			doACLs = true
		}
	}
}

// replicatedTopics returns the source topics being replicated.
func (m *MirrorSource) replicatedTopics() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for i, tp := range m.parts {
		if i == 0 || m.parts[i-1].Topic != tp.Topic {
			out = append(out, tp.Topic)
		}
	}
	return out
}

// replicatedIn returns a test of whether source topic name is one of
// topics, or with prefixed, whether any of them starts with name: what ACL
// sync asks of every source ACL, against one listing per sync.
func replicatedIn(topics []string) func(name string, prefixed bool) bool {
	set := make(map[string]bool, len(topics))
	for _, t := range topics {
		set[t] = true
	}
	return func(name string, prefixed bool) bool {
		if !prefixed {
			return set[name]
		}
		for _, t := range topics {
			if strings.HasPrefix(t, name) {
				return true
			}
		}
		return false
	}
}

// ensureOffsetTopics creates, unless they exist, the topics the tasks write
// offset translations to: MM2's offset-syncs topic (when
// emit.offset-syncs.enabled) and mm2go's offset index topic on the target.
// Both have one partition and are compacted. As in MM2, an existing topic is
// not checked, and a failure to create the offset-syncs topic is only logged:
// tasks copy records without it. The index topic is another matter, since
// tasks fail without it: a failure to create it, other than the cluster
// refusing creation as unauthorized or unsupported (then it is assumed to
// exist), fails the start.
func (m *MirrorSource) ensureOffsetTopics(ctx context.Context) error {
	rf := m.cfg.OffsetSyncsReplicationFactor
	if m.cfg.EmitOffsetSyncs {
		topic, cluster := m.cfg.OffsetSyncsTopic()
		adm := m.src
		if m.cfg.OffsetSyncsOnTarget {
			adm = m.tgt
		}
		if _, err := ktopic.CreateCompacted(ctx, adm, ktopic.Compacted{Topic: topic, Cluster: cluster,
			ReplicationFactor: rf, ReplicationFactorKey: KeyOffsetSyncsReplicationFactor}, m.cc.Logger); err != nil {
			m.cc.Logger.Warn("offset-syncs topic not created; records are copied without MM2 offset syncs until it exists",
				"topic", topic, "cluster", cluster, "error", err)
		}
	}
	topic := offsets.IndexTopic(m.cfg.SourceAlias)
	if _, err := ktopic.CreateCompacted(ctx, m.tgt, ktopic.Compacted{Topic: topic, Cluster: m.cfg.TargetAlias,
		ReplicationFactor: rf, ReplicationFactorKey: KeyOffsetSyncsReplicationFactor}, m.cc.Logger); err != nil {
		// Retried if the cause is (a timeout, an unreachable cluster).
		return fmt.Errorf("%w (tasks need the offset index topic: create it with 1 partition and cleanup.policy=compact)", err)
	}
	return nil
}

// refreshLoop looks for new topics and partitions every RefreshInterval and
// asks for new task configs when the set changed.
func (m *MirrorSource) refreshLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, max(m.cfg.RefreshInterval, 30*time.Second))
		began := time.Now()
		parts, err := m.sync(rctx)
		cancel()
		m.cc.Logger.Debug("topic refresh", "partitions", len(parts), "took", time.Since(began), "error", err)
		if err != nil {
			if ctx.Err() == nil {
				m.cc.Logger.Warn("topic refresh failed; will retry", "error", err)
			}
			continue
		}
		m.mu.Lock()
		changed := !slices.Equal(parts, m.parts) || !maps.Equal(m.newIDs, m.hintedIDs)
		m.hintedIDs = maps.Clone(m.newIDs)
		if changed {
			added, removed := diffPartitions(m.parts, parts)
			m.cc.Logger.Info("source partitions changed", "added", len(added), "removed", len(removed), "partitions", len(parts))
			m.parts = parts
		}
		m.mu.Unlock()
		if changed {
			m.cc.RequestReconfiguration()
		}
	}
}

// noteTopicID remembers a source topic's ID and says when it changed: the
// topic was deleted and re-created. The tasks see the new ID in what they
// fetch, report what the old topic held past the last copied record, and
// copy the new topic from its start.
func (m *MirrorSource) noteTopicID(topic string, id kadm.TopicID) {
	if id == (kadm.TopicID{}) {
		return // a broker without topic IDs
	}
	old, seen := m.topicIDs[topic]
	m.topicIDs[topic] = id
	if seen && old != id {
		m.mu.Lock()
		if m.newIDs == nil {
			m.newIDs = make(map[string]kadm.TopicID)
		}
		m.newIDs[topic] = id
		m.mu.Unlock()
		m.cc.Logger.Warn("source topic was deleted and re-created; its tasks copy the new topic from its start",
			"topic", topic, "old_id", topicIDString(old), "new_id", topicIDString(id))
	}
}

// storedPartition reads a stored offset key of this connector: the source
// partition it names, if the key is this connector's and names a partition
// of this flow's source cluster.
func (m *MirrorSource) storedPartition(key []byte) (topicPartition, bool) {
	ns, fields, err := connect.ParseOffsetKey(key)
	if err != nil || ns != m.cc.Name {
		return topicPartition{}, false
	}
	var tp topicPartition
	var cluster string
	partition := false
	for _, f := range fields {
		switch {
		case f.Name == "cluster" && !f.IsInt:
			cluster = f.Str
		case f.Name == "topic" && !f.IsInt:
			tp.Topic = f.Str
		case f.Name == "partition" && f.IsInt && f.Int >= 0 && f.Int <= math.MaxInt32:
			tp.Partition, partition = int32(f.Int), true
		}
	}
	return tp, partition && tp.Topic != "" && cluster == m.cfg.SourceAlias
}

// goneWhileStopped returns the stored partitions of this connector's source
// topics that no longer exist: the topic was re-created with fewer
// partitions while no worker copied it. The first TaskConfigs hands them to
// a task, which reports what may have been lost and deletes their stored
// offsets. Topics no longer replicated (deleted, or no longer matched by the
// flow) are left alone: their stored offsets may serve again (warnUnlisted
// names the deleted ones).
func (m *MirrorSource) goneWhileStopped(parts []topicPartition) []topicPartition {
	count := make(map[string]int32)
	for _, tp := range parts {
		count[tp.Topic] = max(count[tp.Topic], tp.Partition+1)
	}
	var gone []topicPartition
	m.cc.StoredOffsets(func(key []byte, _ connect.OffsetValue) {
		tp, ok := m.storedPartition(key)
		if !ok {
			return
		}
		if n, ok := count[tp.Topic]; ok && tp.Partition >= n {
			gone = append(gone, tp)
		}
	})
	slices.SortFunc(gone, compareTP)
	return gone
}

// warnUnlisted says, once at start, which topics this connector has stored
// offsets for but the source no longer lists. Kafka cannot tell a deleted
// topic from one this worker's principal may no longer describe, so the
// offsets are kept (a topic re-created under the name is told apart by its
// topic ID, and one described again resumes) and nothing is counted lost;
// but the operator learns where copying stopped, in case records past those
// offsets were deleted before they were copied.
func (m *MirrorSource) warnUnlisted(listed kadm.TopicDetails) {
	type next struct{ partition, offset int64 }
	stopped := make(map[string][]next)
	m.cc.StoredOffsets(func(key []byte, v connect.OffsetValue) {
		tp, ok := m.storedPartition(key)
		if !ok || v.Offset < 0 {
			return
		}
		if _, ok := listed[tp.Topic]; ok || !policy.ShouldReplicate(m.cfg.Policy, m.cfg.Topics, tp.Topic, m.cfg.TargetAlias, m.cfg.HeartbeatsReplication) {
			return
		}
		stopped[tp.Topic] = append(stopped[tp.Topic], next{int64(tp.Partition), v.Offset + 1})
	})
	for _, topic := range slices.Sorted(maps.Keys(stopped)) {
		ps := stopped[topic]
		slices.SortFunc(ps, func(a, b next) int { return cmp.Compare(a.partition, b.partition) })
		at := make([]string, len(ps))
		for i, p := range ps {
			at[i] = fmt.Sprintf("%d:%d", p.partition, p.offset)
		}
		m.cc.Logger.Warn("source topic with stored offsets is not on the source any more (deleted, or not visible to this worker's principal): "+
			"records past these offsets, if there were any, were not copied; the offsets are kept",
			"topic", topic, "next_offsets", strings.Join(at, ","))
	}
}

// sync lists the source topics to replicate and makes sure each has a
// remote topic on the target with at least as many partitions. It returns
// the source partitions, sorted.
func (m *MirrorSource) sync(ctx context.Context) ([]topicPartition, error) {
	parts, _, err := m.list(ctx)
	return parts, err
}

// list is sync that also returns every topic the source listed, replicated
// or not.
func (m *MirrorSource) list(ctx context.Context) ([]topicPartition, kadm.TopicDetails, error) {
	details, err := m.src.ListTopics(ctx)
	if err != nil {
		return nil, nil, connect.Retriable(fmt.Errorf("list topics on %s: %w", m.cc.Source, err))
	}
	var parts []topicPartition
	counts, srcRF := m.cfg.replicatedTopics(details)
	for _, d := range details.Sorted() {
		n, ok := counts[d.Topic]
		if !ok {
			continue
		}
		m.noteTopicID(d.Topic, d.ID)
		if rf, ok := srcRF[d.Topic]; ok {
			m.srcRF[d.Topic] = rf
		}
		for p := range n {
			parts = append(parts, topicPartition{d.Topic, p})
		}
	}
	notReady, err := m.ensureRemoteTopics(ctx, counts)
	if err != nil {
		return nil, nil, err
	}
	if len(notReady) > 0 {
		// One topic that cannot be created must not hold up the others: copy
		// what is ready, say what is not, and try again at the next refresh.
		for t, err := range notReady {
			m.cc.Logger.Error("remote topic not ready; not copying it yet", "topic", t, "error", err)
		}
		parts = slices.DeleteFunc(parts, func(tp topicPartition) bool { return notReady[tp.Topic] != nil })
	}
	return parts, details, nil
}

// ensureRemoteTopics creates missing remote topics and grows remote topics
// that have fewer partitions than their source. Like MM2 it never shrinks or
// deletes anything. It returns, by source topic, the topics whose remote
// topic could not be made ready; err is for failures that concern them all.
func (m *MirrorSource) ensureRemoteTopics(ctx context.Context, counts map[string]int32) (notReady map[string]error, err error) {
	if len(counts) == 0 {
		return nil, nil
	}
	remote := make(map[string]string, len(counts)) // remote name -> source name
	names := make([]string, 0, len(counts))
	for t := range counts {
		r := m.cfg.Policy.FormatRemoteTopic(m.cfg.SourceAlias, t)
		remote[r] = t
		names = append(names, r)
	}
	existing, err := m.tgt.ListTopics(ctx, names...)
	if err != nil {
		return nil, connect.Retriable(fmt.Errorf("describe remote topics on %s: %w", m.cc.Target, err))
	}
	notReady = make(map[string]error)
	var missing []string
	grow := make(map[int][]string)
	for _, r := range names {
		d, ok := existing[r]
		src := remote[r]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, src)
		case d.Err != nil:
			notReady[src] = fmt.Errorf("describe remote topic %s on %s: %w", r, m.cc.Target, d.Err)
		case int32(len(d.Partitions)) < counts[src]:
			grow[int(counts[src])] = append(grow[int(counts[src])], r)
		}
	}
	if len(missing) > 0 {
		m.createRemoteTopics(ctx, missing, counts, notReady)
	}
	for n, topics := range grow {
		resps, err := m.tgt.UpdatePartitions(ctx, n, topics...)
		for _, r := range topics {
			rerr := err
			if rerr == nil {
				rerr = resps[r].Err
			}
			if rerr != nil && !errors.Is(rerr, kerr.InvalidPartitions) {
				notReady[remote[r]] = fmt.Errorf("grow remote topic %s to %d partitions on %s: %w", r, n, m.cc.Target, rerr)
				continue
			}
			m.cc.Logger.Info("grew remote topic", "topic", r, "partitions", n)
		}
	}
	return notReady, nil
}

// createRemoteTopics creates the remote topics of the given source topics,
// with the source partition count, the configured replication factor and the
// source topic's own config overrides minus the excluded properties.
func (m *MirrorSource) createRemoteTopics(ctx context.Context, sources []string, counts map[string]int32, notReady map[string]error) {
	configs, err := m.src.DescribeTopicConfigs(ctx, sources...)
	if err != nil {
		for _, t := range sources {
			notReady[t] = fmt.Errorf("describe configs of %s on %s: %w", t, m.cc.Source, err)
		}
		return
	}
	byTopic := make(map[string]map[string]*string, len(configs))
	for _, rc := range configs {
		if rc.Err == nil {
			byTopic[rc.Name] = m.configs.replicableConfigs(rc.Configs)
		}
	}
	for _, t := range sources {
		r := m.cfg.Policy.FormatRemoteTopic(m.cfg.SourceAlias, t)
		rf := m.cfg.ReplicationFactor
		if srf, ok := m.srcRF[t]; ok {
			rf = srf
		}
		created, err := createRemoteTopic(ctx, m.tgt, r, counts[t], rf, byTopic[t])
		switch {
		case err != nil:
			notReady[t] = fmt.Errorf("create remote topic %s on %s: %w", r, m.cc.Target, err)
		case created:
			m.cc.Logger.Info("created remote topic", "topic", r, "source_topic", t, "partitions", counts[t])
		}
	}
}

// createRemoteTopic creates a remote topic; one that exists already is not
// an error (created is false).
func createRemoteTopic(ctx context.Context, tgt *kadm.Client, remote string, partitions int32, rf int16, configs map[string]*string) (created bool, err error) {
	resp, err := tgt.CreateTopic(ctx, partitions, rf, configs, remote)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return false, nil
	}
	return false, err
}

// replicatedTopics returns, of the listed source topics, those the flow
// replicates (the topic filter, MM2's rules for internal, heartbeats and
// looping topics) with their partition counts, and with RFFromSource their
// replication factors.
func (c SourceConfig) replicatedTopics(details kadm.TopicDetails) (counts map[string]int32, rf map[string]int16) {
	counts, rf = make(map[string]int32), make(map[string]int16)
	for _, d := range details {
		if d.Err != nil || d.IsInternal {
			continue
		}
		if !policy.ShouldReplicate(c.Policy, c.Topics, d.Topic, c.TargetAlias, c.HeartbeatsReplication) {
			continue
		}
		n := int32(len(d.Partitions))
		counts[d.Topic] = n
		if c.RFFromSource && n > 0 {
			if p0, ok := d.Partitions[0]; ok && len(p0.Replicas) > 0 {
				rf[d.Topic] = int16(len(p0.Replicas))
			}
		}
	}
	return counts, rf
}

// TaskConfigs implements connect.Connector. The assignment is sticky: a
// partition keeps its task for as long as both exist, new partitions go one
// by one, in sorted order, to the task with the fewest (the lowest index on
// a tie), and partitions that left the source just leave. Only when the
// number of tasks changes (tasks.max changed, or fewer partitions than
// tasks remain) do partitions move: a task that goes away gives up all of
// them, and a task with more than its share gives up the excess, to the
// tasks with the fewest. The runtime makes a moving partition's old task
// commit it before the new one starts it (see Revoked), so a move copies
// nothing twice.
//
// Partitions that left the source are listed (KeyEndedPartitions) in the
// config of the task that held them, which reports what they held past the
// last copied record.
func (m *MirrorSource) TaskConfigs(maxTasks int) ([]connect.Props, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owner == nil {
		m.owner = make(map[topicPartition]int)
	}
	n := min(maxTasks, len(m.parts))
	ended := make(map[int][]topicPartition)
	present := make(map[topicPartition]bool, len(m.parts))
	for _, tp := range m.parts {
		present[tp] = true
	}
	prevTasks := m.ntasks
	m.ntasks = n
	for tp, task := range m.owner {
		if !present[tp] {
			ended[task] = append(ended[task], tp)
			delete(m.owner, tp)
		}
	}
	if len(m.endedAtStart) > 0 {
		ended[0] = append(ended[0], m.endedAtStart...)
		m.endedAtStart = nil
	}
	for _, tps := range ended {
		slices.SortFunc(tps, compareTP)
	}
	m.ended = ended
	if n == 0 {
		clear(m.owner)
		return nil, nil
	}
	load := make([]int, n)
	for tp, task := range m.owner {
		if task >= n {
			delete(m.owner, tp) // its task goes away
			continue
		}
		load[task]++
	}
	if n != prevTasks && prevTasks > 0 {
		// The tasks changed: a task with more than its share gives up the
		// excess, its last partitions in sorted order.
		share := (len(m.parts) + n - 1) / n
		for i := len(m.parts) - 1; i >= 0; i-- {
			if task, ok := m.owner[m.parts[i]]; ok && load[task] > share {
				delete(m.owner, m.parts[i])
				load[task]--
			}
		}
	}
	for _, tp := range m.parts {
		if _, ok := m.owner[tp]; ok {
			continue
		}
		least := 0
		for i := range load {
			if load[i] < load[least] {
				least = i
			}
		}
		m.owner[tp] = least
		load[least]++
	}
	assigned := make([][]string, n)
	ids := make([][]string, n)
	for _, tp := range m.parts {
		task := m.owner[tp]
		assigned[task] = append(assigned[task], tp.String())
		if id, ok := m.newIDs[tp.Topic]; ok {
			// m.parts is sorted: a task's partitions of a topic come in a row.
			entry := tp.Topic + "=" + topicIDString(id)
			if l := ids[task]; len(l) == 0 || l[len(l)-1] != entry {
				ids[task] = append(ids[task], entry)
			}
		}
	}
	out := make([]connect.Props, n)
	for i := range n {
		p := m.cc.Props.Clone()
		p[KeyAssignedPartitions] = strings.Join(assigned[i], ",")
		p[KeyTaskIndex] = strconv.Itoa(i)
		if tps := ended[i]; len(tps) > 0 {
			p[KeyEndedPartitions] = joinPartitions(tps)
		}
		if len(ids[i]) > 0 {
			p[KeyTopicIDs] = strings.Join(ids[i], ",")
		}
		out[i] = p
	}
	return out, nil
}

// Revoked implements connect.Revoker: the props under which task id, now
// running with old, copies only the partitions it also has under new (none
// when new is nil: the task goes away), and closes the partitions that left
// the source. The runtime gives them to the task, waits until it committed,
// and only then hands the partitions it gave up to their new tasks.
func (m *MirrorSource) Revoked(id int, old, new connect.Props) connect.Props {
	held, err := parseAssigned(old[KeyAssignedPartitions])
	if err != nil {
		return old // the task fails on the same error
	}
	keep := make(map[string]bool)
	if new != nil {
		for item := range strings.SplitSeq(new[KeyAssignedPartitions], ",") {
			keep[strings.TrimSpace(item)] = true
		}
	}
	var kept []string
	for _, tp := range held {
		if keep[tp.String()] {
			kept = append(kept, tp.String())
		}
	}
	if new != nil && len(kept) == len(held) && new[KeyEndedPartitions] == "" {
		return old // gives up nothing and closes nothing: no hand-off
	}
	p := old.Clone()
	p[KeyAssignedPartitions] = strings.Join(kept, ",")
	delete(p, KeyEndedPartitions)
	if new != nil {
		if e := new[KeyEndedPartitions]; e != "" {
			p[KeyEndedPartitions] = e
		}
	} else {
		m.mu.Lock()
		if tps := m.ended[id]; len(tps) > 0 {
			p[KeyEndedPartitions] = joinPartitions(tps)
		}
		m.mu.Unlock()
	}
	return p
}

func joinPartitions(tps []topicPartition) string {
	s := make([]string, len(tps))
	for i, tp := range tps {
		s[i] = tp.String()
	}
	return strings.Join(s, ",")
}

// NewTask implements connect.Connector.
func (m *MirrorSource) NewTask() connect.SourceTask { return &MirrorSourceTask{} }

// Stop implements connect.Connector.
func (m *MirrorSource) Stop(context.Context) error {
	if m.closed {
		return nil
	}
	m.closed = true
	if m.stop != nil {
		m.stop()
	}
	m.wg.Wait()
	m.closeClients()
	return nil
}

func (m *MirrorSource) closeClients() {
	if m.src != nil {
		m.src.Close()
	}
	if m.tgt != nil {
		m.tgt.Close()
	}
	m.src, m.tgt, m.srcCl, m.tgtCl = nil, nil, nil, nil
}

func countTopics(parts []topicPartition) int {
	n := 0
	for i, tp := range parts {
		if i == 0 || parts[i-1].Topic != tp.Topic {
			n++
		}
	}
	return n
}

func diffPartitions(old, cur []topicPartition) (added, removed []topicPartition) {
	for _, tp := range cur {
		if _, ok := slices.BinarySearchFunc(old, tp, compareTP); !ok {
			added = append(added, tp)
		}
	}
	for _, tp := range old {
		if _, ok := slices.BinarySearchFunc(cur, tp, compareTP); !ok {
			removed = append(removed, tp)
		}
	}
	return added, removed
}

func compareTP(a, b topicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition - b.Partition)
}

// parseAssigned parses task.assigned.partitions: a comma list of
// topic-partition, split at the last "-" (topic names may contain "-").
func parseAssigned(s string) ([]topicPartition, error) {
	if s == "" {
		return nil, nil
	}
	var out []topicPartition
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		i := strings.LastIndexByte(item, '-')
		if i <= 0 {
			return nil, fmt.Errorf("%s: %q is not topic-partition", KeyAssignedPartitions, item)
		}
		p, err := strconv.ParseInt(item[i+1:], 10, 32)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("%s: %q has no partition number", KeyAssignedPartitions, item)
		}
		out = append(out, topicPartition{item[:i], int32(p)})
	}
	return out, nil
}
