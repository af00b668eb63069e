package sfu_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// A REMB-only viewer is a client that offers goog-remb but neither the transport-wide-cc header
// extension nor transport-cc feedback (older libwebrtc builds and native SDKs, GStreamer's
// webrtcbin without its TWCC element): the SFU has no per-packet feedback and must steer that
// viewer's layer by the bitrate the viewer itself reports. pion has no REMB generator, so the
// viewer here estimates its bandwidth from what reaches it through its shaped path (the same
// in-process bottleneck as bwe_test.go: a rate limit on this viewer only) with the AIMD rule of
// libwebrtc's remote estimator: on loss, 0.85 × the rate received; otherwise up, but never
// past 1.5 × the rate received (which the SFU's probes raise to let it climb).

// rembMeter is the viewer's receive side: it sees every packet after the bottleneck (SRTP keeps
// the RTP header in the clear) and keeps the REMB estimate.
type rembMeter struct {
	net.PacketConn
	mu       sync.Mutex
	bytes    int
	window   [3]int // bytes received in the last ticks, newest first
	ticks    int    // ticks since the first packet (the window is full after len(window))
	streams  map[uint32]*rembStream
	estimate float64 // bit/s
	holdTill time.Time
}

type rembStream struct {
	highest      uint16
	started      bool
	expected, gc int // sequence numbers spanned / packets received this tick
}

// REMB estimator constants: one decision per tick; loss above rembLossFloor is congestion.
const (
	rembTick      = 200 * time.Millisecond
	rembInitial   = 3_000_000
	rembLossFloor = 0.05
	rembDecrease  = 0.85
	rembGrowth    = 1.25 // per tick while the received rate allows it
	rembCeiling   = 1.5  // of the rate received
)

func newREMBMeter(c net.PacketConn) *rembMeter {
	return &rembMeter{PacketConn: c, streams: map[uint32]*rembStream{}, estimate: rembInitial}
}

func (m *rembMeter) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := m.PacketConn.ReadFrom(b)
	if err == nil {
		m.observe(b[:n])
	}
	return n, addr, err
}

// observe counts an RTP packet (RFC 7983: first byte 128-191; RTCP has payload types 192-223).
func (m *rembMeter) observe(p []byte) {
	if len(p) < 12 || p[0] < 128 || p[0] > 191 || (p[1] >= 192 && p[1] <= 223) {
		return
	}
	seq, ssrc := binary.BigEndian.Uint16(p[2:]), binary.BigEndian.Uint32(p[8:])
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bytes += len(p)
	s := m.streams[ssrc]
	if s == nil {
		s = &rembStream{}
		m.streams[ssrc] = s
	}
	s.gc++
	switch {
	case !s.started:
		s.started, s.highest, s.expected = true, seq, 1
	case seq-s.highest < 0x8000 && seq != s.highest:
		s.expected += int(seq - s.highest)
		s.highest = seq
	}
}

// tick ends one measurement interval and returns the new estimate in bit/s.
func (m *rembMeter) tick(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ticks == 0 && m.bytes == 0 {
		return m.estimate // nothing arrived yet
	}
	m.ticks++
	copy(m.window[1:], m.window[:len(m.window)-1])
	m.window[0], m.bytes = m.bytes, 0
	sum, filled := 0, min(m.ticks, len(m.window))
	for _, b := range m.window[:filled] {
		sum += b
	}
	rate := float64(sum*8) / (rembTick.Seconds() * float64(filled))
	expected, got := 0, 0
	for _, s := range m.streams {
		expected, got = expected+s.expected, got+min(s.gc, s.expected)
		s.expected, s.gc = 0, 0
	}
	switch {
	case expected > 0 && float64(expected-got) > rembLossFloor*float64(expected):
		if now.After(m.holdTill) { // one decrease per congestion event
			m.estimate = min(m.estimate, rembDecrease*rate)
			m.holdTill = now.Add(time.Second)
		}
	case now.After(m.holdTill) && m.estimate < rembCeiling*rate:
		m.estimate = min(m.estimate*rembGrowth, rembCeiling*rate)
	}
	m.estimate = max(m.estimate, 30_000)
	return m.estimate
}

// rembPeer is a REMB-only viewer: its bottleneck, what arrived, the latest REMB it sent
// (bit/s) and its WHEP session resource.
type rembPeer struct {
	link     *shapedConn
	rec      *testnode.Received
	remb     *atomic.Uint64
	location string
}

// rembViewer plays url as a REMB-only VP8 viewer behind a bottleneck of kbps (0: none),
// recording every packet and sending REMB every rembTick until the test ends.
func rembViewer(t *testing.T, ctx context.Context, url string, kbps int64) rembPeer {
	t.Helper()
	shaped := newShapedConn(testkit.LoopbackUDP(t), kbps)
	rec := testnode.NewReceived()
	remb, location := feedbackViewer(t, ctx, url, shaped, true, testnode.RecordTrack(rec))
	return rembPeer{link: shaped, rec: rec, remb: remb, location: location}
}

// feedbackViewer plays url as a VP8 viewer without transport-cc, all its media through conn,
// with onTrack reading its track. With remb it estimates its bandwidth (rembMeter) and sends
// REMB every rembTick until the test ends; without, it sends receiver reports and NACKs only.
// It returns the latest REMB sent (bit/s) and the WHEP session resource.
func feedbackViewer(t *testing.T, ctx context.Context, url string, conn net.PacketConn, remb bool,
	onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) (*atomic.Uint64, string) {
	t.Helper()
	meter := newREMBMeter(conn)
	mux := webrtc.NewICEUDPMux(nil, meter)
	t.Cleanup(func() { _ = mux.Close() })
	pc := newFeedbackPeer(t, mux, remb)
	var videoSSRC atomic.Uint32
	pc.OnTrack(func(track *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if track.Kind() == webrtc.RTPCodecTypeVideo {
			videoSSRC.Store(uint32(track.SSRC()))
		}
		onTrack(track, r)
	})
	location := offerRecvOnly(t, url, pc, remb)
	var sent atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(rembTick)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tk.C:
				est := meter.tick(now)
				if ssrc := videoSSRC.Load(); ssrc != 0 && remb {
					sent.Store(uint64(est))
					_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: float32(est), SSRCs: []uint32{ssrc}}})
				}
			}
		}
	}()
	t.Cleanup(func() { close(done); wg.Wait(); _ = pc.Close() })
	waitConnected(t, ctx, pc)
	return &sent, location
}

// offerRecvOnly makes pc a video receiver of url and checks that neither side negotiates
// transport-cc (and that pc offers goog-remb exactly when remb); it returns the session resource.
func offerRecvOnly(t *testing.T, url string, pc *webrtc.PeerConnection, remb bool) string {
	t.Helper()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := testnode.GatheredOffer(pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(offer, "transport-wide-cc") || strings.Contains(offer, "transport-cc") || strings.Contains(offer, "goog-remb") != remb {
		t.Fatalf("the viewer's offer must have no transport-cc, and goog-remb only if REMB (%v):\n%s", remb, offer)
	}
	resp, answer := testnode.PostOffer(t, url, offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("viewer without transport-cc: %d %s", resp.StatusCode, answer)
	}
	location := resp.Header.Get("Location")
	t.Cleanup(func() { testnode.DeleteResource(url, location) })
	if strings.Contains(answer, "transport-wide-cc") {
		t.Fatalf("the answer negotiates transport-wide-cc the viewer did not offer:\n%s", answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return location
}

// waitConnected waits until pc is connected.
func waitConnected(t *testing.T, ctx context.Context, pc *webrtc.PeerConnection) {
	t.Helper()
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		once.Do(func() { close(connected) })
	}
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("viewer without transport-cc did not connect")
	}
}

// newFeedbackPeer is a pion PeerConnection that negotiates VP8 with RTX, NACK and PLI, and
// goog-remb when remb; none of transport-cc: no TWCC interceptor, no header extension. It
// sends receiver reports.
func newFeedbackPeer(t *testing.T, mux ice.UDPMux, remb bool) *webrtc.PeerConnection {
	t.Helper()
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBNACK}, {Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"}}
	if remb {
		fb = append(fb, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBGoogREMB})
	}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"}, PayloadType: 97},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	if err := errors.Join(webrtc.ConfigureNack(me, ir), webrtc.ConfigureRTCPReports(ir)); err != nil {
		t.Fatal(err)
	}
	se := testkit.LoopbackSettingEngine()
	se.SetICEUDPMux(mux)
	return newPeer(t, me, ir, se)
}

func testRembOnlyViewers(t *testing.T, r bweRate) {
	ctx, srv := startMeasuredSimulcast(t, 120*time.Second, "remb", r)

	fast := rembViewer(t, ctx, srv.WHEP("remb"), 0)
	// 250 kbit/s at either rate: from a slower link the REMB rule climbs back too slowly.
	slow := rembViewer(t, ctx, srv.WHEP("remb"), 250)
	start := time.Now()
	testkit.Eventually(t, ctx, "unconstrained REMB-only viewer on h", func() bool { return lastLayer(fast.rec) == 'h' })
	testkit.Eventually(t, ctx, "250 kbit/s REMB-only viewer on l", func() bool { return lastLayer(slow.rec) == 'l' })
	t.Logf("settled after %v (REMB: unconstrained %d kbit/s, limited %d kbit/s)", time.Since(start).Round(100*time.Millisecond),
		fast.remb.Load()/1000, slow.remb.Load()/1000)
	if r.strict {
		checkREMBSteady(t, fast, slow)
	}
	// The server steers by the viewer's REMB: without it the estimate would stay at its start.
	for _, tr := range srv.SessionStats(t, slow.location).Tracks {
		if tr.Kind == "video" && (tr.EstimateKbps == 0 || tr.EstimateKbps > 1000) {
			t.Fatalf("server estimate for the limited REMB-only viewer: %.0f kbit/s, want its REMB (%d kbit/s)", tr.EstimateKbps, slow.remb.Load()/1000)
		}
	}
	slow.link.setKbps(0)
	lifted := time.Now()
	testkit.Eventually(t, ctx, "the limited REMB-only viewer back on h after the limit is lifted", func() bool { return lastLayer(slow.rec) == 'h' })
	t.Logf("climbed back to h %v after the limit was lifted (REMB %d kbit/s)", time.Since(lifted).Round(100*time.Millisecond), slow.remb.Load()/1000)
	if lastLayer(fast.rec) != 'h' {
		t.Fatalf("the unconstrained REMB-only viewer left h (REMB %d kbit/s)", fast.remb.Load()/1000)
	}
}

// checkREMBSteady checks that the settled viewers stay on their layers for 3 s, playing.
func checkREMBSteady(t *testing.T, fast, slow rembPeer) {
	t.Helper()
	fastBefore, slowBefore := fast.rec.Count("video"), slow.rec.Count("video")
	for range 15 { // sample for 3 s
		time.Sleep(200 * time.Millisecond)
		if lastLayer(fast.rec) != 'h' || lastLayer(slow.rec) != 'l' {
			t.Fatalf("layers moved after settling: unconstrained %c, limited %c (REMB %d / %d kbit/s)", lastLayer(fast.rec), lastLayer(slow.rec),
				fast.remb.Load()/1000, slow.remb.Load()/1000)
		}
	}
	// l is one packet a frame at 30 fps (~90 in 3 s), h seven: video goes on.
	if n := slow.rec.Count("video") - slowBefore; n < 60 {
		t.Fatalf("the limited viewer got %d video packets in 3 s on l, want video to go on", n)
	}
	if n := fast.rec.Count("video") - fastBefore; n < 300 {
		t.Fatalf("the unconstrained viewer got %d video packets in 3 s on h", n)
	}
}
