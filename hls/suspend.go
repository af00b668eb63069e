package hls

import (
	"errors"
	"time"
)

var errLeaderSuspend = errors.New("hls: the leading rendition cannot be suspended")

// Suspend empties a follower rendition whose samples stop for a while (a re-encoded rung
// parked while nobody watches, see hlsbridge's on-demand mode): its playlist has no segments
// until samples come back, so the multivariant playlist leaves it out and a request for it
// waits; its next sample starts it again like a new track, aligned with the leading rendition
// (same media sequence and discontinuity sequence numbers for the same media), its segment
// numbers always above the ones it served before. The leading rendition cannot be suspended.
func (t *Track) Suspend() error {
	if isLeader, _ := t.s.leader(t); isLeader {
		return errLeaderSuspend
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return ErrClosed
	}
	if !t.started {
		return nil
	}
	if t.cur != nil && t.nextMSN == t.cur.msn+1 && len(t.cur.parts) == 0 {
		t.nextMSN = t.cur.msn // nothing of it was served
	}
	clear(t.segs)
	t.segs, t.cur, t.pending, t.started = t.segs[:0], nil, nil, false
	clear(t.part.samples)
	t.part = partBuilder{samples: t.part.samples[:0]}
	t.log.Info("hls: rendition suspended", "next_msn", t.nextMSN)
	t.notify()
	return nil
}

// Wake tells a Stream that suspended renditions are coming back until until: a multivariant
// request waits for them (up to its block timeout) to list them, instead of only for the
// renditions already playing.
func (s *Stream) Wake(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until.After(s.wakeUntil) {
		s.wakeUntil = until
	}
}
