package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/hlsbridge"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/sfu"
)

// hlsHook runs the HLS bridge beside ingest, as `glint serve` wires it: a manager that
// follows the SFU's rooms and an hls.Server at /hls/. The ladder is the 320x240 source
// passed through plus one re-encoded 120p rung, so that there are two variants to play.
func hlsHook(t *testing.T) envHook {
	return func(ctx context.Context, media *sfu.SFU, mux *http.ServeMux, log *slog.Logger) func() {
		server := hls.NewServer(log)
		mux.Handle("/hls/", server)
		m, err := hlsbridge.NewManager(hlsbridge.Options{SFU: media, Server: server, Log: log, Poll: 100 * time.Millisecond,
			HLS: hls.Config{SegmentDuration: 2 * time.Second, PartDuration: 333 * time.Millisecond},
			Rooms: func(string) config.RoomSettings {
				return config.RoomSettings{Ladder: &config.Ladder{Source: true, Rungs: []config.LadderRung{{Height: 120, Kbps: 150}}}}
			}})
		if err != nil {
			t.Fatalf("hls bridge: %v", err)
		}
		ran := make(chan error, 1)
		go func() { ran <- m.Run(ctx) }()
		return func() {
			if err := <-ran; err != nil {
				t.Errorf("hls bridge: %v", err)
			}
		}
	}
}

// TestHLSFromIngest: ffmpeg pushes RTMP and SRT, with and without B-frames; the LL-HLS
// output of the room plays: ffprobe decodes every variant playlist of the multivariant
// playlist and its audio rendition without an error (H.264 frames at the rung's size, AAC
// frames), and ffmpeg -xerror decodes the multivariant playlist.
func TestHLSFromIngest(t *testing.T) {
	testkit.RequireTool(t, "ffprobe")
	for _, tc := range pushRoutes("tv") {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testkit.Context(t, 120*time.Second)
			e := newEnvWith(t, nil, hlsHook(t))
			ffmpeg(t, append(source(tc.bframes), "-c:a", "aac", "-b:a", "64k", "-t", "40", "-f", tc.format, tc.url(e))...)
			e.WaitLive(t, ctx, "tv")
			if st, _ := e.status("tv"); tc.bframes != (st.Mode == "reencoding: b-frames") {
				t.Fatalf("ingest mode %q (b-frames in the source: %v)", st.Mode, tc.bframes)
			}
			checkHLSRenditions(t, ctx, e, "tv", true)
		})
	}
}

// checkHLSRenditions waits for room's LL-HLS output (hlsHook's ladder: the 320x240 source
// and a 120p rung, both H.264, and AAC when audio), has ffprobe decode every variant playlist
// of the multivariant playlist and its audio rendition without an error, then ffmpeg -xerror
// the multivariant playlist.
func checkHLSRenditions(t *testing.T, ctx context.Context, e *env, room string, audio bool) {
	t.Helper()
	base := e.URL + "/hls/" + room + "/"
	mv := waitPlaylist(t, ctx, base+"index.m3u8", "two variants (and audio)", func(b string) bool {
		return strings.Count(b, "#EXT-X-STREAM-INF") == 2 && strings.Contains(b, "TYPE=AUDIO") == audio
	})
	renditions := playlistURIs(mv)
	if want := map[bool]int{true: 3, false: 2}[audio]; len(renditions) != want {
		t.Fatalf("multivariant playlist lists %v, want two variants (audio %v):\n%s", renditions, audio, mv)
	}
	// Players start 3 segments from the live edge; with 5 segments listed they start
	// after the first segment. (That one is left out on purpose: a stream starts
	// with a burst of frames, over SRT the first second the MPEG-TS reader holds
	// while it finds the codecs, and the HLS bridge's clock squashes it into
	// timestamps under a millisecond apart; ffmpeg -xerror then fails with "non
	// monotonically increasing dts". See hlsbridge rtpClock's settle period.)
	// Segments are 2 s, the default, which is also the re-encoder's keyframe interval.
	for _, uri := range renditions {
		waitPlaylist(t, ctx, base+uri, "5 segments", func(b string) bool { return strings.Count(b, "#EXTINF") >= 5 })
	}
	want := map[string]string{"source": "h264 320x240", "120p": "h264 160x120", "a": "aac"}
	for _, uri := range renditions {
		name := strings.Split(uri, "/")[0]
		if want[name] == "" {
			t.Fatalf("unexpected rendition %s in:\n%s", uri, mv)
		}
		got, frames := probeRendition(t, ctx, base+uri)
		if got != want[name] || frames < 20 {
			t.Errorf("%s: ffprobe decoded %s, %d frames; want %s and at least 20 frames", name, got, frames, want[name])
		}
		t.Logf("%s: %s, %d frames decoded", name, got, frames)
	}
	out, err := testkit.Command(ctx, time.Minute, "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-xerror",
		"-i", base+"index.m3u8", "-map", "0", "-t", "3", "-f", "null", "-")
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("ffmpeg -xerror on the multivariant playlist: %v: %s", err, out)
	}
}

// waitPlaylist polls a playlist until check accepts it.
func waitPlaylist(t *testing.T, ctx context.Context, url, what string, check func(string) bool) string {
	t.Helper()
	var body string
	testkit.Eventually(t, ctx, what+" in "+url, func() bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		body = string(b)
		return err == nil && res.StatusCode == http.StatusOK && check(body)
	})
	return body
}

var uriAttr = regexp.MustCompile(`URI="([^"]+)"`)

// playlistURIs lists the media playlists of a multivariant playlist: variants, then
// renditions (EXT-X-MEDIA URI attributes).
func playlistURIs(mv string) []string {
	var variants, media []string
	for _, line := range strings.Split(mv, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA:"):
			if m := uriAttr.FindStringSubmatch(line); m != nil {
				media = append(media, m[1])
			}
		case line != "" && !strings.HasPrefix(line, "#"):
			variants = append(variants, line)
		}
	}
	return append(variants, media...)
}

// probeRendition has ffprobe decode the first 90 packets of a media playlist; any error
// output fails the test. It returns "h264 WxH" or "aac" and the number of frames decoded.
func probeRendition(t *testing.T, ctx context.Context, url string) (string, int) {
	t.Helper()
	testkit.RequireTool(t, "ffprobe")
	// 90 packets: 3 s of 30 fps video, 2 s of AAC. Counted in packets, not seconds: where the
	// source fell behind real time (a loaded machine), the bridge keeps that gap in the
	// timeline, and 3 s of timeline could hold next to no frames.
	streams, err := testkit.ProbePackets(ctx, url, 90)
	if err == nil && len(streams) != 1 {
		err = fmt.Errorf("ffprobe %s: streams %v, want one", url, streams)
	}
	if err != nil {
		pl := waitPlaylist(t, ctx, url, "the playlist", func(string) bool { return true })
		t.Logf("%s:\n%s", url, pl)
		t.Fatal(err)
	}
	s := streams[0]
	if s.Codec == "h264" {
		return s.String(), s.Frames
	}
	return s.Codec, s.Frames
}
