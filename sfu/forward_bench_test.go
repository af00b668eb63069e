package sfu

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// discardWriter is a TrackLocalWriter that only counts, standing in for pion's SRTP writer.
type discardWriter struct{ packets, bytes int }

func (w *discardWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.packets++
	w.bytes += len(payload)
	return len(payload), nil
}

func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func benchSlot() (*slot, *UpTrack) {
	codec := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, PayloadType: 102}
	s := newSlot("video", codec)
	ring := newPacketRing(videoRingSize)
	up := &UpTrack{kind: "video", codec: codec, ring: ring, pliInterval: time.Second, nackedAt: make([]int64, ring.Size()),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), publisher: nopRTCP{}, done: make(chan struct{})}
	s.addLayer(up)
	return s, up
}

type nopRTCP struct{}

func (nopRTCP) WriteRTCP([]rtcp.Packet) error { return nil }

// boundDownTrack is a downtrack of s bound to w (SSRC 1234, the slot's payload type) as if
// negotiated and connected.
func boundDownTrack(s *slot, w webrtc.TrackLocalWriter) *DownTrack {
	d := newDownTrack("v", "s", s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.writer, d.ssrc, d.pt = w, 1234, uint8(s.codec.PayloadType)
	d.hdr = rtp.Header{Version: 2, SSRC: d.ssrc, PayloadType: d.pt}
	d.bound.Store(true)
	d.connected.Store(true)
	return d
}

func marshalPacket(seq uint16, ts uint32, payload []byte) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: seq, Timestamp: ts, SSRC: 99}, Payload: payload}
	b, _ := p.Marshal()
	return b
}

// BenchmarkForward measures the SFU's own cost of forwarding one packet to one viewer:
// ring read, header rewrite, keyframe/epoch checks and the write call (into a discarding
// writer, so SRTP and the socket are not included). Reported per packet per viewer.
func BenchmarkForward(b *testing.B) {
	for _, viewers := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("viewers=%d", viewers), func(b *testing.B) { benchForward(b, viewers, nil) })
	}
}

// benchForward forwards H.264 delta packets to viewers downtracks, each set up by setup (nil:
// none) before the first packet.
func benchForward(b *testing.B, viewers int, setup func(*DownTrack)) {
	s, up := benchSlot()
	w := &discardWriter{}
	key := marshalPacket(1, 0, []byte{0x67, 0x42, 0xe0, 0x1f})
	delta := marshalPacket(2, 0, make([]byte, 1100))
	delta[12] = 0x41
	var seq uint64 = 1 << 16
	downs := startViewers(b, s, up, w, viewers, key, seq, setup)
	for i := 0; i < b.N; i++ {
		seq++
		delta[2], delta[3] = byte(seq>>8), byte(seq)
		up.ring.Put(seq, delta, time.Now(), false)
		for _, d := range downs {
			d.drain()
		}
	}
	reportPerViewer(b, w, viewers)
}

// startViewers binds n downtracks of s that write to w (each set up by setup, if not nil) and forwards them the keyframe key
// (extended sequence number seq), so that they are past the keyframe wait; then it starts
// the benchmark's timer afresh, counting allocations.
func startViewers(b *testing.B, s *slot, up *UpTrack, w *discardWriter, n int, key []byte, seq uint64,
	setup func(*DownTrack)) []*DownTrack {
	downs := make([]*DownTrack, n)
	for i := range downs {
		downs[i] = boundDownTrack(s, w)
		if setup != nil {
			setup(downs[i])
		}
	}
	up.ring.Put(seq, key, time.Now(), true)
	for _, d := range downs {
		d.drain()
	}
	b.ReportAllocs()
	b.ResetTimer()
	return downs
}

// reportPerViewer stops the timer, fails unless every viewer got every packet, and reports
// the time per packet per viewer.
func reportPerViewer(b *testing.B, w *discardWriter, viewers int) {
	b.StopTimer()
	if w.packets < b.N*viewers {
		b.Fatalf("forwarded %d packets, want %d", w.packets, b.N*viewers)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*viewers), "ns/packet/viewer")
}
