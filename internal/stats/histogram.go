package stats

import "math"

// BucketQuantile estimates the q-quantile of samples counted in n histogram buckets, the way
// Prometheus' histogram_quantile does: bucket(i) gives bucket i's bounds and count (buckets
// in ascending order, hi of the last may be +Inf), and the quantile lies linearly inside
// the bucket that holds its rank; in a bucket without upper bound it is the bucket's lower
// bound (the true quantile is higher). It is 0 without samples.
func BucketQuantile(n int, bucket func(i int) (lo, hi, count float64), q float64) float64 {
	var total float64
	for i := range n {
		_, _, count := bucket(i)
		total += count
	}
	if total <= 0 {
		return 0
	}
	rank := q * total
	var seen, lo float64
	for i := range n {
		var hi, count float64
		lo, hi, count = bucket(i)
		if count > 0 && seen+count >= rank {
			if math.IsInf(hi, 1) {
				return lo
			}
			return lo + (hi-lo)*(rank-seen)/count
		}
		seen += count
	}
	return lo
}
