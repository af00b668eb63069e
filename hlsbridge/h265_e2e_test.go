package hlsbridge

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/media"
)

// h265Codec is what an H.265 WHIP publisher offers (Chromium with a hardware encoder).
var h265Codec = webrtc.RTPCodecParameters{PayloadType: 49, RTPCodecCapability: webrtc.RTPCodecCapability{
	MimeType: webrtc.MimeTypeH265, ClockRate: 90000, SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}}

// TestH265OverWHIP: a pion publisher offers only H.265 over WHIP and sends libx265's H.265
// (no B-frames, as WebRTC encoders send it; packetized per RFC 7798 by pion); a WHEP viewer
// that offers H.265 receives H.265 that ffprobe decodes, and the room's LL-HLS source
// rendition is H.264 transcoded from it.
func TestH265OverWHIP(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 90*time.Second)
	env := newTestEnv(t)
	env.runManager(t, ctx, Options{Poll: 100 * time.Millisecond})
	track, err := webrtc.NewTrackLocalStaticRTP(h265Codec.RTPCodecCapability, "video", "h265")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := client.Publish(ctx, env.WHIP("h265"), []webrtc.TrackLocal{track},
		client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{h265Codec}})
	if err != nil {
		t.Fatalf("H.265 WHIP publish: %v", err)
	}
	defer sess.Close(context.Background())
	pubCtx, stopPub := context.WithCancel(ctx)
	published := make(chan error, 1)
	go func() { published <- publishH265(pubCtx, track) }()
	defer func() {
		stopPub()
		if err := <-published; err != nil {
			t.Errorf("H.265 publisher: %v", err)
		}
	}()
	env.WaitLive(t, ctx, "h265")
	_, v := env.Play(t, ctx, "h265")

	base := env.URL + "/hls/h265/"
	env.waitFor(t, ctx, "multivariant playlist", base+"index.m3u8", func(b string) bool {
		return strings.Contains(b, "source/index.m3u8") && strings.Contains(b, "RESOLUTION=320x240")
	})
	env.waitFor(t, ctx, "3 segments", base+"source/index.m3u8", func(b string) bool { return strings.Count(b, "#EXTINF") >= 3 })
	if err := probe(ctx, t, base+"source/index.m3u8", "source-320"); err != nil {
		t.Error(err)
	}
	testkit.Eventually(t, ctx, "45 H.265 frames at the viewer", func() bool { return frameCount(v.Packets("video")) >= 45 })
	checkH265(t, ctx, v.Packets("video"))
}

// checkH265 depacketizes what the viewer got from its first keyframe into a raw H.265 file
// and has ffprobe decode it.
func checkH265(t *testing.T, ctx context.Context, pkts []*rtp.Packet) {
	t.Helper()
	slices.SortFunc(pkts, func(a, b *rtp.Packet) int { return int(int16(a.SequenceNumber - b.SequenceNumber)) })
	start := slices.IndexFunc(pkts, func(p *rtp.Packet) bool { return media.IsKeyframeStart(webrtc.MimeTypeH265, p.Payload) })
	if start < 0 {
		t.Fatal("the H.265 viewer got no keyframe")
	}
	var dep codecs.H265Depacketizer
	var stream []byte
	frames := 0
	for _, p := range pkts[start:] {
		b, err := dep.Unmarshal(p.Payload)
		if err != nil {
			t.Fatalf("H.265 packet %d: %v", p.SequenceNumber, err)
		}
		stream = append(stream, b...)
		if p.Marker {
			frames++
		}
	}
	path := filepath.Join(t.TempDir(), "viewer.hevc")
	if err := os.WriteFile(path, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := testkit.ProbeStream(ctx, path, time.Minute)
	if err != nil {
		t.Fatalf("ffprobe of the H.265 the viewer got: %v", err)
	}
	if st.String() != "hevc 320x240" || st.Frames < frames-1 {
		t.Fatalf("ffprobe of the viewer's H.265: %s, %d of %d frames decoded", st, st.Frames, frames)
	}
	t.Logf("viewer: %s, %d frames decoded", st, st.Frames)
}

// publishH265 runs ffmpeg encoding a test pattern with libx265 (no B-frames) into MPEG-TS on
// its stdout, in real time, and writes each access unit to track, packetized by pion's
// H265Payloader.
func publishH265(ctx context.Context, track *webrtc.TrackLocalStaticRTP) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-c:v", "libx265", "-preset", "ultrafast",
		"-tune", "zerolatency", "-g", "15", "-b:v", "300k", "-x265-params", "log-level=error:bframes=0", "-f", "mpegts", "-")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Wait() }()
	mr := &mpegts.Reader{R: out}
	if err := mr.Initialize(); err != nil {
		return nil // stopped before the first packets
	}
	pay := &codecs.H265Payloader{}
	var seq uint16
	for _, tr := range mr.Tracks() {
		if _, ok := tr.Codec.(*tscodecs.H265); ok {
			mr.OnDataH265(tr, func(pts, _ int64, au [][]byte) error {
				pkts := pay.Payload(1200, annexB(au))
				for i, p := range pkts {
					seq++
					err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq,
						Timestamp: uint32(pts), Marker: i == len(pkts)-1}, Payload: p})
					if err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	for ctx.Err() == nil {
		if err := mr.Read(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}
