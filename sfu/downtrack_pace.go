package sfu

import "time"

// staleAfter is how old (since it reached the SFU) a video packet may be and still be sent: a
// viewer whose next packet is older than that, after congestion held it back or a stall, skips
// to the next keyframe (asked for, throttled at the source) rather than get frames it would
// show a second late. Retransmissions that would reach the viewer later are refused alike
// (repairTooLate). It leaves room for a keyframe spread by the pacer (pacer.go) and for the
// start at a cached keyframe, which is exempt anyway (keycache.go).
const staleAfter = 400 * time.Millisecond

// stalePacedWithin: a viewer skips stale packets only when its own pacer held it back this
// recently, i.e. when its path (its rate) made it late. A server that is late for everyone
// (starved of CPU for a moment) catches up instead: skipping would cost every viewer frames.
const stalePacedWithin = 2 * time.Second

// skipIfStale skips the viewer to live when the video packet at the cursor, which arrived at
// arrival, is stale at now and the viewer's pacer held it back lately; it returns true when
// it did (the write loop then starts over at the new cursor).
func (d *DownTrack) skipIfStale(src *UpTrack, head uint64, arrival, now time.Time) bool {
	fw := &d.fw
	if !d.isVideo || fw.needKey || fw.catchingUp() || now.Sub(arrival) <= staleAfter ||
		d.pacedAt.IsZero() || now.Sub(d.pacedAt) > stalePacedWithin {
		return false
	}
	fw.skipTo(head)
	d.heldSince = time.Time{} // what the pacer held is skipped
	d.stats.staleSkips.Add(1)
	d.log.Debug("viewer skips stale packets to the next keyframe", "behind_ms", now.Sub(arrival).Milliseconds())
	src.RequestKeyframe()
	d.wake()
	return true
}

// paceHolds reports whether the viewer's pacer holds the next video packet back now; the
// write loop then stops, and a timer wakes it when the packet may go. Audio is never held,
// nor the catch-up from a cached keyframe at a join (it goes out at once by design).
func (d *DownTrack) paceHolds(now time.Time) bool {
	if !d.isVideo || d.bwe == nil || d.fw.catchingUp() {
		return false
	}
	wait := d.bwe.pace.wait(now)
	if wait == 0 {
		return false
	}
	d.pacedAt = now
	if d.heldSince.IsZero() {
		d.heldSince = now
	}
	if d.paceTimer == nil {
		d.paceTimer = time.AfterFunc(wait, d.wake)
	} else {
		d.paceTimer.Reset(wait)
	}
	return true
}

// pacerHeld is how long the pacer held back a packet that arrived at arrival and is sent
// at now: since it arrived, or since the pacer began holding the viewer's backlog if that
// was later (heldSince, set by paceHolds, cleared once a drain has sent everything).
func (d *DownTrack) pacerHeld(arrival, now time.Time) time.Duration {
	if d.heldSince.IsZero() {
		return 0
	}
	if arrival.After(d.heldSince) {
		return max(now.Sub(arrival), 0)
	}
	return max(now.Sub(d.heldSince), 0)
}

// paced takes media bytes sent to the viewer from its pacer's bucket.
func (d *DownTrack) paced(bytes int) {
	if d.bwe != nil {
		d.bwe.pace.spend(bytes)
	}
}

// countResent counts bytes resent to the viewer (a retransmission or a probe) in its pacer.
func (d *DownTrack) countResent(bytes int) {
	if d.bwe != nil {
		d.bwe.pace.count(bytes)
	}
}
