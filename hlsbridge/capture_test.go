package hlsbridge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/media"
)

// captureLag is how far in the past the SEI publisher stamps its frames: PROGRAM-DATE-TIME
// must follow the stamps, not the packets' arrival.
const captureLag = 300 * time.Millisecond

// TestProgramDateTimeFollowsCaptureSEI publishes real H.264 whose access units carry
// capture-time SEIs stamped 300 ms in the past (as a `glint loadtest` publisher whose
// frames took that long to get here) and checks the LL-HLS output: every sample of the
// passthrough rendition still carries its SEI, and every segment's EXT-X-PROGRAM-DATE-TIME
// is the capture time of its first frame within two frames, on the passthrough rendition
// and on the re-encoded one (where the SEI is gone; its frames are matched to the
// passthrough's by decode time).
func TestProgramDateTimeFollowsCaptureSEI(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	ctx := testkit.Context(t, 90*time.Second)
	aus := encodeTestStream(ctx, t, 20*time.Second)
	env := newTestEnv(t)
	m := env.runManager(t, ctx, Options{Rooms: testRooms, Poll: 100 * time.Millisecond,
		HLS: hls.Config{SegmentDuration: time.Second, PartDuration: 333 * time.Millisecond}})
	stopPub := publishWithCaptureSEI(t, env, "sei", aus)
	defer stopPub()

	base := env.URL + "/hls/sei/"
	env.waitFor(t, ctx, "multivariant playlist with both renditions", base+"index.m3u8", func(b string) bool {
		return strings.Contains(b, "source/index.m3u8") && strings.Contains(b, "240p/index.m3u8")
	})
	env.waitFor(t, ctx, "four complete segments", base+"240p/index.m3u8", func(b string) bool {
		return strings.Count(b, "#EXTINF") >= 4
	})
	frame := time.Second / testFPS
	source := fetchSegments(ctx, t, env, base+"source/")
	reencoded := fetchSegments(ctx, t, env, base+"240p/")
	captured := map[uint64]time.Time{} // passthrough decode time → SEI capture time
	for _, seg := range source {
		for i, s := range seg.samples {
			c, ok := media.FindCaptureTimeAVCC(s.data)
			if !ok {
				t.Errorf("source segment %d sample %d: capture SEI lost", seg.msn, i)
				continue
			}
			captured[s.decode] = c
		}
		if c, ok := captured[seg.samples[0].decode]; ok {
			checkPDT(t, "source", seg, c, frame)
		}
	}
	matched := 0
	for _, seg := range reencoded {
		if _, ok := media.FindCaptureTimeAVCC(seg.samples[0].data); ok {
			t.Errorf("240p segment %d: a re-encoded sample carries the source's SEI", seg.msn)
		}
		if c, ok := captured[seg.samples[0].decode]; ok {
			checkPDT(t, "240p", seg, c, frame)
			matched++
		}
	}
	if len(source) < 3 || matched < 3 {
		t.Errorf("%d source segments, %d re-encoded segments matched to them: want 3 or more", len(source), matched)
	}
	checkBridgeStats(t, m, "sei")
}

// checkBridgeStats: the capture → server latency follows the SEI stamps (captureLag in the
// past, plus the path here), and the room's ladder reports its rungs' frames and load.
func checkBridgeStats(t *testing.T, m *Manager, room string) {
	t.Helper()
	c := m.CaptureToServer()
	if c.Count == 0 || c.Mean() < captureLag-50*time.Millisecond || c.Mean() > captureLag+time.Second {
		t.Errorf("capture to server: %d frames, mean %v; want about %v", c.Count, c.Mean(), captureLag)
	}
	stats := m.Stats()
	if len(stats) != 1 || stats[0].Room != room || stats[0].Ladder == nil {
		t.Fatalf("Stats() = %+v, want room %s with its ladder", stats, room)
	}
	for _, r := range stats[0].Ladder.Rungs {
		if r.Frames == 0 || !r.Active {
			t.Errorf("rung %+v: want active with frames", r)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for name, n := range map[string]int{"glint_transcoder_frames_total": 2, "glint_transcoder_rung_cpu_ratio": 1,
		"glint_capture_to_server_seconds": 1, "glint_hls_bridge_dropped_packets_total": 1} {
		if series[name] != n {
			t.Errorf("%s: %d series, want %d (all: %v)", name, series[name], n, series)
		}
	}
}

func checkPDT(t *testing.T, rendition string, seg fetchedSegment, capture time.Time, frame time.Duration) {
	t.Helper()
	off := seg.pdt.Sub(capture)
	t.Logf("%s segment %d: PROGRAM-DATE-TIME - capture time = %v", rendition, seg.msn, off)
	if off.Abs() > 2*frame {
		t.Errorf("%s segment %d: PROGRAM-DATE-TIME %s is %v from the capture time %s of its first frame",
			rendition, seg.msn, seg.pdt.Format("15:04:05.000"), off, capture.Format("15:04:05.000"))
	}
}

// encodeTestStream has ffmpeg encode a 640x360 test pattern at testFPS (H.264, a keyframe
// every second, no B-frames) and returns its access units in Annex B form.
func encodeTestStream(ctx context.Context, t *testing.T, length time.Duration) [][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "src.h264")
	if b, err := testkit.Command(ctx, time.Minute, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=640x360:rate=%d", testFPS), "-t", fmt.Sprint(length.Seconds()),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-g", fmt.Sprint(testFPS),
		"-pix_fmt", "yuv420p", "-b:v", "600k", "-f", "h264", out); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][]byte
	var au [][]byte
	vcl := false
	for _, n := range splitAnnexB(data) {
		typ := n[0] & 0x1f
		isVCL := typ >= 1 && typ <= 5
		if vcl && (!isVCL || len(n) > 1 && n[1]&0x80 != 0) { // a new access unit
			aus, au, vcl = append(aus, joinAnnexB(au)), nil, false
		}
		vcl = vcl || isVCL
		au = append(au, n)
	}
	return append(aus, joinAnnexB(au))
}

func joinAnnexB(nals [][]byte) []byte {
	var out []byte
	for _, n := range nals {
		out = append(append(out, 0, 0, 0, 1), n...)
	}
	return out
}

// publishWithCaptureSEI publishes the access units in real time into room through an
// in-process publisher, each with a capture-time SEI stamped captureLag before its
// nominal capture time (start + n frames) in front of its first slice.
func publishWithCaptureSEI(t *testing.T, env *testEnv, room string, aus [][]byte) (stop func()) {
	t.Helper()
	pub, err := env.SFU.PublishLocal(room, &webrtc.RTPCodecParameters{PayloadType: 96,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "packetization-mode=1;profile-level-id=42e01f"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return runLocalPublisher(t, pub, func(done <-chan struct{}) {
		var pay codecs.H264Payloader
		var seq uint16
		frame := time.Second / testFPS
		start := time.Now()
		for n, au := range aus {
			captured := start.Add(time.Duration(n)*frame - captureLag)
			var stamped []byte
			sei := false
			for _, nal := range splitAnnexB(au) {
				if typ := nal[0] & 0x1f; !sei && typ >= 1 && typ <= 5 {
					stamped = append(append(stamped, 0, 0, 0, 1), media.AppendCaptureSEI(nil, captured)...)
					sei = true
				}
				stamped = append(append(stamped, 0, 0, 0, 1), nal...)
			}
			pkts := pay.Payload(1200, stamped)
			for i, p := range pkts {
				seq++
				b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
					Timestamp: uint32(n * 90000 / testFPS), Marker: i == len(pkts)-1, SSRC: 7}, Payload: p}).Marshal()
				_ = pub.WriteRTP("video", b)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Until(start.Add(time.Duration(n+1) * frame))):
			}
		}
	})
}

// fetchedSegment is a complete segment of a media playlist with its samples.
type fetchedSegment struct {
	msn     uint64
	pdt     time.Time
	samples []fetchedSample
}

type fetchedSample struct {
	decode uint64
	data   []byte // AVCC
}

// fetchSegments downloads the complete segments listed by the media playlist at
// base+"index.m3u8" and splits them into samples.
func fetchSegments(ctx context.Context, t *testing.T, env *testEnv, base string) []fetchedSegment {
	t.Helper()
	code, body, _, err := env.get(ctx, base+"index.m3u8")
	if err != nil || code != http.StatusOK {
		t.Fatalf("playlist %s: %d %v", base, code, err)
	}
	var out []fetchedSegment
	var pdt time.Time
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"); ok {
			if pdt, err = time.Parse(time.RFC3339Nano, v); err != nil {
				t.Fatalf("PROGRAM-DATE-TIME %q: %v", v, err)
			}
		}
		var msn uint64
		if _, err := fmt.Sscanf(line, "seg%d.m4s", &msn); err != nil {
			continue
		}
		code, data, _, err := env.get(ctx, base+line)
		if err != nil || code != http.StatusOK {
			t.Fatalf("segment %s%s: %d %v", base, line, code, err)
		}
		seg := fetchedSegment{msn: msn, pdt: pdt, samples: segmentSamples(t, data)}
		if len(seg.samples) == 0 {
			t.Fatalf("segment %s%s without samples", base, line)
		}
		out = append(out, seg)
	}
	return out
}

// segmentSamples splits the moof+mdat pairs of a segment into samples.
func segmentSamples(t *testing.T, data []byte) []fetchedSample {
	t.Helper()
	var out []fetchedSample
	r := bytes.NewReader(data)
	for pos := uint64(0); r.Len() > 0; {
		box, err := mp4.DecodeBox(pos, r)
		if err != nil {
			t.Fatalf("decode box at %d: %v", pos, err)
		}
		if moof, ok := box.(*mp4.MoofBox); ok {
			traf := moof.Traf
			decode := traf.Tfdt.BaseMediaDecodeTime()
			at := pos + uint64(traf.Trun.DataOffset)
			for _, s := range traf.Trun.Samples {
				if at+uint64(s.Size) > uint64(len(data)) {
					t.Fatalf("sample outside the segment")
				}
				out = append(out, fetchedSample{decode: decode, data: data[at : at+uint64(s.Size)]})
				at += uint64(s.Size)
				decode += uint64(s.Dur)
			}
		}
		pos += box.Size()
	}
	return out
}
