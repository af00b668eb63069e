package sfu

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtp"
)

// BenchmarkGCCSendHistory is what pion's GCC costs per packet sent to a transport-cc viewer
// before the packet reaches SRTP: the estimator's stream writer records the packet in its
// send history (cc.FeedbackAdapter.OnSent: the attributes map, a lock, a list element and a
// map entry per packet) and passes it to the pacer. "history" is that path as a viewer
// session builds it (gcc.NewSendSideBWE with this package's pacer); "history-lent-attributes"
// the same behind attrLender; "pacer-only" is the pacer without the estimator, the floor.
func BenchmarkGCCSendHistory(b *testing.B) {
	const twccID = 3
	info := &interceptor.StreamInfo{SSRC: 1234, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{
		{URI: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01", ID: twccID}}}
	sink := interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil })
	payload := make([]byte, 1100)
	run := func(b *testing.B, w interceptor.RTPWriter) {
		h := &rtp.Header{Version: 2, SSRC: 1234, PayloadType: 102}
		ext := rtp.TransportCCExtension{}
		b.ReportAllocs()
		for b.Loop() {
			h.SequenceNumber++
			ext.TransportSequence++
			raw, _ := ext.Marshal()
			if err := h.SetExtension(twccID, raw); err != nil {
				b.Fatal(err)
			}
			// As pion's track writer passes them: none.
			if _, err := w.Write(h, payload, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("history", func(b *testing.B) {
		bwe, err := gcc.NewSendSideBWE(gcc.SendSideBWEPacer(newSSRCPacer()))
		if err != nil {
			b.Fatal(err)
		}
		defer bwe.Close()
		run(b, bwe.AddStream(info, sink))
	})
	b.Run("history-lent-attributes", func(b *testing.B) {
		bwe, err := gcc.NewSendSideBWE(gcc.SendSideBWEPacer(newSSRCPacer()))
		if err != nil {
			b.Fatal(err)
		}
		defer bwe.Close()
		run(b, (&attrLender{}).BindLocalStream(info, bwe.AddStream(info, sink)))
	})
	b.Run("pacer-only", func(b *testing.B) {
		p := newSSRCPacer()
		p.AddStream(info.SSRC, sink)
		run(b, p)
	})
}
