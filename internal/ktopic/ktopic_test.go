package ktopic

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newAdmin(t *testing.T) (*kfake.Cluster, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, kadm.NewClient(cl)
}

func TestCreateCompacted_CreatesOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, adm := newAdmin(t)
	c := Compacted{Topic: "mm2-offsets.A.internal", Cluster: "B", Partitions: 5, ReplicationFactor: -1, ReplicationFactorKey: "offset.storage.replication.factor"}
	for i, want := range []Outcome{Created, Existed} {
		got, err := CreateCompacted(ctx, adm, c, hclog.NewNullLogger())
		if err != nil || got != want {
			t.Fatalf("call %d = %v, %v; want %v", i, got, err, want)
		}
	}
	details, err := adm.ListTopics(ctx, c.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if d := details[c.Topic]; d.Err != nil || len(d.Partitions) != 5 {
		t.Fatalf("%s: err %v, %d partitions; want 5", c.Topic, d.Err, len(d.Partitions))
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, c.Topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On(c.Topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	compact := false
	for _, cv := range rc.Configs {
		compact = compact || cv.Key == "cleanup.policy" && cv.MaybeValue() == "compact"
	}
	if !compact {
		t.Fatalf("configs %+v lack cleanup.policy=compact", rc.Configs)
	}

	// Partitions 0 means one partition.
	if _, err := CreateCompacted(ctx, adm, Compacted{Topic: "heartbeats", Cluster: "B", ReplicationFactor: -1}, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	details, err = adm.ListTopics(ctx, "heartbeats")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details["heartbeats"].Partitions); n != 1 {
		t.Fatalf("heartbeats has %d partitions, want 1", n)
	}
}

func TestCreateCompacted_Errors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Run("replication factor too high", func(t *testing.T) {
		_, adm := newAdmin(t)
		_, err := CreateCompacted(ctx, adm, Compacted{Topic: "heartbeats", Cluster: "B", ReplicationFactor: 3,
			ReplicationFactorKey: "heartbeats.topic.replication.factor"}, hclog.NewNullLogger())
		want := "create topic heartbeats on B with replication factor 3: "
		if !errors.Is(err, kerr.InvalidReplicationFactor) || !strings.HasPrefix(err.Error(), want) ||
			!strings.Contains(err.Error(), "(set heartbeats.topic.replication.factor to a factor the cluster can meet, or -1 for the broker default)") {
			t.Fatalf("err = %v, want InvalidReplicationFactor naming the key", err)
		}
	})
	for _, tc := range []struct {
		name      string
		code      int16
		want      Outcome // 0: an error
		retriable bool
	}{
		{"topic authorization tolerated", kerr.TopicAuthorizationFailed.Code, Assumed, false},
		{"cluster authorization tolerated", kerr.ClusterAuthorizationFailed.Code, Assumed, false},
		{"unsupported tolerated", kerr.UnsupportedVersion.Code, Assumed, false},
		{"exists", kerr.TopicAlreadyExists.Code, Existed, false},
		{"timeout is a retriable error", kerr.RequestTimedOut.Code, 0, true},
		{"policy violation is an error", kerr.PolicyViolation.Code, 0, false},
		{"invalid config is an error", kerr.InvalidConfig.Code, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, adm := newAdmin(t)
			c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
				creq := req.(*kmsg.CreateTopicsRequest)
				resp := creq.ResponseKind().(*kmsg.CreateTopicsResponse)
				for _, rt := range creq.Topics {
					st := kmsg.NewCreateTopicsResponseTopic()
					st.Topic, st.ErrorCode = rt.Topic, tc.code
					resp.Topics = append(resp.Topics, st)
				}
				return resp, nil, true
			})
			got, err := CreateCompacted(ctx, adm, Compacted{Topic: "x", Cluster: "B", ReplicationFactor: -1}, hclog.NewNullLogger())
			switch {
			case tc.want != 0 && (err != nil || got != tc.want):
				t.Fatalf("= %v, %v; want %v", got, err, tc.want)
			case tc.want == 0 && (err == nil || !strings.HasPrefix(err.Error(), "create topic x on B: ")):
				t.Fatalf("= %v, %v; want an error that names the topic and cluster", got, err)
			case tc.want == 0 && kerr.IsRetriable(err) != tc.retriable:
				t.Fatalf("kerr.IsRetriable(%v) = %v, want %v", err, !tc.retriable, tc.retriable)
			}
		})
	}
}
