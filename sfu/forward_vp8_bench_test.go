package sfu

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkForwardVP8 is BenchmarkForward for a VP8 stream whose descriptors carry PictureID,
// TL0PICIDX and TID: the whole per-packet path including the VP8 numbering rewrite and the
// temporal-layer check, per packet per viewer.
func BenchmarkForwardVP8(b *testing.B) {
	for _, viewers := range []int{1, 100} {
		b.Run(fmt.Sprintf("viewers=%d", viewers), func(b *testing.B) {
			s, up := benchSlot()
			s.codec = vp8Codec
			up.codec = s.codec
			w := &discardWriter{}
			keyPayload := vp8Pkt(vp8Fields{pic: 100, pic15: true, tl0: 1, tid: 0, keyIdx: -1})
			keyPayload[0] |= 0x10
			keyPayload[len(keyPayload)-2] = 0x00
			key := marshalPacket(1, 0, keyPayload)
			delta := marshalPacket(2, 0, append(vp8Pkt(vp8Fields{pic: 101, pic15: true, tl0: 1, tid: 0, keyIdx: -1}), make([]byte, 1100)...))
			var seq uint64 = 1 << 16
			downs := startViewers(b, s, up, w, viewers, key, seq, nil)
			for i := 0; i < b.N; i++ {
				seq++
				delta[2], delta[3] = byte(seq>>8), byte(seq)
				pic := uint16(101 + i/4)
				delta[14], delta[15] = vp8M|byte(pic>>8&0x7f), byte(pic)
				up.ring.Put(seq, delta, time.Now(), false)
				for _, d := range downs {
					d.drain()
				}
			}
			reportPerViewer(b, w, viewers)
		})
	}
}
