package flows

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mm2go/mm2go/connect"
	"github.com/mm2go/mm2go/connectors"
)

// TestClients_MM2Precedence checks, on testdata/precedence.properties,
// which layer wins for each client of a flow (the golden file shows all of
// them), and that Plan hands the worker options that give each client
// exactly those properties.
func TestClients_MM2Precedence(t *testing.T) {
	_, x := expandFile(t, "testdata/precedence.properties")
	var fl FlowConfig
	for _, f := range x.Flows {
		if f.Name() == "onprem->msk" {
			fl = f
		}
	}
	for _, tc := range []struct{ client, key, want, why string }{
		{ClientSourceConsumer, "client.id", "mm2-onprem", "the cluster's bare properties reach every client of the cluster"},
		{ClientSourceConsumer, "isolation.level", "read_committed", "top-level consumer.* applies to every flow"},
		{ClientSourceConsumer, "fetch.max.wait.ms", "250", "the flow's consumer.*"},
		{ClientSourceConsumer, "fetch.min.bytes", "65536", "<cluster>.consumer.* beats the flow's consumer.* (MM2)"},
		{ClientSourceConsumer, "max.partition.fetch.bytes", "4194304", "the flow's source.consumer.* beats <cluster>.consumer.*"},
		{ClientTargetConsumer, "fetch.min.bytes", "1", "the flow's consumer.* reaches the target's consumers too"},
		{ClientSourceProducer, "linger.ms", "50", "the flow's producer.* when the cluster has none"},
		{ClientTargetProducer, "linger.ms", "5", "<cluster>.producer.* beats the flow's producer.*"},
		{ClientTargetProducer, "batch.size", "262144", "the flow's target.producer.*"},
		{ClientTargetAdmin, "retries", "5", "top-level target.admin.*"},
		{ClientWorkerProducer, "linger.ms", "20", "producer.override.* beats <target>.producer.*"},
		{ClientWorkerProducer, "compression.type", "zstd", "the target's producer.* reaches the worker's producer"},
		{ClientWorkerProducer, "acks", "all", "top-level producer.override.*"},
	} {
		if got := fl.Clients[tc.client][tc.key]; got != tc.want {
			t.Errorf("%s %s = %q, want %q: %s", tc.client, tc.key, got, tc.want, tc.why)
		}
	}
	if _, ok := fl.Clients[ClientWorkerProducer]["batch.size"]; ok {
		t.Errorf("the worker's producer got target.producer.batch.size; in MM2 only producer.override.* reaches it")
	}
	if got := fl.Props["consumer.auto.offset.reset"]; got != "" {
		t.Errorf("consumer.auto.offset.reset = %q, want none set", got)
	}

	cfg, specs, err := x.Plan()
	if err != nil {
		t.Fatal(err)
	}
	// Worker keys: a top-level offset.storage.topic beats the target's (MM2),
	// the target's offset.flush.interval.ms beats the top level's, a flow's
	// beats both.
	if h := cfg.Herders["onprem->msk"]; h.OffsetsTopic != "mm2-offsets-shared" || h.OffsetFlushInterval != 15*time.Second {
		t.Errorf("herder onprem->msk = %+v", h)
	}
	if h := cfg.Herders["msk->onprem"]; h.OffsetsTopic != "mm2-offsets-shared" || h.OffsetFlushInterval != 5*time.Second {
		t.Errorf("herder msk->onprem = %+v", h)
	}
	var source connect.ConnectorSpec
	names := make(map[string]bool)
	for _, s := range specs {
		names[s.Herder()+"/"+s.Name] = true
		if s.Class == connectors.ClassMirrorSource && s.Source == "onprem" {
			source = s
		}
	}
	for _, want := range []string{"onprem->msk/onprem->msk.MirrorSourceConnector", "onprem->msk/MirrorCheckpointConnector",
		"onprem->msk/MirrorHeartbeatConnector", "msk->onprem/MirrorSourceConnector"} {
		if !names[want] {
			t.Errorf("no connector %s in %v", want, names)
		}
	}

	client := func(alias string, role connect.Role, extra []kgo.Opt) *kgo.Client {
		t.Helper()
		cc := cfg.Clusters[alias]
		opts := append([]kgo.Opt(nil), cc.Opts...)
		switch role {
		case connect.RoleConsumer:
			opts = append(opts, cc.ConsumerOpts...)
		case connect.RoleProducer:
			opts = append(opts, cc.ProducerOpts...)
		default:
			opts = append(opts, cc.AdminOpts...)
		}
		cl, err := kgo.NewClient(append(opts, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	consumer := client("onprem", connect.RoleConsumer, source.Clients["onprem"].Consumer)
	records := client("msk", connect.RoleProducer, source.RecordProducer)
	index := client("msk", connect.RoleProducer, source.Clients["msk"].Producer)
	admin := client("msk", connect.RoleAdmin, source.Clients["msk"].Admin)
	plain := client("onprem", connect.RoleConsumer, nil)
	for _, tc := range []struct {
		name string
		cl   *kgo.Client
		opt  any
		want any
	}{
		{"replication consumer isolation", consumer, kgo.FetchIsolationLevel, int8(1)},
		{"replication consumer fetch.min.bytes", consumer, kgo.FetchMinBytes, int32(65536)},
		{"replication consumer max.partition.fetch.bytes", consumer, kgo.FetchMaxPartitionBytes, int32(4194304)},
		{"replication consumer fetch.max.wait.ms", consumer, kgo.FetchMaxWait, 250 * time.Millisecond},
		{"replication consumer request.timeout.ms", consumer, kgo.RequestTimeoutOverhead, 40 * time.Second},
		{"replication consumer client.id", consumer, kgo.ClientID, "mm2-onprem"},
		{"record producer linger", records, kgo.ProducerLinger, 20 * time.Millisecond},
		{"record producer max.request.size", records, kgo.ProducerBatchMaxBytes, int32(4194304)},
		{"index producer linger", index, kgo.ProducerLinger, 5 * time.Millisecond},
		{"index producer batch: max.request.size's default is larger", index, kgo.ProducerBatchMaxBytes, int32(1 << 20)},
		{"target admin retries", admin, kgo.RequestRetries, int64(5)},
		{"target admin request.timeout.ms", admin, kgo.RequestTimeoutOverhead, time.Minute},
		{"a consumer outside the flow keeps the cluster's", plain, kgo.FetchMaxPartitionBytes, int32(2097152)},
		{"and no flow settings", plain, kgo.FetchIsolationLevel, int8(0)},
	} {
		if got := tc.cl.OptValue(tc.opt); got != tc.want {
			t.Errorf("%s: %v (%T), want %v (%T)", tc.name, got, got, tc.want, tc.want)
		}
	}
	if err := sameCompression(records, kgo.ZstdCompression().WithLevel(3)); err != nil {
		t.Errorf("record producer compression: %v", err)
	}
}

// TestClients_RefusedAndIgnored: every Java client property is mapped,
// accepted with a warning that says why it does not matter, or refused
// with an error that says why, wherever it is written.
func TestClients_RefusedAndIgnored(t *testing.T) {
	f, err := Parse([]byte(`
clusters = A, B
A.bootstrap.servers = a:9092
B.bootstrap.servers = b:9092
A.consumer.interceptor.classes = io.opentelemetry.instrumentation.kafkaclients.v2_6.TracingConsumerInterceptor
A.producer.acks = 1
A.consumer.session.timeout.ms = 45000
A.consumer.fetch.max.byte = 1
A.consumer.security.protocol = SSL
A.replication.factor = 3
A.metric.reporters = io.strimzi.kafka.metrics.KafkaPrometheusMetricsReporter
B.producer.transactional.id = x
B.producer.enable.idempotence = false
B.producer.max.in.flight.requests.per.connection = 2
B.send.buffer.bytes = 131072
A->B.enabled = true
A->B.consumer.max.poll.records = 500
A->B.producer.override.acks = 0
A->B.source.cluster.ssl.truststore.location = /x.pem
A->B.target.cluster.request.timeout.ms = 1
A->B.consumer.auto.offset.reset = none
A->B.producer.interceptor.classes =
request.timeout.ms = 1000
`), FormatProperties)
	if err != nil {
		t.Fatal(err)
	}
	warnings := strings.Join(f.Warnings, "\n")
	for _, w := range []string{
		"A.consumer.session.timeout.ms: ignored: mm2go's clients read assigned partitions without a consumer group",
		"B.send.buffer.bytes: ignored: tuning only: socket buffers are left to the operating system",
		"A->B.consumer.max.poll.records: ignored: tuning only: a poll hands over whole fetched batches",
	} {
		if !strings.Contains(warnings, w) {
			t.Errorf("no warning %q; warnings:\n%s", w, warnings)
		}
	}
	err = f.Validate()
	if err == nil {
		t.Fatal("Validate: nil")
	}
	for _, w := range []string{
		"A.consumer.interceptor.classes: io.opentelemetry.instrumentation.kafkaclients.v2_6.TracingConsumerInterceptor: Java plugins cannot run in mm2go",
		"A.producer.acks: acks=1 is refused",
		"A.consumer.fetch.max.byte: not a Java client property (did you mean fetch.max.bytes?)",
		"A.consumer.security.protocol: connection settings belong to the cluster as a whole",
		"A.replication.factor: a flow setting, not a cluster property",
		"A.metric.reporters: metric reporter io.strimzi.kafka.metrics.KafkaPrometheusMetricsReporter cannot run in mm2go",
		"B.producer.transactional.id: mm2go sets the transactional ids itself in exactly-once mode",
		"B.producer.max.in.flight.requests.per.connection: 2 with enable.idempotence=false could reorder records",
		"A->B.producer.override.acks: acks=0 is refused",
		"A->B.source.cluster.ssl.truststore.location: connection settings per flow are not supported",
		"A->B.target.cluster.request.timeout.ms: MM2 reads only connection settings from target.cluster.*",
		"A->B.consumer.auto.offset.reset: none is refused for the replication consumer of A->B",
		"request.timeout.ms: a Java client property: set it on a cluster",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no problem %q; got:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "producer.interceptor.classes") {
		t.Errorf("an empty interceptor list refused: %v", err)
	}
}

// TestClients_AutoOffsetReset: the replication consumer's
// auto.offset.reset, from whichever layer wins, is what the source
// connector reads to start partitions without stored offsets.
func TestClients_AutoOffsetReset(t *testing.T) {
	for _, tc := range []struct{ keys, want string }{
		{"A.consumer.auto.offset.reset = latest", "latest"},
		{"consumer.auto.offset.reset = LATEST", "latest"},
		{"A.consumer.auto.offset.reset = latest\nA->B.source.consumer.auto.offset.reset = earliest", "earliest"},
		{"A->B.consumer.auto.offset.reset = latest\nA.consumer.auto.offset.reset = earliest", "earliest"},
		{"B.consumer.auto.offset.reset = latest", ""},
	} {
		f, err := Parse([]byte("clusters = A, B\nA.bootstrap.servers = a:9092\nB.bootstrap.servers = b:9092\nA->B.enabled = true\n"+tc.keys+"\n"), FormatProperties)
		if err != nil {
			t.Fatal(err)
		}
		x, err := f.Expand()
		if err != nil {
			t.Fatalf("%s: %v", tc.keys, err)
		}
		if got := x.Flows[0].Props[connectors.KeyOffsetReset]; got != tc.want {
			t.Errorf("%q: consumer.auto.offset.reset = %q, want %q", tc.keys, got, tc.want)
		}
	}
}
