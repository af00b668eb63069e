package gcc

import (
	"bytes"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// TestInterceptorRecordsPacketsAndReadsFeedback: packets written through the interceptor
// reach the transport numbered with the transport-wide sequence (from 0) and are recorded by it;
// feedback read through it reaches the reader unchanged (compound with a receiver report)
// and is matched with the packets it reports.
func TestInterceptorRecordsPacketsAndReadsFeedback(t *testing.T) {
	var got *Estimator
	f := NewInterceptorFactory(OnNewEstimator(func(_ string, e *Estimator) { got = e }))
	i, err := f.NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got != i.(*Interceptor).Estimator() {
		t.Fatal("OnNewEstimator was not given the interceptor's estimator")
	}
	info := &interceptor.StreamInfo{SSRC: 7, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: 5}}}
	written := 0
	w := i.BindLocalStream(info, interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
		var tcc rtp.TransportCCExtension
		if err := tcc.Unmarshal(h.GetExtension(5)); err != nil || tcc.TransportSequence != uint16(written) {
			t.Errorf("packet %d left with transport-wide sequence %d (%v)", written, tcc.TransportSequence, err)
		}
		written++
		return len(p), nil
	}))
	rec := twcc.NewRecorder(9)
	for seq := range uint16(40) {
		h := &rtp.Header{Version: 2, SSRC: 7, SequenceNumber: seq}
		if _, err := w.Write(h, make([]byte, 1000), nil); err != nil {
			t.Fatal(err)
		}
		if seq%10 != 3 {
			rec.Record(7, seq, 1_000_000+int64(seq)*2_000)
		}
	}
	if written != 40 {
		t.Fatalf("%d packets reached the transport, want 40", written)
	}
	pkts := append([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 9}}, rec.BuildFeedbackPacket()...)
	compound, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	r := i.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, compound), a, nil
	}))
	buf := make([]byte, 1500)
	n, _, err := r.Read(buf, nil)
	if err != nil || !bytes.Equal(buf[:n], compound) {
		t.Fatalf("read %d bytes (%v), want the compound packet unchanged", n, err)
	}
	reported := 0
	for _, s := range got.history.slots[:40] {
		if s.state == slotReported {
			reported++
		}
	}
	if reported != 40 {
		t.Fatalf("%d of 40 packets matched with the feedback", reported)
	}
}
