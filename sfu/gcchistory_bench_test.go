package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	owngcc "github.com/glint-video/glint/sfu/gcc"
)

// BenchmarkGCCSendHistory is what pion's GCC costs per packet sent to a transport-cc viewer
// before the packet reaches SRTP: the estimator's stream writer records the packet in its
// send history (cc.FeedbackAdapter.OnSent: the attributes map, a lock, a list element and a
// map entry per packet) and passes it to the pacer. "history" is that path as a viewer
// session builds it (gcc.NewSendSideBWE with this package's pacer); "history-lent-attributes"
// the same behind attrLender; "own" is Glint's estimator (sfu/gcc: its interceptor records
// the packet in a fixed ring, and numbers it itself); "pacer-only" is the pacer without the
// estimator, the floor. Every path but "own" includes the harness's 2-byte extension
// marshal, as pion's TWCC header interceptor, which numbers those paths' packets, makes it.
func BenchmarkGCCSendHistory(b *testing.B) {
	info, sink := gccBenchStream()
	payload := make([]byte, 1100)
	run := func(b *testing.B, w interceptor.RTPWriter, numbered bool) {
		s := newTWCCSender(w, info.SSRC)
		s.numbered = numbered
		b.ReportAllocs()
		for b.Loop() {
			s.send(b, payload)
		}
	}
	b.Run("history", func(b *testing.B) {
		bwe, err := gcc.NewSendSideBWE(gcc.SendSideBWEPacer(newSSRCPacer()))
		if err != nil {
			b.Fatal(err)
		}
		defer bwe.Close()
		run(b, bwe.AddStream(info, sink), false)
	})
	b.Run("history-lent-attributes", func(b *testing.B) {
		bwe, err := gcc.NewSendSideBWE(gcc.SendSideBWEPacer(newSSRCPacer()))
		if err != nil {
			b.Fatal(err)
		}
		defer bwe.Close()
		run(b, (&attrLender{}).BindLocalStream(info, bwe.AddStream(info, sink)), false)
	})
	b.Run("own", func(b *testing.B) { // Glint's estimator, sfu/gcc: a fixed ring
		i, err := ownGCC().NewInterceptor("")
		if err != nil {
			b.Fatal(err)
		}
		run(b, i.BindLocalStream(info, sink), true)
	})
	b.Run("pacer-only", func(b *testing.B) {
		p := newSSRCPacer()
		p.AddStream(info.SSRC, sink)
		run(b, p, false)
	})
}

// BenchmarkGCCFeedback is what a transport-cc viewer costs the estimator per feedback packet
// of gccBenchPerFeedback packets (a feedback every 50 ms at ≈ 2.6 Mbit/s), the packets'
// sends included, as the viewer's interceptors do it: "pion" unmarshals the RTCP (pion's cc
// interceptor) and hands it to gcc.SendSideBWE.WriteRTCP, its packets sent behind
// attrLender and numbered as pion's TWCC header interceptor does; "own" is sfu/gcc's
// interceptor, which numbers its packets itself (from 0, as the feedback's first). Run it with -cpu 1: pion's estimator finishes
// the work on goroutines of its own.
func BenchmarkGCCFeedback(b *testing.B) {
	info, sink := gccBenchStream()
	feedback := gccBenchFeedback(b)
	run := func(b *testing.B, w interceptor.RTPWriter, numbered bool, onFeedback func([]byte)) {
		s := newTWCCSender(w, info.SSRC)
		s.numbered = numbered
		s.ext.TransportSequence = 0xffff // the first packet is 0, as the feedback's first
		payload := make([]byte, 1100)
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			for range gccBenchPerFeedback {
				s.send(b, payload)
			}
			onFeedback(feedback[n%len(feedback)])
			n++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*gccBenchPerFeedback), "ns/packet")
	}
	b.Run("pion", func(b *testing.B) {
		bwe, err := gcc.NewSendSideBWE(gcc.SendSideBWEPacer(newSSRCPacer()))
		if err != nil {
			b.Fatal(err)
		}
		defer bwe.Close()
		run(b, (&attrLender{}).BindLocalStream(info, bwe.AddStream(info, sink)), false, func(raw []byte) {
			pkts, err := rtcp.Unmarshal(raw)
			if err != nil {
				b.Fatal(err)
			}
			if err := bwe.WriteRTCP(pkts, nil); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("own", func(b *testing.B) {
		i, err := ownGCC().NewInterceptor("")
		if err != nil {
			b.Fatal(err)
		}
		var pending []byte
		r := i.BindRTCPReader(interceptor.RTCPReaderFunc(func(buf []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			return copy(buf, pending), a, nil
		}))
		buf := make([]byte, 1500)
		run(b, i.BindLocalStream(info, sink), true, func(raw []byte) {
			pending = raw
			if _, _, err := r.Read(buf, nil); err != nil {
				b.Fatal(err)
			}
		})
	})
}

const (
	gccBenchTWCCID      = 3
	gccBenchPerFeedback = 16 // divides 65536: the prepared feedback repeats in step with the sequence numbers
)

// twccSender writes packets as a viewer's track writer does through the TWCC header
// extension interceptor: each with the next transport-wide sequence number, no attributes;
// numbered: the writer numbers the packets itself (sfu/gcc), the sender leaves them be.
type twccSender struct {
	w        interceptor.RTPWriter
	h        rtp.Header
	ext      rtp.TransportCCExtension
	numbered bool
}

func newTWCCSender(w interceptor.RTPWriter, ssrc uint32) *twccSender {
	return &twccSender{w: w, h: rtp.Header{Version: 2, SSRC: ssrc, PayloadType: 102}}
}

func (s *twccSender) send(b *testing.B, payload []byte) {
	s.h.SequenceNumber++
	if !s.numbered {
		s.ext.TransportSequence++
		raw, _ := s.ext.Marshal()
		if err := s.h.SetExtension(gccBenchTWCCID, raw); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.w.Write(&s.h, payload, nil); err != nil {
		b.Fatal(err)
	}
}

func ownGCC() *owngcc.InterceptorFactory {
	return owngcc.NewInterceptorFactory(owngcc.WithConfig(owngcc.Config{InitialBitrate: initialEstimate, MinBitrate: minEstimate}))
}

func gccBenchStream() (*interceptor.StreamInfo, interceptor.RTPWriter) {
	info := &interceptor.StreamInfo{SSRC: 1234, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{
		{URI: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01", ID: gccBenchTWCCID}}}
	sink := interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil })
	return info, sink
}

// gccBenchFeedback is transport-cc feedback, as pion's recorder (a receiver) builds it, for
// every transport-wide sequence number in order, gccBenchPerFeedback packets each: packets
// 2.6 Mbit/s apart with some jitter, one in 50 lost.
func gccBenchFeedback(b *testing.B) [][]byte {
	r := twcc.NewRecorder(5678)
	var out [][]byte
	at := int64(1_000_000)
	for seq := range 1 << 16 {
		at += 3_400 + int64(seq%7)*100
		if seq%50 != 49 {
			r.Record(1234, uint16(seq), at)
		}
		if seq%gccBenchPerFeedback == gccBenchPerFeedback-1 {
			for _, p := range r.BuildFeedbackPacket() {
				raw, err := p.Marshal()
				if err != nil {
					b.Fatal(err)
				}
				out = append(out, raw)
			}
		}
	}
	return out
}
