package hls

import (
	"context"
	"math"
	"time"
)

// Lookups into a track's window. All *Locked methods need t.mu held.

// edgeLocked returns the live edge: the segment in progress and its number of published
// parts. Part (msn, parts) is the one the playlist's preload hint names.
func (t *Track) edgeLocked() (msn uint64, parts int) {
	if t.cur != nil {
		return t.cur.msn, len(t.cur.parts)
	}
	return t.nextMSN, 0
}

// segmentLocked returns complete segment msn if it is still kept, else nil.
func (t *Track) segmentLocked(msn uint64) *segment {
	if len(t.segs) == 0 || msn < t.segs[0].msn || msn-t.segs[0].msn >= uint64(len(t.segs)) {
		return nil
	}
	return t.segs[msn-t.segs[0].msn]
}

// partLocked returns the data of part idx of segment msn, or nil.
func (t *Track) partLocked(msn uint64, idx int) []byte {
	seg := t.segmentLocked(msn)
	if t.cur != nil && t.cur.msn == msn {
		seg = t.cur
	}
	if seg == nil || idx < 0 || idx >= len(seg.parts) {
		return nil
	}
	return seg.parts[idx].data
}

// initLocked returns the init segment named id if a kept segment or the track uses it.
func (t *Track) initLocked(id uint64) []byte {
	if t.init != nil && t.init.id == id {
		return t.init.data
	}
	for _, seg := range t.segs {
		if seg.init != nil && seg.init.id == id {
			return seg.init.data
		}
	}
	return nil
}

// readyLocked reports whether the track has a playlist worth serving: a complete segment.
func (t *Track) readyLocked() bool { return len(t.segs) > 0 }

// reloadStateLocked tells whether a blocking playlist reload for segment msn (and part index
// part, or -1 for none) can be answered now, and whether it asks too far ahead (400):
// RFC 8216bis 6.2.5.2.
func (t *Track) reloadStateLocked(msn uint64, part int) (ready, tooFar bool) {
	if t.ended {
		return true, false // directives are ignored once the playlist has EXT-X-ENDLIST
	}
	if !t.started {
		return false, false
	}
	cm, np := t.edgeLocked()
	for part >= 0 && msn < cm { // a part index past a segment's last means part 0 of the next
		seg := t.segmentLocked(msn)
		if seg == nil || part < len(seg.parts) {
			return true, false // no longer in the playlist: the whole playlist is the answer
		}
		msn, part = msn+1, 0
	}
	if part < 0 {
		return msn < cm, msn > cm+1 // "the last Media Segment plus two", the last complete being cm-1
	}
	if msn == cm && part < np {
		return true, false
	}
	ahead := part + 1 - np
	if msn > cm {
		if msn > cm+2 {
			return false, true
		}
		ahead = (t.s.partsPerSegment() - np) + int(msn-cm-1)*t.s.partsPerSegment() + part + 1
	}
	return false, ahead > t.s.advancePartLimit()
}

// partStateLocked finds part idx of segment msn: its data, or whether it is the hinted
// part that is yet to come (worth waiting for), else neither (404).
func (t *Track) partStateLocked(msn uint64, idx int) (data []byte, hinted bool) {
	if data = t.partLocked(msn, idx); data != nil {
		return data, false
	}
	if t.ended || !t.started {
		return nil, false
	}
	cm, np := t.edgeLocked()
	return nil, msn == cm && idx == np
}

// await waits until check, run with t.mu held, returns true; it returns false when timeout
// passes or ctx ends first. Each new part wakes all waiters with one broadcast.
func (t *Track) await(ctx context.Context, timeout time.Duration, check func() bool) bool {
	st, waited := &t.s.stats, false
	ok, timedOut := t.awaitCheck(ctx, timeout, check, func() {
		waited = true
		st.blocked.Add(1)
		st.blockedNow.Add(1)
	})
	if waited {
		st.blockedNow.Add(-1)
	}
	if timedOut {
		st.blockTimeouts.Add(1)
	}
	return ok
}

// awaitCheck waits until check (called with t.mu held) reports true, the timeout passes
// or ctx ends; onWait is called once if it has to wait. It reports whether check held and
// whether the timeout passed.
func (t *Track) awaitCheck(ctx context.Context, timeout time.Duration, check func() bool, onWait func()) (ok, timedOut bool) {
	var timer *time.Timer
	for {
		t.mu.Lock()
		ok, changed := check(), t.changed
		t.mu.Unlock()
		if ok {
			return true, false
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
			defer timer.Stop()
			onWait()
		}
		select {
		case <-changed:
		case <-timer.C:
			return false, true
		case <-ctx.Done():
			return false, false
		}
	}
}

// awaitReady waits until every track has a complete segment, for the multivariant
// playlist to describe them all, but not longer than two segment durations after the
// first one did (a track that gets no samples must not hold up the others) nor than
// timeout. It reports whether any track is ready.
func (s *Stream) awaitReady(ctx context.Context, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		changed := s.changedChan()
		all, any := true, false
		for _, t := range s.tracks() {
			t.mu.Lock()
			r := t.readyLocked()
			t.mu.Unlock()
			all, any = all && r, any || r
		}
		s.mu.Lock()
		closed, readyAt, wakeUntil := s.closed, s.readyAt, s.wakeUntil
		s.mu.Unlock()
		wait := time.Until(deadline)
		if any {
			wait = min(wait, max(time.Until(readyAt.Add(2*s.cfg.SegmentDuration)), time.Until(wakeUntil)))
		}
		if all && any || closed || wait <= 0 {
			return any
		}
		timer := time.NewTimer(wait)
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return any
		}
		timer.Stop()
	}
}

// partsPerSegment is how many parts a segment is expected to have.
func (s *Stream) partsPerSegment() int {
	return int(math.Ceil(float64(s.cfg.SegmentDuration) / float64(s.partTarget)))
}

// advancePartLimit is RFC 8216bis's Advance Part Limit: 3 / PART-TARGET parts when the
// part target is below a second, else 3.
func (s *Stream) advancePartLimit() int {
	if s.partTarget >= time.Second {
		return 3
	}
	return int(3 / s.partTarget.Seconds())
}
