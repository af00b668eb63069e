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

// lossSample is what one receiver report of a viewer's video tells, with the counters it is
// read against: all of them totals since the viewer started.
type lossSample struct {
	fractionLost uint8  // the report's (0-255, RFC 3550)
	sentBytes    uint64 // bytes sent to the viewer (media, retransmissions, probes)
	packets      uint64 // video packets sent
	nacked       uint64 // video packets NACKed (each once)
}

// lossBWE is one viewer's loss-based estimate, fed by the receiver reports of its video
// stream, the bytes the viewer was sent between them and the share of its packets it NACKed.
// The report's fraction lost alone would miss most loss: it counts what a retransmission
// repaired as received, and a receiver that hands RTX packets (repairs and the allocator's
// probes, which are duplicates) to the media stream, as pion does, reports duplicates that
// cancel losses out; NACKs count each loss once, before any repair. Safe for concurrent use.
type lossBWE struct {
	mu       sync.Mutex
	estimate float64 // bit/s
	reported bool    // a report has arrived: the estimate is the viewer's, not the start value
	lastAt   time.Time
	last     lossSample // the counters as of lastAt
	cutAt    time.Time
	heavyAt  time.Time  // the latest report of loss above lossHigh
	losses   [3]float64 // the latest reports' loss (0-1), newest first
	// The allocator's latest probe, from its start to when the NACKs for the loss it caused
	// have come back: a report whose interval overlaps it shows the probe's loss, not the path's.
	probeFrom, probeUntil time.Time
}

// newLossBWE starts an estimate at initial whose first interval begins at start (the
// viewer's first report then measures the rate sent since it connected).
func newLossBWE(initial float64, start time.Time) *lossBWE {
	return &lossBWE{estimate: initial, lastAt: start}
}

// onReport takes the sample of a receiver report that arrived at now.
func (l *lossBWE) onReport(s lossSample, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	dt := now.Sub(l.lastAt)
	sent := s.sentBytes - l.last.sentBytes
	loss := float64(s.fractionLost) / 256
	if packets := s.packets - l.last.packets; packets > 0 {
		loss = max(loss, min(float64(s.nacked-l.last.nacked)/float64(packets), 1))
	}
	probes := l.overlapsProbe(l.lastAt, now)
	l.lastAt, l.last = now, s
	if !probes {
		copy(l.losses[1:], l.losses[:len(l.losses)-1])
		l.losses[0] = loss
	}
	if dt <= 0 {
		return
	}
	l.reported = true
	rate := float64(sent) * 8 / dt.Seconds()
	switch {
	case probes:
		// A probe's report: its loss is the probe's overrun of the path's queue (the layer
		// itself gets through), its rate the probe's, which the allocator judges
		// (confirmProbe): hold.
	case loss < lossLow:
		if reach := lossGrowthReach * rate; l.estimate < reach {
			grown := l.estimate * math.Pow(lossGrowth, dt.Seconds())
			// No loss at all: the path carried the whole rate sent, so the
			// estimate may go straight to the reach; a little loss grows it by the rule.
			if loss == 0 {
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

// probeWindow marks [from, until) as a probe's: the loss reported for it is the probe's own
// (see onReport). A later call replaces the window (a probe that stopped early shortens it).
func (l *lossBWE) probeWindow(from, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.probeFrom, l.probeUntil = from, until
}

// overlapsProbe reports whether the interval [from, to] overlaps the latest probe's window;
// the caller holds mu.
func (l *lossBWE) overlapsProbe(from, to time.Time) bool {
	return !l.probeFrom.IsZero() && from.Before(l.probeUntil) && to.After(l.probeFrom)
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

// usualLoss returns the least loss of the latest reports (0-1; 0 before any): what the path
// loses all the time (random loss on a radio link), not what a congestion episode or a probe
// cost once.
func (l *lossBWE) usualLoss() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return min(l.losses[0], l.losses[1], l.losses[2])
}
