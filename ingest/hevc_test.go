package ingest

import (
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// hevcSource is the ffmpeg input and H.265 options of an SRT encoder: 320x240 testsrc2 with
// libx265 (B-frames and all, as hardware HEVC encoders send) + a 440 Hz sine.
func hevcSource() []string {
	return []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-b:v", "300k",
		"-x265-params", "log-level=error"}
}

// TestSRTHEVC: ffmpeg publishes H.265 (MPEG-TS stream type 0x24) with AAC over SRT; ingest
// re-encodes it to H.264, so a WHEP viewer gets decodable H.264 at the source's size, and
// every LL-HLS rendition of the room decodes with ffprobe.
func TestSRTHEVC(t *testing.T) {
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 120*time.Second)
	e := newEnvWith(t, nil, hlsHook(t))
	ff := ffmpeg(t, append(hevcSource(), "-c:a", "aac", "-b:a", "64k", "-t", "40", "-f", "mpegts", e.srtURL("publish:hevc", ""))...)
	e.WaitLive(t, ctx, "hevc")
	_, v := e.Play(t, ctx, "hevc")
	testkit.Eventually(t, ctx, "60 video frames and audio at the viewer", func() bool {
		return decodableFrames(v.Packets("video")) >= 60 && v.Count("audio") >= 50
	})
	st, ok := e.status("hevc")
	if !ok || st.Protocol != "srt" || st.Mode != "reencoding: h265" || st.Video != "h265 320x240" || st.Audio != "aac→opus" {
		t.Fatalf("status %+v, want an srt stream of h265 320x240 re-encoded, aac→opus", st)
	}
	checkHLSRenditions(t, ctx, e, "hevc")
	ff.Kill()
	checkH264(t, v.Packets("video"), 320, 240, true)
}
