package policy

import (
	"strings"
	"testing"
)

func TestFromProps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  ReplicationPolicy
	}{
		{"empty", nil, Default{}},
		{"short default", map[string]string{KeyReplicationPolicyClass: "DefaultReplicationPolicy"}, Default{}},
		{"java default", map[string]string{KeyReplicationPolicyClass: DefaultPolicyClass}, Default{}},
		{"padded class", map[string]string{KeyReplicationPolicyClass: "  " + DefaultPolicyClass + " "}, Default{}},
		{"separator", map[string]string{KeyReplicationPolicySeparator: "_"}, Default{Separator: "_"}},
		{"internal flag false", map[string]string{
			KeyReplicationPolicySeparator:    "_",
			KeyInternalTopicSeparatorEnabled: "false",
		}, Default{Separator: "_", DisableInternalTopicSeparator: true}},
		{"internal flag TRUE", map[string]string{KeyInternalTopicSeparatorEnabled: " TRUE "}, Default{}},
		{"source alias ignored by default", map[string]string{KeySourceClusterAlias: "A"}, Default{}},
		{"short identity", map[string]string{
			KeyReplicationPolicyClass: "IdentityReplicationPolicy",
			KeySourceClusterAlias:     "A",
		}, Identity{SourceClusterAlias: "A"}},
		{"java identity with separator", map[string]string{
			KeyReplicationPolicyClass:        IdentityPolicyClass,
			KeyReplicationPolicySeparator:    "--",
			KeyInternalTopicSeparatorEnabled: "False",
		}, Identity{Default: Default{Separator: "--", DisableInternalTopicSeparator: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromProps(tc.props)
			if err != nil {
				t.Fatalf("FromProps(%v) error: %v", tc.props, err)
			}
			if got != tc.want {
				t.Fatalf("FromProps(%v) = %#v, want %#v", tc.props, got, tc.want)
			}
		})
	}
}

func TestFromProps_Errors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  []string // substrings of the error
	}{
		{"custom class", map[string]string{KeyReplicationPolicyClass: "com.example.MyPolicy"}, []string{
			"parse replication.policy.class:", `"com.example.MyPolicy"`,
			"DefaultReplicationPolicy", "IdentityReplicationPolicy", DefaultPolicyClass, IdentityPolicyClass,
		}},
		{"legacy package", map[string]string{KeyReplicationPolicyClass: "org.apache.kafka.connect.mirror.LegacyReplicationPolicy"}, []string{
			`"org.apache.kafka.connect.mirror.LegacyReplicationPolicy"`,
		}},
		{"empty class", map[string]string{KeyReplicationPolicyClass: " "}, []string{`unsupported policy class ""`}},
		{"empty separator", map[string]string{KeyReplicationPolicySeparator: ""}, []string{
			"parse replication.policy.separator: separator is empty",
		}},
		{"bad bool", map[string]string{KeyInternalTopicSeparatorEnabled: "yes"}, []string{
			"parse replication.policy.internal.topic.separator.enabled:", `want true or false, got "yes"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := FromProps(tc.props)
			if err == nil {
				t.Fatalf("FromProps(%v) = %#v, want error", tc.props, p)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("FromProps(%v) error %q does not contain %q", tc.props, err, w)
				}
			}
		})
	}
}
