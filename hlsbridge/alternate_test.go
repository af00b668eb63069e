package hlsbridge

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testnode"
)

// h264Alternate is what an H.264-only viewer of TestWHIPCodecs' rooms gets: the alternate
// video, the 320x240 H.264 rung.
var h264Alternate = whipCodec{name: "H264", probed: "h264 320x240", depacketize: h264File,
	codec: webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}}

// playH264Only starts a WHEP viewer of room whose offer has only H.264 (constrained
// baseline), as Firefox's or a browser without an HEVC/AV1 decoder's would. The alternate
// video exists once the room's ladder has started (about a second after the publisher):
// until then the offer gets 406, and the viewer tries again.
func playH264Only(t *testing.T, ctx context.Context, env *testEnv, room string) *testnode.Received {
	t.Helper()
	for {
		rec := testnode.NewReceived()
		sess, err := client.Play(ctx, env.WHEP(room), client.Options{LoopbackOnly: true,
			Codecs: []webrtc.RTPCodecParameters{h264Alternate.codec}, OnTrack: testnode.RecordTrack(rec)},
			webrtc.RTPCodecTypeVideo)
		var he *client.HTTPError
		switch {
		case err == nil:
			t.Cleanup(func() { _ = sess.Close(context.Background()) })
			return rec
		case !errors.As(err, &he) || he.Status != http.StatusNotAcceptable || ctx.Err() != nil:
			t.Fatalf("H.264-only viewer of room %s: %v", room, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
