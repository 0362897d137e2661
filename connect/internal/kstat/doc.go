// Package kstat reproduces the windowed statistics of Kafka's Java metrics
// library (org.apache.kafka.common.metrics.stats), so that the series mm2go
// exports under MM2's and Kafka Connect's names mean what they mean there.
//
// Kafka keeps a sampled statistic in samples of one time window each
// (MetricConfig: 2 samples of 30 s by default, plus one spare slot). A
// record goes into the current sample, or starts the next one when the
// current one is a window old. When measured, a sample whose last event is
// samples x window old (60 s) is reset first, so a measurement covers the
// last 30 to 60 seconds of events:
//
//   - Dist is a sensor with Value (the last value recorded, never reset),
//     Max, Min and Avg: MM2's record-age-ms, replication-latency-ms and
//     checkpoint-latency-ms with their -max, -min and -avg, Connect's
//     offset-commit-*-time-ms. Max, Min and Avg are NaN when no sample holds
//     an event, as in Kafka.
//   - Meter is Kafka's Meter: a per-second Rate over a WindowedSum and a
//     CumulativeSum: MM2's record-rate/record-count and byte-rate/byte-count.
//     The rate divides the sum of the live samples by the time since the
//     oldest one started, counted as at least (samples - 1) whole windows
//     (Rate.windowSize), so a new sensor does not report a burst.
//
// Both take n events at once (RecordN): that is n records of the same time,
// which is what Kafka computes for n calls with one timestamp, so callers
// aggregate a batch and record it once. Neither is safe for concurrent use:
// the caller holds the lock that guards it. Times are Unix milliseconds.
package kstat
