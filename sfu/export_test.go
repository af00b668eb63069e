package sfu

import (
	"sync"
	"testing"
)

// ReadBufferProbe records the read buffers of viewer connections (readbuffer.go).
type ReadBufferProbe struct {
	mu   sync.Mutex
	bufs map[uint32][]*lazyBuffer
}

// ProbeViewerReadBuffers records every viewer connection's read buffers until the test ends.
func ProbeViewerReadBuffers(t testing.TB) *ReadBufferProbe {
	p := &ReadBufferProbe{bufs: map[uint32][]*lazyBuffer{}}
	f := func(ssrc uint32, b *lazyBuffer) {
		p.mu.Lock()
		p.bufs[ssrc] = append(p.bufs[ssrc], b)
		p.mu.Unlock()
	}
	readBufferProbe.Store(&f)
	t.Cleanup(func() { readBufferProbe.Store(nil) })
	return p
}

// ReadBufferState is one read buffer's state: whether it was read, and what it holds.
type ReadBufferState struct {
	Read    bool
	Packets int
}

// Of returns the states of the buffers made for ssrc's streams (RTP and RTCP).
func (p *ReadBufferProbe) Of(ssrc uint32) []ReadBufferState {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ReadBufferState
	for _, b := range p.bufs[ssrc] {
		out = append(out, ReadBufferState{Read: b.read.Load(), Packets: b.Count()})
	}
	return out
}

// UnreadBufferPackets is what a read stream holds until its first read.
const UnreadBufferPackets = unreadBufferPackets
