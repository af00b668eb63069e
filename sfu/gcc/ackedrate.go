package gcc

import (
	"math"
	"time"
)

// The acknowledged bitrate (libwebrtc's BitrateEstimator): the bytes the viewer received,
// summed over windows of its arrival times (the first initialRateWindow long, then
// rateWindow), each window's rate folded into the estimate by a Bayesian update whose
// weight falls as the sample strays from the estimate, so one bursty window moves it little.
const (
	initialRateWindow = 500 * time.Millisecond
	rateWindow        = 150 * time.Millisecond
	rateUncertainty   = 10.0 // how much a sample's distance from the estimate widens its variance
	rateProcessNoise  = 5.0  // kbit/s² added to the estimate's variance per window
	maxRateGap        = 3 * time.Second
)

// ackedRate estimates the rate the viewer receives at.
type ackedRate struct {
	windowStart time.Duration
	windowBytes int
	started     bool
	estimate    float64 // kbit/s; 0 while unknown
	variance    float64
}

// onReceived adds a packet of size bytes that arrived at arrival.
func (r *ackedRate) onReceived(arrival time.Duration, size int) {
	if !r.started || arrival < r.windowStart || arrival-r.windowStart > maxRateGap {
		r.windowStart, r.windowBytes, r.started = arrival, 0, true
	}
	window := rateWindow
	if r.estimate == 0 {
		window = initialRateWindow
	}
	if elapsed := arrival - r.windowStart; elapsed >= window {
		r.fold(float64(r.windowBytes) * 8 / float64(elapsed.Milliseconds()))
		r.windowStart, r.windowBytes = arrival, 0
	}
	r.windowBytes += size
}

// fold adds one window's rate (kbit/s) to the estimate.
func (r *ackedRate) fold(sample float64) {
	if r.estimate == 0 {
		r.estimate, r.variance = sample, 50
		return
	}
	sampleUncertainty := rateUncertainty * math.Abs(r.estimate-sample) / r.estimate
	sampleVariance := sampleUncertainty * sampleUncertainty
	predVariance := r.variance + rateProcessNoise
	r.estimate = (sampleVariance*r.estimate + predVariance*sample) / (sampleVariance + predVariance)
	r.variance = sampleVariance * predVariance / (sampleVariance + predVariance)
}

// bitrate returns the acknowledged rate in bit/s, or 0 while unknown.
func (r *ackedRate) bitrate() int {
	return int(r.estimate * 1000)
}
