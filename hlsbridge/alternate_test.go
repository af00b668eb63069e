package hlsbridge

import (
	"context"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testnode"
)

// h264Alternate is what an H.264-only viewer of TestWHIPCodecs' rooms gets: the alternate
// video, the 320x240 H.264 rung.
var h264Alternate = whipCodec{name: "H264", probed: "h264 320x240", depacketize: h264File,
	codec: webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}}

// playH264Only starts a WHEP viewer of room whose offer has only H.264 (constrained
// baseline), as Firefox's or a browser without an HEVC/AV1 decoder's would.
func playH264Only(t *testing.T, ctx context.Context, env *testEnv, room string) *testnode.Received {
	t.Helper()
	return testnode.PlayCodecs(t, ctx, env.WHEP(room), []webrtc.RTPCodecParameters{h264Alternate.codec}, webrtc.RTPCodecTypeVideo)
}

// h264File depacketizes H.264 RTP into a raw Annex-B stream.
func h264File(t *testing.T, pkts []*rtp.Packet) ([]byte, int) {
	var dep codecs.H264Packet
	var stream []byte
	frames := 0
	for _, p := range pkts {
		b, err := dep.Unmarshal(p.Payload)
		if err != nil {
			t.Fatalf("H.264 packet %d: %v", p.SequenceNumber, err)
		}
		stream = append(stream, b...)
		if p.Marker {
			frames++
		}
	}
	return stream, frames
}
