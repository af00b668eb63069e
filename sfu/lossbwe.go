package sfu

import (
	"math"
	"sync"
	"time"
)

// Loss-based estimation, after libwebrtc's classic loss-based controller
// (SendSideBandwidthEstimation::UpdateEstimate): each receiver report's fraction lost moves
// the estimate. Little loss lets it grow, moderate loss holds it, heavy loss cuts it. Two
// changes make it settle within seconds rather than tens of them, as a viewer without
// delay-based feedback needs:
//   - a cut goes at least to the rate that got through (what was sent × (1 − loss)), not only
//     to (1 − loss/2) of the estimate, so a viewer far over its link lands near it in one report;
//   - growth is bounded by lossGrowthReach × the rate sent (as GCC bounds its delay-based estimate
//     by the acknowledged rate), so an estimate never claims far more than the path has shown
//     it carries; the allocator's probes raise the rate sent to let it climb.
const (
	lossLow         = 0.02 // below: the path carries what is sent, grow
	lossHigh        = 0.10 // above: congestion, cut
	lossGrowth      = 1.08 // per second while below lossLow
	lossGrowthReach = 1.5  // growth stops at this share of the rate sent
	lossMinEstimate = 30_000
	lossCutEvery    = 300 * time.Millisecond // at most one cut per report round
	lossHeavyFor    = 2 * time.Second        // how long a report of heavy loss counts as recent
)

// lossBWE is one viewer's loss-based estimate, fed by the receiver reports of its video
// stream and the bytes the viewer was sent between them. Safe for concurrent use.
type lossBWE struct {
	mu       sync.Mutex
	estimate float64 // bit/s
	reported bool    // a report has arrived: the estimate is the viewer's, not the start value
	lastAt   time.Time
	lastSent uint64 // bytes sent as of lastAt
	cutAt    time.Time
	heavyAt  time.Time // the latest report of loss above lossHigh
}

func newLossBWE(initial float64) *lossBWE { return &lossBWE{estimate: initial} }

// onReport takes a receiver report's fraction lost (0-255, RFC 3550) at now, when the viewer
// had been sent sentBytes in all.
func (l *lossBWE) onReport(fractionLost uint8, sentBytes uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	loss := float64(fractionLost) / 256
	first := l.lastAt.IsZero()
	dt := now.Sub(l.lastAt)
	sent := sentBytes - l.lastSent
	l.lastAt, l.lastSent = now, sentBytes
	if first || dt <= 0 {
		return // the first report only starts the interval the next one measures
	}
	l.reported = true
	rate := float64(sent) * 8 / dt.Seconds()
	switch {
	case loss < lossLow:
		if reach := lossGrowthReach * rate; l.estimate < reach {
			grown := l.estimate * math.Pow(lossGrowth, dt.Seconds())
			// No loss at all: the path carried the whole rate sent (probes included), so the
			// estimate may go straight to the reach; a little loss grows it by the rule.
			if fractionLost == 0 {
				grown = reach
			}
			l.estimate = min(max(grown, l.estimate), reach)
		}
	case loss <= lossHigh:
		// Moderate loss (random loss on a path that is not full): hold.
	default:
		l.heavyAt = now
		if now.Sub(l.cutAt) < lossCutEvery {
			return
		}
		l.cutAt = now
		l.estimate = max(min(l.estimate*(1-0.5*loss), rate*(1-loss)), lossMinEstimate)
	}
}

// value returns the estimate in bit/s, and whether any report has shaped it yet.
func (l *lossBWE) value() (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(l.estimate), l.reported
}

// heavyLoss reports whether a receiver report showed loss above lossHigh within
// lossHeavyFor of now: the path is really full, not just estimated to be.
func (l *lossBWE) heavyLoss(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.heavyAt.IsZero() && now.Sub(l.heavyAt) < lossHeavyFor
}
