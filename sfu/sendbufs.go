package sfu

import "sync"

// laneBuffers are a send lane's free packet buffers, kept as a stack: the buffer lent next
// is the one the lane's writer sent last, still in a cache when the producer fills it.
// sync.Pool, which held them before, keeps a free list per P and lends a P that has none —
// a fan-out goroutine, which takes buffers but never returns them — the oldest buffer of
// another P's list: at 1,000 viewers the first write into a lent buffer was ≈ 5 % of the
// server (egress.writeRTP), a cache miss per packet. Each destination sends on one lane, so
// a packet's buffer is lent and returned by the same lane.
//
// The stack keeps at most max buffers (the lane's queue limit and a batch): what a lane
// needs at its busiest, never more than the queue it bounds.
type laneBuffers struct {
	mu   sync.Mutex
	free []*[maxPacketSize]byte
	max  int
}

func newLaneBuffers(max int) *laneBuffers {
	return &laneBuffers{max: max}
}

// take lends a buffer: the one returned last, or a new one.
func (b *laneBuffers) take() *[maxPacketSize]byte {
	b.mu.Lock()
	n := len(b.free)
	if n == 0 {
		b.mu.Unlock()
		return new([maxPacketSize]byte)
	}
	buf := b.free[n-1]
	b.free[n-1] = nil
	b.free = b.free[:n-1]
	b.mu.Unlock()
	return buf
}

// give returns a buffer that was not sent.
func (b *laneBuffers) give(buf *[maxPacketSize]byte) {
	b.mu.Lock()
	if len(b.free) < b.max {
		b.free = append(b.free, buf)
	}
	b.mu.Unlock()
}

// giveSent returns the buffers of a batch the writer sent, in the order sent, so the last
// one sent is lent first.
func (b *laneBuffers) giveSent(batch []outPacket) {
	b.mu.Lock()
	for i := range batch {
		if batch[i].buf != nil && len(b.free) < b.max {
			b.free = append(b.free, batch[i].buf)
		}
	}
	b.mu.Unlock()
}
