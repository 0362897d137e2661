package connect

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNewClient_Defaults checks the worker's client defaults, which bound
// its memory and latency, and that a flow file's settings override them.
func TestNewClient_Defaults(t *testing.T) {
	cfg := WorkerConfig{Clusters: map[string]ClusterConfig{
		"A": {Alias: "A", Opts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}},
		"B": {Alias: "B", Opts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")},
			ConsumerOpts: []kgo.Opt{kgo.FetchMaxBytes(50 << 20)}, ProducerOpts: []kgo.Opt{kgo.MaxBufferedBytes(64 << 20)}},
	}}
	client := func(cluster string, role Role) *kgo.Client {
		t.Helper()
		cl, err := cfg.newClient(cluster, role)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	for _, tc := range []struct {
		name string
		cl   *kgo.Client
		opt  any
		want any
	}{
		{"consumer fetch bytes", client("A", RoleConsumer), kgo.FetchMaxBytes, int32(8 << 20)},
		{"consumer fetch wait", client("A", RoleConsumer), kgo.FetchMaxWait, 500 * time.Millisecond},
		{"producer linger", client("A", RoleProducer), kgo.ProducerLinger, time.Millisecond},
		{"producer buffer", client("A", RoleProducer), kgo.MaxBufferedBytes, int64(16 << 20)},
		{"flow file's fetch bytes win", client("B", RoleConsumer), kgo.FetchMaxBytes, int32(50 << 20)},
		{"flow file's buffer wins", client("B", RoleProducer), kgo.MaxBufferedBytes, int64(64 << 20)},
	} {
		if got := tc.cl.OptValue(tc.opt); got != tc.want {
			t.Errorf("%s: %v (%T), want %v (%T)", tc.name, got, got, tc.want, tc.want)
		}
	}
	if _, err := cfg.newClient("C", RoleAdmin); err == nil || !strings.Contains(err.Error(), `cluster "C" is not configured`) {
		t.Errorf("unknown cluster: %v", err)
	}
}
