package sfu

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// marshalWriter marshals each packet's header (where the extensions' cost lies) into a
// buffer it reuses, standing in for pion's SRTP writer.
type marshalWriter struct {
	discardWriter
	buf [1500]byte
}

func (w *marshalWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(w.buf[:])
	if err != nil {
		return 0, err
	}
	return w.discardWriter.WriteRTP(h, payload[:min(len(payload), len(w.buf)-n)])
}

// BenchmarkForwardLatencyExtensions is BenchmarkForward's 10 viewers with the header
// marshalled, without and with the latency extensions negotiated (playout-delay on every
// packet, abs-capture-time on the first packet of each 4-packet frame): their cost per packet.
func BenchmarkForwardLatencyExtensions(b *testing.B) {
	const viewers = 10
	exts := []webrtc.RTPHeaderExtensionParameter{{URI: playoutDelayURI, ID: 6}, {URI: absCaptureTimeURI, ID: 13}}
	for _, negotiated := range []bool{false, true} {
		b.Run(fmt.Sprintf("extensions=%v", negotiated), func(b *testing.B) {
			s, up := benchSlot()
			up.setSourcePair(time.Now(), 0)
			w := &marshalWriter{}
			downs := make([]*DownTrack, viewers)
			for i := range downs {
				downs[i] = boundDownTrack(s, w)
				if negotiated {
					downs[i].lat.bind(exts, true, &downs[i].hdr)
				}
			}
			var seq uint64 = 1 << 16
			up.ring.Put(seq, marshalPacket(uint16(seq), 0, []byte{0x67, 0x42, 0xe0, 0x1f}), time.Now(), true)
			for _, d := range downs {
				d.drain()
			}
			delta := marshalPacket(2, 0, make([]byte, 1100))
			delta[12] = 0x41
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq++
				ts := uint32(seq/4) * 3000
				delta[2], delta[3] = byte(seq>>8), byte(seq)
				delta[4], delta[5], delta[6], delta[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
				up.ring.Put(seq, delta, time.Now(), false)
				for _, d := range downs {
					d.drain()
				}
			}
			reportPerViewer(b, &w.discardWriter, viewers)
		})
	}
}
