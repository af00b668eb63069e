package sfu

import "time"

// The keyframe cache: a video uptrack's packet ring keeps the position of its newest
// keyframe's first packet, so the ring holds "the last keyframe and what followed it" (at most
// videoRingSize - catchUpRoom packets: about 3.7 s of a 2.5 Mbit/s stream, 1.4 MiB of the
// ring's preallocated slots; nothing is copied for it). A viewer that has had no packet yet
// starts there and gets everything up to live at once, with the source's own timestamps (its
// jitter buffer catches up), instead of asking the publisher for a keyframe and waiting for
// it behind the per-track PLI throttle.

// defaultJoinLag is how far behind live a joining viewer may start at the cached keyframe
// when Options.KeyframeCacheAge is not set: with a 2 s GOP, about half of the joins start
// from the cache, and a keyframe one of them asked for serves the joins of the next second.
const defaultJoinLag = time.Second

// joinLagPolicy is an uptrack's rule for starting joining viewers at its cached keyframe.
type joinLagPolicy struct {
	max       time.Duration // the cached keyframe's greatest age for a start there (≤ 0: never)
	cannotAsk bool          // the source cannot be asked for keyframes (RTMP/SRT): any age
}

// newJoinLagPolicy is the policy of Options.KeyframeCacheAge for a WebRTC publisher's tracks.
func newJoinLagPolicy(age time.Duration) joinLagPolicy {
	if age == 0 {
		age = defaultJoinLag
	}
	return joinLagPolicy{max: age}
}

// cachedKeyframe returns where a joining viewer starts without a keyframe request: the
// newest keyframe's first packet, while the ring holds it with room to catch up and it is
// no more than the policy's lag behind now. lag is how far behind live the viewer starts.
func (u *UpTrack) cachedKeyframe(now time.Time) (extSeq uint64, lag time.Duration, ok bool) {
	if u.kind != "video" || (u.joinLag.max <= 0 && !u.joinLag.cannotAsk) {
		return 0, 0, false
	}
	extSeq, arrival, ok := u.ring.KeyframeEntry()
	if !ok {
		return 0, 0, false
	}
	lag = now.Sub(arrival)
	if lag > u.joinLag.max && !u.joinLag.cannotAsk {
		return 0, lag, false
	}
	return extSeq, lag, true
}
