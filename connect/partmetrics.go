package connect

import (
	"math"
	"sync/atomic"

	"github.com/mm2go/mm2go/connect/internal/kstat"
)

// PartitionKind says which per-partition series a source partition feeds.
type PartitionKind int

const (
	// MirrorSourcePartition is a partition MirrorSource copies: MM2's
	// kafka.connect.mirror:type=MirrorSourceConnector metrics, the
	// consumer's records-lag, and mm2go's replication lag.
	MirrorSourcePartition PartitionKind = iota + 1
	// CheckpointPartition is a (group, partition) MirrorCheckpoint writes
	// checkpoints for: MM2's type=MirrorCheckpointConnector
	// checkpoint-latency-ms.
	CheckpointPartition
)

// PartitionMetrics names a source partition in the per-partition series.
type PartitionMetrics struct {
	Kind PartitionKind
	// Topic and Partition are the source partition (MirrorSource), or the
	// target-side topic and partition of the checkpoints (MirrorCheckpoint).
	Topic     string
	Partition int32
	// TargetTopic is the remote topic a MirrorSource partition is copied to:
	// MM2 tags its metrics with it.
	TargetTopic string
	// Group is the consumer group of a checkpoint partition.
	Group string
}

// partMetrics are a partition's per-partition series. The worker records
// them on the hot path with no lock or allocation of their own: per run of
// records handed to the producer and per acknowledged record, under the
// partition's lock that the bookkeeping holds anyway, and per fetched
// partition into atomics. Scrapes read them under the same lock.
type partMetrics struct {
	labels PartitionMetrics

	// Set by the task per fetched partition (ObserveFetch).
	hwm  atomic.Int64 // the source's high watermark at the last fetch; -1 unknown
	next atomic.Int64 // the offset the task reads next; -1 unknown
	off  atomic.Bool  // the task no longer reads the partition (StopMetrics)

	// Guarded by the partition's mu.
	age      kstat.Dist  // MM2 record-age-ms: now - record timestamp, when handed to the producer
	bytes    kstat.Meter // MM2 byte-rate and byte-count: value bytes handed to the producer
	records  kstat.Meter // MM2 record-rate and record-count: records the target acknowledged
	latency  kstat.Dist  // MM2 replication-latency-ms (checkpoint-latency-ms): now - timestamp, at the ack
	oldestTs int64       // timestamp (ms) of the oldest record in flight, see pushed; 0 none
	lastTs   int64       // timestamp (ms) of the last record handed to the producer
}

// ExportMetrics makes the worker export the partition's per-partition
// series under m, from now on (again, after StopMetrics). Call it from the
// runner goroutine (Start, Reconfigure, Poll) before the partition's first
// record of the series is returned. What the series counted before stays.
func (sp *SourcePartition) ExportMetrics(m PartitionMetrics) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	pm := sp.metrics.Load()
	if pm == nil {
		pm = &partMetrics{}
		pm.hwm.Store(-1)
		pm.next.Store(-1)
		sp.metrics.Store(pm)
	}
	pm.labels = m
	pm.off.Store(false)
}

// StopMetrics ends the partition's series: the task no longer reads it.
func (sp *SourcePartition) StopMetrics() {
	if m := sp.metrics.Load(); m != nil {
		m.off.Store(true)
	}
}

// ObserveFetch tells the worker, for a MirrorSource partition, the source's
// high watermark in a fetch response and the offset the task reads next
// (after the fetched records; the high watermark when the fetch returned
// none). The consumer's records-lag and mm2go's replication lag come from
// them. Runner goroutine; once per fetched partition, not per record.
func (sp *SourcePartition) ObserveFetch(highWatermark, next int64) {
	if m := sp.metrics.Load(); m != nil {
		m.hwm.Store(highWatermark)
		m.next.Store(next)
	}
}

// pushRecordsLocked registers recs, records of the partition about to be
// handed to the producer, as in flight and counts them in the partition's
// metrics. With sp.mu held; runner goroutine.
func (sp *SourcePartition) pushRecordsLocked(recs []SourceRecord, nowMs int64) {
	idle := sp.head >= len(sp.runs)
	for i := range recs {
		sp.pushLocked(recs[i].Offset)
	}
	if m := sp.metrics.Load(); m != nil {
		m.pushedLocked(recs, idle, nowMs)
	}
}

// pushedLocked records a run of records of the partition handed to the
// producer at nowMs; wasIdle says that nothing was in flight before them.
// Called with sp.mu held, once per run: the loop is arithmetic only.
func (m *partMetrics) pushedLocked(recs []SourceRecord, wasIdle bool, nowMs int64) {
	if len(recs) == 0 {
		return
	}
	var sum float64
	var bytes int
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range recs {
		r := recs[i].Record
		age := float64(nowMs - r.Timestamp.UnixMilli())
		sum += age
		if age < lo {
			lo = age
		}
		if age > hi {
			hi = age
		}
		bytes += len(r.Value)
	}
	first, last := recs[0].Record.Timestamp.UnixMilli(), recs[len(recs)-1].Record.Timestamp.UnixMilli()
	m.age.RecordN(int64(len(recs)), sum, lo, hi, float64(nowMs-last), nowMs)
	m.bytes.Record(float64(bytes), nowMs)
	if wasIdle {
		m.oldestTs = first
	}
	m.lastTs = last
}

// ackedLocked records a record the target acknowledged at nowMs, with its
// timestamp; idle says nothing is in flight after it. With sp.mu held.
//
// The oldest record still in flight is at least as new as the one just
// acknowledged (timestamps grow with offsets, as producers and the broker
// set them), and it is the first record pushed after the partition was
// idle: oldestTs keeps the later of the two, so the replication lag in
// seconds follows a steady stream and also a record that comes after a
// long quiet spell, without a timestamp per record in flight.
func (m *partMetrics) ackedLocked(tsMs, nowMs int64, idle bool) {
	m.records.Record(1, nowMs)
	m.latency.Record(float64(nowMs-tsMs), nowMs)
	switch {
	case idle:
		m.oldestTs = 0
	case tsMs > m.oldestTs:
		m.oldestTs = tsMs
	}
}

// partSnapshot is what a scrape reads of a partition.
type partSnapshot struct {
	labels                       PartitionMetrics
	ageV, ageMax, ageMin, ageAvg float64
	latV, latMax, latMin, latAvg float64
	records, recordRate          float64
	bytes, byteRate              float64
	consumerLag                  int64 // hwm - next; -1 unknown
	lagRecords                   int64 // consumerLag + records in flight; -1 unknown
	lagSeconds                   float64
	hasFetch                     bool
}

// snapshot reads the partition's series at nowMs; ok is false when the
// partition exports none.
func (sp *SourcePartition) snapshot(nowMs int64) (s partSnapshot, ok bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	m := sp.metrics.Load()
	if m == nil || m.off.Load() {
		return s, false
	}
	s.labels = m.labels
	s.ageV, s.ageMax, s.ageMin, s.ageAvg = m.age.Measure(nowMs)
	s.latV, s.latMax, s.latMin, s.latAvg = m.latency.Measure(nowMs)
	s.records, s.recordRate = m.records.Total(), m.records.Rate(nowMs)
	s.bytes, s.byteRate = m.bytes.Total(), m.bytes.Rate(nowMs)
	s.consumerLag, s.lagRecords = -1, -1
	hwm, next := m.hwm.Load(), m.next.Load()
	if hwm < 0 || next < 0 {
		return s, true
	}
	s.hasFetch = true
	s.consumerLag = max(hwm-next, 0)
	var inFlight int64
	for _, r := range sp.runs[sp.head:] {
		inFlight += r.n
	}
	s.lagRecords = s.consumerLag + inFlight
	switch {
	case s.lagRecords == 0:
	case inFlight > 0 && m.oldestTs > 0:
		s.lagSeconds = float64(max(nowMs-m.oldestTs, 0)) / 1000
	case m.lastTs > 0:
		// Nothing in flight, records not fetched yet: they are newer than
		// the last one fetched.
		s.lagSeconds = float64(max(nowMs-m.lastTs, 0)) / 1000
	}
	return s, true
}
