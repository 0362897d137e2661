package connectors

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mm2go/mm2go/connectors/policy"
)

// configSync keeps remote topics' configs in line with their source topics
// with incremental alters, as MM2 does (spec §6.2):
//
//   - the source topic's own overrides are set on the remote topic; with
//     use.defaults.from=source (MM2's option), the source's defaults too,
//     so that the remote topic behaves as the source topic whatever the
//     target's defaults; never sensitive values;
//   - an override the remote topic has for a property the source topic
//     takes from its defaults is deleted, so the target's default applies
//     (MM2 deletes such properties too): an override removed on the source
//     is removed on the target;
//   - MM2's excluded properties (config.properties.exclude) are never set
//     nor deleted, except min.insync.replicas when carryMinISR is set (MM2
//     cannot);
//   - properties matching keep (config.properties.target.keep) are never
//     touched on the target: operators set them by hand there.
//
// Unlike MM2, dynamic broker-level values of the source are not copied as
// topic overrides with use.defaults.from=target: they are the source
// brokers' defaults, and the target's brokers have their own.
type configSync struct {
	src, dst    *kadm.Client
	policy      policy.ReplicationPolicy
	sourceAlias string
	exclude     *policy.ConfigPropertyFilter
	keep        *policy.ConfigPropertyFilter // properties it excludes are kept; nil: keep nothing
	carryMinISR bool
	// defaultsFromSource is use.defaults.from=source.
	defaultsFromSource bool
	log                hclog.Logger
}

// newConfigSync returns the config sync of a flow.
func newConfigSync(cfg SourceConfig, src, dst *kadm.Client, log hclog.Logger) *configSync {
	return &configSync{
		src: src, dst: dst, policy: cfg.Policy, sourceAlias: cfg.SourceAlias,
		exclude: cfg.ConfigProperties, keep: cfg.TargetKeep, carryMinISR: cfg.CarryMinISR,
		defaultsFromSource: cfg.DefaultsFromSource, log: log,
	}
}

// replicableConfigs returns the configs a new remote topic of a source
// topic with configs cs is created with: the properties desired returns
// that the config-property filter lets through.
func (c *configSync) replicableConfigs(cs []kadm.Config) map[string]*string {
	want, _ := c.desired(cs)
	out := make(map[string]*string, len(want))
	for k, v := range want {
		if c.copyable(k) {
			out[k] = kadm.StringPtr(v)
		}
	}
	return out
}

// copyable reports whether property name is copied to a new remote topic.
func (c *configSync) copyable(name string) bool {
	if name == "min.insync.replicas" && c.carryMinISR {
		return true
	}
	return c.exclude.ShouldReplicateConfigProperty(name)
}

// allowed reports whether property name may be set or deleted on an
// existing remote topic: copyable and not kept as set by hand on the
// target.
func (c *configSync) allowed(name string) bool {
	if c.keep != nil && !c.keep.ShouldReplicateConfigProperty(name) {
		return false
	}
	return c.copyable(name)
}

// overrides returns a topic's own config overrides (DYNAMIC_TOPIC_CONFIG).
func overrides(cs []kadm.Config) map[string]string {
	out := make(map[string]string)
	for _, c := range cs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig && !c.Sensitive && c.Value != nil {
			out[c.Key] = *c.Value
		}
	}
	return out
}

// sourceRank orders config sources by precedence, highest first, as
// Kafka resolves a topic's effective value.
func sourceRank(s kmsg.ConfigSource) int {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return 5
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return 4
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return 3
	case kmsg.ConfigSourceStaticBrokerConfig:
		return 2
	case kmsg.ConfigSourceDefaultConfig:
		return 1
	}
	return 0
}

// effective returns each property's entry of the highest precedence. (A
// broker describes each once; kfake may list a property once per source.)
func effective(cs []kadm.Config) map[string]kadm.Config {
	out := make(map[string]kadm.Config, len(cs))
	for _, c := range cs {
		if prev, ok := out[c.Key]; !ok || sourceRank(c.Source) > sourceRank(prev.Source) {
			out[c.Key] = c
		}
	}
	return out
}

// desired returns the properties the remote topic of a source topic with
// configs cs should have as overrides, before the filters: the source's own
// overrides and, with use.defaults.from=source, its defaults (not the
// static broker settings Kafka never reports as a topic's). sensitive lists
// the properties whose value the source hides: those are never touched.
func (c *configSync) desired(cs []kadm.Config) (want map[string]string, sensitive map[string]bool) {
	want = make(map[string]string)
	sensitive = make(map[string]bool)
	for k, e := range effective(cs) {
		switch {
		case e.Sensitive:
			sensitive[k] = true
		case e.Value == nil:
		case e.Source == kmsg.ConfigSourceDynamicTopicConfig:
			want[k] = *e.Value
		case c.defaultsFromSource && sourceRank(e.Source) > 0 && e.Source != kmsg.ConfigSourceStaticBrokerConfig:
			want[k] = *e.Value
		}
	}
	return want, sensitive
}

// run compares every source topic with its remote topic, sets what differs
// and deletes what the source no longer overrides. It returns the number of
// properties set or deleted.
func (c *configSync) run(ctx context.Context, sources []string) (int, error) {
	alters, err := c.plan(ctx, sources)
	if err != nil {
		return 0, err
	}
	return c.apply(ctx, alters)
}

// configAlters are the properties to set (kadm.SetConfig) or delete
// (kadm.DeleteConfig) on existing remote topics, by remote topic, sorted by
// name.
type configAlters map[string][]kadm.AlterConfig

// plan compares every source topic with its remote topic and returns what
// differs; remote topics that do not exist yet are left out.
func (c *configSync) plan(ctx context.Context, sources []string) (configAlters, error) {
	if len(sources) == 0 {
		return nil, nil
	}
	srcCfgs, err := c.src.DescribeTopicConfigs(ctx, sources...)
	if err != nil {
		return nil, fmt.Errorf("describe source topic configs: %w", err)
	}
	remote := make(map[string]string, len(sources))
	names := make([]string, 0, len(sources))
	for _, t := range sources {
		r := c.policy.FormatRemoteTopic(c.sourceAlias, t)
		remote[t] = r
		names = append(names, r)
	}
	dstCfgs, err := c.dst.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe remote topic configs: %w", err)
	}
	current := make(map[string]map[string]string, len(dstCfgs))
	for _, rc := range dstCfgs {
		if rc.Err == nil {
			current[rc.Name] = overrides(rc.Configs)
		}
	}
	out := make(configAlters)
	for _, rc := range srcCfgs {
		if rc.Err != nil {
			continue // deleted meanwhile; the refresh notices
		}
		r := remote[rc.Name]
		have, ok := current[r]
		if !ok {
			continue // remote topic not there yet; the next refresh creates it
		}
		want, sensitive := c.desired(rc.Configs)
		var alters []kadm.AlterConfig
		for k, v := range want {
			if !c.allowed(k) {
				continue
			}
			if cur, ok := have[k]; ok && cur == v {
				continue
			}
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
		}
		for k := range have {
			if _, ok := want[k]; ok || sensitive[k] || !c.allowed(k) {
				continue
			}
			alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
		}
		if len(alters) == 0 {
			continue
		}
		sort.Slice(alters, func(i, j int) bool { return alters[i].Name < alters[j].Name })
		out[r] = alters
	}
	return out, nil
}

// apply sets and deletes planned properties on the remote topics, in
// sorted order of topics. It returns the number of properties changed.
func (c *configSync) apply(ctx context.Context, planned configAlters) (int, error) {
	topics := make([]string, 0, len(planned))
	for r := range planned {
		topics = append(topics, r)
	}
	sort.Strings(topics)
	changed := 0
	var errs []error
	for _, r := range topics {
		alters := planned[r]
		resps, err := c.dst.AlterTopicConfigs(ctx, alters, r)
		if err == nil {
			var resp kadm.AlterConfigsResponse
			if resp, err = resps.On(r, nil); err == nil {
				err = resp.Err
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("alter configs of remote topic %s: %w", r, err))
			continue
		}
		for _, a := range alters {
			if a.Op == kadm.DeleteConfig {
				c.log.Info("removed topic config override, as on the source", "topic", r, "config", a.Name)
			} else {
				c.log.Info("synced topic config", "topic", r, "config", a.Name, "value", *a.Value)
			}
		}
		changed += len(alters)
	}
	return changed, errors.Join(errs...)
}
