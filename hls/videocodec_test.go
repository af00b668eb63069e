package hls

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/glint-video/glint/internal/testkit"
)

// passCodec is a source codec packaged as it is (TestPassthroughCodecs).
type passCodec struct {
	format  VideoFormat
	encode  []string // ffmpeg output options
	samples func(t *testing.T, out []byte) []Sample
	entry   string         // sample entry box
	codecs  *regexp.Regexp // the CODECS attribute of the multivariant playlist
	probed  string
}

var passCodecs = []passCodec{
	{format: H265, entry: "hvc1", probed: "hevc 320x240", samples: h265TestSamples,
		codecs: regexp.MustCompile(`CODECS="hvc1\.1\.6\.L\d+(\.[0-9A-F]{1,2})*"`),
		encode: []string{"-c:v", "libx265", "-preset", "ultrafast", "-g", "30", "-x265-params",
			"log-level=error:bframes=0:keyint=30:min-keyint=30:scenecut=0", "-f", "mpegts"}},
	{format: AV1, entry: "av01", probed: "av1 320x240", samples: av1TestSamples,
		codecs: regexp.MustCompile(`CODECS="av01\.0\.\d\dM\.08"`),
		encode: []string{"-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-g", "30",
			"-keyint_min", "30", "-b:v", "300k", "-f", "ivf"}},
}

// TestPassthroughCodecs packages H.265 (libx265) and AV1 (libaom) access units as they come
// from a source, parameter sets in-band: the init segment has an hvc1 (hvcC) or av01 (av1C)
// sample entry, the multivariant playlist's CODECS follows RFC 6381 / AV1-ISOBMFF, and
// ffprobe decodes every frame of the rendition.
func TestPassthroughCodecs(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	testkit.RequireTool(t, "ffprobe")
	for _, pc := range passCodecs {
		t.Run(pc.format.String(), func(t *testing.T) {
			ctx := testkit.Context(t, 2*time.Minute)
			out, err := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-loglevel", "error",
				"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "4"}, append(pc.encode, "-")...)...).Output()
			if err != nil {
				t.Fatalf("ffmpeg: %v", err)
			}
			samples := pc.samples(t, out)
			s := NewStream("live", testCfg, testLogger())
			tr, err := s.AddVideo("source", VideoTrackInfo{Format: pc.format, FPS: 30, BitrateKbps: 300})
			if err != nil {
				t.Fatal(err)
			}
			for _, smp := range samples {
				if err := tr.WriteSample(smp); err != nil {
					t.Fatalf("sample at %v: %v", smp.DTS, err)
				}
			}
			s.Close()
			sv := NewServer(testLogger())
			sv.Add("live", s)
			srv := httptest.NewServer(sv)
			defer srv.Close()
			base := srv.URL + "/hls/live/"

			if mv := getBody(t, base+"index.m3u8"); !pc.codecs.MatchString(mv) || !strings.Contains(mv, "RESOLUTION=320x240") {
				t.Errorf("multivariant playlist:\n%s\nwant CODECS matching %s and 320x240", mv, pc.codecs)
			}
			init := getBody(t, base+"source/init"+fmt.Sprint(s.firstMSN)+".mp4")
			checkSampleEntry(t, init, pc.entry)
			if codec, w, h, err := InitCodec([]byte(init)); err != nil || !pc.codecs.MatchString(`CODECS="`+codec+`"`) || w != 320 || h != 240 {
				t.Errorf("InitCodec: %s %dx%d, %v; want CODECS matching %s, 320x240", codec, w, h, err, pc.codecs)
			} else {
				t.Logf("CODECS %s", codec)
			}
			st, err := testkit.ProbeStream(ctx, base+"source/index.m3u8", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if st.String() != pc.probed || st.Frames < len(samples)-1 {
				t.Fatalf("ffprobe: %s, %d of %d frames; want %s", st, st.Frames, len(samples), pc.probed)
			}
			t.Logf("ffprobe: %s, %d frames decoded", st, st.Frames)
		})
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// checkSampleEntry decodes an init segment and checks its sample entry and configuration box.
func checkSampleEntry(t *testing.T, data, entry string) {
	t.Helper()
	f, err := mp4.DecodeFile(strings.NewReader(data))
	if err != nil || f.Init == nil {
		t.Fatalf("init segment: %v", err)
	}
	vse, ok := f.Init.Moov.Trak.Mdia.Minf.Stbl.Stsd.Children[0].(*mp4.VisualSampleEntryBox)
	switch {
	case !ok || vse.Type() != entry:
		t.Fatalf("sample entry %T, want %s", f.Init.Moov.Trak.Mdia.Minf.Stbl.Stsd.Children[0], entry)
	case entry == "hvc1" && (vse.HvcC == nil || len(vse.HvcC.NaluArrays) != 3):
		t.Errorf("hvc1 without hvcC holding VPS, SPS and PPS")
	case entry == "av01" && (vse.Av1C == nil || len(vse.Av1C.ConfigOBUs) == 0):
		t.Errorf("av01 without av1C holding the sequence header")
	case vse.Width != 320 || vse.Height != 240:
		t.Errorf("sample entry size %dx%d, want 320x240", vse.Width, vse.Height)
	}
}

// h265TestSamples reads the H.265 access units of an MPEG-TS stream (Annex B, 90 kHz).
func h265TestSamples(t *testing.T, ts []byte) []Sample {
	r := &mpegts.Reader{R: bytes.NewReader(ts)}
	if err := r.Initialize(); err != nil {
		t.Fatal(err)
	}
	var out []Sample
	for _, tr := range r.Tracks() {
		if _, ok := tr.Codec.(*tscodecs.H265); ok {
			r.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
				data, err := h264.AnnexB(au).Marshal()
				out = append(out, Sample{Data: data, DTS: ticks90k(dts), PTS: ticks90k(pts),
					Keyframe: h265.IsRandomAccess(au), Duration: time.Second / 30})
				return err
			})
		}
	}
	for r.Read() == nil {
	}
	if len(out) < 100 {
		t.Fatalf("%d H.265 access units, want 120", len(out))
	}
	return out
}

// av1TestSamples reads the temporal units of an IVF stream (a temporal delimiter first).
func av1TestSamples(t *testing.T, ivf []byte) []Sample {
	r := bufio.NewReader(bytes.NewReader(ivf))
	if _, err := r.Discard(32); err != nil {
		t.Fatal(err)
	}
	var out []Sample
	head := make([]byte, 12)
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, head); err != nil {
			break
		}
		tu := make([]byte, binary.LittleEndian.Uint32(head))
		if _, err := io.ReadFull(r, tu); err != nil {
			t.Fatal(err)
		}
		var bs av1.Bitstream
		if err := bs.Unmarshal(tu); err != nil {
			t.Fatal(err)
		}
		d := time.Duration(i) * time.Second / 30
		out = append(out, Sample{Data: tu, DTS: d, PTS: d, Keyframe: av1.IsRandomAccess2(bs), Duration: time.Second / 30})
	}
	if len(out) < 100 {
		t.Fatalf("%d AV1 temporal units, want 120", len(out))
	}
	return out
}

func ticks90k(t int64) time.Duration { return time.Duration(t) * time.Second / 90000 }

// TestAV1Sample: temporal delimiters leave the sample; the other OBUs keep their size fields.
func TestAV1Sample(t *testing.T) {
	frame := []byte{0x32, 0x03, 1, 2, 3} // OBU_FRAME with a size field, 3 bytes
	got, err := av1Sample(append([]byte{0x12, 0x00}, frame...))
	if err != nil || !bytes.Equal(got, frame) {
		t.Fatalf("av1Sample: % x, %v; want % x", got, err, frame)
	}
	layered := []byte{0x36, 0x08, 0x02, 9, 9} // OBU_FRAME with an extension header (temporal id 0, spatial 1)
	if got, err := av1Sample(append([]byte{0x12, 0x00}, layered...)); err != nil || !bytes.Equal(got, layered) {
		t.Fatalf("av1Sample with an extension header: % x, %v; want % x", got, err, layered)
	}
	if _, err := av1Sample([]byte{0x12, 0x00}); err == nil {
		t.Error("a temporal unit of only a delimiter was accepted")
	}
}

// TestAV1CodecString checks av01.P.LLT.DD from sequence headers' fields.
func TestAV1CodecString(t *testing.T) {
	for _, c := range []struct {
		sh   av1.SequenceHeader
		want string
	}{
		{av1.SequenceHeader{SeqProfile: 0, SeqLevelIdx: []uint8{5}, SeqTier: []bool{false}}, "av01.0.05M.08"},
		{av1.SequenceHeader{SeqProfile: 1, SeqLevelIdx: []uint8{12}, SeqTier: []bool{true},
			ColorConfig: av1.SequenceHeader_ColorConfig{BitDepth: 10}}, "av01.1.12H.10"},
	} {
		level, high := av1Level(&c.sh)
		if got := av1CodecString(c.sh.SeqProfile, level, high, c.sh.ColorConfig.BitDepth); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
	}
}

// TestCodecChangeOnDiscontinuity: a publisher that comes back with H.265 after H.264 (the
// bridge's Discontinuity with the new format, parameter sets in-band): the H.264 segments
// keep their avc1 init segment, the H.265 ones follow EXT-X-DISCONTINUITY with an hvc1 one.
func TestCodecChangeOnDiscontinuity(t *testing.T) {
	testkit.RequireTool(t, "ffmpeg")
	ctx := testkit.Context(t, time.Minute)
	out, err := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "4"}, append(passCodecs[0].encode, "-")...)...).Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	h265 := h265TestSamples(t, out)
	h264 := loadMedia(t).video["hi"]
	s := NewStream("live", testCfg, testLogger())
	tr, err := s.AddVideo("source", VideoTrackInfo{FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	last := time.Duration(0)
	for _, smp := range h264[:120] {
		if err := tr.WriteSample(smp); err != nil {
			t.Fatal(err)
		}
		last = smp.DTS
	}
	if err := tr.Discontinuity(VideoTrackInfo{Format: H265, FPS: 30}); err != nil {
		t.Fatal(err)
	}
	for _, smp := range h265 {
		smp.DTS, smp.PTS = smp.DTS+last+time.Second, smp.PTS+last+time.Second
		if err := tr.WriteSample(smp); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	sv := NewServer(testLogger())
	sv.Add("live", s)
	srv := httptest.NewServer(sv)
	defer srv.Close()
	playlist := getBody(t, srv.URL+"/hls/live/source/index.m3u8")
	maps := regexp.MustCompile(`#EXT-X-MAP:URI="(init\d+\.mp4)"`).FindAllStringSubmatch(playlist, -1)
	if len(maps) != 2 || !strings.Contains(playlist, "#EXT-X-DISCONTINUITY\n") {
		t.Fatalf("want two init segments and a discontinuity:\n%s", playlist)
	}
	for i, entry := range []string{"avc1", "hvc1"} {
		f, err := mp4.DecodeFile(strings.NewReader(getBody(t, srv.URL+"/hls/live/source/"+maps[i][1])))
		if err != nil || f.Init == nil {
			t.Fatalf("%s: %v", maps[i][1], err)
		}
		if got := f.Init.Moov.Trak.Mdia.Minf.Stbl.Stsd.Children[0].Type(); got != entry {
			t.Errorf("%s: sample entry %s, want %s", maps[i][1], got, entry)
		}
	}
	if mv := getBody(t, srv.URL+"/hls/live/index.m3u8"); !strings.Contains(mv, `CODECS="hvc1.`) {
		t.Errorf("multivariant playlist after the change:\n%s", mv)
	}
}
