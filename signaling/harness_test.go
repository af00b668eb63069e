package signaling

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/sfu"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is an SFU plus signaling on httptest, media on 127.0.0.1 only.
type testServer struct {
	sfu *sfu.SFU
	url string
}

func newTestServer(t *testing.T, mod func(*sfu.Options, *Options)) *testServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GLINT_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	so := sfu.Options{
		Transport:   sfu.TransportConfig{UDPPort: 0, ICETCP: false, ICEIPs: []string{"127.0.0.1"}, ICETimeout: 3 * time.Second},
		PLIInterval: 200 * time.Millisecond, Logger: log,
	}
	ctx, cancel := context.WithCancel(context.Background())
	sig := Options{Logger: log, Context: ctx}
	if mod != nil {
		mod(&so, &sig)
	}
	media, err := sfu.New(so)
	if err != nil {
		t.Fatal(err)
	}
	sig.SFU = media
	mux := http.NewServeMux()
	New(sig).Register(mux)
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
	return &testServer{sfu: media, url: hs.URL}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var loopback = client.Options{LoopbackOnly: true}

// publisher is a pion WHIP publisher of synthetic H.264 + Opus RTP.
type publisher struct {
	sess         *client.Session
	video, audio *webrtc.TrackLocalStaticRTP
	vseq, aseq   uint16
	vts, ats     uint32
}

func h264Codec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
}

func startPublisher(t *testing.T, ctx context.Context, url string, opts client.Options) *publisher {
	t.Helper()
	p, err := tryPublisher(ctx, url, opts)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Cleanup(func() { _ = p.sess.Close(context.Background()) })
	return p
}

func tryPublisher(ctx context.Context, url string, opts client.Options) (*publisher, error) {
	video, err := webrtc.NewTrackLocalStaticRTP(h264Codec(), "video", "pub")
	if err != nil {
		return nil, err
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	if err != nil {
		return nil, err
	}
	opts.LoopbackOnly = true
	opts.Codecs = []webrtc.RTPCodecParameters{
		{RTPCodecCapability: h264Codec(), PayloadType: 102},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
	}
	sess, err := client.Publish(ctx, url, []webrtc.TrackLocal{video, audio}, opts)
	if err != nil {
		return nil, err
	}
	if err := sess.Connected(ctx); err != nil {
		_ = sess.Close(context.Background())
		return nil, err
	}
	return &publisher{sess: sess, video: video, audio: audio, vseq: 1000, aseq: 5000, vts: 90000, ats: 48000}, nil
}

// Synthetic payloads: an SPS (keyframe start), or a non-IDR slice, carrying a counter.
func keyframePayload(n int) []byte { return []byte{0x67, 0x42, 0xe0, 0x1f, byte(n >> 8), byte(n)} }
func deltaPayload(n int) []byte {
	b := make([]byte, 200)
	b[0], b[1], b[2] = 0x41, byte(n>>8), byte(n)
	return b
}
func audioPayload(n int) []byte { return []byte{0xfc, byte(n >> 8), byte(n), 0xaa, 0xbb} }

func (p *publisher) sendVideo(t *testing.T, payload []byte, marker bool) {
	t.Helper()
	if err := p.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, SequenceNumber: p.vseq, Timestamp: p.vts}, Payload: payload}); err != nil {
		t.Fatalf("write video: %v", err)
	}
	p.vseq++
	if marker {
		p.vts += 3000
	}
}

func (p *publisher) sendAudio(t *testing.T, payload []byte) {
	t.Helper()
	if err := p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: false, SequenceNumber: p.aseq, Timestamp: p.ats}, Payload: payload}); err != nil {
		t.Fatalf("write audio: %v", err)
	}
	p.aseq++
	p.ats += 960
}

// received is what a viewer got, per kind, in arrival order.
type received struct {
	mu       sync.Mutex
	payloads map[string][][]byte
	seqs     map[string][]uint16
	ssrcs    map[string]map[uint32]bool
}

func (r *received) snapshot(kind string) ([][]byte, []uint16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.payloads[kind]...), append([]uint16(nil), r.seqs[kind]...)
}

func (r *received) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.payloads[kind])
}

// startViewer plays url and records every packet.
func startViewer(t *testing.T, ctx context.Context, url string) (*client.Session, *received) {
	t.Helper()
	rec := newReceived()
	opts := loopback
	opts.OnTrack = recordTrack(rec)
	sess, err := client.Play(ctx, url, opts)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatalf("viewer connect: %v", err)
	}
	return sess, rec
}

// eventually polls cond until it holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func client0() client.Options { return client.Options{} }

func rtpPacket(seq *uint16, ts *uint32, payload []byte, marker bool) *rtp.Packet {
	p := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, SequenceNumber: *seq, Timestamp: *ts}, Payload: payload}
	*seq++
	if marker {
		*ts += 3000
	}
	return p
}

// recordTrack returns an OnTrack that records every packet into rec.
func recordTrack(rec *received) func(*webrtc.TrackRemote, *webrtc.RTPReceiver) {
	return func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		kind := track.Kind().String()
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			rec.mu.Lock()
			rec.payloads[kind] = append(rec.payloads[kind], append([]byte(nil), pkt.Payload...))
			rec.seqs[kind] = append(rec.seqs[kind], pkt.SequenceNumber)
			if rec.ssrcs[kind] == nil {
				rec.ssrcs[kind] = map[uint32]bool{}
			}
			rec.ssrcs[kind][pkt.SSRC] = true
			rec.mu.Unlock()
		}
	}
}

// sessionStats reads GET /api/sessions/{id} for a session resource URL.
func sessionStats(t *testing.T, base, location string) sessionInfo {
	t.Helper()
	id := location[strings.LastIndex(location, "/")+1:]
	resp, err := http.Get(base + "/api/sessions/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info sessionInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("session stats: %v", err)
	}
	return info
}

func newReceived() *received {
	return &received{payloads: map[string][][]byte{}, seqs: map[string][]uint16{}, ssrcs: map[string]map[uint32]bool{}}
}

// loopbackUDP is a UDP socket on 127.0.0.1 for a test client's own ICE mux.
func loopbackUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return udp
}

// playThrough plays url with all of the viewer's media through conn (a wrapper that
// impairs one viewer's path), recording every packet; it waits until connected.
func playThrough(t *testing.T, ctx context.Context, url string, conn net.PacketConn) (*received, *client.Session) {
	t.Helper()
	mux := webrtc.NewICEUDPMux(nil, conn)
	t.Cleanup(func() { _ = mux.Close() })
	rec := newReceived()
	opts := client.Options{LoopbackOnly: true, OnTrack: recordTrack(rec), SettingEngine: func(se *webrtc.SettingEngine) { se.SetICEUDPMux(mux) }}
	sess, err := client.Play(ctx, url, opts)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	if err := sess.Connected(ctx); err != nil {
		t.Fatal(err)
	}
	return rec, sess
}
