package sfu

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkRetransmit is a lossy viewer's NACK handling: each round forwards nackedPerRound
// new packets, then reads a NACK (one FCI: a packet id and a full bitmask, 17 packets) for
// packets sent a round and more before, as rtcpLoop does, retransmitting them on RTX into a
// discarding writer (SRTP and the socket are not included). Reported per NACKed packet, the
// round's sends included. Packets NACKed again within 40 ms are refused (minResendGap), as
// in a NACK storm.
func BenchmarkRetransmit(b *testing.B) {
	const nackedPerRound = 17
	s, up := benchSlot()
	w := &discardWriter{}
	d := boundDownTrack(s, w)
	d.rtxSSRC, d.rtxPT = 5678, 103
	d.rtxHdr = rtp.Header{Version: 2, SSRC: d.rtxSSRC, PayloadType: d.rtxPT}
	key := marshalPacket(1, 0, []byte{0x67, 0x42, 0xe0, 0x1f})
	delta := marshalPacket(2, 0, make([]byte, 1100))
	delta[12] = 0x41
	var seq uint64 = 1 << 16
	put := func(n int) {
		for range n {
			seq++
			delta[2], delta[3] = byte(seq>>8), byte(seq)
			up.ring.Put(seq, delta, time.Now(), false)
		}
		d.drain()
	}
	up.ring.Put(seq, key, time.Now(), true)
	put(4 * nackedPerRound)
	fb := &feedbackReader{d: d}
	fci := make([]byte, 4)
	rounds := 0
	b.ReportAllocs()
	for b.Loop() {
		put(nackedPerRound)
		binary.BigEndian.PutUint16(fci, d.hdr.SequenceNumber-3*nackedPerRound+uint16(rounds%2))
		fci[2], fci[3] = 0xff, 0xff
		fb.now = time.Now()
		fb.onNack(d.ssrc, fci)
		fb.flushNacks()
		rounds++
	}
	b.StopTimer()
	if d.stats.retransmits.Load() == 0 {
		b.Fatal("nothing was retransmitted")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rounds*nackedPerRound), "ns/nacked")
}
