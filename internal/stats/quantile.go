// Package stats holds the sample statistics that the load generator, the benchmarks and the
// tests share, so that a p95 means the same everywhere.
package stats

import "math"

// Quantile returns the nearest-rank q-quantile (0 < q <= 1) of sorted values, ascending:
// the smallest value with at least a share q of all values at or below it. It is the zero
// value without values; q outside (0, 1] is clamped to the first or last value.
func Quantile[S ~[]E, E any](sorted S, q float64) E {
	if len(sorted) == 0 {
		var zero E
		return zero
	}
	// The small slack keeps q*n from landing just above a whole rank through rounding
	// (0.95*20 is 19.000000000000004 in floating point).
	rank := int(math.Ceil(q*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank-1, 0), len(sorted)-1)]
}
