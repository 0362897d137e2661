package connectors

import (
	"strings"
	"testing"
	"time"

	"github.com/mm2go/mm2go/connect"
)

func TestParseSourceConfig_OffsetSyncs(t *testing.T) {
	base := func(kv ...string) connect.Props {
		p := connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B"}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	type want struct {
		emit     bool
		topic    string
		cluster  string
		rf       int16
		lagMax   int64
		onTarget bool
	}
	tests := []struct {
		name    string
		props   connect.Props
		want    want
		wantErr string
	}{
		{name: "defaults", props: base(),
			want: want{emit: true, topic: "mm2-offset-syncs.B.internal", cluster: "A", rf: -1, lagMax: 100}},
		{name: "on the target", props: base(KeyOffsetSyncsTopicLocation, "target"),
			want: want{emit: true, topic: "mm2-offset-syncs.A.internal", cluster: "B", rf: -1, lagMax: 100, onTarget: true}},
		{name: "location in any case", props: base(KeyOffsetSyncsTopicLocation, " Target "),
			want: want{emit: true, topic: "mm2-offset-syncs.A.internal", cluster: "B", rf: -1, lagMax: 100, onTarget: true}},
		{name: "separator", props: base("replication.policy.separator", "_"),
			want: want{emit: true, topic: "mm2-offset-syncs_B_internal", cluster: "A", rf: -1, lagMax: 100}},
		{name: "pre-3.1 internal names", props: base("replication.policy.separator", "_", "replication.policy.internal.topic.separator.enabled", "false"),
			want: want{emit: true, topic: "mm2-offset-syncs.B.internal", cluster: "A", rf: -1, lagMax: 100}},
		{name: "disabled", props: base(KeyEmitOffsetSyncs, "false"),
			want: want{emit: false, topic: "mm2-offset-syncs.B.internal", cluster: "A", rf: -1, lagMax: 100}},
		{name: "factor and lag", props: base(KeyOffsetSyncsReplicationFactor, "3", KeyOffsetLagMax, "500"),
			want: want{emit: true, topic: "mm2-offset-syncs.B.internal", cluster: "A", rf: 3, lagMax: 500}},
		{name: "lag zero, as MM2 allows", props: base(KeyOffsetLagMax, "0"),
			want: want{emit: true, topic: "mm2-offset-syncs.B.internal", cluster: "A", rf: -1, lagMax: 0}},

		{name: "location unknown", props: base(KeyOffsetSyncsTopicLocation, "middle"), wantErr: `offset-syncs.topic.location: "middle" is not source or target`},
		{name: "emit not a bool", props: base(KeyEmitOffsetSyncs, "yes"), wantErr: `emit.offset-syncs.enabled: "yes" is not true or false`},
		{name: "factor zero", props: base(KeyOffsetSyncsReplicationFactor, "0"), wantErr: "offset-syncs.topic.replication.factor: 0 is not a replication factor"},
		{name: "lag not a number", props: base(KeyOffsetLagMax, "1.5"), wantErr: `offset.lag.max: "1.5" is not an integer`},
		{name: "poll timeout zero", props: base(KeyPollTimeout, "0"), wantErr: "consumer.poll.timeout.ms: 0 is out of range"},
		{name: "reset none", props: base(KeyOffsetReset, "none"), wantErr: `consumer.auto.offset.reset: "none" is not earliest or latest`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseSourceConfig(tc.props)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseSourceConfig error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSourceConfig: %v", err)
			}
			topic, cluster := c.OffsetSyncsTopic()
			got := want{emit: c.EmitOffsetSyncs, topic: topic, cluster: cluster, rf: c.OffsetSyncsReplicationFactor, lagMax: c.OffsetLagMax, onTarget: c.OffsetSyncsOnTarget}
			if got != tc.want {
				t.Fatalf("ParseSourceConfig = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestParseSourceConfig_ConsumerKeys: consumer.auto.offset.reset picks where
// partitions without a stored offset start, consumer.poll.timeout.ms how
// long a Poll waits.
func TestParseSourceConfig_ConsumerKeys(t *testing.T) {
	for _, tc := range []struct {
		props      connect.Props
		startAtEnd bool
		poll       time.Duration
	}{
		{connect.Props{}, false, time.Second},
		{connect.Props{KeyOffsetReset: "earliest", KeyPollTimeout: "250"}, false, 250 * time.Millisecond},
		{connect.Props{KeyOffsetReset: "latest"}, true, time.Second},
	} {
		tc.props[KeySourceAlias], tc.props[KeyTargetAlias] = "A", "B"
		c, err := ParseSourceConfig(tc.props)
		if err != nil || c.StartAtEnd != tc.startAtEnd || c.PollTimeout != tc.poll {
			t.Errorf("ParseSourceConfig(%v) = start at end %v, poll %v, %v; want %v, %v", tc.props, c.StartAtEnd, c.PollTimeout, err, tc.startAtEnd, tc.poll)
		}
	}
}
