package ingest

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/pion/rtp"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

func frames(pkts []*rtp.Packet) int {
	n := 0
	for _, p := range pkts {
		if p.Marker {
			n++
		}
	}
	return n
}

// checkAudio checks the audio path the status reports: Opus at the viewer once package
// transcoder converts AAC, and a clear "none (aac: …)" until then.
func checkAudio(t *testing.T, e *env, v *testnode.Received, room string, st StreamStatus, input string) {
	t.Helper()
	if input == "opus" {
		if st.Audio != "opus" {
			t.Fatalf("status audio %q, want opus", st.Audio)
		}
		checkOpus(t, v.Packets("audio"))
		return
	}
	if ready, why := aacConverterReady(); !ready {
		if !strings.HasPrefix(st.Audio, "none (aac: ") {
			t.Fatalf("status audio %q, want none (aac: …) while the converter is missing (%s)", st.Audio, why)
		}
		e.Logs.WaitFor(t, testkit.Context(t, time.Second), "aac audio dropped", "room="+room)
		return
	}
	if st.Audio != "aac→opus" {
		t.Fatalf("status audio %q, want aac→opus", st.Audio)
	}
	checkOpus(t, v.Packets("audio"))
}

func TestRTMPToWHEPViewer(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	e := newEnv(t, nil)
	ff, v := e.publishAndPlay(t, ctx, "cam", false, "-c:a", "aac", "-b:a", "64k", "-ar", "48000", "-t", "30",
		"-f", "flv", e.rtmp+"/live/cam")
	testkit.Eventually(t, ctx, "60 decodable video frames at the viewer", func() bool { return decodableFrames(v.Packets("video")) >= 60 })
	st, ok := e.status("cam")
	if !ok || st.Protocol != "rtmp" || st.Mode != "passthrough" || !strings.HasPrefix(st.Video, "h264 42") ||
		!strings.HasSuffix(st.Video, " 320x240") {
		t.Fatalf("status %+v, want an rtmp passthrough of h264 baseline 320x240", st)
	}
	ff.Kill()
	checkH264(t, v.Packets("video"), 320, 240, true)
	checkAudio(t, e, v, "cam", st, "aac")
	e.Logs.WaitFor(t, ctx, "publisher", "room=cam", "conn=rtmp-")
	testkit.Eventually(t, ctx, "the room released", func() bool { _, held := e.status("cam"); return !held })
}

// TestRTMPBFrames: libx264 defaults (B-frames) are detected and reported; with package
// transcoder's re-encoder the viewer gets frames in order, without it they pass through.
func TestRTMPBFrames(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	e := newEnv(t, nil)
	_, v := e.publishAndPlay(t, ctx, "bf", true, "-c:a", "aac", "-t", "30", "-f", "flv", e.rtmp+"/live/bf")
	testkit.Eventually(t, ctx, "40 decodable video frames at the viewer", func() bool { return decodableFrames(v.Packets("video")) >= 40 })
	st, _ := e.status("bf")
	if reencoderReady() {
		if st.Mode != "reencoding: b-frames" {
			t.Fatalf("status mode %q, want reencoding: b-frames", st.Mode)
		}
		e.Logs.WaitFor(t, ctx, "reencoding: b-frames", "room=bf")
		checkH264(t, v.Packets("video"), 320, 240, true)
		return
	}
	if !strings.HasPrefix(st.Mode, "passthrough: b-frames") {
		t.Fatalf("status mode %q, want passthrough: b-frames (no re-encoder …)", st.Mode)
	}
	e.Logs.WaitFor(t, ctx, "stream has b-frames", "room=bf")
	checkH264(t, v.Packets("video"), 320, 240, false)
}

// TestRTMPKeysAndOnePublisher: wrong keys and unlisted rooms are refused at connect, the
// right key works in both URL forms, and a second publisher to a room is refused over RTMP
// and SRT while the first goes on.
func TestRTMPKeysAndOnePublisher(t *testing.T) {
	ctx := testkit.Context(t, 90*time.Second)
	e := newEnv(t, func(c *Config) { c.StreamKeys = map[string]string{"cam": "s3cret", "two": "k2"} })
	push := func(url string) *testkit.Proc {
		return ffmpeg(t, append(source(false), "-an", "-t", "20", "-f", "flv", url)...)
	}
	for _, tc := range []struct{ name, url, log string }{
		{"wrong key", e.rtmp + "/live/cam?key=nope", "wrong stream key"},
		{"no key", e.rtmp + "/live/cam", "wrong stream key"},
		{"unlisted room", e.rtmp + "/live/other?key=s3cret", "takes no ingest"},
		{"bad room name", e.rtmp + "/live/a.b?key=s3cret", "bad stream name"},
	} {
		p := push(tc.url)
		if err := p.Wait(time.Minute); err == nil {
			t.Fatalf("%s: ffmpeg exited 0, want a refusal", tc.name)
		}
		e.Logs.WaitFor(t, ctx, "rtmp publish refused", tc.log)
	}
	first := push(e.rtmp + "/live/cam?key=s3cret")
	e.WaitLive(t, ctx, "cam")
	_, v := e.Play(t, ctx, "cam")
	second := push(e.rtmp + "/live/cam/s3cret")
	if err := second.Wait(time.Minute); err == nil {
		t.Fatal("second RTMP publisher to the room: ffmpeg exited 0, want a refusal")
	}
	if !strings.Contains(second.Stderr(), "already has a publisher") {
		t.Errorf("ffmpeg's error does not say why: %s", second.Stderr())
	}
	srt := ffmpeg(t, append(source(false), "-an", "-t", "20", "-f", "mpegts", e.srtURL("publish:cam/s3cret", ""))...)
	if err := srt.Wait(time.Minute); err == nil {
		t.Fatal("SRT publisher to a room held over RTMP: ffmpeg exited 0, want a rejection")
	}
	e.Logs.WaitFor(t, ctx, "srt publish refused", "room=cam", "already has a publisher")
	before := frames(v.Packets("video"))
	testkit.Eventually(t, ctx, "the first publisher still reaching the viewer", func() bool { return frames(v.Packets("video")) > before+30 })
	if first.Exited() {
		t.Fatalf("first publisher ended: %s", first.Stderr())
	}
	path := push(e.rtmp + "/live/two/k2") // the key as a path element
	e.WaitLive(t, ctx, "two")
	path.Kill()
}

// TestOtherVideoCodecsRefused: a VP9 (Enhanced RTMP) publisher and an MPEG-2 video (MPEG-TS
// over SRT) publisher get a clear error and the server goes on.
func TestOtherVideoCodecsRefused(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	e := newEnv(t, nil)
	mpeg2 := ffmpeg(t, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-c:v", "mpeg2video", "-t", "20", "-f", "mpegts", e.srtURL("publish:mpeg2", ""))
	e.Logs.WaitFor(t, ctx, "connection ended", "room=mpeg2", "unsupported codec: MPEG-TS video MPEG1Video; publish H.264, H.265 or AV1")
	if err := mpeg2.Wait(time.Minute); err == nil {
		t.Error("refused MPEG-2 publisher: ffmpeg exited 0")
	}

	u, _ := url.Parse(e.rtmp + "/live/vp9")
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		t.Fatalf("rtmp client: %v", err)
	}
	defer c.Close()
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{{Codec: &codecs.VP9{}}}}
	if err := w.Initialize(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	e.Logs.WaitFor(t, ctx, "connection ended", "room=vp9", "unsupported codec: Enhanced RTMP video vp09; set the encoder to H.264, H.265 (HEVC) or AV1")
	_ = c.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		msg, err := c.Read()
		if err != nil {
			break // closed by the server
		}
		_ = msg
	}
	if _, held := e.status("vp9"); held {
		t.Fatal("refused stream still holds its room")
	}
}

// TestRoomHeldElsewhere: a room whose publisher is not an ingest stream (here an in-process
// publisher, as a WHIP session would be) refuses RTMP and SRT publishers once their codecs
// are known: sfu.ErrRoomBusy from PublishLocal.
func TestRoomHeldElsewhere(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	e := newEnv(t, nil)
	held, err := e.SFU.PublishLocal("held", h264Codec(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	rtmp := ffmpeg(t, append(source(false), "-an", "-t", "20", "-f", "flv", e.rtmp+"/live/held")...)
	if err := rtmp.Wait(time.Minute); err == nil {
		t.Fatal("RTMP publisher to a held room: ffmpeg exited 0")
	}
	e.Logs.WaitFor(t, ctx, "connection ended", "conn=rtmp-", "room=held", "room already has a publisher")
	ffmpeg(t, append(source(false), "-an", "-t", "20", "-f", "mpegts", e.srtURL("publish:held", ""))...)
	e.Logs.WaitFor(t, ctx, "connection ended", "conn=srt-", "room=held", "room already has a publisher")
	if len(e.ingest.Status()) != 0 {
		t.Fatalf("refused streams still listed: %+v", e.ingest.Status())
	}
}

// TestRoomIngestedOnAnotherNode: in a cluster, an RTMP publish of a room that another node
// ingests is refused, and the log names that node (relaying it there is not built).
func TestRoomIngestedOnAnotherNode(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	shared := cluster.NewMemory("node-a") // the cluster's directory, as node-a sees it
	if _, err := shared.Claim(ctx, cluster.Request{Room: "far", Kind: cluster.Ingest, Holder: "rtmp-7"}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Directory = shared.For("node-b") })
	rtmp := ffmpeg(t, append(source(false), "-an", "-t", "20", "-f", "flv", e.rtmp+"/live/far")...)
	if err := rtmp.Wait(time.Minute); err == nil {
		t.Fatal("RTMP publisher to a room ingested on another node: ffmpeg exited 0")
	}
	e.Logs.WaitFor(t, ctx, "room=far", "room already has a publisher (held by rtmp-7 on node-a)")
}
