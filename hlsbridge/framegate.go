package hlsbridge

import "time"

// frameGate is what every video depacketizer keeps about the frame it assembles and the
// packets before it: a gap in sequence numbers (or a damaged packet) breaks the frame in
// progress, a broken frame is dropped, and after it only a keyframe passes, because what
// follows references something lost.
type frameGate struct {
	seq         seqTracker
	active      bool // a frame is being assembled
	ts          uint32
	broken      bool // a packet of the frame is missing or corrupt
	first, last time.Time
	needKey     bool
	dropped     int
}

func (g *frameGate) stats() int { return g.dropped }

// restart forgets the sequence and the frame in progress and waits for a keyframe (a new
// source).
func (g *frameGate) restart() {
	g.seq = seqTracker{}
	g.active, g.broken, g.needKey = false, false, true
}

// admit takes p's sequence number and reports whether its payload is to be used: not for
// a packet out of order or seen before, nor for padding only (bandwidth probing), which only
// takes a number. A gap breaks the frame in progress: the missing packets were its rest or
// whole frames in between.
func (g *frameGate) admit(p rtpPacket) bool {
	use, _ := g.admitSeq(p)
	return use
}

// admitSeq is admit, also reporting whether p follows a gap.
func (g *frameGate) admitSeq(p rtpPacket) (use, gap bool) {
	contiguous, ok := g.seq.next(p.seq)
	if !ok {
		return false, false
	}
	if !contiguous {
		g.lost()
	}
	return len(p.payload) > 0, !contiguous
}

// unitCodec is one codec's half of depacketizing per RTP timestamp (H.264, H.265, AV1):
// pushByTimestamp decides where a frame starts and ends, the codec what its packets hold.
type unitCodec interface {
	// canStart reports whether p may be a frame's first packet (false: it continues a
	// fragment whose start is lost).
	canStart(p rtpPacket) bool
	// startUnit empties the frame buffer for a new frame.
	startUnit()
	// unmarshal adds one packet's payload to the frame in progress; an error breaks it.
	unmarshal(payload []byte) error
	// finish closes the frame in progress (frameGate.end) and appends it to out when it is
	// whole and frameGate.pass lets it through.
	finish(out []frame) []frame
	// forget drops what a lost packet would have continued (a fragment in progress).
	forget()
}

// pushByTimestamp runs one packet through the frame gate and c: a frame runs from the
// packet that starts it to the marker bit or a change of RTP timestamp; a gap or a damaged
// payload breaks it.
func (g *frameGate) pushByTimestamp(p rtpPacket, out []frame, c unitCodec) []frame {
	use, gap := g.admitSeq(p)
	if gap {
		c.forget()
	}
	if !use {
		return out
	}
	if g.active && p.ts != g.ts {
		out = c.finish(out)
	}
	if !g.active {
		if !c.canStart(p) {
			g.needKey = true
			return out
		}
		g.begin(p)
		c.startUnit()
	}
	g.last = p.arrival
	if err := c.unmarshal(p.payload); err != nil {
		c.forget()
		g.lost()
	}
	if p.marker {
		out = c.finish(out)
	}
	return out
}

// lost marks the frame in progress broken and waits for a keyframe.
func (g *frameGate) lost() {
	g.needKey = true
	g.broken = g.broken || g.active
}

// begin starts a frame with p.
func (g *frameGate) begin(p rtpPacket) { g.active, g.ts, g.first = true, p.ts, p.arrival }

// end closes the frame in progress (broken also when the codec found it so) and reports
// whether it is whole; a broken one is counted as dropped.
func (g *frameGate) end(broken bool) bool {
	broken = broken || g.broken
	g.active, g.broken = false, false
	if broken {
		g.dropped++
		g.needKey = true
	}
	return !broken
}

// pass reports whether a whole frame goes out: a keyframe always, any other not while a
// keyframe is awaited (counted as dropped).
func (g *frameGate) pass(key bool) bool {
	if g.needKey && !key {
		g.dropped++
		return false
	}
	if key {
		g.needKey = false
	}
	return true
}
