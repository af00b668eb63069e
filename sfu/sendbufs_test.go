package sfu

import "testing"

// TestLaneBuffersLendLastSentFirst: a lane lends the buffer it sent last, keeps at most its
// bound, skips a batch's packets without a buffer of their own (GSO segments), and a
// take-give cycle allocates nothing once buffers exist.
func TestLaneBuffersLendLastSentFirst(t *testing.T) {
	b := newLaneBuffers(3)
	bufs := make([]*[maxPacketSize]byte, 4)
	for i := range bufs {
		bufs[i] = b.take()
	}
	batch := []outPacket{{buf: bufs[0]}, {}, {buf: bufs[1]}, {buf: bufs[2]}, {buf: bufs[3]}}
	b.giveSent(batch)
	if len(b.free) != 3 {
		t.Fatalf("%d buffers kept, want the bound, 3", len(b.free))
	}
	for _, want := range []int{2, 1, 0} {
		if got := b.take(); got != bufs[want] {
			t.Fatalf("lent a buffer other than buffer %d, the last sent of those kept", want)
		}
	}
	if got := b.take(); got == nil || got == bufs[3] {
		t.Fatal("an empty stack must lend a new buffer")
	}
	b.give(bufs[3])
	if got := b.take(); got != bufs[3] {
		t.Fatal("a buffer given back unsent is lent next")
	}
	if n := testing.AllocsPerRun(100, func() { b.give(b.take()) }); n != 0 {
		t.Fatalf("take and give allocate %.0f times", n)
	}
}
