package hlsbridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
)

// TestVP8VideoOnly publishes live VP8 (ffmpeg's libvpx, paced in real time) without audio
// through an in-process publisher, with the default ladder: the VP8 source is decoded and
// re-encoded to H.264, and the stream has no audio rendition. ffprobe decodes it.
func TestVP8VideoOnly(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 50*time.Second)
	env := newTestEnv(t)
	env.runManager(t, ctx, Options{Poll: 100 * time.Millisecond})
	pubCtx, stopPub := context.WithCancel(ctx)
	published := make(chan error, 1)
	go func() { published <- publishVP8(pubCtx, env) }()
	defer func() {
		stopPub()
		if err := <-published; err != nil {
			t.Errorf("VP8 publisher: %v", err)
		}
	}()

	base := env.URL + "/hls/vp8/"
	mv := env.waitFor(t, ctx, "multivariant playlist", base+"index.m3u8", func(b string) bool {
		return strings.Contains(b, "source/index.m3u8")
	})
	if strings.Contains(mv, "TYPE=AUDIO") || !strings.Contains(mv, "RESOLUTION=320x240") {
		t.Errorf("multivariant playlist of a video-only 320x240 room:\n%s", mv)
	}
	if err := probe(ctx, t, base+"source/index.m3u8", "source-320"); err != nil {
		t.Error(err)
	}
}

// publishVP8 runs ffmpeg encoding a test pattern to VP8 in an IVF stream on its stdout (in
// real time) and publishes each frame, packetized per RFC 7741, into room "vp8".
func publishVP8(ctx context.Context, env *testEnv) error {
	pub, err := env.SFU.PublishLocal("vp8", &webrtc.RTPCodecParameters{PayloadType: 96,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}, nil, nil)
	if err != nil {
		return err
	}
	defer pub.Close()
	out, wait, err := ffmpegOutput(ctx, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-c:v", "libvpx",
		"-deadline", "realtime", "-cpu-used", "8", "-g", "15", "-b:v", "300k", "-f", "ivf", "-")
	if err != nil {
		return err
	}
	defer wait()
	var pay codecs.VP8Payloader
	var seq uint16
	return readIVF(out, func(n uint32, frame []byte) error {
		b := pay.Payload(1200, frame)
		for i, p := range b {
			seq++
			pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
				Timestamp: n * 6000, Marker: i == len(b)-1, SSRC: 42}, Payload: p}).Marshal()
			if err := pub.WriteRTP("video", pkt); err != nil {
				return err
			}
		}
		return nil
	})
}
