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
}

// rebase starts an epoch whose first packet is srcExt/ts. keepTimeline keeps the timestamp
// offset (same source after a skip: its clock is continuous).
func (m *munger) rebase(srcExt uint64, ts uint32, now time.Time, keepTimeline bool) {
	seq := uint16(srcExt)
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

// sourceOf maps an outgoing sequence number of the current epoch back to the source's
// extended sequence number; ok is false for numbers outside the epoch.
func (m *munger) sourceOf(outSeq uint16) (uint64, bool) {
	if !m.started || m.sentInEpoch == 0 {
		return 0, false
	}
	back := uint64(m.highestSeq - outSeq) // how far behind the newest sent packet
	if back >= 0x8000 || back >= m.sentInEpoch {
		return 0, false // ahead of what was sent, or before this epoch
	}
	return m.srcExtStart + m.sentInEpoch - 1 - back, true
}

// timestamp returns the outgoing timestamp for a source timestamp in the current epoch.
func (m *munger) timestamp(ts uint32) uint32 { return ts + m.tsOffset }
