package sfu_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
)

// Joins against real pion peers on loopback: a viewer starts at the track's cached keyframe
// when it is recent (no PLI reaches the publisher), and asks for a keyframe when it is not.

// joinServer is an SFU with WHIP/WHEP signaling on httptest, media on 127.0.0.1.
func joinServer(t *testing.T) (*sfu.SFU, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GLINT_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	media, err := sfu.New(sfu.Options{
		Transport: sfu.TransportConfig{ICEIPs: []string{"127.0.0.1"}, ICETimeout: 3 * time.Second}, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	signaling.New(signaling.Options{SFU: media, Logger: log, Context: ctx}).Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		cancel()
		hs.Close()
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := media.Close(closeCtx); err != nil {
			t.Errorf("sfu close: %v", err)
		}
	})
	return media, hs.URL
}

const frameTicks = 3000 // 30 fps on the 90 kHz clock

// Synthetic H.264 frames of one packet each, numbered: an SPS (a keyframe start) or a
// non-IDR slice.
func keyframe(n int) []byte { return []byte{0x67, 0x42, 0xe0, 0x1f, byte(n >> 8), byte(n)} }
func delta(n int) []byte {
	b := make([]byte, 300)
	b[0], b[1], b[2] = 0x41, byte(n>>8), byte(n)
	return b
}

// frameNumber reads the number of a frame made by keyframe or delta.
func frameNumber(payload []byte) int {
	if media.IsKeyframeStart(webrtc.MimeTypeH264, payload) {
		return int(payload[4])<<8 | int(payload[5])
	}
	return int(payload[1])<<8 | int(payload[2])
}

// encoder plays a live H.264 encoder at 30 fps: a keyframe every gop frames, and one at
// once for each keyframe request that reached it.
type encoder struct {
	gop      int
	asked    atomic.Bool
	requests atomic.Int32 // keyframe requests (PLI, FIR) that reached the publisher
	write    func(seq uint16, ts uint32, payload []byte) error
}

const tsBase = 90000

func (e *encoder) run(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			payload := delta(n)
			if n%e.gop == 0 || e.asked.Swap(false) {
				payload = keyframe(n)
			}
			if e.write(uint16(1000+n), uint32(tsBase+n*frameTicks), payload) != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// onRTCP counts the keyframe requests the publisher gets and asks the encoder for one.
func (e *encoder) onRTCP(_ webrtc.TrackLocal, pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			e.requests.Add(1)
			e.asked.Store(true)
		}
	}
}

// publishWebRTC starts a WHIP publisher of one H.264 track driven by an encoder.
func publishWebRTC(t *testing.T, ctx context.Context, url string, gop int) *encoder {
	t.Helper()
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	track, err := webrtc.NewTrackLocalStaticRTP(codec, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	enc := &encoder{gop: gop}
	enc.write = func(seq uint16, ts uint32, payload []byte) error {
		return track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: ts}, Payload: payload})
	}
	sess, err := client.Publish(ctx, url, []webrtc.TrackLocal{track}, client.Options{LoopbackOnly: true, OnRTCP: enc.onRTCP,
		Codecs: []webrtc.RTPCodecParameters{{RTPCodecCapability: codec, PayloadType: 102}}})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("publisher connect: %v", err)
	}
	return enc
}

// viewerLog is what a viewer received of the video, in arrival order.
type viewerLog struct {
	mu       sync.Mutex
	started  time.Time // the WHEP request
	firstKey time.Time // the first keyframe start
	pkts     []rtp.Packet
}

func (v *viewerLog) snapshot() []rtp.Packet {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]rtp.Packet(nil), v.pkts...)
}

// play starts a WHEP viewer of url that records the video it gets.
func play(t *testing.T, ctx context.Context, url string) *viewerLog {
	t.Helper()
	v := &viewerLog{started: time.Now()}
	opts := client.Options{LoopbackOnly: true, OnTrack: func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			v.mu.Lock()
			if v.firstKey.IsZero() && media.IsKeyframeStart(webrtc.MimeTypeH264, pkt.Payload) {
				v.firstKey = time.Now()
			}
			v.pkts = append(v.pkts, *pkt)
			v.mu.Unlock()
		}
	}}
	sess, err := client.Play(ctx, url, opts, webrtc.RTPCodecTypeVideo)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	return v
}

// joinTime is the time from the WHEP request to the first keyframe start.
func (v *viewerLog) joinTime() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.firstKey.Sub(v.started).Round(time.Millisecond)
}

// waitFrames waits until the viewer has n packets.
func (v *viewerLog) waitFrames(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for len(v.snapshot()) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %d video packets (got %d)", n, len(v.snapshot()))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// checkContinuous checks that the viewer's video starts at a keyframe and goes on without a
// gap: consecutive sequence numbers and frames, each with the source's own timestamp.
func (v *viewerLog) checkContinuous(t *testing.T, name string) {
	t.Helper()
	pkts := v.snapshot()
	if len(pkts) == 0 || !media.IsKeyframeStart(webrtc.MimeTypeH264, pkts[0].Payload) {
		t.Fatalf("%s: the first video packet is not a keyframe start", name)
	}
	seen := map[uint16]bool{}
	prev := pkts[0]
	for _, p := range pkts {
		if p.Timestamp != uint32(tsBase+frameNumber(p.Payload)*frameTicks) {
			t.Fatalf("%s: frame %d has timestamp %d, not the source's", name, frameNumber(p.Payload), p.Timestamp)
		}
		if seen[p.SequenceNumber] {
			continue // a retransmission or a probe
		}
		seen[p.SequenceNumber] = true
		if p.SequenceNumber != pkts[0].SequenceNumber && (p.SequenceNumber != prev.SequenceNumber+1 ||
			frameNumber(p.Payload) != frameNumber(prev.Payload)+1) {
			t.Fatalf("%s: packet %d (frame %d) follows %d (frame %d)", name, p.SequenceNumber, frameNumber(p.Payload),
				prev.SequenceNumber, frameNumber(prev.Payload))
		}
		prev = p
	}
}

func TestJoinsStartAtTheCachedKeyframeOrAskForOne(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, url := joinServer(t)
	enc := publishWebRTC(t, ctx, url+"/whip/join", 120) // a keyframe every 4 s
	encCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	enc.run(encCtx, &wg)
	defer func() { stop(); wg.Wait() }()

	// The first viewer joins 1.5 s into the GOP: the cached keyframe is too old, so it asks.
	time.Sleep(1500 * time.Millisecond)
	first := play(t, ctx, url+"/whep/join")
	first.waitFrames(t, ctx, 5)
	if enc.requests.Load() == 0 {
		t.Fatal("the first viewer's join (cached keyframe 1.5 s old) sent the publisher no keyframe request")
	}
	if tot := s.Totals(); tot.JoinsWithKeyframeRequest != 1 || tot.JoinsFromCache != 0 {
		t.Fatalf("joins with a keyframe request %d, from the cache %d; want 1, 0", tot.JoinsWithKeyframeRequest, tot.JoinsFromCache)
	}

	// The second joins 100 ms after the first got video: it starts at the keyframe the first
	// asked for, and no keyframe request reaches the publisher, however long we wait.
	time.Sleep(100 * time.Millisecond)
	before := enc.requests.Load()
	second := play(t, ctx, url+"/whep/join")
	second.waitFrames(t, ctx, 30)
	time.Sleep(700 * time.Millisecond) // a throttled request would have gone by now
	if n := enc.requests.Load() - before; n != 0 {
		t.Fatalf("the second viewer's join sent %d keyframe requests to the publisher, want none", n)
	}
	if tot := s.Totals(); tot.JoinsFromCache != 1 || tot.JoinsWithKeyframeRequest != 1 {
		t.Fatalf("joins from the cache %d, with a keyframe request %d; want 1, 1", tot.JoinsFromCache, tot.JoinsWithKeyframeRequest)
	}
	t.Logf("first viewer: keyframe after %v; second: after %v", first.joinTime(), second.joinTime())
	first.checkContinuous(t, "first viewer")
	second.checkContinuous(t, "second viewer")
}

func TestLocalPublisherViewersAlwaysStartAtTheCachedKeyframe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, url := joinServer(t)
	var requests atomic.Int32
	pub, err := s.PublishLocal("ingest", &webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000}}, nil, func() { requests.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	enc := &encoder{gop: 60} // a keyframe every 2 s, as RTMP encoders send
	enc.write = func(seq uint16, ts uint32, payload []byte) error {
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: ts}, Payload: payload}).Marshal()
		if err != nil {
			return err
		}
		return pub.WriteRTP("video", b)
	}
	encCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	enc.run(encCtx, &wg)
	defer func() { stop(); wg.Wait() }()

	// 1.5 s into the GOP: older than a WebRTC publisher's bound, but an RTMP/SRT source
	// cannot be asked, so the viewer starts at the cached keyframe and catches up.
	time.Sleep(1500 * time.Millisecond)
	v := play(t, ctx, url+"/whep/ingest")
	v.waitFrames(t, ctx, 60)
	if n := requests.Load(); n != 0 {
		t.Fatalf("the join asked the local publisher for %d keyframes, want none", n)
	}
	if tot := s.Totals(); tot.JoinsFromCache != 1 || tot.JoinsWithKeyframeRequest != 0 {
		t.Fatalf("joins from the cache %d, with a keyframe request %d; want 1, 0", tot.JoinsFromCache, tot.JoinsWithKeyframeRequest)
	}
	if first := v.snapshot()[0]; frameNumber(first.Payload) != 0 {
		t.Fatalf("the viewer started at frame %d, want the cached keyframe (frame 0)", frameNumber(first.Payload))
	}
	t.Logf("keyframe after %v", v.joinTime())
	v.checkContinuous(t, "viewer")
}
