package policy

import (
	"fmt"
	"strings"
)

// MM2 property names read by FromProps.
const (
	// KeyReplicationPolicyClass selects the policy (default DefaultPolicyClass).
	KeyReplicationPolicyClass = "replication.policy.class"
	// KeyReplicationPolicySeparator is the remote topic separator (default ".").
	KeyReplicationPolicySeparator = "replication.policy.separator"
	// KeyInternalTopicSeparatorEnabled makes checkpoints and offset-syncs topic names use the
	// separator (default true; Kafka 3.5.2+).
	KeyInternalTopicSeparatorEnabled = "replication.policy.internal.topic.separator.enabled"
	// KeySourceClusterAlias is the flow's source alias, which Identity reports as every topic's source.
	KeySourceClusterAlias = "source.cluster.alias"
)

// Java class names accepted by FromProps, besides the short names "DefaultReplicationPolicy" and
// "IdentityReplicationPolicy".
const (
	// DefaultPolicyClass selects Default.
	DefaultPolicyClass = "org.apache.kafka.connect.mirror.DefaultReplicationPolicy"
	// IdentityPolicyClass selects Identity.
	IdentityPolicyClass = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
)

var acceptedPolicyClasses = []string{
	"DefaultReplicationPolicy", DefaultPolicyClass,
	"IdentityReplicationPolicy", IdentityPolicyClass,
}

// FromProps builds the replication policy that MM2 would build from a flow's connector properties:
// replication.policy.class (DefaultPolicyClass when absent), replication.policy.separator,
// replication.policy.internal.topic.separator.enabled and, for Identity, source.cluster.alias.
//
// It returns a Default or an Identity value. Unlike MM2, it rejects custom policy classes (Go cannot
// load them), an empty separator (Java accepts it and then splits names into single characters), and
// boolean values other than true or false in any case.
func FromProps(props map[string]string) (ReplicationPolicy, error) {
	var d Default
	if sep, ok := props[KeyReplicationPolicySeparator]; ok {
		if sep == "" {
			return nil, fmt.Errorf("parse %s: separator is empty", KeyReplicationPolicySeparator)
		}
		d.Separator = sep
	}
	if v, ok := props[KeyInternalTopicSeparatorEnabled]; ok {
		enabled, err := parseBool(v)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", KeyInternalTopicSeparatorEnabled, err)
		}
		d.DisableInternalTopicSeparator = !enabled
	}
	class := DefaultPolicyClass
	if v, ok := props[KeyReplicationPolicyClass]; ok {
		class = strings.TrimSpace(v)
	}
	switch class {
	case "DefaultReplicationPolicy", DefaultPolicyClass:
		return d, nil
	case "IdentityReplicationPolicy", IdentityPolicyClass:
		return Identity{Default: d, SourceClusterAlias: props[KeySourceClusterAlias]}, nil
	}
	return nil, fmt.Errorf("parse %s: unsupported policy class %q (accepted: %s)",
		KeyReplicationPolicyClass, class, strings.Join(acceptedPolicyClasses, ", "))
}

// parseBool parses a Kafka BOOLEAN config value: "true" or "false" in any case, surrounding whitespace
// ignored.
func parseBool(v string) (bool, error) {
	switch t := strings.TrimSpace(v); {
	case strings.EqualFold(t, "true"):
		return true, nil
	case strings.EqualFold(t, "false"):
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}
