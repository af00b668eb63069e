package ingest

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/glint-video/glint/media"
)

const (
	ticksPerSecond = 90000
	// maxJump is the largest step between consecutive decode times taken as continuous; a
	// bigger one (an encoder restart, a broken clock) is rebased to jumpStep after the last.
	maxJump  = 5 * ticksPerSecond
	jumpStep = ticksPerSecond / 30
)

// clock maps one connection's decode times (90 kHz, already unwrapped) for both tracks onto
// one continuous timeline starting at 0, so that audio and video keep their alignment and a
// jump in the input moves both by the same amount.
type clock struct {
	started      bool
	offset, last int64
	jumps        int
}

// dts maps an unwrapped 90 kHz decode time.
func (c *clock) dts(t int64) int64 {
	if !c.started {
		c.started, c.offset = true, -t
		return 0
	}
	out := t + c.offset
	if d := out - c.last; d > maxJump || d < -maxJump {
		c.offset += c.last + jumpStep - out
		out = c.last + jumpStep
		c.jumps++
	}
	c.last = max(c.last, out)
	return out
}

// wallAnchor ties the stream's timeline (clock's output) to the wall clock for the viewers'
// sender reports: timeline 0 is at origin, taken from the frame that arrived earliest for its
// decode time (the least delayed), and moved when frames arrive more than anchorJump later
// than it says (a stall: the timeline fell behind the wall clock). Audio and video share it.
type wallAnchor struct {
	origin   time.Time
	reported time.Time // when the latest report was given
}

const (
	anchorJump     = time.Second
	reportInterval = time.Second
)

// observe takes a frame with timeline decode time dts arriving at now.
func (a *wallAnchor) observe(now time.Time, dts int64) {
	cand := now.Add(-media.Duration(dts, ticksPerSecond))
	if a.origin.IsZero() || cand.Before(a.origin) || cand.Sub(a.origin) > anchorJump {
		a.origin = cand
	}
}

// at is the wall-clock time of timeline time t.
func (a *wallAnchor) at(t int64) time.Time { return a.origin.Add(media.Duration(t, ticksPerSecond)) }

// due says whether a report is due at now (the first at once, then every reportInterval),
// and records it as given.
func (a *wallAnchor) due(now time.Time) bool {
	if !a.reported.IsZero() && now.Sub(a.reported) < reportInterval {
		return false
	}
	a.reported = now
	return true
}

// msUnwrapper extends FLV's 32-bit millisecond timestamps (they wrap after ~49.7 days, after
// ~24.9 days from ffmpeg, and an encoder may start anywhere) to a 64-bit count.
type msUnwrapper struct {
	started bool
	prev    uint32
	total   int64
}

// ticks returns the unwrapped time of an FLV timestamp, in 90 kHz ticks.
func (u *msUnwrapper) ticks(ts time.Duration) int64 {
	raw := uint32(ts / time.Millisecond)
	if !u.started {
		u.started, u.prev, u.total = true, raw, int64(raw)
	} else {
		d := int64(int32(raw - u.prev))
		if u.prev < 1<<31 && raw < 1<<31 {
			// ffmpeg writes 31 bits (its FLV muxer masks the extended byte with 0x7f), so a
			// stream that never sets bit 31 wraps at 2^31 ms.
			d = int64((raw - u.prev) & (1<<31 - 1))
			if d >= 1<<30 {
				d -= 1 << 31
			}
		}
		u.total += d
		u.prev = raw
	}
	return u.total * 90
}

// tsUnwrapper extends MPEG-TS's 33-bit 90 kHz timestamps; one per connection for all tracks.
type tsUnwrapper struct{ dec mpegts.TimeDecoder }

// times unwraps a DTS and gives the PTS relative to it (PTS-DTS taken modulo 2^33).
func (u *tsUnwrapper) times(pts, dts int64) (outPTS, outDTS int64) {
	const mask = 1<<33 - 1
	d := u.dec.Decode(dts & mask)
	delta := (pts - dts) & mask
	if delta > mask/2 {
		delta -= mask + 1
	}
	return d + delta, d
}
