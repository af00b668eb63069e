package testnode

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
)

// First sequence numbers and timestamps of a Publisher's streams.
const (
	firstVideoSeq, firstAudioSeq = 1000, 5000
	firstVideoTS, firstAudioTS   = 90000, 48000
	videoFrameTicks              = 3000 // 30 fps at 90 kHz
	audioFrameTicks              = 960  // 20 ms at 48 kHz
)

// Publisher is a pion WHIP publisher of synthetic H.264 + Opus RTP: the test writes every
// packet itself.
type Publisher struct {
	Session      *client.Session
	Video, Audio *webrtc.TrackLocalStaticRTP
	vseq, aseq   uint16
	vts, ats     uint32
}

// H264Codec is the constrained-baseline H.264 codec the test peers offer.
func H264Codec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
}

// OpusCodec is the Opus codec the test peers offer.
func OpusCodec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
}

// StartPublisher publishes to url (a WHIP URL) and waits until connected; it fails the test
// otherwise. The session closes at the end of the test.
func StartPublisher(t testing.TB, ctx context.Context, url string, opts client.Options) *Publisher {
	t.Helper()
	p, err := TryPublisher(ctx, url, opts)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Cleanup(func() { _ = p.Session.Close(context.Background()) })
	return p
}

// TryPublisher is StartPublisher that returns the error; the caller closes the session.
func TryPublisher(ctx context.Context, url string, opts client.Options) (*Publisher, error) {
	video, err := webrtc.NewTrackLocalStaticRTP(H264Codec(), "video", "pub")
	if err != nil {
		return nil, fmt.Errorf("video track: %w", err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(OpusCodec(), "audio", "pub")
	if err != nil {
		return nil, fmt.Errorf("audio track: %w", err)
	}
	opus := OpusCodec()
	opus.SDPFmtpLine = "minptime=10;useinbandfec=1"
	opts.LoopbackOnly = true
	opts.Codecs = []webrtc.RTPCodecParameters{
		{RTPCodecCapability: H264Codec(), PayloadType: 102},
		{RTPCodecCapability: opus, PayloadType: 111},
	}
	sess, err := client.Publish(ctx, url, []webrtc.TrackLocal{video, audio}, opts)
	if err != nil {
		return nil, err
	}
	if err := sess.Connected(ctx); err != nil {
		_ = sess.Close(context.Background())
		return nil, err
	}
	return &Publisher{Session: sess, Video: video, Audio: audio,
		vseq: firstVideoSeq, aseq: firstAudioSeq, vts: firstVideoTS, ats: firstAudioTS}, nil
}

// KeyframePayload is a synthetic keyframe start (an SPS) carrying the counter n.
func KeyframePayload(n int) []byte { return []byte{0x67, 0x42, 0xe0, 0x1f, byte(n >> 8), byte(n)} }

// DeltaPayload is a synthetic 200-byte non-IDR slice carrying the counter n.
func DeltaPayload(n int) []byte {
	b := make([]byte, 200)
	b[0], b[1], b[2] = 0x41, byte(n>>8), byte(n)
	return b
}

// AudioPayload is a synthetic Opus packet carrying the counter n.
func AudioPayload(n int) []byte { return []byte{0xfc, byte(n >> 8), byte(n), 0xaa, 0xbb} }

// WriteVideo writes one video packet; marker ends the frame (the next gets a new
// timestamp). Unlike SendVideo it may be called from any goroutine of the test.
func (p *Publisher) WriteVideo(payload []byte, marker bool) error {
	return p.Video.WriteRTP(RTPPacket(&p.vseq, &p.vts, payload, marker))
}

// WriteAudio writes one 20 ms audio packet.
func (p *Publisher) WriteAudio(payload []byte) error {
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.aseq, Timestamp: p.ats}, Payload: payload}
	p.aseq++
	p.ats += audioFrameTicks
	return p.Audio.WriteRTP(pkt)
}

// SendVideo is WriteVideo that fails the test on an error.
func (p *Publisher) SendVideo(t testing.TB, payload []byte, marker bool) {
	t.Helper()
	if err := p.WriteVideo(payload, marker); err != nil {
		t.Fatalf("write video: %v", err)
	}
}

// SendAudio is WriteAudio that fails the test on an error.
func (p *Publisher) SendAudio(t testing.TB, payload []byte) {
	t.Helper()
	if err := p.WriteAudio(payload); err != nil {
		t.Fatalf("write audio: %v", err)
	}
}

// SkipVideo uses up one video sequence number: that packet never reaches the server.
func (p *Publisher) SkipVideo() { p.vseq++ }

// Renumber continues the video at seq and ts, as a new encoder would.
func (p *Publisher) Renumber(seq uint16, ts uint32) { p.vseq, p.vts = seq, ts }

// VideoSent is how many video sequence numbers the publisher has used.
func (p *Publisher) VideoSent() int { return int(p.vseq - firstVideoSeq) }

// GoLive sends keyframes and audio until room is live on n with both tracks.
func (p *Publisher) GoLive(t testing.TB, ctx context.Context, n *Node, room string) {
	t.Helper()
	testkit.Eventually(t, ctx, "publisher media", func() bool {
		p.SendVideo(t, KeyframePayload(0), true)
		p.SendAudio(t, AudioPayload(0))
		info, ok := n.SFU.Room(room)
		return ok && info.Live && len(info.Tracks) == 2
	})
}

// Prime sends keyframes and audio until every viewer has both flowing, so that what
// follows reaches them whatever moment their transport came up.
func (p *Publisher) Prime(t testing.TB, ctx context.Context, viewers ...*Received) {
	t.Helper()
	testkit.Eventually(t, ctx, "video flowing to every viewer", func() bool {
		p.SendVideo(t, KeyframePayload(0), true)
		p.SendAudio(t, AudioPayload(0))
		for _, r := range viewers {
			if r.Count("video") == 0 || r.Count("audio") == 0 {
				return false
			}
		}
		return true
	})
}

// Publish starts a Publisher on room and waits until the room is live with both tracks.
func (n *Node) Publish(t testing.TB, ctx context.Context, room string) *Publisher {
	t.Helper()
	p := StartPublisher(t, ctx, n.WHIP(room), client.Options{})
	p.GoLive(t, ctx, n, room)
	return p
}

// RTPPacket returns a video packet numbered *seq at *ts and advances them: the sequence
// number always, the timestamp by one 30 fps frame after a marker.
func RTPPacket(seq *uint16, ts *uint32, payload []byte, marker bool) *rtp.Packet {
	p := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, SequenceNumber: *seq, Timestamp: *ts}, Payload: payload}
	*seq++
	if marker {
		*ts += videoFrameTicks
	}
	return p
}

// StartRoom starts a node with a live Publisher in room, and a test context that ends
// after timeout: the start of most tests.
func StartRoom(t testing.TB, timeout time.Duration, room string) (context.Context, *Node, *Publisher) {
	t.Helper()
	ctx := testkit.Context(t, timeout)
	n := Start(t, Options{})
	return ctx, n, n.Publish(t, ctx, room)
}
