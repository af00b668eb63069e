package stats

import (
	"math"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := range 20 {
		d = append(d, time.Duration(i+1))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 10}, {0.95, 19}, {0.99, 20}, {0.01, 1}, {1, 20}, {0, 1}, {-1, 1}, {2, 20}} {
		if got := Quantile(d, tt.q); got != tt.want {
			t.Errorf("q%v = %d, want %d", tt.q, got, tt.want)
		}
	}
	if Quantile([]time.Duration(nil), 0.5) != 0 {
		t.Error("quantile of nothing")
	}
	if got := Quantile([]float64{1.5, 2.5, 3.5}, 0.5); got != 2.5 {
		t.Errorf("median of three floats = %v", got)
	}
}

func TestBucketQuantile(t *testing.T) {
	type b struct{ lo, hi, count float64 }
	buckets := []b{{0, 1, 0}, {1, 2, 10}, {2, 4, 0}, {4, 8, 10}, {8, math.Inf(1), 5}}
	bucket := func(i int) (lo, hi, count float64) { return buckets[i].lo, buckets[i].hi, buckets[i].count }
	for _, tt := range []struct{ q, want float64 }{
		{0.2, 1.5}, // rank 5 of 25: halfway through the first filled bucket
		{0.4, 2},   // rank 10: its top
		{0.6, 6},   // rank 15: halfway through [4, 8), the empty bucket skipped
		{0.99, 8},  // in the open bucket: its lower bound
		{0, 1},     // rank 0: the first filled bucket's bottom
	} {
		if got := BucketQuantile(len(buckets), bucket, tt.q); got != tt.want {
			t.Errorf("q%v = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := BucketQuantile(0, bucket, 0.5); got != 0 {
		t.Errorf("no buckets: %v", got)
	}
}
