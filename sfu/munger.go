package sfu

import (
	"time"

	"github.com/glint-video/glint/media"
)

// munger rewrites a source's sequence numbers and timestamps into one continuous outgoing
// stream. Each epoch (a new source, or a resume after packets were skipped) maps source
// numbers to outgoing ones by a fixed offset chosen so that the outgoing sequence continues
// without a gap and the timestamp advances by the wall-clock time that passed.
type munger struct {
	clockRate uint32
	started   bool

	seqOffset   uint16
	tsOffset    uint32
	srcExtStart uint64
	sentInEpoch uint64 // outgoing sequence numbers the epoch has spanned so far

	highestSeq uint16
	lastTS     uint32
	lastWall   time.Time

	// Earlier epochs of the same source and timeline (a gap hidden after dropped temporal
	// layers, a skip to a keyframe), newest first, so that NACKs still map back to the ring.
	past  [pastEpochs]pastEpoch
	nPast int
}

// pastEpochs is how many earlier epochs of one timeline stay mappable: at 30 fps with every
// other frame dropped, a new epoch starts every 2 frames, so 32 keep about 2 s.
const pastEpochs = 32

type pastEpoch struct {
	outFirst    uint16 // outgoing sequence number of its first packet
	srcExtStart uint64
	span        uint64 // outgoing sequence numbers it spanned
}

// rebase starts an epoch whose first packet is srcExt/ts. keepTimeline keeps the timestamp
// offset (same source after a skip or a drop: its clock is continuous) and keeps the epoch
// that ends mappable by sourceOf; another source forgets every earlier epoch.
func (m *munger) rebase(srcExt uint64, ts uint32, now time.Time, keepTimeline bool) {
	seq := uint16(srcExt)
	switch {
	case !keepTimeline:
		m.nPast = 0
	case m.started && m.sentInEpoch > 0:
		copy(m.past[1:], m.past[:pastEpochs-1])
		m.past[0] = pastEpoch{outFirst: m.highestSeq - uint16(m.sentInEpoch-1), srcExtStart: m.srcExtStart, span: m.sentInEpoch}
		m.nPast = min(m.nPast+1, pastEpochs)
	}
	if !m.started {
		m.started = true
		m.seqOffset, m.tsOffset = 0, 0
		m.highestSeq = seq - 1
	} else {
		m.seqOffset = m.highestSeq + 1 - seq
		if !keepTimeline {
			ticks := uint32(now.Sub(m.lastWall).Seconds() * float64(m.clockRate))
			if ticks == 0 {
				ticks = 1
			}
			m.tsOffset = m.lastTS + ticks - ts
		}
	}
	m.srcExtStart, m.sentInEpoch = srcExt, 0
}

// apply returns the outgoing sequence number and timestamp for a source packet.
func (m *munger) apply(seq uint16, ts uint32, now time.Time) (uint16, uint32) {
	outSeq, outTS := seq+m.seqOffset, ts+m.tsOffset
	if m.sentInEpoch == 0 {
		m.highestSeq, m.lastTS, m.lastWall, m.sentInEpoch = outSeq, outTS, now, 1
	} else if media.SeqNewer(outSeq, m.highestSeq) {
		m.sentInEpoch += uint64(outSeq - m.highestSeq)
		m.highestSeq, m.lastTS, m.lastWall = outSeq, outTS, now
	}
	return outSeq, outTS
}

// forgetPast makes the earlier epochs unmappable (after a skip the ring may no longer hold
// them; NACKs for them would only reach the publisher late).
func (m *munger) forgetPast() { m.nPast = 0 }

// reserve gives the next k source packets of the epoch their outgoing numbers although they
// were not sent (missing from the ring when their turn came): a rebase that follows still
// leaves their numbers free, so the viewer sees the gap and NACKs them.
func (m *munger) reserve(k uint64) {
	if m.started && m.sentInEpoch > 0 {
		m.highestSeq += uint16(k)
		m.sentInEpoch += k
	}
}

// sourceOf maps an outgoing sequence number of the current epoch back to the source's
// extended sequence number; ok is false for numbers outside the epoch.
func (m *munger) sourceOf(outSeq uint16) (uint64, bool) {
	if !m.started || m.sentInEpoch == 0 {
		return 0, false
	}
	back := uint64(m.highestSeq - outSeq) // how far behind the newest sent packet
	if back >= 0x8000 {
		return 0, false // ahead of what was sent
	}
	if back < m.sentInEpoch {
		return m.srcExtStart + m.sentInEpoch - 1 - back, true
	}
	for _, e := range m.past[:m.nPast] {
		if off := uint64(outSeq - e.outFirst); off < e.span {
			return e.srcExtStart + off, true
		}
	}
	return 0, false // before the epochs kept
}

// timestamp returns the outgoing timestamp for a source timestamp in the current epoch.
func (m *munger) timestamp(ts uint32) uint32 { return ts + m.tsOffset }
