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
	contiguous, ok := g.seq.next(p.seq)
	if !ok {
		return false
	}
	if !contiguous {
		g.lost()
	}
	return len(p.payload) > 0
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
