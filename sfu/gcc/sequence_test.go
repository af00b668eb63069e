package gcc

import (
	"sync"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// seqSink is the transport under the interceptor: it reads the transport-wide sequence
// number each packet leaves with, as SRTP's marshal would.
type seqSink struct {
	mu   sync.Mutex
	id   uint8
	seqs []uint16
	ssrc []uint32
}

func (s *seqSink) Write(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
	ext := h.GetExtension(s.id)
	var tcc rtp.TransportCCExtension
	if err := tcc.Unmarshal(ext); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.seqs = append(s.seqs, tcc.TransportSequence)
	s.ssrc = append(s.ssrc, h.SSRC)
	s.mu.Unlock()
	return len(p), nil
}

func bindTCC(t testing.TB, i interceptor.Interceptor, ssrc uint32, id int, w interceptor.RTPWriter) interceptor.RTPWriter {
	t.Helper()
	info := &interceptor.StreamInfo{SSRC: ssrc, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{
		{URI: "urn:ietf:params:rtp-hdrext:sdes:mid", ID: 1}, {URI: sdp.TransportCCURI, ID: id}}}
	return i.BindLocalStream(info, w)
}

// TestSequenceContiguousAcrossStreams: a connection's streams (video, its RTX, audio) share
// one transport-wide counter: the packets leave numbered 0, 1, 2 … in the order written,
// whatever the stream, across the 16-bit wrap, each recorded in the estimator's history.
// A header that already carries other extensions keeps them.
func TestSequenceContiguousAcrossStreams(t *testing.T) {
	i, err := NewInterceptorFactory().NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	sink := &seqSink{id: 3}
	ssrcs := []uint32{10, 11, 20}
	writers := make([]interceptor.RTPWriter, len(ssrcs))
	headers := make([]rtp.Header, len(ssrcs))
	for k, ssrc := range ssrcs {
		writers[k] = bindTCC(t, i, ssrc, 3, sink)
		headers[k] = rtp.Header{Version: 2, SSRC: ssrc}
		if err := headers[k].SetExtension(1, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	const packets = 70_000 // past the 16-bit wrap
	for n := range packets {
		k := (n * 7 / 3) % len(ssrcs)
		headers[k].SequenceNumber++
		if _, err := writers[k].Write(&headers[k], make([]byte, 100), nil); err != nil {
			t.Fatal(err)
		}
		if got := string(headers[k].GetExtension(1)); got != "v" {
			t.Fatalf("packet %d: the header's mid extension is %q, want it kept", n, got)
		}
	}
	for n, seq := range sink.seqs {
		if seq != uint16(n) {
			t.Fatalf("packet %d (ssrc %d) left with transport-wide sequence %d, want %d", n, sink.ssrc[n], seq, uint16(n))
		}
	}
	if len(sink.seqs) != packets {
		t.Fatalf("%d packets reached the transport, want %d", len(sink.seqs), packets)
	}
	e := i.(*Interceptor).Estimator()
	last := uint16(len(sink.seqs) - 1)
	if s := e.history.slots[last%historySize]; s.seq != last || s.state != slotSent {
		t.Fatalf("the last packet is not in the send history: %+v", s)
	}
}

// TestSequenceConcurrentStreamWrites: goroutines writing the same stream at once (a
// retransmission racing a send; here more of them than the writer has buffers) each get a
// number of their own, none lost or repeated, and each packet leaves with its own.
func TestSequenceConcurrentStreamWrites(t *testing.T) {
	i, err := NewInterceptorFactory().NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	sink := &seqSink{id: 5}
	w := bindTCC(t, i, 10, 5, sink)
	const writers, each = 4, 2000
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			h := rtp.Header{Version: 2, SSRC: 10}
			for range each {
				if _, err := w.Write(&h, make([]byte, 10), nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := make(map[uint16]bool, writers*each)
	for _, seq := range sink.seqs {
		if seen[seq] {
			t.Fatalf("transport-wide sequence %d sent twice", seq)
		}
		seen[seq] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct sequence numbers, want %d", len(seen), writers*each)
	}
}

// TestSequenceWriteAllocatesNothing: numbering and recording a packet allocates nothing
// once the header has its extension slot (from the stream's first packet on).
func TestSequenceWriteAllocatesNothing(t *testing.T) {
	i, err := NewInterceptorFactory().NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	w := bindTCC(t, i, 10, 3, interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
		return len(p), nil
	}))
	h := &rtp.Header{Version: 2, SSRC: 10}
	payload := make([]byte, 1100)
	if allocs := testing.AllocsPerRun(1000, func() {
		h.SequenceNumber++
		if _, err := w.Write(h, payload, nil); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("%.1f allocations per packet, want 0", allocs)
	}
}

// TestSequenceOnlyNegotiatedStreams: a stream without the extension passes untouched.
func TestSequenceOnlyNegotiatedStreams(t *testing.T) {
	i, err := NewInterceptorFactory().NewInterceptor("pc")
	if err != nil {
		t.Fatal(err)
	}
	var got *rtp.Header
	w := i.BindLocalStream(&interceptor.StreamInfo{SSRC: 1}, interceptor.RTPWriterFunc(
		func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { got = h; return len(p), nil }))
	h := &rtp.Header{Version: 2, SSRC: 1}
	if _, err := w.Write(h, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got != h || h.Extension || i.(*Interceptor).estimator.nextSeq.Load() != 0 {
		t.Fatalf("a stream without transport-cc was numbered: %+v", h)
	}
}
