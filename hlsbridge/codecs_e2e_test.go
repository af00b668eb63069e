package hlsbridge

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
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

// whipCodec is one codec a WHIP publisher sends in TestWHIPCodecs.
type whipCodec struct {
	name    string
	codec   webrtc.RTPCodecParameters // what the publisher offers (Chromium's fmtp)
	publish func(ctx context.Context, track *webrtc.TrackLocalStaticRTP) error
	// depacketize turns the viewer's packets, from its first keyframe, into a file ffprobe
	// reads (IVF for AV1, raw Annex B for H.265) and the number of frames in it.
	depacketize func(t *testing.T, pkts []*rtp.Packet) ([]byte, int)
	probed      string // what ffprobe says of the viewer's file (and of the source rendition)
	hlsCodec    string // the start of the source rendition's CODECS string
}

var whipCodecs = []whipCodec{
	{name: "AV1", probed: "av1 320x240", hlsCodec: "av01.0.", publish: publishAV1, depacketize: av1File,
		codec: webrtc.RTPCodecParameters{PayloadType: 45, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, SDPFmtpLine: "level-idx=5;profile=0;tier=0"}}},
	{name: "H265", probed: "hevc 320x240", hlsCodec: "hvc1.1.6.L", publish: publishH265, depacketize: h265File,
		codec: webrtc.RTPCodecParameters{PayloadType: 49, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH265, ClockRate: 90000, SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}}},
}

// TestWHIPCodecs: a pion publisher offers only AV1 (libaom), or only H.265 (libx265 without
// B-frames, as WebRTC encoders send it), over WHIP; a WHEP viewer that offers the codec
// receives it and ffprobe decodes it, a viewer that offers only H.264 receives the room's
// alternate H.264 video (the LL-HLS source-size rung) and ffprobe decodes every frame of
// it, a viewer that offers only VP8 gets 406 naming the room's codec and H264, and the room's LL-HLS source rendition is the source passed through (av01 /
// hvc1, with its CODECS string) beside an H.264 rendition of the same size ("240p"), and
// ffprobe decodes both.
func TestWHIPCodecs(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	testkit.RequireTool(t, "ffprobe")
	for _, wc := range whipCodecs {
		t.Run(wc.name, func(t *testing.T) {
			ctx := testkit.Context(t, 90*time.Second)
			env := newTestEnv(t)
			env.runManager(t, ctx, Options{Poll: 100 * time.Millisecond})
			room := strings.ToLower(wc.name)
			stop := publishWHIP(t, ctx, env, room, wc)
			defer stop()
			env.WaitLive(t, ctx, room)
			_, v := env.Play(t, ctx, room)
			h264v := playH264Only(t, ctx, env, room)
			vp8Only := []webrtc.RTPCodecParameters{{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}
			_, err := client.Play(ctx, env.WHEP(room), client.Options{LoopbackOnly: true, Codecs: vp8Only}, webrtc.RTPCodecTypeVideo)
			var he *client.HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusNotAcceptable || !strings.Contains(he.Body, wc.name) ||
				!strings.Contains(he.Body, "H264") {
				t.Errorf("VP8-only viewer of an %s room: %v, want 406 naming %s and H264", wc.name, err, wc.name)
			}

			base := env.URL + "/hls/" + room + "/"
			env.waitFor(t, ctx, "multivariant playlist", base+"index.m3u8", func(b string) bool {
				return strings.Contains(b, "source/index.m3u8") && strings.Contains(b, "240p/index.m3u8") &&
					strings.Count(b, "RESOLUTION=320x240") == 2 && strings.Contains(b, `CODECS="`+wc.hlsCodec) &&
					strings.Contains(b, `CODECS="avc1.`)
			})
			for _, r := range []struct{ rendition, want string }{{"source", wc.probed}, {"240p", "h264 320x240"}} {
				env.waitFor(t, ctx, "3 segments", base+r.rendition+"/index.m3u8", func(b string) bool { return strings.Count(b, "#EXTINF") >= 3 })
				st, err := testkit.ProbeStream(ctx, base+r.rendition+"/index.m3u8", 3*time.Second)
				if err != nil || st.String() != r.want || st.Frames <= 0 {
					t.Errorf("ffprobe of the %s rendition: %s, %d frames, %v; want %s", r.rendition, st, st.Frames, err, r.want)
				}
			}
			testkit.Eventually(t, ctx, "45 frames at the viewer", func() bool { return frameCount(v.Packets("video")) >= 45 })
			checkViewerFile(t, ctx, wc, v.Packets("video"))
			testkit.Eventually(t, ctx, "45 frames at the H.264 viewer", func() bool { return frameCount(h264v.Packets("video")) >= 45 })
			checkViewerFile(t, ctx, h264Alternate, h264v.Packets("video"))
		})
	}
}

// publishWHIP publishes wc's codec into room over WHIP and starts its encoder; the returned
// function stops both and reports the encoder's error.
func publishWHIP(t *testing.T, ctx context.Context, env *testEnv, room string, wc whipCodec) (stop func()) {
	t.Helper()
	track, err := webrtc.NewTrackLocalStaticRTP(wc.codec.RTPCodecCapability, "video", room)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := client.Publish(ctx, env.WHIP(room), []webrtc.TrackLocal{track},
		client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{wc.codec}})
	if err != nil {
		t.Fatalf("%s WHIP publish: %v", wc.name, err)
	}
	pubCtx, cancel := context.WithCancel(ctx)
	published := make(chan error, 1)
	go func() { published <- wc.publish(pubCtx, track) }()
	return func() {
		cancel()
		if err := <-published; err != nil && !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("%s publisher: %v", wc.name, err)
		}
		_ = sess.Close(context.Background())
	}
}

// checkViewerFile has ffprobe decode what the viewer got: every frame must decode.
func checkViewerFile(t *testing.T, ctx context.Context, wc whipCodec, pkts []*rtp.Packet) {
	t.Helper()
	slices.SortFunc(pkts, func(a, b *rtp.Packet) int { return int(int16(a.SequenceNumber - b.SequenceNumber)) })
	start := slices.IndexFunc(pkts, func(p *rtp.Packet) bool { return media.IsKeyframeStart(wc.codec.MimeType, p.Payload) })
	if start < 0 {
		t.Fatalf("the %s viewer got no keyframe", wc.name)
	}
	// The recording was read while packets flowed: the frame still arriving then (its
	// marker packet not in yet, e.g. a keyframe's parameter sets without its slices) is left
	// out, as a decoder would wait for the rest of it.
	end := len(pkts)
	for end > start && !pkts[end-1].Marker {
		end--
	}
	data, frames := wc.depacketize(t, pkts[start:end])
	path := filepath.Join(t.TempDir(), "viewer."+strings.ToLower(wc.name))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := testkit.ProbeStream(ctx, path, time.Minute)
	if err != nil {
		t.Fatalf("ffprobe of the %s the viewer got: %v", wc.name, err)
	}
	if st.String() != wc.probed || st.Frames < frames-1 {
		t.Fatalf("ffprobe of the viewer's %s: %s, %d of %d frames decoded; want %s", wc.name, st, st.Frames, frames, wc.probed)
	}
	t.Logf("viewer: %s, %d frames decoded", st, st.Frames)
}

// frameCount counts RTP packets with the marker bit (one per frame).
func frameCount(pkts []*rtp.Packet) int {
	n := 0
	for _, p := range pkts {
		if p.Marker {
			n++
		}
	}
	return n
}

// av1File depacketizes AV1 RTP into an IVF file.
func av1File(t *testing.T, pkts []*rtp.Packet) ([]byte, int) {
	var dep codecs.AV1Depacketizer
	ivf := ivfHeader(320, 240)
	var tu []byte
	frames := 0
	for _, p := range pkts {
		obus, err := dep.Unmarshal(p.Payload)
		if err != nil {
			t.Fatalf("AV1 packet %d: %v", p.SequenceNumber, err)
		}
		tu = append(tu, obus...)
		if p.Marker {
			ivf = binary.LittleEndian.AppendUint32(ivf, uint32(len(tu)+len(temporalDelimiter)))
			ivf = binary.LittleEndian.AppendUint64(ivf, uint64(frames))
			ivf = append(append(ivf, temporalDelimiter...), tu...)
			tu, frames = nil, frames+1
		}
	}
	return ivf, frames
}

// h265File depacketizes H.265 RTP into a raw Annex-B stream.
func h265File(t *testing.T, pkts []*rtp.Packet) ([]byte, int) {
	return annexBFile(t, "H.265", &codecs.H265Depacketizer{}, pkts)
}

// annexBFile depacketizes H.264 or H.265 RTP (dep's Unmarshal writes Annex B) into a raw
// stream and counts its frames (marker bits).
func annexBFile(t *testing.T, codec string, dep rtp.Depacketizer, pkts []*rtp.Packet) ([]byte, int) {
	var stream []byte
	frames := 0
	for _, p := range pkts {
		b, err := dep.Unmarshal(p.Payload)
		if err != nil {
			t.Fatalf("%s packet %d: %v", codec, p.SequenceNumber, err)
		}
		stream = append(stream, b...)
		if p.Marker {
			frames++
		}
	}
	return stream, frames
}

// ivfHeader is the 32-byte header of an AV1 IVF file.
func ivfHeader(w, h int) []byte {
	b := []byte("DKIF\x00\x00\x20\x00AV01")
	b = binary.LittleEndian.AppendUint16(b, uint16(w))
	b = binary.LittleEndian.AppendUint16(b, uint16(h))
	b = binary.LittleEndian.AppendUint32(b, 30)
	b = binary.LittleEndian.AppendUint32(b, 1)
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0)
}

// ffmpegOutput starts ffmpeg with args (its output on stdout) under ctx and returns its
// stdout and a wait for its end.
func ffmpegOutput(ctx context.Context, args ...string) (io.Reader, func(), error) {
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re"}, args...)...)
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

// readIVF calls fn with every frame of an IVF stream until it ends (nil error: ffmpeg was
// stopped) or fn fails.
func readIVF(out io.Reader, fn func(n uint32, frame []byte) error) error {
	r := bufio.NewReader(out)
	if _, err := io.ReadFull(r, make([]byte, 32)); err != nil { // IVF file header
		return nil
	}
	head := make([]byte, 12)
	for n := uint32(0); ; n++ {
		if _, err := io.ReadFull(r, head); err != nil {
			return nil
		}
		frame := make([]byte, binary.LittleEndian.Uint32(head))
		if _, err := io.ReadFull(r, frame); err != nil {
			return nil
		}
		if err := fn(n, frame); err != nil {
			return err
		}
	}
}

// writePackets writes one frame's payloads to track at RTP time ts, the marker on the last.
func writePackets(track *webrtc.TrackLocalStaticRTP, seq *uint16, ts uint32, payloads [][]byte) error {
	for i, p := range payloads {
		*seq++
		err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: *seq,
			Timestamp: ts, Marker: i == len(payloads)-1}, Payload: p})
		if err != nil {
			return err
		}
	}
	return nil
}

// publishAV1 encodes a test pattern to AV1 with libaom (real-time usage, IVF on ffmpeg's
// stdout) and writes each temporal unit to track, packetized by pion's AV1 payloader.
func publishAV1(ctx context.Context, track *webrtc.TrackLocalStaticRTP) error {
	out, wait, err := ffmpegOutput(ctx, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
		"-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-g", "15", "-b:v", "300k", "-f", "ivf", "-")
	if err != nil {
		return err
	}
	defer wait()
	var pay codecs.AV1Payloader
	var seq uint16
	return readIVF(out, func(n uint32, tu []byte) error {
		return writePackets(track, &seq, n*6000, pay.Payload(1200, tu))
	})
}

// publishH265 encodes a test pattern with libx265 (no B-frames; MPEG-TS on ffmpeg's stdout)
// and writes each access unit to track, packetized by pion's H265Payloader (RFC 7798).
func publishH265(ctx context.Context, track *webrtc.TrackLocalStaticRTP) error {
	out, wait, err := ffmpegOutput(ctx, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
		"-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-b:v", "300k",
		"-x265-params", "log-level=error:bframes=0", "-f", "mpegts", "-")
	if err != nil {
		return err
	}
	defer wait()
	mr := &mpegts.Reader{R: out}
	if err := mr.Initialize(); err != nil {
		return nil // stopped before the first packets
	}
	pay := &codecs.H265Payloader{}
	var seq uint16
	for _, tr := range mr.Tracks() {
		if _, ok := tr.Codec.(*tscodecs.H265); ok {
			mr.OnDataH265(tr, func(pts, _ int64, au [][]byte) error {
				return writePackets(track, &seq, uint32(pts), pay.Payload(1200, annexB(au)))
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
