package hlsbridge

import "time"

// frameInterval follows the source's frame interval: a moving average (1/8 weight per
// frame) of the steps between successive frames' timestamps. The ladder hands it on with
// each frame as the frame's expected duration, which the segmenter uses to publish a part
// with its last frame (hls: commitIfPartFull) instead of when the next frame arrives. A
// browser publisher's frame rate ramps up after the start (11 fps at first on a loaded
// machine, then 30), so the rate estimated from the first frames is not the interval for
// long: parts judged with 91 ms frames close early and overlap the next part.
type frameInterval struct {
	last time.Duration // the previous frame's pts
	avg  time.Duration // 0 until a step was seen
	seen bool          // last is set
}

// next takes a frame's pts and returns its expected duration: the average interval, or
// fallback before there is one. Steps back, of zero, or over a second (a stalled or
// restarted source) are not intervals and leave the average as it is.
func (f *frameInterval) next(pts, fallback time.Duration) time.Duration {
	step := pts - f.last
	if f.seen && step > 0 && step <= time.Second {
		if f.avg == 0 {
			f.avg = step
		} else {
			f.avg += (step - f.avg) / 8
		}
	}
	f.last, f.seen = pts, true
	if f.avg > 0 {
		return f.avg
	}
	return fallback
}

// reset forgets the source (a new one starts).
func (f *frameInterval) reset() { *f = frameInterval{} }
