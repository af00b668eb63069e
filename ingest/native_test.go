package ingest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
	"github.com/glint-video/glint/media"
)

// Viewer codecs of TestNativeSources: a browser without HEVC/AV1 (H.264 constrained
// baseline and Opus), and one with the source's codec.
var (
	h264Viewer = webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}
	opusViewer = webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}
	nativeViewers = map[string]webrtc.RTPCodecParameters{
		"h265": {PayloadType: 49, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000,
			SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}},
		"av1": {PayloadType: 45, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000,
			SDPFmtpLine: "level-idx=5;profile=0;tier=0"}},
	}
)

// TestNativeSources: with Config.NativeCodecs (LL-HLS on), an H.265 SRT publisher (ffmpeg
// libx265 without B-frames → MPEG-TS → SRT, with AAC) and an AV1 one (AOM's MPEG-TS mapping)
// are published into their rooms as they are: a WHEP viewer offering the codec receives it,
// a viewer offering only H.264 receives the room's alternate H.264 video (the ladder's
// source-size rung) and every frame of it decodes, and every LL-HLS rendition (the source
// passed through, the H.264 rungs, AAC) decodes with ffprobe.
func TestNativeSources(t *testing.T) {
	testkit.RequireTool(t, "ffprobe")
	for _, tc := range []struct {
		room, video string
		publish     recodedPublisher
	}{
		{"srthevc", "h265", func(t *testing.T, ctx context.Context, e *env, room string) func() {
			args := append(hevcSource(), "-c:a", "aac", "-b:a", "64k", "-t", "40", "-f", "mpegts", e.srtURL("publish:"+room, ""))
			args[slices.Index(args, "log-level=error")] = "log-level=error:bframes=0"
			return ffmpeg(t, args...).Kill
		}},
		{"srtav1", "av1", av1SRTPublisher},
	} {
		t.Run(tc.room, func(t *testing.T) {
			ctx := testkit.Context(t, 120*time.Second)
			e := newEnvWith(t, func(c *Config) { c.NativeCodecs = true }, hlsHook(t))
			stop := tc.publish(t, ctx, e, tc.room)
			defer stop()
			e.WaitLive(t, ctx, tc.room)
			if st, ok := e.status(tc.room); !ok || st.Mode != "native: "+tc.video || st.Video != tc.video+" 320x240" {
				t.Fatalf("status %+v, want %s 320x240 sent natively", st, tc.video)
			}
			native := testnode.PlayCodecs(t, ctx, e.WHEP(tc.room), []webrtc.RTPCodecParameters{nativeViewers[tc.video], opusViewer})
			h264 := testnode.PlayCodecs(t, ctx, e.WHEP(tc.room), []webrtc.RTPCodecParameters{h264Viewer, opusViewer})
			testkit.Eventually(t, ctx, "60 decodable H.264 frames and audio at the H.264 viewer", func() bool {
				return decodableFrames(h264.Packets("video")) >= 60 && h264.Count("audio") >= 50
			})
			checkH264(t, h264.Packets("video"), 320, 240, true)
			mime := nativeViewers[tc.video].MimeType
			testkit.Eventually(t, ctx, "a keyframe and 60 frames of "+tc.video+" at its viewer", func() bool {
				return nativeFrames(native.Packets("video"), mime) >= 60
			})
			checkNativeHLS(t, ctx, e, tc.room, map[string]string{"h265": "hevc", "av1": "av1"}[tc.video])
		})
	}
}

// nativeFrames counts the frames (marker bits) a viewer of mime got from its first keyframe.
func nativeFrames(pkts []*rtp.Packet, mime string) int {
	pkts = inSeqOrder(pkts)
	start := slices.IndexFunc(pkts, func(p *rtp.Packet) bool { return media.IsKeyframeStart(mime, p.Payload) })
	if start < 0 {
		return 0
	}
	return frames(pkts[start:])
}

// checkNativeHLS has ffprobe decode every rendition of a natively sent room: the source
// passed through (source, e.g. "hevc"), the H.264 rung of its size, hlsHook's 120p rung and AAC.
func checkNativeHLS(t *testing.T, ctx context.Context, e *env, room, source string) {
	t.Helper()
	base := e.URL + "/hls/" + room + "/"
	mv := waitPlaylist(t, ctx, base+"index.m3u8", "three variants and audio", func(b string) bool {
		return strings.Count(b, "#EXT-X-STREAM-INF") == 3 && strings.Contains(b, "TYPE=AUDIO")
	})
	want := map[string]string{"source": source, "240p": "h264 320x240", "120p": "h264 160x120", "a": "aac"}
	renditions := playlistURIs(mv)
	if len(renditions) != len(want) {
		t.Fatalf("multivariant playlist lists %v, want %d renditions:\n%s", renditions, len(want), mv)
	}
	for _, uri := range renditions {
		waitPlaylist(t, ctx, base+uri, "5 segments", func(b string) bool { return strings.Count(b, "#EXTINF") >= 5 })
	}
	for _, uri := range renditions {
		name := strings.Split(uri, "/")[0]
		got, n := probeRendition(t, ctx, base+uri)
		if got != want[name] || n < 20 {
			t.Errorf("%s: ffprobe decoded %s, %d frames; want %s and at least 20 frames", name, got, n, want[name])
		}
		t.Logf("%s: %s, %d frames decoded", name, got, n)
	}
}
