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

// TestNewClient_FlowOptions checks what a connector's clients get, in
// order: the cluster's options, the cluster's role options, the flow's
// options for that cluster and role (ConnectorSpec.Clients), then the
// caller's; and the client id MM2 composes from the operator's client.id
// and the client's label.
func TestNewClient_FlowOptions(t *testing.T) {
	cfg := WorkerConfig{Clusters: map[string]ClusterConfig{
		"A": {Alias: "A", Opts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1"), ClientIDPrefix("ops")},
			ConsumerOpts: []kgo.Opt{kgo.FetchMaxBytes(1 << 20), kgo.FetchMinBytes(7)}},
		"B": {Alias: "B", Opts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}},
	}}
	spec := ConnectorSpec{Clients: map[string]RoleOpts{
		"A": {Consumer: []kgo.Opt{kgo.FetchMaxBytes(2 << 20), kgo.FetchIsolationLevel(kgo.ReadCommitted())}},
	}}
	newClient := spec.clients(cfg.newClient)
	client := func(cluster string, role Role, opts ...kgo.Opt) *kgo.Client {
		t.Helper()
		cl, err := newClient(cluster, role, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	consumer := client("A", RoleConsumer, ClientLabel("A->B|MirrorSourceConnector-0|replication-consumer"))
	for _, tc := range []struct {
		name string
		cl   *kgo.Client
		opt  any
		want any
	}{
		{"the flow's option wins over the cluster's", consumer, kgo.FetchMaxBytes, int32(2 << 20)},
		{"the flow's option is applied", consumer, kgo.FetchIsolationLevel, int8(1)},
		{"the cluster's role option stays", consumer, kgo.FetchMinBytes, int32(7)},
		{"the operator's client.id prefixes the label", consumer, kgo.ClientID, "ops|A->B|MirrorSourceConnector-0|replication-consumer"},
		{"without a label the operator's client.id", client("A", RoleAdmin), kgo.ClientID, "ops"},
		{"without client.id the label", client("B", RoleAdmin, ClientLabel("x")), kgo.ClientID, "x"},
		{"the flow's consumer options stay off admins", client("A", RoleAdmin), kgo.FetchIsolationLevel, int8(0)},
		{"and off the other cluster", client("B", RoleConsumer), kgo.FetchIsolationLevel, int8(0)},
	} {
		if got := tc.cl.OptValue(tc.opt); got != tc.want {
			t.Errorf("%s: %v (%T), want %v (%T)", tc.name, got, got, tc.want, tc.want)
		}
	}
}

// TestHerder_FlushInterval: a pair's own offset.flush.interval.ms wins over
// the worker's.
func TestHerder_FlushInterval(t *testing.T) {
	cfg := WorkerConfig{Herders: map[string]HerderConfig{"A->B": {OffsetFlushInterval: time.Second}}}
	cfg.setDefaults()
	if got := cfg.herder("A", "B").OffsetFlushInterval; got != time.Second {
		t.Errorf("A->B flush interval %v, want 1s", got)
	}
	if got := cfg.herder("B", "A").OffsetFlushInterval; got != 5*time.Second {
		t.Errorf("B->A flush interval %v, want the worker's 5s", got)
	}
}
