package e2e

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// hlsCodecLine is a players.mjs line with what hls.js chose: its levels (those whose codecs
// the browser's Media Source Extensions play) and the codec of the current one.
type hlsCodecLine struct {
	T   int `json:"t"`
	HLS *struct {
		CurrentTime float64 `json:"currentTime"`
		Decoded     int     `json:"decoded"`
		Width       int     `json:"width"`
		Levels      int     `json:"levels"`
		VideoCodec  string  `json:"videoCodec"`
		Error       string  `json:"error"`
	} `json:"hls"`
}

// TestHEVCRoomLLHLS: GStreamer publishes H.265 over WHIP (x265 zerolatency, as Safari or a
// hardware encoder sends it) into a server with LL-HLS on. The multivariant playlist lists the
// source passed through (hvc1, with its RFC 6381 CODECS) and an H.264 rendition of the same
// size (360p); ffprobe decodes both. hls.js in Chromium, whose Media Source Extensions have no
// H.265 decoder here, drops the hvc1 level and plays the H.264 one.
func TestHEVCRoomLLHLS(t *testing.T) {
	requireBrowser(t)
	requireGStreamer(t)
	requireFFmpeg(t)
	srv := startServer(t, "--hls=true")
	room := "hevc"
	gst := testkit.StartProc(t, testkit.ProcOptions{Name: "gst_whip.py"}, "/usr/bin/python3", "gst_whip.py", srv.url("/whip/"+room),
		"--seconds=120", "--size=640x360", "--codec=h265")
	gst.WaitLine(20*time.Second, "WHIP 201 and ICE connected", func(line string) bool {
		var l gstLine
		return jsonInto(line, &l) && (l.ICE == "connected" || l.ICE == "completed")
	})
	srv.waitRoom(t, room, 10*time.Second, "live with H265 video", func(r roomInfo) bool {
		v, ok := r.track("video")
		return r.Live && ok && strings.EqualFold(v.Codec, "H265")
	})

	mv := waitBody(t, srv.url("/hls/"+room+"/index.m3u8"), 60*time.Second, func(b string) bool {
		return strings.Contains(b, `CODECS="hvc1.1.6.L`) && strings.Contains(b, `CODECS="avc1.`) &&
			strings.Count(b, "RESOLUTION=640x360") == 2
	})
	t.Logf("multivariant playlist:\n%s", mv)
	ctx := testkit.Context(t, 2*time.Minute)
	for _, r := range []struct{ rendition, want string }{{"source", "hevc 640x360"}, {"360p", "h264 640x360"}} {
		st, err := testkit.ProbeStream(ctx, srv.url("/hls/"+room+"/"+r.rendition+"/index.m3u8"), 3*time.Second)
		if err != nil || st.String() != r.want || st.Frames <= 0 {
			t.Errorf("ffprobe of the %s rendition: %s, %d frames, %v; want %s", r.rendition, st, st.Frames, err, r.want)
		}
	}

	p := testkit.StartProc(t, testkit.ProcOptions{Name: "players", Env: []string{"TMPDIR=" + t.TempDir()}},
		"node", "players.mjs", srv.base, room, "--seconds=20", "--only=hls")
	if err := p.Wait(90 * time.Second); err != nil {
		t.Fatalf("players.mjs (hls.js): %v; its output ends:\n%s", err, testkit.Tail(p.Stderr(), 3000))
	}
	var last hlsCodecLine
	for _, line := range p.Output() {
		var l hlsCodecLine
		if json.Unmarshal([]byte(line), &l) == nil && l.HLS != nil {
			last = l
		}
	}
	if last.HLS == nil || last.HLS.Decoded == 0 || !strings.HasPrefix(last.HLS.VideoCodec, "avc1.") || last.HLS.Levels != 1 {
		t.Fatalf("hls.js: %+v; want the one H.264 level playing", last.HLS)
	}
	t.Logf("hls.js: %+v", *last.HLS)
}

// waitBody polls url until its body satisfies ok, and returns that body.
func waitBody(t *testing.T, url string, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		if resp, err := httpClient.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if last = string(b); ok(last) {
				return last
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: no wanted answer within %v; last:\n%s", url, timeout, last)
	return ""
}
