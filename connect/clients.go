package connect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clientMetrics is the kgo hook of one client of the worker (or of the
// clients made from its options, which share its client id): it counts what
// the client's connections carry, as the client metrics of Java's clients
// do, and tells the client's owner whether the cluster answers. Every hook
// runs per request, per connection or per fetched batch, never per record,
// and touches only atomics.
type clientMetrics struct {
	cluster string
	role    Role
	start   time.Time
	reach   *clusterReach // the owner's view of the cluster; nil for clients without owner
	reg     *clientRegistry

	outBytes, inBytes   atomic.Int64 // outgoing-byte-total, incoming-byte-total
	requests, responses atomic.Int64 // request-total, response-total
	connCreated         atomic.Int64 // connection-creation-total
	connClosed          atomic.Int64 // connection-close-total
	fetches             atomic.Int64 // fetch-total (fetch requests written)
	recordsIn, bytesIn  atomic.Int64 // records-consumed-total, bytes-consumed-total

	mu          sync.Mutex // guards the fields below
	id          string     // the client id (kgo ClientID), Java's client-id tag
	live        map[*kgo.Client]struct{}
	maxBuffered int64 // the producer's MaxBufferedBytes (buffer.memory); 0 unlimited
}

// fetchKey is the Fetch request's API key.
const fetchKey = 1

var (
	_ kgo.HookNewClient        = (*clientMetrics)(nil)
	_ kgo.HookClientClosed     = (*clientMetrics)(nil)
	_ kgo.HookBrokerConnect    = (*clientMetrics)(nil)
	_ kgo.HookBrokerDisconnect = (*clientMetrics)(nil)
	_ kgo.HookBrokerWrite      = (*clientMetrics)(nil)
	_ kgo.HookBrokerRead       = (*clientMetrics)(nil)
	_ kgo.HookFetchBatchRead   = (*clientMetrics)(nil)
)

// OnNewClient registers the client for scrapes.
func (m *clientMetrics) OnNewClient(cl *kgo.Client) {
	m.mu.Lock()
	first := len(m.live) == 0
	m.live[cl] = struct{}{}
	if first {
		m.id, _ = cl.OptValue(kgo.ClientID).(string)
	}
	if v, ok := cl.OptValue(kgo.MaxBufferedBytes).(int64); ok {
		m.maxBuffered = v
	}
	m.mu.Unlock()
	if first {
		m.reg.add(m)
	}
}

// OnClientClosed drops the client from scrapes once every client sharing
// the hook is closed.
func (m *clientMetrics) OnClientClosed(cl *kgo.Client) {
	m.mu.Lock()
	delete(m.live, cl)
	last := len(m.live) == 0
	m.mu.Unlock()
	if last {
		m.reg.remove(m)
	}
}

func (m *clientMetrics) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		m.failed(err)
		return
	}
	m.connCreated.Add(1)
	m.answered()
}

func (m *clientMetrics) OnBrokerDisconnect(kgo.BrokerMetadata, net.Conn) { m.connClosed.Add(1) }

func (m *clientMetrics) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	m.outBytes.Add(int64(n))
	if err != nil {
		m.failed(err)
		return
	}
	m.requests.Add(1)
	if key == fetchKey {
		m.fetches.Add(1)
	}
}

func (m *clientMetrics) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, n int, _, _ time.Duration, err error) {
	m.inBytes.Add(int64(n))
	if err != nil {
		m.failed(err)
		return
	}
	m.responses.Add(1)
	m.answered()
}

func (m *clientMetrics) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, b kgo.FetchBatchMetrics) {
	m.recordsIn.Add(int64(b.NumRecords))
	m.bytesIn.Add(int64(b.CompressedBytes))
}

func (m *clientMetrics) answered() {
	if m.reach != nil {
		m.reach.answered()
	}
}

func (m *clientMetrics) failed(err error) {
	if m.reach == nil || errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, context.Canceled) {
		return // closing the client is not the cluster's failure
	}
	m.reach.failed(err)
}

// buffered returns the bytes the client's producers hold and their limit.
func (m *clientMetrics) buffered() (used, limit int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for cl := range m.live {
		used += cl.BufferedProduceBytes()
		limit += m.maxBuffered
	}
	return used, limit
}

// clientRegistry holds the live clients' metrics for scrapes.
type clientRegistry struct {
	mu  sync.Mutex // guards set
	set map[*clientMetrics]struct{}
}

func (r *clientRegistry) add(m *clientMetrics) {
	r.mu.Lock()
	if r.set == nil {
		r.set = make(map[*clientMetrics]struct{})
	}
	r.set[m] = struct{}{}
	r.mu.Unlock()
}

func (r *clientRegistry) remove(m *clientMetrics) {
	r.mu.Lock()
	delete(r.set, m)
	r.mu.Unlock()
}

func (r *clientRegistry) snapshot() []*clientMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*clientMetrics, 0, len(r.set))
	for m := range r.set {
		out = append(out, m)
	}
	return out
}

// reachability is what a task or connector knows of each cluster its
// clients talk to: whether the last thing that happened was an answer or a
// failure, and since when the failures last. It needs no per-record work:
// the clients' hooks report per request and per connection.
type reachability struct {
	mu       sync.Mutex // guards clusters
	clusters map[string]*clusterReach
}

// clusterReach is one cluster's state for one owner.
type clusterReach struct {
	// failingSince is when (Unix ns) requests or connections to the
	// cluster began to fail with no answer since; 0 while it answers.
	failingSince atomic.Int64
	lastErr      atomic.Pointer[error]
}

func (c *clusterReach) answered() {
	if c.failingSince.Load() != 0 {
		c.failingSince.Store(0)
	}
}

func (c *clusterReach) failed(err error) {
	c.lastErr.Store(&err)
	c.failingSince.CompareAndSwap(0, time.Now().UnixNano())
}

func (r *reachability) cluster(alias string) *clusterReach {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clusters == nil {
		r.clusters = make(map[string]*clusterReach)
	}
	c, ok := r.clusters[alias]
	if !ok {
		c = &clusterReach{}
		r.clusters[alias] = c
	}
	return c
}

// Unreachable says that a task or connector has had no answer from one of
// its clusters for longer than WorkerConfig.UnreachableAfter.
type Unreachable struct {
	Cluster string
	Since   time.Time // when the failures began
	Error   string    // the last one
}

// failing returns the clusters that have been failing for at least after, by
// alias, and how long each of them has been failing (also those below
// after), for the metrics.
func (r *reachability) failing(now time.Time, after time.Duration) (out []Unreachable, failingFor map[string]time.Duration) {
	if r == nil {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for alias, c := range r.clusters {
		since := c.failingSince.Load()
		if since == 0 {
			continue
		}
		d := now.Sub(time.Unix(0, since))
		if failingFor == nil {
			failingFor = make(map[string]time.Duration)
		}
		failingFor[alias] = d
		if d < after {
			continue
		}
		u := Unreachable{Cluster: alias, Since: time.Unix(0, since)}
		if e := c.lastErr.Load(); e != nil {
			u.Error = (*e).Error()
		}
		out = append(out, u)
	}
	sortUnreachable(out)
	return out, failingFor
}

func sortUnreachable(us []Unreachable) {
	slices.SortFunc(us, func(a, b Unreachable) int { return strings.Compare(a.Cluster, b.Cluster) })
}

// unreachableError is the status error of a task or connector that cannot
// reach its clusters.
func unreachableError(us []Unreachable) string {
	s := ""
	for i, u := range us {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("cannot reach cluster %s since %s: %s", u.Cluster, u.Since.UTC().Format(time.RFC3339), u.Error)
	}
	return s
}

// hookClient returns the option that attaches a new clientMetrics to a new
// client of cluster in role, owned by owner (nil: the worker's own).
func (w *Worker) hookClient(cluster string, role Role, owner *reachability) kgo.Opt {
	m := &clientMetrics{cluster: cluster, role: role, start: time.Now(), reg: &w.clients,
		live: make(map[*kgo.Client]struct{})}
	if owner != nil {
		m.reach = owner.cluster(cluster)
	}
	return kgo.WithHooks(m)
}

// clientGroup is the metric group of Java's client of a role: the <group>
// of kafka_<group>_incoming_byte_total.
func clientGroup(r Role) string {
	switch r {
	case RoleConsumer:
		return "consumer"
	case RoleProducer:
		return "producer"
	default:
		return "admin_client"
	}
}

// clientDescs are the per-client series of one client group: Java's
// <group>-metrics and app-info, by attribute.
type clientDescs struct {
	inBytes, outBytes, requests, responses, connCreated, connClosed, connCount, start *prometheus.Desc
}

var (
	clientSeries = map[Role]clientDescs{}
	// consumer-fetch-manager-metrics
	mRecordsConsumed = prometheus.NewDesc("kafka_consumer_fetch_manager_records_consumed_total", "Records the consumer fetched (Java: records-consumed-total).", []string{"clientid"}, nil)
	mBytesConsumed   = prometheus.NewDesc("kafka_consumer_fetch_manager_bytes_consumed_total", "Record batch bytes the consumer fetched, as stored (Java: bytes-consumed-total).", []string{"clientid"}, nil)
	mFetches         = prometheus.NewDesc("kafka_consumer_fetch_manager_fetch_total", "Fetch requests the consumer sent (Java: fetch-total).", []string{"clientid"}, nil)
	// producer-metrics
	mBufferAvailable = prometheus.NewDesc("kafka_producer_buffer_available_bytes", "Bytes of the producer's buffer (buffer.memory) not in use (Java: buffer-available-bytes).", []string{"clientid"}, nil)
	mBufferTotal     = prometheus.NewDesc("kafka_producer_buffer_total_bytes", "The producer's buffer size, buffer.memory (Java: buffer-total-bytes).", []string{"clientid"}, nil)
)

func init() {
	for _, r := range []Role{RoleConsumer, RoleProducer, RoleAdmin} {
		g := clientGroup(r)
		d := func(attr, kind, help string) *prometheus.Desc {
			return prometheus.NewDesc("kafka_"+g+"_"+attr, help+" (Java "+g+"-metrics: "+kind+").", []string{"clientid"}, nil)
		}
		clientSeries[r] = clientDescs{
			inBytes:     d("incoming_byte_total", "incoming-byte-total", "Bytes read from the brokers"),
			outBytes:    d("outgoing_byte_total", "outgoing-byte-total", "Bytes written to the brokers"),
			requests:    d("request_total", "request-total", "Requests sent"),
			responses:   d("response_total", "response-total", "Responses received"),
			connCreated: d("connection_creation_total", "connection-creation-total", "Connections opened"),
			connClosed:  d("connection_close_total", "connection-close-total", "Connections closed"),
			connCount:   d("connection_count", "connection-count", "Connections open"),
			start:       prometheus.NewDesc("kafka_"+g+"_start_time_seconds", "When the client started (Java app-info start-time-ms, in seconds).", []string{"clientid"}, nil),
		}
	}
}

func describeClients(ch chan<- *prometheus.Desc) {
	for _, d := range clientSeries {
		for _, x := range []*prometheus.Desc{d.inBytes, d.outBytes, d.requests, d.responses, d.connCreated, d.connClosed, d.connCount, d.start} {
			ch <- x
		}
	}
	for _, x := range []*prometheus.Desc{mRecordsConsumed, mBytesConsumed, mFetches, mBufferAvailable, mBufferTotal} {
		ch <- x
	}
}

// collectClients exports the live clients' counters. Clients that share a
// client id (a client and those made from its options) are one series, as
// one Java client would be.
func collectClients(ch chan<- prometheus.Metric, ms []*clientMetrics, _ time.Time) {
	type key struct {
		role Role
		id   string
	}
	type sums struct {
		in, out, req, resp, created, closed, recs, bytes, fetches, used, limit int64
		start                                                                  time.Time
		producers                                                              bool
	}
	agg := make(map[key]*sums)
	var keys []key
	for _, m := range ms {
		m.mu.Lock()
		id := m.id
		m.mu.Unlock()
		k := key{m.role, jmxValue(id)}
		s := agg[k]
		if s == nil {
			s = &sums{start: m.start}
			agg[k] = s
			keys = append(keys, k)
		}
		s.in += m.inBytes.Load()
		s.out += m.outBytes.Load()
		s.req += m.requests.Load()
		s.resp += m.responses.Load()
		s.created += m.connCreated.Load()
		s.closed += m.connClosed.Load()
		s.recs += m.recordsIn.Load()
		s.bytes += m.bytesIn.Load()
		s.fetches += m.fetches.Load()
		if m.start.Before(s.start) {
			s.start = m.start
		}
		if m.role == RoleProducer {
			u, l := m.buffered()
			s.used += u
			s.limit += l
			s.producers = true
		}
	}
	for _, k := range keys {
		s, d := agg[k], clientSeries[k.role]
		c := func(desc *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), k.id)
		}
		g := func(desc *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, k.id)
		}
		c(d.inBytes, s.in)
		c(d.outBytes, s.out)
		c(d.requests, s.req)
		c(d.responses, s.resp)
		c(d.connCreated, s.created)
		c(d.connClosed, s.closed)
		g(d.connCount, float64(s.created-s.closed))
		g(d.start, float64(s.start.UnixMilli())/1000)
		switch k.role {
		case RoleConsumer:
			c(mRecordsConsumed, s.recs)
			c(mBytesConsumed, s.bytes)
			c(mFetches, s.fetches)
		case RoleProducer:
			if s.limit > 0 {
				g(mBufferAvailable, float64(max(s.limit-s.used, 0)))
				g(mBufferTotal, float64(s.limit))
			}
		}
	}
}
