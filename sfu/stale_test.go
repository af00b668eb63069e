package sfu

import (
	"testing"
	"time"
)

// TestStaleSkipOnlyWhenPaced: a viewer whose pacer held it back lately skips packets that
// arrived more than staleAfter ago to the next keyframe; a viewer that is late only because
// the server was (nothing held it back) gets every packet.
func TestStaleSkipOnlyWhenPaced(t *testing.T) {
	for _, paced := range []bool{false, true} {
		s, up := benchSlot()
		w := &discardWriter{}
		d := boundDownTrack(s, w)
		var seq uint64 = 1 << 16
		up.ring.Put(seq, marshalPacket(uint16(seq), 0, []byte{0x67, 0x42, 0xe0, 0x1f}), time.Now(), true)
		d.drain()
		if paced {
			d.pacedAt = time.Now()
		}
		old := time.Now().Add(-2 * staleAfter)
		for range 5 {
			seq++
			delta := marshalPacket(uint16(seq), 0, make([]byte, 100))
			delta[12] = 0x41
			up.ring.Put(seq, delta, old, false)
		}
		before := w.packets
		d.drain()
		sent, skips := w.packets-before, d.stats.staleSkips.Load()
		if paced && (sent != 0 || skips != 1) {
			t.Errorf("paced viewer: %d stale packets sent, %d stale skips; want 0 and 1", sent, skips)
		}
		if !paced && (sent != 5 || skips != 0) {
			t.Errorf("unpaced viewer: %d of 5 late packets sent, %d stale skips; want all and 0", sent, skips)
		}
	}
}
