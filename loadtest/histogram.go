package loadtest

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/glint-video/glint/internal/stats"
)

// Latency histogram layout: durations in nanoseconds, 8 sub-buckets per power of two
// (about 9% relative width), values up to 2^maxExp ns (about 18 minutes) and one
// overflow bucket. Bucket i < subBuckets holds exactly the value i.
const (
	subBits    = 3
	subBuckets = 1 << subBits
	maxExp     = 40
	numBuckets = (maxExp-subBits+1)*subBuckets + 1
)

// bucketOf returns the histogram bucket of v nanoseconds.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - 1 // v in [2^exp, 2^(exp+1))
	if exp >= maxExp {
		return numBuckets - 1
	}
	sub := int(v>>(exp-subBits)) & (subBuckets - 1)
	return (exp-subBits+1)*subBuckets + sub
}

// bucketBounds returns the range [lo, hi) of values in bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subBuckets {
		return uint64(i), uint64(i) + 1
	}
	if i >= numBuckets-1 {
		return 1 << maxExp, 1 << (maxExp + 1)
	}
	exp := i/subBuckets + subBits - 1
	sub := uint64(i % subBuckets)
	width := uint64(1) << (exp - subBits)
	lo = 1<<exp + sub*width
	return lo, lo + width
}

// latencyHistogram counts latency samples. One goroutine per track writes it and the
// step measurement reads it; it never allocates.
type latencyHistogram struct {
	counts [numBuckets]atomic.Uint64
}

// observe records d; negative durations (clock steps) count as zero.
func (h *latencyHistogram) observe(d int64) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))].Add(1)
}

// addTo adds the histogram's counts into dst.
func (h *latencyHistogram) addTo(dst *histogramCounts) {
	for i := range h.counts {
		dst[i] += h.counts[i].Load()
	}
}

// histogramCounts is a snapshot of a latencyHistogram (or a sum of several).
type histogramCounts [numBuckets]uint64

// sub returns c - earlier, bucket by bucket.
func (c *histogramCounts) sub(earlier *histogramCounts) histogramCounts {
	var d histogramCounts
	for i := range c {
		d[i] = c[i] - earlier[i]
	}
	return d
}

func (c *histogramCounts) total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// quantile estimates the q-quantile (0 < q < 1), interpolating linearly inside the
// bucket that holds it (stats.BucketQuantile); it is 0 without samples.
func (c *histogramCounts) quantile(q float64) time.Duration {
	return time.Duration(stats.BucketQuantile(len(c), func(i int) (lo, hi, count float64) {
		l, h := bucketBounds(i)
		return float64(l), float64(h), float64(c[i])
	}, q))
}

// max is the upper bound of the highest non-empty bucket (within ~9% of the largest
// sample); 0 without samples.
func (c *histogramCounts) max() time.Duration {
	for i := len(c) - 1; i >= 0; i-- {
		if c[i] > 0 {
			_, hi := bucketBounds(i)
			return time.Duration(hi - 1)
		}
	}
	return 0
}
