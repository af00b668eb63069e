package sfu

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	owngcc "github.com/glint-video/glint/sfu/gcc"
)

// BenchmarkSendPath is one video packet's way to a transport-cc viewer through the SFU's
// code and the libraries under it, up to the batched writer's queue: DownTrack.drain and
// send (ring copy, forwarder, header rewrite), the viewer's interceptors (transport-wide
// sequence number and the estimator's send history), SRTP (marshal and AES-128-GCM, as
// pion's SessionSRTP.writeRTP does), and batchConn.WriteToAddrPort (copy and queue; the
// writer's sendmmsg runs on its own goroutine). Only pion's ICE/mux write path is left out.
// "pion-twcc" numbers the packets with pion's twcc.HeaderExtensionInterceptor and records
// them as sfu/gcc did before it numbered them itself (reading the extension back); "own"
// is sfu/gcc's interceptor as --viewer-bwe gcc registers it.
func BenchmarkSendPath(b *testing.B) {
	info := &interceptor.StreamInfo{SSRC: 1234, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{
		{URI: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01", ID: gccBenchTWCCID}}}
	config := owngcc.Config{InitialBitrate: initialEstimate, MinBitrate: minEstimate}
	b.Run("pion-twcc", func(b *testing.B) {
		hdr, err := twcc.NewHeaderExtensionInterceptor()
		if err != nil {
			b.Fatal(err)
		}
		i, err := hdr.NewInterceptor("")
		if err != nil {
			b.Fatal(err)
		}
		benchSendPath(b, func(sink interceptor.RTPWriter) interceptor.RTPWriter {
			return i.BindLocalStream(info, recordSent(owngcc.New(config), gccBenchTWCCID, sink))
		})
	})
	b.Run("own", func(b *testing.B) {
		i, err := owngcc.NewInterceptorFactory(owngcc.WithConfig(config)).NewInterceptor("")
		if err != nil {
			b.Fatal(err)
		}
		benchSendPath(b, func(sink interceptor.RTPWriter) interceptor.RTPWriter { return i.BindLocalStream(info, sink) })
	})
}

// recordSent is what sfu/gcc's stream writer did while pion's interceptor numbered the
// packets: read the number back from the header and record the packet.
func recordSent(e *owngcc.Estimator, id uint8, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if ext := h.GetExtension(id); len(ext) >= 2 {
			e.OnSent(uint16(ext[0])<<8|uint16(ext[1]), h.MarshalSize()+len(payload), time.Now())
		}
		return w.Write(h, payload, a)
	})
}

func benchSendPath(b *testing.B, chain func(sink interceptor.RTPWriter) interceptor.RTPWriter) {
	sink := newSRTPSink(b)
	s, up := benchSlot()
	d := boundDownTrack(s, &chainWriter{w: chain(sink)})
	key := marshalPacket(1, 0, []byte{0x67, 0x42, 0xe0, 0x1f})
	delta := marshalPacket(2, 0, make([]byte, 1100))
	delta[12] = 0x41
	var seq uint64 = 1 << 16
	up.ring.Put(seq, key, time.Now(), true)
	d.drain()
	b.ReportAllocs()
	for b.Loop() {
		seq++
		delta[2], delta[3] = byte(seq>>8), byte(seq)
		up.ring.Put(seq, delta, time.Now(), false)
		d.drain()
	}
	if sent := d.stats.packets.Load(); sent < uint64(b.N) || d.stats.writeErrors.Load() != 0 {
		b.Fatalf("sent %d packets (%d write errors), want %d", sent, d.stats.writeErrors.Load(), b.N)
	}
}

// chainWriter is the track's writer as pion's interceptorToTrackLocalWriter is: the
// interceptor chain, with nil attributes.
type chainWriter struct{ w interceptor.RTPWriter }

func (c *chainWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	return c.w.Write(h, payload, nil)
}

func (c *chainWriter) Write(b []byte) (int, error) { return len(b), nil }

// srtpSink encrypts each packet as SessionSRTP.writeRTP does and queues it on a batchConn
// to a loopback socket that reads and drops it.
type srtpSink struct {
	ctx  *srtp.Context
	buf  []byte
	conn *batchConn
	to   netip.AddrPort
}

func newSRTPSink(b *testing.B) *srtpSink {
	recv := discardingUDP(b)
	send, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	conn := startBatchConn(b, send, 1)
	ctx, err := srtp.CreateContext(make([]byte, 16), make([]byte, 12), srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		b.Fatal(err)
	}
	return &srtpSink{ctx: ctx, buf: make([]byte, 1500), conn: conn, to: recv.LocalAddr().(*net.UDPAddr).AddrPort()}
}

func (s *srtpSink) Write(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	n, err := rtp.MarshalPacketTo(s.buf, h, payload) //nolint:staticcheck // as pion's SessionSRTP
	if err != nil {
		return 0, err
	}
	enc, err := s.ctx.EncryptRTP(s.buf, s.buf[:n], h)
	if err != nil {
		return 0, err
	}
	return s.conn.WriteToAddrPort(enc, s.to)
}
