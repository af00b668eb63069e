package sfu

import (
	"math"
	"time"
)

// Probing: to learn whether the next step fits, the allocator sends duplicates of recent
// packets (on RTX) for probeLength, so that the rate sent reaches what the estimator needs to
// see. A probe stops at once when the estimate falls (the path is full: adding to it would only
// cost the viewer's video), and a probe that ran its course without that is a result, as in
// libwebrtc's probe controller: the path carried the rate sent, so the estimate may be
// probeResultReach times it until the estimator signals congestion again. GCC would otherwise
// climb from a congestion episode at a few percent a second (its additive increase near the
// rate it last fell from), taking tens of seconds to find a limit lifted.

// probeResultReach is how far above the rate a probe delivered the estimate may go (GCC's
// own bound on its delay-based estimate: 1.5 × the acknowledged rate).
const probeResultReach = 1.5

// probeResultReachLoss is the same for a viewer whose feedback is loss alone: a path that
// carried a probe for a second without loss may be full to the brim (its queue absorbed the
// overrun), so the result is the rate delivered, no more (probes aim above the step's whole
// need, probeOvershoot).
const probeResultReachLoss = 1

// probeOvershoot is how far above the next step's need (headroom included) a probe goes.
const probeOvershoot = 1.1

// A probe ramps up from probeRampShare of the rate the viewer is sent (at least probeRampMin)
// above it: on a path that is already nearly full it overruns the bottleneck by little when
// the feedback shows it, so the probe stops before it has cost the viewer more than a packet
// or two of its video.
const (
	probeRampShare = 0.1
	probeRampMin   = 30_000 // bit/s
)

// probeLossMinNacks is how many of its packets a viewer on a lossy path must have NACKed since
// a probe started before the probe is judged on its loss: one is what such a path loses anyway.
const probeLossMinNacks = 2

// probeBaseLossCap caps the loss before a probe that it may repeat unstopped: a report's loss
// right after a congestion episode (or a probe before) is no path's usual loss.
const probeBaseLossCap = 0.05

// maybeProbe sends, for probeLength, enough duplicate packets that the send rate reaches
// the next layer's bitrate, so the estimator can learn whether it fits.
func (a *allocator) maybeProbe(now time.Time, next uint64) {
	if next == 0 || a.probing || now.Before(a.nextProbe) {
		return
	}
	via, cur := a.d, float64(a.d.sourceBitrate())
	// The probe sends the whole need, headroom included, and probeOvershoot above it: a path
	// that carries less shows it (delay or loss) before the probe is done, rather than the
	// estimate extrapolating past it from a rate the path did carry, and one that carries just
	// the need, whose queue would absorb a probe of the need alone, shows it too.
	need := float64(next) * a.room * probeOvershoot
	extra := need - cur
	if a.current == rankPause {
		if a.audio == nil {
			return
		}
		// Paused: only audio flows, so the estimate cannot grow by itself. Probe on the
		// audio stream up to what the lowest layer needs.
		via, cur = a.audio, float64(a.d.audioBitrate())
		extra = need - cur
	}
	if extra <= 0 {
		return
	}
	if a.probeGap == 0 {
		a.probeGap = probeEvery
	}
	a.d.log.Debug("probe", "extra_kbps", uint64(extra)/1000, "estimate_kbps", a.d.estimate.Load()/1000, "from", stepName(a.current))
	a.probing, a.probeStart, a.probeEnd, a.probedFrom = true, now, now.Add(probeLength), a.current
	a.probeEst, a.probeVia, a.probeSentAt = a.rawEstimate, via, time.Time{}
	a.committed, a.committedPeak = a.d.estimate.Load(), 0
	a.bwe.loss.probeWindow(now, a.probeEnd.Add(probeNackWait))
	a.probePackets, a.probeNacked = a.d.stats.packets.Load(), a.d.stats.nackedFirst.Load()
	a.probeBaseLoss = min(a.bwe.loss.usualLoss(), probeBaseLossCap)
	a.nextProbe = now.Add(probeLength + probeSettle + a.probeGap)
	via.startProbe(uint64(extra), uint64(max(cur*probeRampShare, probeRampMin)), probeLength, a.probeBaseLoss)
}

// watchProbe ends the probe under way: early when the estimator's estimate fell below
// probeAbort of what it was at its start, or at its end, when the rate it delivered becomes the probe's result.
func (a *allocator) watchProbe(now time.Time) {
	switch {
	case !a.probing:
		a.confirmProbe(now)
	case float64(a.rawEstimate) < float64(a.probeEst)*probeAbort || a.probeLosing():
		a.stopProbe(now) // the path is full: stop adding to it at once
	case a.probeSentAt.IsZero() && now.After(a.probeEnd.Add(-probeLength/2)):
		// The ramp is over (see runProbes): the result is what the second half delivers.
		a.probeSent, a.probeSentAt = a.bwe.pace.sent(), now
	case now.After(a.probeEnd.Add(-allocInterval/2)) && !a.probeSentAt.IsZero():
		// The step nearest the probe's end (a step later, the count would take in a stretch
		// of media alone and understate what the path carried).
		a.probing = false
		if took := now.Sub(a.probeSentAt); took > 0 {
			a.heldRate, a.heldAt = float64(a.bwe.pace.sent()-a.probeSent)*8/took.Seconds(), now
		}
	}
}

// probeNackWait is how long after a probe's end the NACKs for the loss it caused have come
// back (the receiver's NACK interval, pion's 100 ms, and the round trip, with room).
const probeNackWait = 400 * time.Millisecond

// confirmProbe makes the rate a probe sent (held since heldAt) its result once the NACKs it
// would have caused on a full path have had time to come back, and only if they did not: the
// bytes sent are not the bytes that arrived. A viewer whose feedback is loss alone shows a full
// path by nothing else, and one with delay-based feedback may not show it in time either: the
// estimator lags the feedback, and more so on a busy machine (a probe on a 250 kbit/s path
// that ran its course with GCC still above 600 kbit/s was seen here).
func (a *allocator) confirmProbe(now time.Time) {
	if a.heldAt.IsZero() || now.Sub(a.heldAt) < probeNackWait {
		return
	}
	a.heldAt = time.Time{}
	packets, nacked := a.d.stats.packets.Load()-a.probePackets, a.d.stats.nackedFirst.Load()-a.probeNacked
	if float64(nacked) >= 1+2*a.probeBaseLoss*float64(packets) {
		a.d.log.Debug("probe result refused: the viewer lost packets", "sent_kbps", uint64(a.heldRate)/1000, "nacked", nacked)
		a.disproved = true
		return
	}
	reach := probeResultReach
	if a.room == lossHeadroom {
		reach = probeResultReachLoss
	}
	a.proven, a.provenRef, a.provenAt = max(a.proven, uint64(a.heldRate*reach)), a.rawEstimate, now
	a.disproved = false
	a.d.log.Debug("probe result", "delivered_kbps", uint64(a.heldRate)/1000, "estimate_kbps", a.provenRef/1000)
}

// withProbeResult returns the estimator's estimate est raised to the last probe's result, as
// long as the estimator has not signalled congestion since (its estimate fell below
// probeAbort of what it was then).
func (a *allocator) withProbeResult(est uint64) uint64 {
	if a.proven == 0 {
		return est
	}
	if float64(est) < float64(a.provenRef)*probeAbort {
		a.proven = 0
		return est
	}
	return max(est, a.proven)
}

// stopProbe ends the probe under way before its time.
func (a *allocator) stopProbe(now time.Time) {
	a.d.log.Debug("probe stopped", "estimate_kbps", a.rawEstimate/1000, "at_start_kbps", a.probeEst/1000,
		"packets", a.d.stats.packets.Load()-a.probePackets, "nacked", a.d.stats.nackedFirst.Load()-a.probeNacked)
	a.probeVia.stopProbe()
	a.probing, a.probeEnd = false, now
	a.bwe.loss.probeWindow(a.probeStart, now.Add(probeNackWait))
	a.disproved = true
}

// probeLosing reports whether the viewer NACKed more of the video packets sent since the
// probe started than the loss its path had before explains: the quickest sign of a full path
// for a viewer whose estimate moves only with its receiver reports, once a second. A path
// with random loss (a radio link) does not stop every probe.
func (a *allocator) probeLosing() bool {
	return probeLosing(a.d.stats.packets.Load()-a.probePackets, a.d.stats.nackedFirst.Load()-a.probeNacked, a.probeBaseLoss)
}

// probeLosing reports whether nacked of packets sent since a probe started is more loss than
// baseLoss, what the path lost before, can explain: probeLossMinNacks beyond twice that. The
// loss a probe causes comes at once, when the bottleneck's queue overflows, not spread over
// the probe, so it is counted, not taken as a share. The downtrack sending the probe checks
// it every tick (runProbes) and stops at once; the allocator at its next step.
func probeLosing(packets, nacked uint64, baseLoss float64) bool {
	least := float64(probeLossMinNacks)
	if baseLoss == 0 {
		// A path that lost nothing lately: the first NACK is the probe's. Waiting for a
		// second one (a NACK round later, 100 ms or more) lets the ramp overrun the path
		// twice as far, and the video's own packets lost with it arrive late.
		least = 1
	}
	return float64(nacked) >= least+2*baseLoss*float64(packets)
}

// probeFloorHold is how long after a probe's end its floor (withProbeFloor) holds at most while
// the estimator stays below it without a sign of congestion of its own.
const probeFloorHold = 8 * time.Second

// withProbeFloor returns est no lower than the estimate that held the viewer's layer before the
// latest probe (committed; at most what the layer needs), as LiveKit's stream allocator restores
// its committed channel capacity after a probe that met congestion: a probe that overruns the
// path dents the estimator's estimate (GCC falls to 0.85 × what arrived while the probe's
// packets filled the queue, and climbs back slowly), but the layer the viewer held still fits,
// and it must not lose it to the server's own probe. The floor holds during the probe and its
// settling, and then until the estimator is back above it, or shows congestion of its own (it
// falls probeAbort below the highest it reached since; heavy loss reported for the time after
// the probe, see lossBWE.probeWindow), or for probeFloorHold at most.
func (a *allocator) withProbeFloor(est uint64, now time.Time) uint64 {
	if a.committed == 0 {
		return est
	}
	floor := min(a.committed, uint64(math.Ceil(float64(a.layerBitrate(a.current, now))*a.room))+a.d.audioBitrate())
	if a.probing || now.Before(a.probeEnd.Add(probeSettle)) {
		return max(est, floor)
	}
	var why string
	switch {
	case a.rawEstimate >= floor:
		why = "the estimate recovered"
	case float64(a.rawEstimate) < float64(a.committedPeak)*probeAbort:
		why = "the estimate fell again"
	case a.bwe.loss.heavyLoss(now):
		why = "heavy loss after the probe"
	case now.Sub(a.probeEnd) > probeFloorHold:
		why = "held long enough"
	default:
		a.committedPeak = max(a.committedPeak, a.rawEstimate)
		return max(est, floor)
	}
	a.d.log.Debug("probe floor released", "reason", why, "floor_kbps", floor/1000, "estimate_kbps", a.rawEstimate/1000)
	a.committed, a.committedPeak = 0, 0
	return est
}
