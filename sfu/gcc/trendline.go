package gcc

import (
	"math"
	"time"
)

// The trendline filter and overuse detector (libwebrtc's TrendlineEstimator): the delay
// variation between groups is accumulated and smoothed, a line is fitted through the last
// trendWindow points (smoothed delay against arrival time), and its slope — scaled by the
// number of deltas seen and a gain — is compared with an adaptive threshold.
const (
	trendWindow        = 20
	trendSmoothing     = 0.9
	trendThresholdGain = 4
	maxDeltaCount      = 60 // the slope is scaled by the deltas seen, up to this many

	thresholdUp      = 0.0087 // k_up: how fast the threshold rises toward a larger trend
	thresholdDown    = 0.039  // k_down: how fast it falls toward a smaller one
	initialThreshold = 12.5   // ms
	minThreshold     = 6.0
	maxThreshold     = 600.0
	maxAdaptOffset   = 15.0 // ms: a trend this far beyond the threshold does not move it
	overuseTime      = 10.0 // ms of overuse (in send time) before overuse is signalled
	maxThresholdStep = 100  // ms: the longest time one threshold update covers
)

// usage is the detector's hypothesis about the path.
type usage int8

const (
	usageNormal usage = iota
	usageUnder
	usageOver
)

// trendPoint is one point of the regression: arrival time and smoothed delay, in ms.
type trendPoint struct{ x, y float64 }

// trendline is the filter and the detector with its adaptive threshold.
type trendline struct {
	points       [trendWindow]trendPoint
	count        int // points held, up to trendWindow
	next         int // where the next point goes
	deltas       int
	firstArrival time.Duration
	accumulated  float64
	smoothed     float64
	prevTrend    float64

	threshold       float64
	lastThresholdAt float64 // ms; -1 before the first update
	overuseFor      float64 // ms; -1 when not overusing
	overuseCount    int
	hypothesis      usage
}

func newTrendline() *trendline {
	return &trendline{threshold: initialThreshold, lastThresholdAt: -1, overuseFor: -1}
}

// update adds one group delta and returns the detector's hypothesis.
func (t *trendline) update(d groupDelta) usage {
	sendMs := float64(d.sendDelta) / float64(time.Millisecond)
	delayMs := float64(d.arrivalDelta-d.sendDelta) / float64(time.Millisecond)
	t.deltas = min(t.deltas+1, 1000)
	if t.deltas == 1 {
		t.firstArrival = d.arrival
	}
	t.accumulated += delayMs
	t.smoothed = trendSmoothing*t.smoothed + (1-trendSmoothing)*t.accumulated
	arrivalMs := float64(d.arrival-t.firstArrival) / float64(time.Millisecond)
	t.points[t.next] = trendPoint{x: arrivalMs, y: t.smoothed}
	t.next = (t.next + 1) % trendWindow
	t.count = min(t.count+1, trendWindow)
	trend := t.prevTrend
	if t.count == trendWindow {
		if slope, ok := t.slope(); ok {
			trend = slope
		}
	}
	t.detect(trend, sendMs, arrivalMs)
	return t.hypothesis
}

// slope is the least-squares slope of the points held.
func (t *trendline) slope() (float64, bool) {
	var sumX, sumY float64
	for _, p := range t.points[:t.count] {
		sumX += p.x
		sumY += p.y
	}
	meanX, meanY := sumX/float64(t.count), sumY/float64(t.count)
	var num, den float64
	for _, p := range t.points[:t.count] {
		num += (p.x - meanX) * (p.y - meanY)
		den += (p.x - meanX) * (p.x - meanX)
	}
	if den == 0 {
		return 0, false
	}
	return num / den, true
}

// detect compares the scaled trend with the threshold and adapts the threshold.
func (t *trendline) detect(trend, sendMs, nowMs float64) {
	if t.deltas < 2 {
		t.hypothesis = usageNormal
		return
	}
	modified := float64(min(t.deltas, maxDeltaCount)) * trend * trendThresholdGain
	switch {
	case modified > t.threshold:
		if t.overuseFor == -1 {
			t.overuseFor = sendMs / 2
		} else {
			t.overuseFor += sendMs
		}
		t.overuseCount++
		if t.overuseFor > overuseTime && t.overuseCount > 1 && trend >= t.prevTrend {
			t.overuseFor, t.overuseCount = 0, 0
			t.hypothesis = usageOver
		}
	case modified < -t.threshold:
		t.overuseFor, t.overuseCount = -1, 0
		t.hypothesis = usageUnder
	default:
		t.overuseFor, t.overuseCount = -1, 0
		t.hypothesis = usageNormal
	}
	t.prevTrend = trend
	t.adaptThreshold(modified, nowMs)
}

// adaptThreshold moves the threshold toward the trend: quickly down, slowly up, so that
// the detector stays sensitive without tripping on the jitter of the path it is on.
func (t *trendline) adaptThreshold(modified, nowMs float64) {
	if t.lastThresholdAt == -1 {
		t.lastThresholdAt = nowMs
	}
	abs := math.Abs(modified)
	if abs > t.threshold+maxAdaptOffset { // a spike: do not let it drag the threshold up
		t.lastThresholdAt = nowMs
		return
	}
	k := thresholdUp
	if abs < t.threshold {
		k = thresholdDown
	}
	step := min(nowMs-t.lastThresholdAt, maxThresholdStep)
	t.threshold = min(max(t.threshold+k*(abs-t.threshold)*step, minThreshold), maxThreshold)
	t.lastThresholdAt = nowMs
}
