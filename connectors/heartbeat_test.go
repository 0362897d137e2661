package connectors

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mm2go/mm2go/connect"
)

func TestParseHeartbeatConfig(t *testing.T) {
	base := func(kv ...string) connect.Props {
		p := connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B"}
		for i := 0; i < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	tests := []struct {
		name    string
		props   connect.Props
		want    HeartbeatConfig
		wantErr string // substring; "" means no error
	}{
		{name: "defaults", props: base(),
			want: HeartbeatConfig{SourceAlias: "A", TargetAlias: "B", Topic: "heartbeats", Interval: time.Second, ReplicationFactor: -1}},
		{name: "fractional interval and factor", props: base(KeyEmitHeartbeatsSeconds, "0.2", KeyHeartbeatsReplicationFactor, "3"),
			want: HeartbeatConfig{SourceAlias: "A", TargetAlias: "B", Topic: "heartbeats", Interval: 200 * time.Millisecond, ReplicationFactor: 3}},
		{name: "disabled", props: base(KeyEmitHeartbeatsEnabled, "false", KeyEmitHeartbeatsSeconds, "5"),
			want: HeartbeatConfig{SourceAlias: "A", TargetAlias: "B", Topic: "heartbeats", ReplicationFactor: -1}},
		{name: "negative interval disables", props: base(KeyEmitHeartbeatsSeconds, "-1"),
			want: HeartbeatConfig{SourceAlias: "A", TargetAlias: "B", Topic: "heartbeats", ReplicationFactor: -1}},
		{name: "zero interval while disabled", props: base(KeyEmitHeartbeatsEnabled, "false", KeyEmitHeartbeatsSeconds, "0"),
			want: HeartbeatConfig{SourceAlias: "A", TargetAlias: "B", Topic: "heartbeats", ReplicationFactor: -1}},
		{name: "identity policy keeps heartbeats", props: base("replication.policy.class", "IdentityReplicationPolicy"),
			want: HeartbeatConfig{SourceAlias: "A", TargetAlias: "B", Topic: "heartbeats", Interval: time.Second, ReplicationFactor: -1}},

		{name: "no source", props: connect.Props{KeyTargetAlias: "B"}, wantErr: "source.cluster.alias and target.cluster.alias are required"},
		{name: "no target", props: connect.Props{KeySourceAlias: "A"}, wantErr: "are required"},
		{name: "alias too long", props: base(KeySourceAlias, strings.Repeat("a", 32768)), wantErr: "source cluster alias: string too long"},
		{name: "interval not a number", props: base(KeyEmitHeartbeatsSeconds, "often"), wantErr: `emit.heartbeats.interval.seconds: "often" is not a number of seconds`},
		{name: "zero interval", props: base(KeyEmitHeartbeatsSeconds, "0"), wantErr: `emit.heartbeats.interval.seconds: "0" is no interval`},
		{name: "interval below a nanosecond", props: base(KeyEmitHeartbeatsSeconds, "1e-12"), wantErr: "is no interval"},
		{name: "enabled not a bool", props: base(KeyEmitHeartbeatsEnabled, "yes"), wantErr: `emit.heartbeats.enabled: "yes" is not true or false`},
		{name: "factor not a number", props: base(KeyHeartbeatsReplicationFactor, "three"), wantErr: `heartbeats.topic.replication.factor: "three" is not an integer`},
		{name: "factor zero", props: base(KeyHeartbeatsReplicationFactor, "0"), wantErr: "heartbeats.topic.replication.factor: 0 is not a replication factor"},
		{name: "factor below -1", props: base(KeyHeartbeatsReplicationFactor, "-2"), wantErr: "-2 is not a replication factor"},
		{name: "factor too big", props: base(KeyHeartbeatsReplicationFactor, "32768"), wantErr: "32768 is not a replication factor"},
		{name: "unknown policy", props: base("replication.policy.class", "com.example.Custom"), wantErr: "unsupported policy class"},
		{name: "empty separator", props: base("replication.policy.separator", ""), wantErr: "separator is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHeartbeatConfig(tc.props)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseHeartbeatConfig error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHeartbeatConfig: %v", err)
			}
			if got != tc.want {
				t.Fatalf("ParseHeartbeatConfig = %+v, want %+v", got, tc.want)
			}
			if got.Enabled() != (tc.want.Interval > 0) {
				t.Fatalf("Enabled() = %v with interval %v", got.Enabled(), got.Interval)
			}
		})
	}
}

func hbHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hbPoll runs one Poll and returns its records and how long it blocked.
func hbPoll(t *testing.T, ctx context.Context, task *MirrorHeartbeatTask) ([]connect.SourceRecord, time.Duration) {
	t.Helper()
	began := time.Now()
	recs, err := task.Poll(ctx)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return recs, time.Since(began)
}

// TestMirrorHeartbeatTask_Interval runs the task on synctest's fake clock,
// which starts at 2000-01-01T00:00:00Z (946684800000 ms): heartbeats are due
// every interval from start, Poll never blocks more than a second, and the
// record is MM2's to the byte (spec §1.2: key "A","B" as in vector H1).
func TestMirrorHeartbeatTask_Interval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		sp := &connect.SourcePartition{}
		task := &MirrorHeartbeatTask{}
		task.init(HeartbeatConfig{SourceAlias: "A", TargetAlias: "B", Topic: "heartbeats", Interval: 2500 * time.Millisecond}, sp, hclog.NewNullLogger())

		// Nothing is due for 2.5s: two idle polls of a second each.
		for i := range 2 {
			recs, took := hbPoll(t, ctx, task)
			if recs != nil || took != time.Second {
				t.Fatalf("idle poll %d = %d records after %v, want none after 1s", i, len(recs), took)
			}
		}
		want := []struct {
			value string
			took  time.Duration
		}{
			{"00 00  00 00 00 dc 6a cf b5 c4", 500 * time.Millisecond}, // 946684802500: start + 2.5s
			{"00 00  00 00 00 dc 6a cf bf 88", 500 * time.Millisecond}, // 946684805000, after two more idle polls
		}
		for i, w := range want {
			for j := 0; i > 0 && j < 2; j++ {
				if recs, took := hbPoll(t, ctx, task); recs != nil || took != time.Second {
					t.Fatalf("idle poll = %d records after %v, want none after 1s", len(recs), took)
				}
			}
			recs, took := hbPoll(t, ctx, task)
			if len(recs) != 1 || took != w.took {
				t.Fatalf("heartbeat %d: %d records after %v, want 1 after %v", i, len(recs), took, w.took)
			}
			sr := recs[0]
			r := sr.Record
			if sr.Partition != sp || sr.Offset != 0 {
				t.Errorf("heartbeat %d: partition handle %p offset %d, want %p and 0", i, sr.Partition, sr.Offset, sp)
			}
			if r.Topic != "heartbeats" || r.Partition != 0 || len(r.Headers) != 0 {
				t.Errorf("heartbeat %d: topic %q partition %d headers %v, want heartbeats, 0, none", i, r.Topic, r.Partition, r.Headers)
			}
			if k := hbHex(t, "00 01 41 00 01 42"); !bytes.Equal(r.Key, k) {
				t.Errorf("heartbeat %d: key % x, want % x", i, r.Key, k)
			}
			v := hbHex(t, w.value)
			if !bytes.Equal(r.Value, v) {
				t.Errorf("heartbeat %d: value % x, want % x", i, r.Value, v)
			}
			wantTS := time.UnixMilli(946684800000 + 2500*int64(i+1))
			if !r.Timestamp.Equal(wantTS) || !time.Now().Equal(wantTS) {
				t.Errorf("heartbeat %d: timestamp %v at %v, want %v", i, r.Timestamp, time.Now(), wantTS)
			}
		}
	})
}

// TestMirrorHeartbeatTask_LateHeartbeat: after a stall longer than the
// interval, the late heartbeat goes at once and the next one a full interval
// later, not in a burst.
func TestMirrorHeartbeatTask_LateHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		task := &MirrorHeartbeatTask{}
		task.init(HeartbeatConfig{SourceAlias: "A", TargetAlias: "B", Topic: "heartbeats", Interval: 200 * time.Millisecond}, nil, hclog.NewNullLogger())
		var stamps []time.Time
		for range 5 {
			recs, _ := hbPoll(t, ctx, task)
			if len(recs) != 1 {
				t.Fatalf("poll returned %d records, want 1", len(recs))
			}
			stamps = append(stamps, recs[0].Record.Timestamp)
		}
		for i := 1; i < len(stamps); i++ {
			if d := stamps[i].Sub(stamps[i-1]); d != 200*time.Millisecond {
				t.Fatalf("heartbeats %d and %d are %v apart, want 200ms", i-1, i, d)
			}
		}
		time.Sleep(time.Second) // the runner was busy for 5 intervals
		recs, took := hbPoll(t, ctx, task)
		if len(recs) != 1 || took != 0 {
			t.Fatalf("late poll: %d records after %v, want 1 at once", len(recs), took)
		}
		recs, took = hbPoll(t, ctx, task)
		if len(recs) != 1 || took != 200*time.Millisecond {
			t.Fatalf("poll after the late one: %d records after %v, want 1 after 200ms", len(recs), took)
		}
	})
}

// TestMirrorHeartbeatTask_Disabled: with emission off, Poll idles a second
// at a time and never returns a record.
func TestMirrorHeartbeatTask_Disabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := ParseHeartbeatConfig(connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B", KeyEmitHeartbeatsEnabled: "false"})
		if err != nil {
			t.Fatal(err)
		}
		task := &MirrorHeartbeatTask{}
		task.init(cfg, nil, hclog.NewNullLogger())
		for range 10 {
			if recs, took := hbPoll(t, context.Background(), task); recs != nil || took != time.Second {
				t.Fatalf("disabled poll: %d records after %v, want none after 1s", len(recs), took)
			}
		}
	})
}

// TestMirrorHeartbeatTask_PollStopsOnCancel: a cancelled ctx ends a waiting
// Poll at once, with no record.
func TestMirrorHeartbeatTask_PollStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		task := &MirrorHeartbeatTask{}
		task.init(HeartbeatConfig{SourceAlias: "A", TargetAlias: "B", Topic: "heartbeats", Interval: 500 * time.Millisecond}, nil, hclog.NewNullLogger())
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		if recs, took := hbPoll(t, ctx, task); recs != nil || took != 100*time.Millisecond {
			t.Fatalf("cancelled poll: %d records after %v, want none after 100ms", len(recs), took)
		}
	})
}

func TestMirrorHeartbeat_TaskConfigs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		props connect.Props
		want  int
	}{
		{"enabled", connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B"}, 1},
		{"disabled", connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B", KeyEmitHeartbeatsEnabled: "false"}, 0},
		{"negative interval", connect.Props{KeySourceAlias: "A", KeyTargetAlias: "B", KeyEmitHeartbeatsSeconds: "-1"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseHeartbeatConfig(tc.props)
			if err != nil {
				t.Fatal(err)
			}
			m := &MirrorHeartbeat{cfg: cfg, cc: &connect.ConnectorContext{Props: tc.props}}
			got, err := m.TaskConfigs(8)
			if err != nil || len(got) != tc.want {
				t.Fatalf("TaskConfigs(8) = %d configs, %v; want %d", len(got), err, tc.want)
			}
			if tc.want == 1 && got[0][KeySourceAlias] != "A" {
				t.Fatalf("task config %v lacks the connector props", got[0])
			}
			if m.NewTask() == nil {
				t.Fatal("NewTask returned nil")
			}
			if err := m.Stop(context.Background()); err != nil {
				t.Fatalf("Stop: %v", err)
			}
		})
	}
}
