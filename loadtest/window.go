package loadtest

import (
	"context"
	"iter"
	"sync/atomic"
	"time"
)

// Packets are counted by send time, not by the moment a counter is read: a step's window
// is [mark0, mark1) of the publisher's clock, and a viewer's count for it is the packets
// stamped inside it, whenever they arrived. Reading counters at one instant would instead
// split a keyframe burst (70 packets at 2.5 Mbit/s) differently at the publisher and at a
// viewer still receiving it, and show phantom loss or gain.

// markLead is how far ahead of now a mark is set.
const markLead = 20 * time.Millisecond

// markClock is the send time counters split their packets at; 0 = none yet.
type markClock struct{ at atomic.Int64 }

// packetCounter counts one track's packets and bytes. One goroutine writes it (count);
// at may be called from any goroutine.
type packetCounter struct {
	clock          *markClock
	packets, bytes atomic.Uint64
	crossed        atomic.Int64  // the mark before* belong to
	beforePackets  atomic.Uint64 // packets stamped before crossed
	beforeBytes    atomic.Uint64
}

// count records a packet of size bytes sent at unix nanos stamp. Packets arrive in send
// order per track, so the first one stamped at or after the mark splits the counts.
func (c *packetCounter) count(stamp int64, size int) {
	if m := c.clock.at.Load(); m != 0 && stamp >= m && c.crossed.Load() != m {
		c.beforePackets.Store(c.packets.Load())
		c.beforeBytes.Store(c.bytes.Load())
		c.crossed.Store(m)
	}
	c.packets.Add(1)
	c.bytes.Add(uint64(size))
}

// at returns the packets and bytes stamped before mark m, or everything counted so far
// (with ok false) when no packet from m on has arrived yet.
func (c *packetCounter) at(m int64) (packets, bytes uint64, ok bool) {
	if c.crossed.Load() != m {
		return c.packets.Load(), c.bytes.Load(), false
	}
	return c.beforePackets.Load(), c.beforeBytes.Load(), true
}

// setMark makes mark the new split point, a little in the future so that no packet
// stamped after it has been sent yet, and returns it.
func (m *markClock) setMark() int64 {
	at := time.Now().Add(markLead).UnixNano()
	m.at.Store(at)
	return at
}

// waitCrossed waits until every counter has seen a packet stamped at or after mark, or
// settle has passed (a viewer that is gone or far behind never will).
func waitCrossed(ctx context.Context, mark int64, settle time.Duration, counters iter.Seq[*packetCounter]) error {
	deadline := time.Unix(0, mark).Add(settle)
	for {
		all := true
		for c := range counters {
			if _, _, ok := c.at(mark); !ok {
				all = false
				break
			}
		}
		if all || time.Now().After(deadline) {
			return nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// seqWindow is how many sequence numbers back a viewer remembers which packets it has.
const seqWindow = 1024

// seqTracker tells new packets from duplicates (a retransmission of a packet that had
// arrived after all) by sequence number, and counts gaps. One goroutine uses it.
type seqTracker struct {
	last uint16
	have bool
	seen [seqWindow / 64]uint64 // bit per sequence number mod seqWindow
}

// add records seq; isNew is false for a packet already received, gap is how many
// sequence numbers a forward jump skipped, -1 for a new packet behind the newest (late).
func (t *seqTracker) add(seq uint16) (isNew bool, gap int) {
	d := seq - t.last
	switch {
	case !t.have:
		t.have = true
	case d == 0:
		return false, 0
	case d < 0x8000: // forward: forget the skipped numbers' old bits
		gap = int(d) - 1
		for s, n := t.last+1, 0; s != seq && n < seqWindow; s, n = s+1, n+1 {
			t.set(s, false)
		}
	default: // backward: late or retransmitted
		if t.last-seq >= seqWindow {
			return true, -1 // too old to tell
		}
		if t.get(seq) {
			return false, 0
		}
		t.set(seq, true)
		return true, -1
	}
	t.last = seq
	t.set(seq, true)
	return true, gap
}

func (t *seqTracker) get(seq uint16) bool {
	i := seq % seqWindow
	return t.seen[i/64]&(1<<(i%64)) != 0
}

func (t *seqTracker) set(seq uint16, on bool) {
	i := seq % seqWindow
	if on {
		t.seen[i/64] |= 1 << (i % 64)
	} else {
		t.seen[i/64] &^= 1 << (i % 64)
	}
}
