package connectors

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
)

// This file plans what a flow needs on its target before any data moves, the
// way `terraform plan` does, and creates it: the remote topics with their
// partitions, replication factor and configs, the topic ACLs, and the
// consumer groups that will be moved. It uses MirrorSource's own selection
// of topics, naming, config filtering and ACL mapping, so the plan is what
// the worker would do, done before the first record is copied.

// Change says what a plan does with one thing on the target.
type Change string

const (
	// ChangeCreate: it does not exist on the target and will be created.
	ChangeCreate Change = "create"
	// ChangeUpdate: it exists and will be changed (more partitions,
	// configs).
	ChangeUpdate Change = "update"
	// ChangeNone: it exists as the flow needs it.
	ChangeNone Change = "none"
)

// Symbol returns Terraform's sign for c: "+", "~" or "=".
func (c Change) Symbol() string {
	switch c {
	case ChangeCreate:
		return "+"
	case ChangeUpdate:
		return "~"
	}
	return "="
}

// TopicPlan is a remote topic of the plan.
type TopicPlan struct {
	Change      Change `json:"change"`
	SourceTopic string `json:"source_topic"`
	RemoteTopic string `json:"remote_topic"`
	// Partitions is the source topic's partition count: what the remote
	// topic gets. CurrentPartitions is the remote topic's, 0 when missing.
	Partitions        int32 `json:"partitions"`
	CurrentPartitions int32 `json:"current_partitions"`
	// ReplicationFactor is a new remote topic's (-1: the target broker's
	// default); CurrentReplicationFactor an existing one's. Like MM2,
	// mm2go never changes the factor of an existing topic.
	ReplicationFactor        int16 `json:"replication_factor"`
	CurrentReplicationFactor int16 `json:"current_replication_factor,omitempty"`
	// Configs are the configs a new topic is created with, or the ones
	// set on an existing topic (the source's value differs); Current has
	// an existing topic's value of each, "" when unset.
	Configs map[string]string `json:"configs,omitempty"`
	Current map[string]string `json:"current,omitempty"`
	// Remove are the overrides of an existing topic that are deleted: the
	// source topic takes those properties from its defaults.
	Remove []string `json:"remove,omitempty"`
}

// ACLPlan is a topic ACL of the plan, as it will be on the target.
type ACLPlan struct {
	Change     Change `json:"change"`
	Principal  string `json:"principal"`
	Host       string `json:"host"`
	Pattern    string `json:"pattern"` // LITERAL or PREFIXED
	Topic      string `json:"topic"`   // the remote name, or prefix
	Operation  string `json:"operation"`
	Permission string `json:"permission"`

	acl topicACL
}

// GroupPlan is a consumer group the flow will move: one the flow's group
// filter accepts with committed offsets on replicated topics. The plan does
// not write groups: their offsets are committed on the target at cut-over
// (mm2go migrate cutover) or by group offset sync.
type GroupPlan struct {
	// Change is ChangeCreate when the group has no offsets on the target,
	// ChangeUpdate when it has some: a cut-over moves them forward, never
	// back.
	Change Change `json:"change"`
	Group  string `json:"group"`
	// Partitions counts the group's committed partitions of replicated
	// topics on the source; OnTarget its committed partitions of remote
	// topics on the target.
	Partitions int `json:"partitions"`
	OnTarget   int `json:"on_target"`
	// MembersOnTarget is how many members the group has on the target: a
	// cut-over refuses to commit under them.
	MembersOnTarget int `json:"members_on_target"`
}

// TargetPlan is what a flow needs on its target. Build it with PlanTarget.
type TargetPlan struct {
	Source string      `json:"source"`
	Target string      `json:"target"`
	Topics []TopicPlan `json:"topics"`
	ACLs   []ACLPlan   `json:"acls"`
	Groups []GroupPlan `json:"groups"`
	// ACLsSkipped says why no ACLs are planned, when they are not:
	// sync.topic.acls.enabled=false, or a cluster without an authorizer.
	ACLsSkipped string `json:"acls_skipped,omitempty"`

	cfg SourceConfig
}

// Count returns how many items of the plan have change c.
func (p *TargetPlan) Count(c Change) int {
	n := 0
	for _, t := range p.Topics {
		if t.Change == c {
			n++
		}
	}
	for _, a := range p.ACLs {
		if a.Change == c {
			n++
		}
	}
	return n
}

// PlanTarget plans what the flow whose connector props are props (the
// flow's expanded props, as flows.Expand gives them) needs on its target:
// src and tgt are admin clients of its source and target, which it only
// reads. Topics are those MirrorSource would replicate now, named, sized,
// configured and with ACLs as it would create them.
func PlanTarget(ctx context.Context, src, tgt *kgo.Client, props connect.Props) (*TargetPlan, error) {
	cfg, err := ParseSourceConfig(props)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	ccfg, err := ParseCheckpointConfig(props)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	p := &TargetPlan{Source: cfg.SourceAlias, Target: cfg.TargetAlias, Topics: []TopicPlan{}, ACLs: []ACLPlan{}, Groups: []GroupPlan{}, cfg: cfg}
	sadm, tadm := kadm.NewClient(src), kadm.NewClient(tgt)
	details, err := sadm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan: list topics on %s: %w", cfg.SourceAlias, err)
	}
	counts, srcRF := cfg.replicatedTopics(details)
	sources := slices.Sorted(maps.Keys(counts))
	if err := p.planTopics(ctx, sadm, tadm, sources, counts, srcRF); err != nil {
		return nil, err
	}
	if err := p.planACLs(ctx, src, tgt, sources); err != nil {
		return nil, err
	}
	if err := p.planGroups(ctx, sadm, tadm, ccfg); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *TargetPlan) planTopics(ctx context.Context, sadm, tadm *kadm.Client, sources []string, counts map[string]int32, srcRF map[string]int16) error {
	if len(sources) == 0 {
		return nil
	}
	cs := newConfigSync(p.cfg, sadm, tadm, hclog.NewNullLogger())
	remote := make([]string, len(sources))
	for i, t := range sources {
		remote[i] = p.cfg.Policy.FormatRemoteTopic(p.cfg.SourceAlias, t)
	}
	existing, err := tadm.ListTopics(ctx, remote...)
	if err != nil {
		return fmt.Errorf("plan: describe remote topics on %s: %w", p.Target, err)
	}
	srcCfgs, err := sadm.DescribeTopicConfigs(ctx, sources...)
	if err != nil {
		return fmt.Errorf("plan: describe topic configs on %s: %w", p.Source, err)
	}
	newConfigs := make(map[string]map[string]*string)
	for _, rc := range srcCfgs {
		if rc.Err != nil {
			return fmt.Errorf("plan: describe configs of %s on %s: %w", rc.Name, p.Source, rc.Err)
		}
		newConfigs[rc.Name] = cs.replicableConfigs(rc.Configs)
	}
	alters, err := cs.plan(ctx, sources)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	var present []string
	for _, r := range remote {
		if d, ok := existing[r]; ok && d.Err == nil {
			present = append(present, r)
		}
	}
	current := make(map[string]map[string]string)
	if len(present) > 0 {
		dstCfgs, err := tadm.DescribeTopicConfigs(ctx, present...)
		if err != nil {
			return fmt.Errorf("plan: describe remote topic configs on %s: %w", p.Target, err)
		}
		for _, rc := range dstCfgs {
			if rc.Err == nil {
				current[rc.Name] = overrides(rc.Configs)
			}
		}
	}
	for i, t := range sources {
		r := remote[i]
		tp := TopicPlan{SourceTopic: t, RemoteTopic: r, Partitions: counts[t], ReplicationFactor: p.cfg.ReplicationFactor}
		if rf, ok := srcRF[t]; ok {
			tp.ReplicationFactor = rf
		}
		d, ok := existing[r]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			tp.Change = ChangeCreate
			tp.Configs = derefConfigs(newConfigs[t])
		case d.Err != nil:
			return fmt.Errorf("plan: describe remote topic %s on %s: %w", r, p.Target, d.Err)
		default:
			tp.Change = ChangeNone
			tp.CurrentPartitions = int32(len(d.Partitions))
			if p0, ok := d.Partitions[0]; ok {
				tp.CurrentReplicationFactor = int16(len(p0.Replicas))
			}
			if tp.CurrentPartitions < tp.Partitions {
				tp.Change = ChangeUpdate
			}
			if as := alters[r]; len(as) > 0 {
				tp.Change = ChangeUpdate
				tp.Configs, tp.Current = make(map[string]string), make(map[string]string)
				for _, a := range as {
					tp.Current[a.Name] = current[r][a.Name]
					if a.Op == kadm.DeleteConfig {
						tp.Remove = append(tp.Remove, a.Name)
						continue
					}
					tp.Configs[a.Name] = *a.Value
				}
			}
		}
		p.Topics = append(p.Topics, tp)
	}
	return nil
}

func derefConfigs(m map[string]*string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = *v
	}
	return out
}

func (p *TargetPlan) planACLs(ctx context.Context, src, tgt *kgo.Client, sources []string) error {
	if p.cfg.SyncACLsInterval <= 0 {
		p.ACLsSkipped = KeySyncACLsEnabled + " is false"
		return nil
	}
	missing, present, ok, err := planTopicACLs(ctx, src, tgt, p.cfg.Policy, p.cfg.SourceAlias, replicatedIn(sources))
	switch {
	case err != nil:
		return fmt.Errorf("plan: %w", err)
	case !ok:
		p.ACLsSkipped = "a cluster has no authorizer"
		return nil
	}
	add := func(c Change, acls []topicACL) {
		for _, a := range acls {
			p.ACLs = append(p.ACLs, ACLPlan{Change: c, Principal: a.Principal, Host: a.Host, Pattern: a.Pattern.String(), Topic: a.Name,
				Operation: a.Operation.String(), Permission: a.Permission.String(), acl: a})
		}
	}
	add(ChangeCreate, missing)
	add(ChangeNone, present)
	slices.SortFunc(p.ACLs, func(a, b ACLPlan) int {
		return strings.Compare(a.Topic+"\x00"+a.Principal+"\x00"+a.Operation, b.Topic+"\x00"+b.Principal+"\x00"+b.Operation)
	})
	return nil
}

func (p *TargetPlan) planGroups(ctx context.Context, sadm, tadm *kadm.Client, ccfg CheckpointConfig) error {
	groups, err := findGroups(ctx, sadm, ccfg.Groups, ccfg.Topics)
	if err != nil {
		return fmt.Errorf("plan: find consumer groups on %s: %w", p.Source, err)
	}
	if len(groups) == 0 {
		return nil
	}
	onSource := sadm.FetchManyOffsets(ctx, groups...)
	onTarget := tadm.FetchManyOffsets(ctx, groups...)
	described, err := tadm.DescribeGroups(ctx, groups...)
	if err != nil {
		return fmt.Errorf("plan: describe groups on %s: %w", p.Target, err)
	}
	remote := make(map[string]bool, len(p.Topics))
	for _, t := range p.Topics {
		remote[t.RemoteTopic] = true
	}
	for _, g := range groups {
		gp := GroupPlan{Group: g, Change: ChangeCreate}
		if r, ok := onSource[g]; ok && r.Err == nil {
			r.Fetched.Each(func(o kadm.OffsetResponse) {
				if o.Err == nil && o.At >= 0 && ccfg.Topics.ShouldReplicateTopic(o.Topic) {
					gp.Partitions++
				}
			})
		}
		if r, ok := onTarget[g]; ok && r.Err == nil {
			r.Fetched.Each(func(o kadm.OffsetResponse) {
				if o.Err == nil && o.At >= 0 && remote[o.Topic] {
					gp.OnTarget++
				}
			})
		}
		if gp.OnTarget > 0 {
			gp.Change = ChangeUpdate
		}
		if d, ok := described[g]; ok && d.Err == nil {
			gp.MembersOnTarget = len(d.Members)
		}
		p.Groups = append(p.Groups, gp)
	}
	return nil
}

// ApplyResult counts what Apply did.
type ApplyResult struct {
	TopicsCreated, TopicsGrown, ConfigsSet, ACLsCreated int
}

// Apply creates what the plan lists as missing and makes what it lists as
// changed, on the target that tgt (an admin client) reaches, with the calls
// MirrorSource makes: topics created with their partitions, replication
// factor and configs; partitions added; configs set, and overrides the
// source no longer has removed (never those config.properties.target.keep
// names); ACLs created. A topic
// or ACL created meanwhile by someone else is not an error. Groups are not
// touched. It stops at the first failure, which says what it was doing.
func (p *TargetPlan) Apply(ctx context.Context, tgt *kgo.Client) (ApplyResult, error) {
	var res ApplyResult
	tadm := kadm.NewClient(tgt)
	cs := newConfigSync(p.cfg, nil, tadm, hclog.NewNullLogger())
	alters := make(configAlters)
	for _, t := range p.Topics {
		switch {
		case t.Change == ChangeCreate:
			configs := make(map[string]*string, len(t.Configs))
			for k, v := range t.Configs {
				configs[k] = kadm.StringPtr(v)
			}
			created, err := createRemoteTopic(ctx, tadm, t.RemoteTopic, t.Partitions, t.ReplicationFactor, configs)
			if err != nil {
				return res, fmt.Errorf("create topic %s on %s with %d partition(s), replication factor %d: %w", t.RemoteTopic, p.Target, t.Partitions, t.ReplicationFactor, err)
			}
			if created {
				res.TopicsCreated++
			}
		case t.Change == ChangeUpdate:
			if t.CurrentPartitions < t.Partitions {
				resps, err := tadm.UpdatePartitions(ctx, int(t.Partitions), t.RemoteTopic)
				if err == nil {
					err = resps[t.RemoteTopic].Err
				}
				if err != nil && !errors.Is(err, kerr.InvalidPartitions) {
					return res, fmt.Errorf("grow topic %s on %s to %d partitions: %w", t.RemoteTopic, p.Target, t.Partitions, err)
				}
				res.TopicsGrown++
			}
			for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
				alters[t.RemoteTopic] = append(alters[t.RemoteTopic], kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(t.Configs[k])})
			}
			for _, k := range t.Remove {
				alters[t.RemoteTopic] = append(alters[t.RemoteTopic], kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
		}
	}
	n, err := cs.apply(ctx, alters)
	res.ConfigsSet = n
	if err != nil {
		return res, err
	}
	var acls []topicACL
	for _, a := range p.ACLs {
		if a.Change == ChangeCreate {
			acls = append(acls, a.acl)
		}
	}
	if err := createTopicACLs(ctx, tgt, acls); err != nil {
		return res, err
	}
	res.ACLsCreated = len(acls)
	return res, nil
}
