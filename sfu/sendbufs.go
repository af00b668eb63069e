package sfu

import "sync"

// laneBuffers are a send lane's free packet buffers, kept as a stack of bounded size: the
// buffer lent next is the one the lane's writer sent last, and when the stack is empty a
// new one. What it is for: the first write into a lent buffer (egress.writeRTP) and the
// kernel's copy out of it were cache misses per packet under load — ≈ 5 % and 7 % of the
// server at 1,000 viewers with one sync.Pool. sync.Pool lends a P with no buffers of its own
// (a fan-out goroutine takes buffers but never returns them) another P's oldest; and once
// thousands of packets are queued, any buffer recycled through the queue has left the cache.
//
// So the stack keeps at most the lane's queue limit and a batch (12 MiB for a socket's lanes
// together after a peak). While the queue is shallow a buffer comes back while still in a
// cache and is lent again at once; at depth the stack runs dry and the lane lends new
// buffers, which the allocator has just zeroed, so they are in the cache too. Measured at
// 1,000 viewers (BENCHMARKS notes): writeRTP's own samples 3.94 → 1.66-1.90 % of the
// machine and the kernel's copy 5.00 → 3.13 %, for ≈ 1 % more in the garbage collector;
// keeping every buffer (twice the queue) put writeRTP back at 3.94 %. Each destination sends
// on one lane, so a packet's buffer is lent and returned by the same lane.
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
