package sfu

import (
	"time"
)

// Allocator tuning: a layer fits when its bitrate plus headroom is within the estimate;
// going up needs the estimate to have held for upHold; pausing needs the estimate to stay
// below what the lowest layer needs for pauseHold. Probing duplicates recent packets to
// show the estimator that more would fit.
const (
	allocInterval = 200 * time.Millisecond
	headroom      = 1.25
	lossHeadroom  = 1.3 // for an estimate from receiver reports alone (viewerBWE.headroom)
	upHold        = 1500 * time.Millisecond
	upAfterDown   = 4 * time.Second // no climbing this soon after going down
	pauseHold     = time.Second
	pauseFactor   = 0.6 // below this share of the lowest layer's bitrate, video pauses
	probeLength   = time.Second
	probeSettle   = time.Second             // after a probe, the estimate may dip: ride it out
	probeEvery    = 2 * time.Second         // from the end of one probe's settling to the next probe
	probeMaxEvery = 2500 * time.Millisecond // the same after probes that did not lead up: a limit lifted is found within 4.5 s
	probeDipFloor = 0.8                     // during/after a probe, go down only below this share of the layer's bitrate
	probeAbort    = 0.8                     // a probe stops when the estimate falls below this share of its start
	downCooldown  = 1500 * time.Millisecond
	collapse      = 0.5  // within the cool-down, go down again only below this share
	stayShare     = 0.75 // a viewer leaves its layer when the budget is below this share of it
	// A budget below stayFit × the layer's bitrate for stayTightFor is no swing: the path is
	// that narrow, and a layer that fills it to the brim makes every keyframe and probe
	// overrun its queue (frames repaired 400 ms late). GCC behind 600 kbit/s settles near
	// 1.1 × m's bitrate; behind 800 kbit/s above 1.4 ×.
	stayFit      = 1.15
	stayTightFor = 3 * time.Second
)

// allocator chooses one viewer's video layer from its bandwidth estimate.
type allocator struct {
	d     *DownTrack
	audio *DownTrack // probes ride on audio while video is paused (nil without audio)
	bwe   *viewerBWE

	current                   int32 // last decision applied (rankAny until the first estimate)
	downAt                    time.Time
	tightSince                time.Time // since when the budget has been below stayFit × the layer (keepsLayer)
	upSince                   time.Time
	lowSince                  time.Time
	probing                   bool
	probeStart, probeEnd      time.Time
	nextProbe                 time.Time
	probeGap                  time.Duration // grows after probes that did not lead up
	probedFrom                int32
	probeEst                  uint64     // the estimate when the probe started
	probeVia                  *DownTrack // the downtrack the probe rides on
	probeSent                 uint64     // bytes sent to the viewer at probeSentAt
	probeSentAt               time.Time  // half-way through the probe (zero before)
	probePackets, probeNacked uint64     // the viewer's video packets sent and NACKed when the probe started
	probeBaseLoss             float64    // the path's loss before the probe (loss-based estimate)
	room                      float64    // the headroom a step needs over its bitrate (viewerBWE.headroom)
	rawEstimate               uint64     // the estimator's, before the probe result (see probe.go)
	heldRate                  float64    // the rate the last probe sent, bit/s, until confirmProbe judges it
	heldAt                    time.Time  // when that probe ended (zero: nothing held)
	proven                    uint64     // what the last probe showed the path carries, bit/s (0: nothing)
	provenRef                 uint64     // the estimator's own estimate when it was shown
	provenAt                  time.Time  // when
	disproved                 bool       // a probe met a full path since the last result: climb on results only
	committed                 uint64     // the estimate the layer held on before the probe (withProbeFloor; 0: none)
	committedPeak             uint64     // the estimator's highest since the probe settled
}

// rankOrder makes rankAny compare above every real rank.
func rankOrder(r int32) int32 {
	if r == rankAny {
		return 1 << 20
	}
	return r
}

// run decides every allocInterval until done is closed.
func (a *allocator) run(done <-chan struct{}) {
	t := time.NewTicker(allocInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			a.step(now)
		}
	}
}

// fit returns the highest step (see step.go) that fits budget (rankPause if none does), the
// lowest step of the lowest live layer (0 when no layer is live), and the bitrate of the
// lowest step above the current one within the viewer's cap that does not fit (what a probe
// aims at; 0 when all within the cap fit). A viewer held on a step its estimate does not
// cover (the path carries it; the estimate lags) probes for the step above it, which also
// brings the estimate back.
//
// The decision is what the network carries, whatever the viewer's cap: the viewer gets the
// lower of the two (chooseSource). So lifting a cap (a quality menu set to High) takes
// effect at the next keyframe when the estimate allows it, without climbing through the
// up-hold again; probes never aim above the cap.
func (a *allocator) fit(budget float64, now time.Time) (best, lowest int32, next uint64) {
	best = rankPause
	limit := a.d.maxRank.Load()
	a.eachStep(now, func(st int32, rate uint64) bool {
		if lowest == 0 {
			lowest = st
		}
		if float64(rate)*a.room <= budget {
			best = st
		} else if next == 0 && rankOrder(st) > rankOrder(a.current) && (limit == rankAny || stepRank(st) <= limit) {
			next = rate
		}
		return true
	})
	return best, lowest, next
}

func (a *allocator) step(now time.Time) {
	a.rawEstimate, a.room = a.bwe.estimate(now), a.bwe.headroom(now)
	a.watchProbe(now) // a probe that ends now is a result this very step
	est := a.withProbeFloor(a.withProbeResult(a.rawEstimate), now)
	a.d.estimate.Store(est)
	a.setPacing(est, now)
	if est == 0 {
		return // no estimate (yet): keep the best layer
	}
	budget := float64(est) - float64(a.d.audioBitrate())
	want, lowest, next := a.fit(budget, now)
	if lowest == 0 {
		return
	}
	if want == rankPause && budget >= float64(a.layerBitrate(lowest, now))*pauseFactor {
		want = lowest // the lowest is tight but playable
	}
	if want == rankPause && (!a.bwe.congested(now) || now.Before(a.probeEnd.Add(lossHeavyFor)) ||
		now.Before(a.downAt.Add(lossHeavyFor))) {
		// The estimate is low, but the viewer's reports show the lowest layer gets through
		// (the loss they showed lately was a probe's own, or a higher layer's before the
		// viewer came down).
		want = lowest
	}
	if want == rankPause {
		if a.lowSince.IsZero() {
			a.lowSince = now
		}
		if now.Sub(a.lowSince) < pauseHold {
			want = lowest
		}
	} else {
		a.lowSince = time.Time{}
	}
	inProbe := a.probing || now.Before(a.probeEnd.Add(probeSettle))
	if a.keepsLayer(budget, inProbe, now) && rankOrder(want) < rankOrder(a.current) {
		want = a.current
	}
	switch {
	case rankOrder(want) < rankOrder(a.current):
		a.apply(want) // congestion: down at once
		a.upSince, a.downAt = time.Time{}, now
	case rankOrder(want) > rankOrder(a.current):
		a.climb(want, budget, now)
	default:
		a.upSince = time.Time{}
		a.maybeProbe(now, next)
	}
	if inProbe = a.probing || now.Before(a.probeEnd.Add(probeSettle)); !inProbe && a.probedFrom != 0 { // a probe just started stays in probe
		a.nextProbe = now // it led up: probe for the next step once settled
		if rankOrder(a.current) <= rankOrder(a.probedFrom) {
			a.probeGap = min(a.probeGap*2, probeMaxEvery)
			a.nextProbe = now.Add(a.probeGap)
		} else {
			a.probeGap = probeEvery
		}
		a.probedFrom = 0
	}
}

// keepsLayer reports whether the viewer keeps its layer although the budget is below what the
// layer needs: the estimate swings, and a layer that still gets through is not left at every
// dip. It also tracks how long the budget has been below stayFit × the layer's bitrate, so it
// is called every step.
func (a *allocator) keepsLayer(budget float64, inProbe bool, now time.Time) bool {
	cur := float64(a.layerBitrate(a.current, now))
	if budget >= cur*stayFit || a.current == rankAny || a.current == rankPause {
		a.tightSince = time.Time{}
	} else if a.tightSince.IsZero() {
		a.tightSince = now
	}
	// Heavy loss in the viewer's reports: the layer does not get through, whatever an
	// estimate near it says.
	losing := a.bwe.loss.heavyLoss(now)
	tight := !a.tightSince.IsZero() && now.Sub(a.tightSince) >= stayTightFor
	switch {
	case budget >= cur*stayShare && a.current != rankAny && !losing && !tight:
		return true // inside the hysteresis band: GCC hovers around the sent rate
	case inProbe && budget >= cur*probeDipFloor:
		return true // the probe's own traffic dented the estimate; the layer still fits
	case now.Sub(a.downAt) < downCooldown && budget >= cur*collapse && !losing:
		return true // the estimate undershoots right after congestion; let it settle
	}
	return false
}

// climb moves the viewer up to want, which fits budget, once that is more than a swing of the
// estimate: after the estimate held for upHold, or at once on a probe's result (not on the
// estimate while a probe runs: the estimator's, fed the probe's packets, may overshoot a path
// that is dropping them). Right after going
// down (upAfterDown) only a probe's result counts. Until then it probes for want, so that a
// viewer whose estimate hovers near a step is not left without the evidence that would let it
// climb.
func (a *allocator) climb(want int32, budget float64, now time.Time) {
	result := a.provenAt.Equal(now) // a probe's result: what the path carried
	need := float64(a.layerBitrate(want, now)) * a.room
	switch {
	case result && need <= budget:
	case now.Sub(a.downAt) < upAfterDown:
		// Right after congestion the estimate swings: do not climb on a swing.
		a.maybeProbe(now, a.layerBitrate(want, now))
		return
	case a.probing || (a.disproved && a.current != rankPause):
		// A probe under way answers within a second; after one that met a full path, the
		// estimate alone is no evidence (GCC can sit far above a path whose short queue drops
		// packets before delay builds): only a probe's result moves the viewer up. A paused
		// viewer still resumes on the estimate (its probes ride on audio).
		a.upSince = time.Time{}
		a.maybeProbe(now, a.layerBitrate(want, now))
		return
	default:
		if a.upSince.IsZero() {
			a.upSince = now
		}
		if now.Sub(a.upSince) < upHold {
			a.maybeProbe(now, a.layerBitrate(want, now))
			return
		}
	}
	a.apply(want)
	a.upSince = time.Time{}
}

func (a *allocator) apply(st int32) {
	a.d.log.Debug("allocation", "from", stepName(a.current), "to", stepName(st), "estimate_kbps", a.d.estimate.Load()/1000,
		"probing", a.probing)
	a.current, a.tightSince = st, time.Time{}
	a.d.setTemporalCap(stepTID(st))
	a.d.setAllocation(stepRank(st))
	if a.probeGap == 0 {
		a.probeGap = probeEvery
	}
	a.nextProbe = time.Now().Add(a.probeGap) // let the estimate settle on the new layer first
}

// layerBitrate is the bitrate of step st (rankAny: the best live layer), which the viewer
// is on or switching to.
func (a *allocator) layerBitrate(st int32, now time.Time) uint64 {
	var rate uint64
	a.eachStep(now, func(s int32, r uint64) bool {
		if st != rankAny && s > st {
			return false
		}
		if st == rankAny || stepRank(s) == stepRank(st) || stepTID(s) == tidAll {
			rate = r // the step itself, or the best whole layer below it
		}
		return true
	})
	return rate
}
