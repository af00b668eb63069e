package transcoder

import (
	"bytes"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/glint-video/glint/media"
)

// firstSPS returns the first SPS NAL of an access unit.
func firstSPS(au []byte) []byte {
	var sps []byte
	forEachNAL(au, func(nal []byte) bool {
		if len(nal) > 0 && nal[0]&0x1f == media.H264NALSPS {
			sps = nal
			return false
		}
		return true
	})
	return sps
}

// TestReencoderRemovesBFrames: H.264 and H.265 with B-frames become constrained-baseline
// H.264 in presentation order, with IDRs at the start, on request and every 2 s.
func TestReencoderRemovesBFrames(t *testing.T) {
	for _, codec := range []string{"H264", "H265"} {
		t.Run(codec, func(t *testing.T) { testReencoderRemovesBFrames(t, codec) })
	}
}

func testReencoderRemovesBFrames(t *testing.T, codec string) {
	in := synthVideo(t, codec, 320, 240, 30, 120, 3, 60)
	hasB := false
	for i := 1; i < len(in); i++ {
		hasB = hasB || in[i].PTS < in[i-1].PTS
	}
	if !hasB {
		t.Fatal("test input has no B-frames")
	}
	r, err := NewReencoder(ReencoderConfig{SourceCodec: codec, BitrateKbps: 500, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Encoded
	for i, e := range in {
		if i == 45 {
			r.RequestKeyframe()
		}
		got, err := r.Push(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	rest, err := r.Flush()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, rest...)
	src := displayPTS(in)
	if len(out) != len(in) {
		t.Fatalf("%d outputs for %d inputs", len(out), len(in))
	}
	var keys []int
	var det BFrameDetector
	for i, e := range out {
		if e.PTS != src[i] || e.DTS != e.PTS {
			t.Fatalf("output %d: PTS %v DTS %v, want %v", i, e.PTS, e.DTS, src[i])
		}
		if b, _ := det.Observe(e); b {
			t.Fatalf("output %d: B-frames detected", i)
		}
		if e.Keyframe {
			keys = append(keys, i)
		}
	}
	// IDR at start, the one requested while pushing input 45 (its picture leaves the decoder a
	// few frames earlier or later), then periodic: 2 s = 60 frames after it.
	if len(keys) != 3 || keys[0] != 0 || keys[1] < 40 || keys[1] > 48 || keys[2] != keys[1]+60 {
		t.Errorf("keyframes at %v", keys)
	}
	sps := firstSPS(out[0].Data)
	if len(sps) < 4 || sps[1] != 66 {
		t.Fatalf("SPS %x: want constrained baseline (profile_idc 66)", sps)
	}
	if n, known, err := SPSMaxReorderFrames(sps); err != nil || !known || n != 0 {
		t.Errorf("SPSMaxReorderFrames = %d %v %v", n, known, err)
	}
	for i, p := range decodeAll(t, astiav.CodecIDH264, out) {
		if p.typ == astiav.PictureTypeB || p.w != 320 || p.h != 240 {
			t.Fatalf("picture %d: type %v %dx%d", i, p.typ, p.w, p.h)
		}
	}
}

func TestHasBFramesAndSPS(t *testing.T) {
	for _, tc := range []struct {
		bframes     int
		wantB       bool
		wantReorder int
	}{{0, false, 0}, {2, true, 2}} {
		in := synthVideo(t, "H264", 320, 240, 30, 40, tc.bframes, 30)
		anyB := false
		for _, e := range in {
			anyB = anyB || HasBFrames(e.Data)
		}
		if anyB != tc.wantB {
			t.Errorf("bframes=%d: HasBFrames on some AU = %v", tc.bframes, anyB)
		}
		n, known, err := SPSMaxReorderFrames(firstSPS(in[0].Data))
		if err != nil || !known || n != tc.wantReorder {
			t.Errorf("bframes=%d: SPSMaxReorderFrames = %d %v %v", tc.bframes, n, known, err)
		}
		var d BFrameDetector
		var hasB, decided bool
		for _, e := range in {
			hasB, decided = d.Observe(e)
		}
		if hasB != tc.wantB || !decided {
			t.Errorf("bframes=%d: detector = %v decided %v", tc.bframes, hasB, decided)
		}
	}
}

func TestSPSMaxReorderFramesBad(t *testing.T) {
	for _, b := range [][]byte{nil, {0x67}, {0x68, 1, 2, 3, 4}, {0x67, 100, 0, 30}, bytes.Repeat([]byte{0x67, 0xff}, 20)} {
		_, _, _ = SPSMaxReorderFrames(b) // must not panic
	}
	if _, _, err := SPSMaxReorderFrames([]byte{0x67, 100, 0, 30}); err == nil {
		t.Error("truncated SPS accepted")
	}
}

func FuzzH264Parsers(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x64, 0, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0, 0, 3, 0, 0x10})
	f.Add([]byte{0, 0, 1, 0x41, 0x9a, 0x00, 0x00, 0x01, 0x01, 0x9e})
	f.Fuzz(func(t *testing.T, b []byte) {
		HasBFrames(b)
		hasIDR(b)
		var d BFrameDetector
		d.Observe(Encoded{Data: b})
		forEachNAL(b, func(nal []byte) bool {
			_, _, _ = SPSMaxReorderFrames(nal)
			return true
		})
	})
}
