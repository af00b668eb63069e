package hlsbridge

import (
	"log/slog"
	"time"

	"github.com/glint-video/glint/media"
)

// rtpClock maps one track's RTP timestamps onto the bridge's clock (time since the bridge's
// epoch): the first packet after a (re)start is anchored at its arrival, later ones follow
// their RTP timestamp from there. Video (90 kHz) and audio (48 kHz) are both anchored on
// arrival, so they share one clock without RTCP sender reports. During the first settle
// period a packet that arrives earlier than its mapped time moves the anchor back to it
// (the first frame, often a keyframe that took longer to encode, may have been late), so
// that the mapping follows the earliest arrivals; shift accumulates those moves. Later, a
// timestamp that lands more than maxAhead after its arrival or maxBehind before it (the
// source restarted its timestamps without telling) re-anchors the track.
type rtpClock struct {
	rate      uint32 // ticks per second
	started   bool
	lastTS    uint32
	ext       int64 // extended timestamp of lastTS
	anchorExt int64
	anchorAt  time.Duration
	firstAt   time.Duration // arrival of the first packet since the (re)start
	shift     time.Duration // how far settling moved the anchor back, in total
	outAt     time.Duration // the time given out for the newest timestamp so far
	outExt    int64         // that timestamp, extended
}

const (
	maxAhead  = time.Second
	maxBehind = 3 * time.Second
	settle    = time.Second
)

// reset makes the next packet anchor the clock again (a new source).
func (c *rtpClock) reset() { c.started = false }

// pts returns the clock time of RTP timestamp ts of a packet that arrived at arrival (time
// since the epoch).
func (c *rtpClock) pts(ts uint32, arrival time.Duration, log *slog.Logger) time.Duration {
	if !c.started {
		c.started, c.lastTS, c.ext, c.anchorExt, c.anchorAt, c.firstAt = true, ts, 0, 0, arrival, arrival
		return c.emit(arrival)
	}
	c.ext += int64(int32(ts - c.lastTS))
	c.lastTS = ts
	p := c.anchorAt + media.Duration(c.ext-c.anchorExt, c.rate)
	if off := p - arrival; off > 0 && off <= maxAhead && arrival-c.firstAt < settle {
		// Move the anchor back to this earlier arrival, but only so far that the frame stays
		// at least half its RTP duration after the last one given out: a burst of early
		// frames (a source that hands on its first second at once) is then stretched back
		// over several frames instead of collapsed onto its arrival times.
		if d := c.ext - c.outExt; d > 0 {
			off = min(off, max(p-(c.outAt+media.Duration(d, c.rate)/2), 0))
		}
		c.anchorAt -= off
		c.shift += off
		return c.emit(p - off)
	}
	if off := p - arrival; off > maxAhead || off < -maxBehind {
		log.Info("hlsbridge: RTP timestamps jumped, clock re-anchored", "offset", off, "rate", c.rate)
		c.anchorExt, c.anchorAt = c.ext, arrival
		c.outAt, c.outExt = arrival, c.ext
		return arrival
	}
	return c.emit(p)
}

// emit remembers p as the time of the newest timestamp given out so far, and returns it.
func (c *rtpClock) emit(p time.Duration) time.Duration {
	if c.ext >= c.outExt {
		c.outAt, c.outExt = p, c.ext
	}
	return p
}
