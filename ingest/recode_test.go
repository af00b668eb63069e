package ingest

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	neturl "net/url"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

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

// recodedPublisher publishes an H.265 or AV1 test source into room; the returned function
// stops it and reports its error.
type recodedPublisher func(t *testing.T, ctx context.Context, e *env, room string) (stop func())

// TestRecodedSources: H.265 over SRT (ffmpeg, MPEG-TS stream type 0x24, with AAC), H.265
// over Enhanced RTMP (gortmplib's writer: FourCC hvc1 with its hvcC, and AAC, as OBS 30+
// sends it), AV1 over Enhanced RTMP (FourCC av01, video only) and AV1 over SRT (MPEG-TS per
// AOM's AV1 mapping, with AAC: ts_av1_pub_test.go). ingest re-encodes each to
// H.264, so a WHEP viewer gets decodable H.264 at the source's size, and every LL-HLS
// rendition of the room decodes with ffprobe. (ffmpeg 5.1's flv muxer cannot write Enhanced
// RTMP: there ffmpeg only encodes, to a pipe.)
func TestRecodedSources(t *testing.T) {
	testkit.RequireTool(t, "ffprobe")
	for _, tc := range []struct {
		room, protocol, video, audio string
		publish                      recodedPublisher
	}{
		{"srthevc", "srt", "h265", "aac→opus", func(t *testing.T, ctx context.Context, e *env, room string) func() {
			ff := ffmpeg(t, append(hevcSource(), "-c:a", "aac", "-b:a", "64k", "-t", "40", "-f", "mpegts", e.srtURL("publish:"+room, ""))...)
			return ff.Kill
		}},
		{"ertmphevc", "rtmp", "h265", "aac→opus", goPublisher(publishERTMP)},
		{"ertmpav1", "rtmp", "av1", "none", goPublisher(publishERTMPAV1)},
		{"srtav1", "srt", "av1", "aac→opus", av1SRTPublisher},
	} {
		t.Run(tc.room, func(t *testing.T) {
			ctx := testkit.Context(t, 120*time.Second)
			e := newEnvWith(t, nil, hlsHook(t))
			started := time.Now()
			stop := tc.publish(t, ctx, e, tc.room)
			defer stop()
			e.WaitLive(t, ctx, tc.room)
			live, played := time.Since(started), time.Now()
			viewer, v := e.Play(t, ctx, tc.room)
			testkit.Eventually(t, ctx, "a decodable frame at the viewer", func() bool { return decodableFrames(v.Packets("video")) >= 1 })
			joined := time.Since(played)
			audio := tc.audio != "none"
			testkit.Eventually(t, ctx, "60 video frames (and audio) at the viewer", func() bool {
				return decodableFrames(v.Packets("video")) >= 60 && (!audio || v.Count("audio") >= 50)
			})
			t.Logf("live %v after the publisher started; the viewer's first decodable frame %v, its 60th %v after its WHEP offer",
				live.Round(time.Millisecond), joined.Round(time.Millisecond), time.Since(played).Round(time.Millisecond))
			st, ok := e.status(tc.room)
			if !ok || st.Protocol != tc.protocol || st.Mode != "reencoding: "+tc.video || st.Video != tc.video+" 320x240" || st.Audio != tc.audio {
				t.Fatalf("status %+v, want a %s stream of %s 320x240 re-encoded, audio %s", st, tc.protocol, tc.video, tc.audio)
			}
			checkHLSRenditions(t, ctx, e, tc.room, audio)
			pkts := v.Packets("video")
			checkH264Skips(t, pkts, 320, 240, true, videoSkips(t, e, viewer.Location()))
		})
	}
}

// videoSkips is how many times the SFU skipped the viewer of session location to a keyframe
// (a machine too loaded to send the re-encoded video in time makes its packets stale).
func videoSkips(t *testing.T, e *env, location string) int {
	t.Helper()
	n := 0
	for _, tr := range e.SessionStats(t, location).Tracks {
		if tr.Kind == "video" {
			n += int(tr.Skips + tr.StaleSkips)
		}
	}
	return n
}

// goPublisher runs an in-process publisher to rtmp://…/live/{room} until the test's end.
func goPublisher(publish func(ctx context.Context, url string) error) recodedPublisher {
	return func(t *testing.T, ctx context.Context, e *env, room string) func() {
		pubCtx, cancel := context.WithCancel(ctx)
		published := make(chan error, 1)
		go func() { published <- publish(pubCtx, e.rtmp+"/live/"+room) }()
		return func() {
			cancel()
			if err := <-published; err != nil {
				t.Errorf("Enhanced RTMP publisher: %v", err)
			}
		}
	}
}

// publishERTMP encodes the H.265 test source with ffmpeg (MPEG-TS on its stdout, in real
// time), demuxes it with mediacommon and publishes it to url over Enhanced RTMP with
// gortmplib, until ctx ends.
func publishERTMP(ctx context.Context, url string) error {
	out, wait, err := ffmpegStdout(ctx, append(hevcSource(), "-c:a", "aac", "-b:a", "64k", "-f", "mpegts", "-")...)
	if err != nil {
		return err
	}
	defer wait()
	mr := &mpegts.Reader{R: out}
	if err := mr.Initialize(); err != nil {
		return nil // stopped before the first packets
	}
	p := &ertmpPublisher{ctx: ctx, url: url}
	defer p.close()
	for _, tr := range mr.Tracks() {
		switch c := tr.Codec.(type) {
		case *tscodecs.H265:
			mr.OnDataH265(tr, p.video)
		case *tscodecs.MPEG4Audio:
			p.asc = c.Config
			mr.OnDataMPEG4Audio(tr, p.audio)
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

// ertmpPublisher connects at the first H.265 IRAP (the writer announces the VPS, SPS and PPS
// in its hvcC) and then writes every access unit and AAC frame.
type ertmpPublisher struct {
	ctx          context.Context
	url          string
	asc          mpeg4audio.AudioSpecificConfig
	conn         *gortmplib.Client
	w            *gortmplib.Writer
	vTrack, aTrk *gortmplib.Track
}

func (p *ertmpPublisher) video(pts, dts int64, au [][]byte) error {
	if p.w == nil {
		if !h265.IsRandomAccess(au) {
			return nil
		}
		if err := p.connect(au); err != nil {
			return err
		}
	}
	return p.w.WriteH265(p.vTrack, ticksToDuration(pts), ticksToDuration(dts), au)
}

func (p *ertmpPublisher) audio(pts int64, aus [][]byte) error {
	if p.w == nil {
		return nil
	}
	for i, au := range aus {
		at := ticksToDuration(pts) + time.Duration(i)*1024*time.Second/time.Duration(p.asc.SampleRate)
		if err := p.w.WriteMPEG4Audio(p.aTrk, at, au); err != nil {
			return err
		}
	}
	return nil
}

func (p *ertmpPublisher) connect(au [][]byte) error {
	var params hevcParams
	params.update(au)
	u, err := neturl.Parse(p.url)
	if err != nil {
		return err
	}
	p.conn = &gortmplib.Client{URL: u, Publish: true}
	if err := p.conn.Initialize(p.ctx); err != nil {
		return err
	}
	p.vTrack = &gortmplib.Track{Codec: &codecs.H265{VPS: params.VPS, SPS: params.SPS, PPS: params.PPS}}
	p.aTrk = &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &p.asc}}
	p.w = &gortmplib.Writer{Conn: p.conn, Tracks: []*gortmplib.Track{p.vTrack, p.aTrk}}
	return p.w.Initialize()
}

func (p *ertmpPublisher) close() {
	if p.conn != nil {
		p.conn.Close()
	}
}

func ticksToDuration(t int64) time.Duration { return time.Duration(t) * time.Second / 90000 }

// publishERTMPAV1 encodes a test pattern with ffmpeg's libaom-av1 (IVF on its stdout, in real
// time) and publishes each temporal unit to url over Enhanced RTMP with gortmplib.
func publishERTMPAV1(ctx context.Context, url string) error {
	out, wait, err := ffmpegStdout(ctx, "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-c:v", "libaom-av1", "-usage", "realtime",
		"-cpu-used", "8", "-g", "30", "-b:v", "300k", "-f", "ivf", "-")
	if err != nil {
		return err
	}
	defer wait()
	r := bufio.NewReader(out)
	if _, err := io.ReadFull(r, make([]byte, 32)); err != nil { // IVF file header
		return nil // ffmpeg was stopped
	}
	u, err := neturl.Parse(url)
	if err != nil {
		return err
	}
	conn := &gortmplib.Client{URL: u, Publish: true}
	if err := conn.Initialize(ctx); err != nil {
		return err
	}
	defer conn.Close()
	track := &gortmplib.Track{Codec: &codecs.AV1{}}
	w := &gortmplib.Writer{Conn: conn, Tracks: []*gortmplib.Track{track}}
	if err := w.Initialize(); err != nil {
		return err
	}
	head := make([]byte, 12)
	for ctx.Err() == nil {
		if _, err := io.ReadFull(r, head); err != nil {
			return nil // ended with ctx
		}
		b := make([]byte, binary.LittleEndian.Uint32(head))
		if _, err := io.ReadFull(r, b); err != nil {
			return nil
		}
		var tu av1.Bitstream
		if err := tu.Unmarshal(b); err != nil {
			return err
		}
		tu = slices.DeleteFunc(tu, func(obu []byte) bool { // the writer adds its own delimiter
			return av1.OBUType(obu[0]>>3&0x0f) == av1.OBUTypeTemporalDelimiter
		})
		pts := time.Duration(binary.LittleEndian.Uint64(head[4:])) * time.Second / 30
		if err := w.WriteAV1(track, pts, tu); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// ffmpegStdout starts ffmpeg with args (its output on stdout) under ctx and returns its
// stdout and a wait for its end.
func ffmpegStdout(ctx context.Context, args ...string) (io.Reader, func(), error) {
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return out, func() { _ = cmd.Wait() }, nil
}
