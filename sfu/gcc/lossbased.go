package gcc

import (
	"math"
	"time"
)

// The loss-based estimate (libwebrtc's classic SendSideBandwidthEstimation, with pion's
// smoothing): the share of packets each feedback reports lost, and its average over the
// last lossAverageTime, cut the estimate to (1 − loss/2) of itself when both are above
// lossDecreaseAbove — but never below the acknowledged rate, which got through — hold it
// between, and grow it by lossIncreaseFactor when both are below lossIncreaseBelow; each
// at most once per lossStep. It never runs ahead of the delay-based estimate (it starts from
// it after every update), so it only ever lowers it.
const (
	lossIncreaseBelow  = 0.02
	lossDecreaseAbove  = 0.10
	lossIncreaseFactor = 1.05
	lossStep           = 200 * time.Millisecond
	lossAverageTime    = 200 * time.Millisecond
)

// lossBased is the loss-based estimate.
type lossBased struct {
	bitrate      int
	average      float64
	lastUpdate   time.Duration
	lastIncrease time.Duration
	lastDecrease time.Duration
	updated      bool // lastUpdate is set
	increased    bool // lastIncrease is set
	decreased    bool // lastDecrease is set
}

// onFeedback takes one feedback packet's statuses (lost of counted), the acknowledged
// rate acked (bit/s, 0 while unknown) and the delay-based estimate delay, and returns the
// loss-based estimate.
func (l *lossBased) onFeedback(lost, counted, acked, delay int, now time.Duration) int {
	if l.bitrate == 0 || l.bitrate > delay {
		l.bitrate = delay
	}
	if counted == 0 {
		return l.bitrate
	}
	loss := float64(lost) / float64(counted)
	if l.updated {
		l.average = loss + math.Exp(-float64(now-l.lastUpdate)/float64(lossAverageTime))*(l.average-loss)
	} else {
		l.average = loss
	}
	l.lastUpdate, l.updated = now, true
	switch {
	case max(l.average, loss) < lossIncreaseBelow:
		if !l.increased || now-l.lastIncrease >= lossStep {
			l.bitrate = min(int(float64(l.bitrate)*lossIncreaseFactor), delay)
			l.lastIncrease, l.increased = now, true
		}
	case min(l.average, loss) > lossDecreaseAbove:
		if !l.decreased || now-l.lastDecrease >= lossStep {
			cut := int(float64(l.bitrate) * (1 - min(l.average, loss)/2))
			l.bitrate = min(l.bitrate, max(cut, acked))
			l.lastDecrease, l.decreased = now, true
		}
	}
	return l.bitrate
}
