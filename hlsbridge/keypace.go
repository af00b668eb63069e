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
//
// A viewer joining (join) asks for a keyframe at once, and the segmenter starts a segment
// at the next keyframe whatever its length (hls.Stream.CutAtNextKeyframe): the pacer's
// segment clock restarts there, so the segments after it are nominal again.
type keyPacer struct {
	segment time.Duration // the nominal segment duration
	start   time.Duration // pts of the keyframe that started the current segment
	askedAt time.Duration
	asked   bool // asked since start
	seen    bool // a keyframe came
	joined  bool // a join asked: the next keyframe starts a segment
	joinAt  time.Duration
	late    bool // the join's keyframe is overdue (reported once, joinLate after the join)
}

// keyStep is what the pacer tells of one frame.
type keyStep struct {
	ask  bool // ask the publisher for a keyframe now
	cut  bool // this keyframe starts a segment (every rendition needs a keyframe here)
	late bool // a join's keyframe did not come within joinLate: the source may not answer
	// answered: this keyframe came within joinLate of a join's request
	answered bool
}

// frame is told of every frame in order.
func (k *keyPacer) frame(pts time.Duration, keyframe bool) keyStep {
	if !k.seen {
		k.seen, k.start = keyframe, pts
		return keyStep{cut: keyframe}
	}
	// The segmenter cuts a segment at a keyframe 5% short of the nominal duration.
	if keyframe && (k.joined || pts-k.start >= k.segment-k.segment/20) {
		step := keyStep{cut: true, answered: k.joined && !k.late}
		k.start, k.asked, k.joined = pts, false, false
		return step
	}
	var step keyStep
	if k.joined && !k.late && pts-k.joinAt >= joinLate {
		k.late, step.late = true, true
	}
	due := pts-k.start >= k.segment-time.Millisecond // pts are whole ticks: leave rounding room
	switch {
	case !due || k.segment <= 0:
		return step
	case k.asked && pts-k.askedAt < keyReask:
		return step
	}
	k.asked, k.askedAt, step.ask = true, pts, true
	return step
}

// join is told that a viewer joined before the frame at pts; it reports whether to ask for
// a keyframe (and have the segmenter start a segment at it): not while a join's keyframe is
// still awaited, nor before the first keyframe.
func (k *keyPacer) join(pts time.Duration) bool {
	if !k.seen || k.joined {
		return false
	}
	k.joined, k.joinAt, k.late = true, pts, false
	k.asked, k.askedAt = true, pts
	return true
}
