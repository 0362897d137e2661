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

// configSync copies changed topic configs from source topics to their remote
// topics with incremental alters (SET only):
//
//   - only the source topic's own overrides are copied, never broker
//     defaults, never sensitive values;
//   - MM2's excluded properties (config.properties.exclude) are skipped,
//     except min.insync.replicas when carryMinISR is set (MM2 cannot);
//   - properties matching keep (config.properties.target.keep) are never
//     touched on the target: operators set them by hand there;
//   - nothing is ever deleted on the target, so properties set only on the
//     target stay as they are.
type configSync struct {
	src, dst    *kadm.Client
	policy      policy.ReplicationPolicy
	sourceAlias string
	exclude     *policy.ConfigPropertyFilter
	keep        *policy.ConfigPropertyFilter // properties it excludes are kept; nil: keep nothing
	carryMinISR bool
	log         hclog.Logger
}

// newConfigSync returns the config sync of a flow.
func newConfigSync(cfg SourceConfig, src, dst *kadm.Client, log hclog.Logger) *configSync {
	return &configSync{
		src: src, dst: dst, policy: cfg.Policy, sourceAlias: cfg.SourceAlias,
		exclude: cfg.ConfigProperties, keep: cfg.TargetKeep, carryMinISR: cfg.CarryMinISR, log: log,
	}
}

// replicableConfigs keeps the topic's own overrides (not broker defaults,
// not sensitive values) that the config-property filter lets through: the
// configs of a new remote topic. MM2 also copies dynamic broker-level values
// as topic overrides; mm2go leaves those to the target's brokers.
func (c *configSync) replicableConfigs(cs []kadm.Config) map[string]*string {
	out := make(map[string]*string)
	for k, v := range overrides(cs) {
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

// allowed reports whether property name may be set on an existing remote
// topic: copyable and not kept as set by hand on the target.
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

// run compares every source topic with its remote topic and sets what
// differs. It returns the number of properties set.
func (c *configSync) run(ctx context.Context, sources []string) (int, error) {
	alters, err := c.plan(ctx, sources)
	if err != nil {
		return 0, err
	}
	return c.apply(ctx, alters)
}

// configAlters are the properties to set on existing remote topics, by
// remote topic, sorted by name.
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
		var alters []kadm.AlterConfig
		for k, v := range overrides(rc.Configs) {
			if !c.allowed(k) {
				continue
			}
			if cur, ok := have[k]; ok && cur == v {
				continue
			}
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
		}
		if len(alters) == 0 {
			continue
		}
		sort.Slice(alters, func(i, j int) bool { return alters[i].Name < alters[j].Name })
		out[r] = alters
	}
	return out, nil
}

// apply sets planned properties on the remote topics, in sorted order of
// topics. It returns the number of properties set.
func (c *configSync) apply(ctx context.Context, planned configAlters) (int, error) {
	topics := make([]string, 0, len(planned))
	for r := range planned {
		topics = append(topics, r)
	}
	sort.Strings(topics)
	set := 0
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
			errs = append(errs, fmt.Errorf("set configs of remote topic %s: %w", r, err))
			continue
		}
		for _, a := range alters {
			c.log.Info("synced topic config", "topic", r, "config", a.Name, "value", *a.Value)
		}
		set += len(alters)
	}
	return set, errors.Join(errs...)
}
