package sfu

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/pion/rtcp"
)

// recordedFeedback is what walkRTCP reported, in pion's terms for comparison.
type recordedFeedback struct {
	reports   []rtcp.ReceptionReport
	nacked    map[uint32][]uint16
	keyframes []uint32
	rembs     []float32
}

func (r *recordedFeedback) onReport(b reportBlock) {
	r.reports = append(r.reports, rtcp.ReceptionReport{SSRC: b.ssrc, FractionLost: b.fractionLost,
		LastSequenceNumber: b.lastSeq, Jitter: b.jitter, LastSenderReport: b.lastSR, Delay: b.delaySSR})
}

func (r *recordedFeedback) onNack(ssrc uint32, fci []byte) {
	if r.nacked == nil {
		r.nacked = map[uint32][]uint16{}
	}
	forEachNacked(fci, func(seq uint16) { r.nacked[ssrc] = append(r.nacked[ssrc], seq) })
}

func (r *recordedFeedback) onKeyframeRequest(ssrc uint32) { r.keyframes = append(r.keyframes, ssrc) }
func (r *recordedFeedback) onREMB(bitrate float32)        { r.rembs = append(r.rembs, bitrate) }

// pionFeedback is what pion's rtcp.Unmarshal makes of the same packet, reduced to the same
// facts (cumulative loss aside, which the downtrack does not use).
func pionFeedback(pkts []rtcp.Packet) *recordedFeedback {
	r := &recordedFeedback{}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.ReceiverReport:
			r.addReports(p.Reports)
		case *rtcp.SenderReport:
			r.addReports(p.Reports)
		case *rtcp.TransportLayerNack:
			if r.nacked == nil {
				r.nacked = map[uint32][]uint16{}
			}
			for _, pair := range p.Nacks {
				r.nacked[p.MediaSSRC] = append(r.nacked[p.MediaSSRC], pair.PacketList()...)
			}
		case *rtcp.PictureLossIndication:
			r.keyframes = append(r.keyframes, p.MediaSSRC)
		case *rtcp.FullIntraRequest:
			for _, e := range p.FIR {
				r.keyframes = append(r.keyframes, e.SSRC)
			}
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			r.rembs = append(r.rembs, p.Bitrate)
		}
	}
	return r
}

func (r *recordedFeedback) addReports(reports []rtcp.ReceptionReport) {
	for _, rep := range reports {
		rep.TotalLost = 0
		r.reports = append(r.reports, rep)
	}
}

func marshalRTCP(t testing.TB, pkts ...rtcp.Packet) []byte {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWalkRTCPMatchesPion: every packet type a downtrack acts on reads the same in place as
// through pion's rtcp.Unmarshal, in compounds with the types it skips.
func TestWalkRTCPMatchesPion(t *testing.T) {
	rr := &rtcp.ReceiverReport{SSRC: 7, Reports: []rtcp.ReceptionReport{
		{SSRC: 1234, FractionLost: 25, TotalLost: 9, LastSequenceNumber: 70123, Jitter: 311, LastSenderReport: 0xdeadbeef, Delay: 6553},
		{SSRC: 99, FractionLost: 1, LastSequenceNumber: 5, Jitter: 2}}}
	sr := &rtcp.SenderReport{SSRC: 7, NTPTime: 1 << 40, RTPTime: 90000, PacketCount: 10, OctetCount: 1000,
		Reports: []rtcp.ReceptionReport{{SSRC: 1234, FractionLost: 3, LastSequenceNumber: 1, Jitter: 4, LastSenderReport: 5, Delay: 6}}}
	nack := &rtcp.TransportLayerNack{SenderSSRC: 7, MediaSSRC: 1234,
		Nacks: []rtcp.NackPair{{PacketID: 65530, LostPackets: 0b1000_0000_0000_0101}, {PacketID: 100}}}
	pli := &rtcp.PictureLossIndication{SenderSSRC: 7, MediaSSRC: 1234}
	fir := &rtcp.FullIntraRequest{SenderSSRC: 7, FIR: []rtcp.FIREntry{{SSRC: 1234, SequenceNumber: 3}, {SSRC: 55}}}
	remb := &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 7, Bitrate: 2_500_000, SSRCs: []uint32{1234}}
	hugeREMB := &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 7, Bitrate: 1e12, SSRCs: []uint32{1234}}
	twcc := &rtcp.TransportLayerCC{Header: rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback, Length: 5}, SenderSSRC: 7, MediaSSRC: 1234, BaseSequenceNumber: 1, PacketStatusCount: 2,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 2}},
		RecvDeltas: []*rtcp.RecvDelta{{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 500}}}
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 7,
		Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "viewer"}}}}}
	cases := map[string][]rtcp.Packet{
		"receiver report":          {rr, sdes},
		"sender report":            {sr},
		"nack":                     {rr, nack},
		"pli and fir":              {pli, fir},
		"remb":                     {rr, remb},
		"remb beyond float32":      {hugeREMB},
		"transport-cc is skipped":  {twcc, pli},
		"every type in one packet": {sr, rr, sdes, nack, twcc, pli, fir, remb},
	}
	for name, pkts := range cases {
		t.Run(name, func(t *testing.T) {
			b := marshalRTCP(t, pkts...)
			parsed, err := rtcp.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			got := &recordedFeedback{}
			walkRTCP(b, got)
			if want := pionFeedback(parsed); !reflect.DeepEqual(got, want) {
				t.Errorf("in place: %+v\npion:     %+v", got, want)
			}
		})
	}
}

// TestWalkRTCPStopsAtMalformedPackets: a truncated or garbled sub-packet ends the walk and
// keeps what came before it; nothing reads past the buffer.
func TestWalkRTCPStopsAtMalformedPackets(t *testing.T) {
	pli := marshalRTCP(t, &rtcp.PictureLossIndication{MediaSSRC: 1234})
	nack := marshalRTCP(t, &rtcp.TransportLayerNack{MediaSSRC: 1234, Nacks: []rtcp.NackPair{{PacketID: 9}}})
	badVersion := append([]byte{0x41}, pli[1:]...)
	longer := append([]byte(nil), nack...)
	longer[3] += 4 // says 16 more bytes than there are
	padded := append([]byte(nil), pli...)
	padded[0] |= 0x20
	padded[len(padded)-1] = 200 // more padding than the packet holds
	cases := map[string]struct {
		b             []byte
		keyframes     int
		nackedPackets int
	}{
		"wrong version after a pli":  {append(append([]byte(nil), pli...), badVersion...), 1, 0},
		"length past the end":        {append(append([]byte(nil), pli...), longer...), 1, 0},
		"impossible padding":         {padded, 0, 0},
		"three bytes":                {pli[:3], 0, 0},
		"pli cut short":              {pli[:8], 0, 0},
		"nack then a truncated tail": {append(append([]byte(nil), nack...), pli[:6]...), 0, 1},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := &recordedFeedback{}
			walkRTCP(c.b, got)
			if len(got.keyframes) != c.keyframes || len(got.nacked[1234]) != c.nackedPackets {
				t.Errorf("got %+v, want %d keyframe requests and %d NACKed packets", got, c.keyframes, c.nackedPackets)
			}
		})
	}
}

// FuzzWalkRTCP: any bytes (a viewer's RTCP is outside input) are walked without a panic, and
// whatever pion reads faithfully reads the same in place.
func FuzzWalkRTCP(f *testing.F) {
	f.Add(marshalRTCP(f, &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2, FractionLost: 3}}}))
	f.Add(marshalRTCP(f, &rtcp.TransportLayerNack{MediaSSRC: 2, Nacks: []rtcp.NackPair{{PacketID: 1, LostPackets: 3}}},
		&rtcp.PictureLossIndication{MediaSSRC: 2}))
	f.Add(marshalRTCP(f, &rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 1e6, SSRCs: []uint32{2}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := &recordedFeedback{}
		walkRTCP(b, got)
		parsed, err := rtcp.Unmarshal(b)
		if err != nil {
			return
		}
		// Compare only what pion reads without loss: its reading marshals back to the same
		// bytes (pion reads some malformed packets by other rules, and a REMB of 0 as a huge rate).
		if again, err := rtcp.Marshal(parsed); err != nil || !bytes.Equal(again, b) {
			return
		}
		if want := pionFeedback(parsed); !reflect.DeepEqual(got, want) {
			t.Fatalf("% x\nin place: %+v\npion:     %+v", b, got, want)
		}
	})
}

// BenchmarkViewerRTCP compares reading a viewer's typical compound packet (a receiver report
// with two blocks, a NACK and a REMB) in place with pion's rtcp.Unmarshal.
func BenchmarkViewerRTCP(b *testing.B) {
	pkt := marshalRTCP(b,
		&rtcp.ReceiverReport{SSRC: 7, Reports: []rtcp.ReceptionReport{{SSRC: 1234, FractionLost: 2, LastSequenceNumber: 9},
			{SSRC: 99, LastSequenceNumber: 4}}},
		&rtcp.TransportLayerNack{MediaSSRC: 1234, Nacks: []rtcp.NackPair{{PacketID: 10, LostPackets: 5}}},
		&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 2e6, SSRCs: []uint32{1234}})
	b.Run("in-place", func(b *testing.B) {
		v := &countingVisitor{}
		b.ReportAllocs()
		for b.Loop() {
			walkRTCP(pkt, v)
		}
	})
	b.Run("pion", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf := make([]byte, 1460) // as RTPSender.ReadRTCP does per call
			copy(buf, pkt)
			if _, err := rtcp.Unmarshal(buf[:len(pkt)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type countingVisitor struct{ n int }

func (c *countingVisitor) onReport(reportBlock)     { c.n++ }
func (c *countingVisitor) onNack(uint32, []byte)    { c.n++ }
func (c *countingVisitor) onKeyframeRequest(uint32) { c.n++ }
func (c *countingVisitor) onREMB(float32)           { c.n++ }
