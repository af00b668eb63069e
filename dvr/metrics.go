package dvr

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// stats are the Library's counters, read at scrape time.
type stats struct {
	drops       atomic.Int64 // segments not stored (queue full, store errors)
	storeErrors atomic.Int64 // failed store or index writes, retries included
	bytesStored atomic.Int64 // segment bytes written since Open
	removed     atomic.Int64 // recordings removed (retention and Delete)
	full        atomic.Bool  // the last store write failed with ErrStoreFull
}

// Collectors returns the Library's Prometheus metrics, read at scrape time.
func (l *Library) Collectors() []prometheus.Collector {
	return []prometheus.Collector{&collector{l: l}}
}

type collector struct{ l *Library }

var (
	descQueueBytes = prometheus.NewDesc("glint_dvr_queue_bytes", "Bytes of segments waiting to be stored.", nil, nil)
	descQueueSegs  = prometheus.NewDesc("glint_dvr_queue_segments", "Segments waiting to be stored.", nil, nil)
	descDrops      = prometheus.NewDesc("glint_dvr_dropped_segments_total", "Segments not stored (queue full or store failing); the next stored one is marked as a gap.", nil, nil)
	descErrors     = prometheus.NewDesc("glint_dvr_store_errors_total", "Failed writes to the store or an index (each retry counts).", nil, nil)
	descWritten    = prometheus.NewDesc("glint_dvr_written_bytes_total", "Segment bytes stored since the start.", nil, nil)
	descStored     = prometheus.NewDesc("glint_dvr_stored_bytes", "Bytes of the listed recordings' segments.", nil, nil)
	descRecordings = prometheus.NewDesc("glint_dvr_recordings", "Listed recordings.", []string{"state"}, nil)
	descRemoved    = prometheus.NewDesc("glint_dvr_removed_recordings_total", "Recordings removed by retention or deletion.", nil, nil)
	descFull       = prometheus.NewDesc("glint_dvr_store_full", "1 while the store is full (ENOSPC): segments are dropped, live viewers are not affected.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueBytes, descQueueSegs, descDrops, descErrors, descWritten,
		descStored, descRecordings, descRemoved, descFull} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	l := c.l
	qb, qs := l.q.depth()
	var stored int64
	var live, ended int
	l.mu.Lock()
	for _, rec := range l.recs {
		stored += rec.bytes()
		if !rec.stored() {
			continue // not listed yet
		}
		if rec.live {
			live++
		} else {
			ended++
		}
	}
	l.mu.Unlock()
	full := 0.0
	if l.stats.full.Load() {
		full = 1
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descQueueBytes, float64(qb))
	gauge(descQueueSegs, float64(qs))
	counter(descDrops, l.stats.drops.Load())
	counter(descErrors, l.stats.storeErrors.Load())
	counter(descWritten, l.stats.bytesStored.Load())
	gauge(descStored, float64(stored))
	gauge(descRecordings, float64(live), "live")
	gauge(descRecordings, float64(ended), "ended")
	counter(descRemoved, l.stats.removed.Load())
	gauge(descFull, full)
}
