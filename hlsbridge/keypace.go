package hlsbridge

import "time"

// keyReask is how long the pacer waits for an asked-for keyframe before asking again.
const keyReask = 500 * time.Millisecond

// keyPacer asks a WebRTC publisher for a keyframe when a segment reaches its nominal
// duration without one. Segments of a source that is passed through are cut at the first
// keyframe at or after the nominal duration, and a browser sends a keyframe only when asked:
// without this its segments are cut without one (hls cuts a segment half a second past the
// target rather than grow it), which leaves parts no player can start at. The keyframe must
// not come before the nominal end (the segmenter would not cut there and the next one would
// be a whole segment away), so the pacer asks at the end itself; the segment is then longer
// by the publisher's reaction (a round trip and a frame). A source with a GOP at most the
// segment duration is never asked; RTMP/SRT sources cannot be (sfu.LocalSubscriber's
// RequestKeyframe does nothing for them).
type keyPacer struct {
	segment time.Duration // the nominal segment duration
	start   time.Duration // pts of the keyframe that started the current segment
	askedAt time.Duration
	asked   bool // asked since start
	seen    bool // a keyframe came
}

// frame is told of every frame in order; it reports whether to ask for a keyframe now.
func (k *keyPacer) frame(pts time.Duration, keyframe bool) bool {
	if !k.seen {
		k.seen, k.start = keyframe, pts
		return false
	}
	due := pts-k.start >= k.segment-time.Millisecond // pts are whole ticks: leave rounding room
	switch {
	case keyframe && due: // the segmenter cuts here: a new segment
		k.start, k.asked = pts, false
		return false
	case !due || k.segment <= 0:
		return false
	case k.asked && pts-k.askedAt < keyReask:
		return false
	}
	k.asked, k.askedAt = true, pts
	return true
}
