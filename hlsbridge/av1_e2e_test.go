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

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
)

// av1Codec is what an AV1 WHIP publisher offers (Chromium's fmtp).
var av1Codec = webrtc.RTPCodecParameters{PayloadType: 45, RTPCodecCapability: webrtc.RTPCodecCapability{
	MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, SDPFmtpLine: "level-idx=5;profile=0;tier=0"}}

// TestAV1OverWHIP: a pion publisher offers only AV1 over WHIP and sends libaom's AV1
// (ffmpeg, real time, packetized by pion's AV1 payloader); a WHEP viewer that offers AV1
// receives AV1 that ffprobe decodes, a viewer that offers only H.264 gets 406 with the
// reason, and the room's LL-HLS source rendition is H.264 transcoded from the AV1.
func TestAV1OverWHIP(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	testkit.RequireTool(t, "ffprobe")
	ctx := testkit.Context(t, 90*time.Second)
	env := newTestEnv(t)
	env.runManager(t, ctx, Options{Poll: 100 * time.Millisecond})
	track, err := webrtc.NewTrackLocalStaticRTP(av1Codec.RTPCodecCapability, "video", "av1")
	if err != nil {
		t.Fatal(err)
	}
	sess, err := client.Publish(ctx, env.WHIP("av1"), []webrtc.TrackLocal{track},
		client.Options{LoopbackOnly: true, Codecs: []webrtc.RTPCodecParameters{av1Codec}})
	if err != nil {
		t.Fatalf("AV1 WHIP publish: %v", err)
	}
	defer sess.Close(context.Background())
	pubCtx, stopPub := context.WithCancel(ctx)
	published := make(chan error, 1)
	go func() { published <- publishAV1(pubCtx, track) }()
	defer func() {
		stopPub()
		if err := <-published; err != nil {
			t.Errorf("AV1 publisher: %v", err)
		}
	}()
	env.WaitLive(t, ctx, "av1")

	_, v := env.Play(t, ctx, "av1")
	h264Only := []webrtc.RTPCodecParameters{{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}}
	_, err = client.Play(ctx, env.WHEP("av1"), client.Options{LoopbackOnly: true, Codecs: h264Only}, webrtc.RTPCodecTypeVideo)
	var he *client.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusNotAcceptable || !strings.Contains(he.Body, "AV1") {
		t.Errorf("H.264-only viewer of an AV1 room: %v, want 406 naming AV1", err)
	}

	base := env.URL + "/hls/av1/"
	env.waitFor(t, ctx, "multivariant playlist", base+"index.m3u8", func(b string) bool {
		return strings.Contains(b, "source/index.m3u8") && strings.Contains(b, "RESOLUTION=320x240")
	})
	env.waitFor(t, ctx, "3 segments", base+"source/index.m3u8", func(b string) bool { return strings.Count(b, "#EXTINF") >= 3 })
	if err := probe(ctx, t, base+"source/index.m3u8", "source-320"); err != nil {
		t.Error(err)
	}
	testkit.Eventually(t, ctx, "45 AV1 frames at the viewer", func() bool { return frameCount(v.Packets("video")) >= 45 })
	checkAV1(t, ctx, v.Packets("video"))
}

// frameCount counts RTP packets with the marker bit (one per temporal unit).
func frameCount(pkts []*rtp.Packet) int {
	n := 0
	for _, p := range pkts {
		if p.Marker {
			n++
		}
	}
	return n
}

// checkAV1 depacketizes what the viewer got from its first keyframe (N bit) into an IVF file
// and has ffprobe decode it: every temporal unit must decode.
func checkAV1(t *testing.T, ctx context.Context, pkts []*rtp.Packet) {
	t.Helper()
	slices.SortFunc(pkts, func(a, b *rtp.Packet) int { return int(int16(a.SequenceNumber - b.SequenceNumber)) })
	start := slices.IndexFunc(pkts, func(p *rtp.Packet) bool { return len(p.Payload) > 0 && p.Payload[0]&0x08 != 0 })
	if start < 0 {
		t.Fatal("the AV1 viewer got no keyframe (N bit)")
	}
	var dep codecs.AV1Depacketizer
	var ivf, tu []byte
	frames := 0
	ivf = append(ivf, ivfHeader(320, 240)...)
	for _, p := range pkts[start:] {
		obus, err := dep.Unmarshal(p.Payload)
		if err != nil {
			t.Fatalf("AV1 packet %d: %v", p.SequenceNumber, err)
		}
		tu = append(tu, obus...)
		if p.Marker {
			ivf = binary.LittleEndian.AppendUint32(ivf, uint32(len(tu)+2))
			ivf = binary.LittleEndian.AppendUint64(ivf, uint64(frames))
			ivf = append(append(ivf, temporalDelimiter...), tu...)
			tu, frames = nil, frames+1
		}
	}
	path := filepath.Join(t.TempDir(), "viewer.ivf")
	if err := os.WriteFile(path, ivf, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := testkit.ProbeStream(ctx, path, time.Minute)
	if err != nil {
		t.Fatalf("ffprobe of the AV1 the viewer got: %v", err)
	}
	if st.String() != "av1 320x240" || st.Frames < frames-1 {
		t.Fatalf("ffprobe of the viewer's AV1: %s, %d of %d frames decoded", st, st.Frames, frames)
	}
	t.Logf("viewer: %s, %d frames decoded", st, st.Frames)
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

// publishAV1 runs ffmpeg encoding a test pattern to AV1 (libaom, real-time usage) in an IVF
// stream on its stdout, in real time, and writes each temporal unit to track, packetized by
// pion's AV1 payloader.
func publishAV1(ctx context.Context, track *webrtc.TrackLocalStaticRTP) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-c:v", "libaom-av1", "-usage", "realtime",
		"-cpu-used", "8", "-g", "15", "-b:v", "300k", "-f", "ivf", "-")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Wait() }()
	r := bufio.NewReader(out)
	if _, err := io.ReadFull(r, make([]byte, 32)); err != nil { // IVF file header
		return nil // ffmpeg was stopped
	}
	var pay codecs.AV1Payloader
	var seq uint16
	head := make([]byte, 12)
	for n := uint32(0); ; n++ {
		if _, err := io.ReadFull(r, head); err != nil {
			return nil // ended with ctx
		}
		tu := make([]byte, binary.LittleEndian.Uint32(head))
		if _, err := io.ReadFull(r, tu); err != nil {
			return nil
		}
		pkts := pay.Payload(1200, tu)
		for i, p := range pkts {
			seq++
			err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq,
				Timestamp: n * 6000, Marker: i == len(pkts)-1}, Payload: p})
			if err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return err
			}
		}
	}
}
