package loadtest

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestHistogramBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []uint64{0, 1, 7, 8, 9, 15, 16, 17, 1000, 123456789, 1<<40 - 1} {
		i := bucketOf(v)
		lo, hi := bucketBounds(i)
		if v < lo || v >= hi {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, i, lo, hi)
		}
		if i > 0 {
			_, prevHi := bucketBounds(i - 1)
			if prevHi != lo {
				t.Errorf("bucket %d starts at %d, bucket %d ends at %d", i, lo, i-1, prevHi)
			}
		}
	}
	if got := bucketOf(1 << 50); got != numBuckets-1 {
		t.Errorf("huge value in bucket %d, want overflow %d", got, numBuckets-1)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h latencyHistogram
	for i := 1; i <= 1000; i++ {
		h.observe(int64(i) * int64(time.Microsecond)) // uniform 1 µs .. 1 ms
	}
	var c histogramCounts
	h.addTo(&c)
	for _, q := range []float64{0.5, 0.99} {
		want := q * float64(time.Millisecond)
		if got := float64(c.quantile(q)); math.Abs(got-want)/want > 0.1 {
			t.Errorf("q%.2f = %v, want about %v", q, time.Duration(got), time.Duration(want))
		}
	}
	var empty histogramCounts
	if empty.quantile(0.5) != 0 {
		t.Error("quantile of an empty histogram is not 0")
	}
}

const sampleMetrics = `# HELP glint_transit_seconds Time from a packet's arrival to its send to each viewer.
# TYPE glint_transit_seconds histogram
glint_transit_seconds_bucket{le="0.001"} 10
glint_transit_seconds_bucket{le="0.0001"} 4
glint_transit_seconds_bucket{le="+Inf"} 12
glint_transit_seconds_sum 0.01
glint_transit_seconds_count 12
glint_transit_unpaced_seconds_bucket{le="0.0001"} 9
glint_transit_unpaced_seconds_bucket{le="+Inf"} 12
glint_transit_unpaced_seconds_bucket{le="0.001"} 11
glint_rtp_packets_total{direction="in"} 5
glint_rtp_packets_total{direction="out"} 50
glint_subscribers 3
process_cpu_seconds_total 1.5
process_resident_memory_bytes 4.2e+07
`

func TestParseMetrics(t *testing.T) {
	s, err := parseMetrics(strings.NewReader(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	if s.cpuSeconds != 1.5 || s.rssBytes != 42e6 || s.packetsOut != 50 || s.viewers != 3 || !s.haveProcess || !s.haveViewers {
		t.Errorf("parsed %+v", s)
	}
	if len(s.transit) != 3 || s.transit[0].le != 0.0001 || !math.IsInf(s.transit[2].le, 1) {
		t.Errorf("transit buckets %+v, want sorted with +Inf last", s.transit)
	}
	if len(s.unpaced) != 3 || s.unpaced[0] != (bucket{le: 0.0001, count: 9}) || !math.IsInf(s.unpaced[2].le, 1) {
		t.Errorf("unpaced transit buckets %+v, want their own, sorted with +Inf last", s.unpaced)
	}
	// Another server: process metrics only, or not even those.
	other, err := parseMetrics(strings.NewReader("process_cpu_seconds_total 1\nprocess_resident_memory_bytes 2\n"))
	if err != nil || !other.haveProcess || other.haveViewers || len(other.transit) != 0 {
		t.Errorf("process metrics only: %+v, %v", other, err)
	}
	if none, err := parseMetrics(strings.NewReader("up 1\n")); err != nil || none.haveProcess {
		t.Errorf("no process metrics: %+v, %v", none, err)
	}
}

func TestTransitQuantileOfDelta(t *testing.T) {
	start, _ := parseMetrics(strings.NewReader(sampleMetrics))
	end, _ := parseMetrics(strings.NewReader(strings.NewReplacer(
		`"0.0001"} 4`, `"0.0001"} 4`, `"0.001"} 10`, `"0.001"} 110`, `"+Inf"} 12`, `"+Inf"} 112`).Replace(sampleMetrics)))
	delta, err := bucketDelta(metricTransit, start.transit, end.transit)
	if err != nil {
		t.Fatal(err)
	}
	// 100 new samples, all in (0.1 ms, 1 ms]: the median interpolates to 0.55 ms.
	if got := bucketQuantile(delta, 0.5); got != 550*time.Microsecond {
		t.Errorf("p50 = %v, want 550µs", got)
	}
	if got := bucketTotal(delta); got != 100 {
		t.Errorf("total = %d, want 100", got)
	}
}

func TestParseRTP(t *testing.T) {
	payload := []byte{0x7c, 0x85, 1, 2, 3}
	pkt := append([]byte{0x90, 0x80 | 102, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0}, payload...)
	seq, ts, marker, got, ok := parseRTP(pkt)
	if !ok || seq != 0x1234 || ts != 1 || !marker || !bytes.Equal(got, payload) {
		t.Errorf("parseRTP = %d %d %v %x %v", seq, ts, marker, got, ok)
	}
	if _, _, _, _, ok := parseRTP(pkt[:14]); ok {
		t.Error("truncated extension accepted")
	}
}

func TestSeqTracker(t *testing.T) {
	var tr seqTracker
	steps := []struct {
		seq     uint16
		wantNew bool
		wantGap int
	}{
		{65533, true, 0},
		{65534, true, 0},
		{1, true, 2},      // wraps, skips 65535 and 0
		{0, true, -1},     // late: new
		{0, false, 0},     // retransmitted again: duplicate
		{65535, true, -1}, // the other late one
		{1, false, 0},     // duplicate of the newest
		{2, true, 0},
		{2 + seqWindow + 5, true, seqWindow + 4},
		{2 + seqWindow + 1, true, -1}, // late; its bit was cleared by the jump
		{2, true, -1},                 // too old to tell
	}
	for i, s := range steps {
		isNew, gap := tr.add(s.seq)
		if isNew != s.wantNew || gap != s.wantGap {
			t.Errorf("step %d: add(%d) = %v, %d; want %v, %d", i, s.seq, isNew, gap, s.wantNew, s.wantGap)
		}
	}
}
