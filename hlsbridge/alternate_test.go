package hlsbridge

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/internal/testkit"
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

// playH264 is playH264Only for a room whose alternate exists: the session is returned too.
func playH264(t *testing.T, ctx context.Context, env *testEnv, room string) (*client.Session, *testnode.Received) {
	t.Helper()
	rec := testnode.NewReceived()
	sess, err := client.Play(ctx, env.WHEP(room), client.Options{LoopbackOnly: true,
		Codecs: []webrtc.RTPCodecParameters{h264Alternate.codec}, OnTrack: testnode.RecordTrack(rec)}, webrtc.RTPCodecTypeVideo)
	if err != nil {
		t.Fatalf("H.264-only viewer of room %s: %v", room, err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	return sess, rec
}

// h264File depacketizes H.264 RTP into a raw Annex-B stream.
func h264File(t *testing.T, pkts []*rtp.Packet) ([]byte, int) {
	return annexBFile(t, "H.264", &codecs.H264Packet{}, pkts)
}

// TestAlternateWakesOnDemandRoom: in an on-demand H.265 room nobody requests over HLS, the
// ladder is parked, yet the alternate H.264 video is there: an H.264-only WHEP viewer binds
// to it, its keyframe request wakes the ladder, it receives decodable H.264, and the ladder
// stays awake past the idle time while the viewer watches; once it leaves, the room parks
// again.
func TestAlternateWakesOnDemandRoom(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 90*time.Second)
	env := newTestEnv(t)
	rooms := func(string) config.RoomSettings { return config.RoomSettings{HLSMode: config.HLSOnDemand} }
	const idle = 2 * time.Second
	m := env.runManager(t, ctx, Options{Rooms: rooms, Poll: 100 * time.Millisecond, Idle: idle})
	wc := whipCodecs[slices.IndexFunc(whipCodecs, func(c whipCodec) bool { return c.name == "H265" })]
	stop := publishWHIP(t, ctx, env, "quiet", wc)
	defer stop()
	testkit.Eventually(t, ctx, "the parked room's alternate video", func() bool {
		info, ok := env.SFU.Room("quiet")
		return ok && info.Alternate != nil && slices.Equal(m.ParkedRooms(), []string{"quiet"})
	})
	sess, v := playH264(t, ctx, env, "quiet")
	testkit.Eventually(t, ctx, "45 frames at the H.264 viewer", func() bool { return frameCount(v.Packets("video")) >= 45 })
	checkViewerFile(t, ctx, h264Alternate, v.Packets("video"))
	time.Sleep(idle + time.Second)
	if parked := m.ParkedRooms(); len(parked) != 0 {
		t.Fatalf("parked %v while the alternate has a viewer", parked)
	}
	_ = sess.Close(ctx)
	testkit.Eventually(t, ctx, "the room parked again", func() bool { return slices.Equal(m.ParkedRooms(), []string{"quiet"}) })
}
