package kstat

import "math"

// Kafka's MetricConfig defaults: metrics.num.samples and
// metrics.sample.window.ms.
const (
	Samples  = 2
	WindowMs = 30_000
)

// sample is one time window of a sampled statistic (Kafka's
// SampledStat.Sample); a Dist keeps Max, Min and Avg in one sample, since
// Kafka records them at the same times.
type sample struct {
	start, last int64 // ms: when the sample began, its last event
	n           int64
	sum         float64
	min, max    float64
}

func (s *sample) reset(now int64) {
	*s = sample{start: now, last: now, min: math.Inf(1), max: math.Inf(-1)}
}

// window is the sample ring of SampledStat: Samples live samples plus the
// spare slot Kafka keeps for a sample that overlaps the monitored window.
type window struct {
	s    [Samples + 1]sample
	used int // slots in use: Kafka's list grows one sample at a time
	cur  int
}

// current returns the sample a record at now goes into (SampledStat.record).
func (w *window) current(now int64) *sample {
	if w.used == 0 {
		w.s[0].reset(now)
		w.used = 1
	}
	s := &w.s[w.cur]
	if now-s.start >= WindowMs {
		w.cur = (w.cur + 1) % len(w.s)
		if w.cur >= w.used {
			w.used = w.cur + 1
		}
		s = &w.s[w.cur]
		s.reset(now)
	}
	return s
}

// purge resets samples with no event in the last Samples windows
// (SampledStat.purgeObsoleteSamples).
func (w *window) purge(now int64) {
	for i := range w.used {
		if now-w.s[i].last >= Samples*WindowMs {
			w.s[i].reset(now)
		}
	}
}

// add records n events at now; values are never NaN, so plain comparisons
// do (math.Min and math.Max cost more on this path).
func (w *window) add(n int64, sum, lo, hi float64, now int64) {
	s := w.current(now)
	s.n += n
	s.sum += sum
	if lo < s.min {
		s.min = lo
	}
	if hi > s.max {
		s.max = hi
	}
	s.last = now
}

// addSum records one event of value v at now for a sum only (Meter).
func (w *window) addSum(v float64, now int64) {
	s := w.current(now)
	s.n++
	s.sum += v
	s.last = now
}

// Dist is a sensor with Value, Max, Min and Avg stats. The zero value is
// ready to use.
type Dist struct {
	w    window
	last float64
}

// Record records one value at now.
func (d *Dist) Record(v float64, now int64) { d.RecordN(1, v, v, v, v, now) }

// RecordN records n values at now whose sum, smallest, largest and last
// (in recording order) are given. n <= 0 records nothing.
func (d *Dist) RecordN(n int64, sum, lo, hi, last float64, now int64) {
	if n <= 0 {
		return
	}
	d.w.add(n, sum, lo, hi, now)
	d.last = last
}

// Measure returns the last value recorded (0 before any), and the max, min
// and average of the values in the live samples (NaN when there are none).
func (d *Dist) Measure(now int64) (value, max, min, avg float64) {
	d.w.purge(now)
	var n int64
	var sum float64
	max, min = math.Inf(-1), math.Inf(1)
	for i := range d.w.used {
		s := &d.w.s[i]
		n += s.n
		sum += s.sum
		max = math.Max(max, s.max)
		min = math.Min(min, s.min)
	}
	if n == 0 {
		return d.last, math.NaN(), math.NaN(), math.NaN()
	}
	return d.last, max, min, sum / float64(n)
}

// Meter is Kafka's Meter: a total and a per-second rate of what is recorded.
// The zero value is ready to use.
type Meter struct {
	w     window
	total float64
}

// Record adds v at now (Kafka's sensor.record(v)): v = 1 counts an event,
// v = bytes counts bytes.
func (m *Meter) Record(v float64, now int64) {
	m.w.addSum(v, now)
	m.total += v
}

// Total returns everything recorded (CumulativeSum).
func (m *Meter) Total() float64 { return m.total }

// Rate returns the per-second rate over the live samples (Rate with a
// WindowedSum, Rate.windowSize).
func (m *Meter) Rate(now int64) float64 {
	m.w.purge(now)
	var sum float64
	oldest := now
	if m.w.used == 0 {
		m.w.s[0].reset(now)
		m.w.used = 1
	}
	for i := range m.w.used {
		sum += m.w.s[i].sum
		oldest = min(oldest, m.w.s[i].start)
	}
	elapsed := now - oldest
	if full := elapsed / WindowMs; full < Samples-1 {
		elapsed += (Samples - 1 - full) * WindowMs
	}
	return sum / (float64(max(elapsed, 1)) / 1000)
}
