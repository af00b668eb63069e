package stats

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LatencyBounds are the upper bounds of the latency histograms of the pipeline stages
// (ingest delay, part availability, capture to server): 10 ms to 10 s.
var LatencyBounds = []time.Duration{
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond,
	750 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second,
	3 * time.Second, 5 * time.Second, 10 * time.Second,
}

// Latency is a histogram of durations over LatencyBounds (plus one overflow bucket) kept in
// atomics: one writer or many, no lock, no allocation; read with Snapshot at scrape time.
type Latency struct {
	counts [16]atomic.Uint64 // len(LatencyBounds)+1
	sumNs  atomic.Int64
}

// Observe counts one duration (negative ones as 0).
func (h *Latency) Observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// Snapshot returns the counts so far.
func (h *Latency) Snapshot() LatencySnapshot {
	var s LatencySnapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sumNs.Load())
	return s
}

// LatencySnapshot is a Latency's counts at one time; snapshots add up.
type LatencySnapshot struct {
	Counts [16]uint64 // per bucket, not cumulative; the last is above every bound
	Count  uint64
	Sum    time.Duration
}

// Add adds o's counts to s.
func (s *LatencySnapshot) Add(o LatencySnapshot) {
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
	s.Count += o.Count
	s.Sum += o.Sum
}

// Mean is the mean duration, 0 without samples.
func (s LatencySnapshot) Mean() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return s.Sum / time.Duration(s.Count)
}

// Metric is the snapshot as a Prometheus histogram of seconds.
func (s LatencySnapshot) Metric(desc *prometheus.Desc, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(LatencyBounds))
	var cum uint64
	for i, b := range LatencyBounds {
		cum += s.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(desc, s.Count, s.Sum.Seconds(), buckets, labels...)
}
