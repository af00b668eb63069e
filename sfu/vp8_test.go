package sfu

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// vp8Codec is the VP8 codec of the tests' slots.
var vp8Codec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}

// VP8 payload descriptor bits (RFC 7741 §4.2) that vp8Pkt sets.
const (
	vp8I = 0x80 // extension byte: PictureID present
	vp8L = 0x40 // TL0PICIDX present
	vp8T = 0x20 // TID present
	vp8K = 0x10 // KEYIDX present
	vp8M = 0x80 // first PictureID byte: 15-bit PictureID
)

// vp8Pkt builds a VP8 payload descriptor (RFC 7741) followed by two payload bytes.
// pic < 0 leaves PictureID out; pic15 picks its width; tl0, keyIdx < 0 leave those out;
// tid >= 0 sets the T bit.
type vp8Fields struct {
	pic    int
	pic15  bool
	tl0    int
	tid    int
	keyIdx int
}

func vp8Pkt(f vp8Fields) []byte {
	p := []byte{0x90, 0} // X, S
	if f.pic >= 0 {
		p[1] |= vp8I
		if f.pic15 {
			p = append(p, vp8M|byte(f.pic>>8), byte(f.pic))
		} else {
			p = append(p, byte(f.pic&0x7f))
		}
	}
	if f.tl0 >= 0 {
		p[1] |= vp8L
		p = append(p, byte(f.tl0))
	}
	if f.tid >= 0 || f.keyIdx >= 0 {
		var b byte
		if f.tid >= 0 {
			p[1] |= vp8T
			b |= byte(f.tid) << 6
		}
		if f.keyIdx >= 0 {
			p[1] |= vp8K
			b |= byte(f.keyIdx & 0x1f)
		}
		p = append(p, b)
	}
	return append(p, 0x9d, 0x01)
}

// readVP8 returns the fields of a descriptor built by vp8Pkt (-1 for absent ones).
func readVP8(t *testing.T, p []byte) vp8Fields {
	t.Helper()
	d, err := media.ParseVP8Descriptor(p)
	if err != nil {
		t.Fatalf("unparsable descriptor % x: %v", p, err)
	}
	f := vp8Fields{pic: -1, tl0: -1, tid: -1, keyIdx: -1, pic15: d.PictureID15}
	if d.HasPictureID {
		f.pic = int(d.PictureID)
	}
	if d.HasTL0PICIDX {
		f.tl0 = int(d.TL0PICIDX)
	}
	if d.HasTID {
		f.tid = int(d.TID)
	}
	if d.HasKeyIdx {
		f.keyIdx = int(d.KeyIdx)
	}
	return f
}

// vp8Step is one packet through the rewriter: rebase first when asked, then in and out.
type vp8Step struct {
	rebase  bool
	in, out vp8Fields
}

func f15(pic, tl0, keyIdx int) vp8Fields {
	return vp8Fields{pic: pic, pic15: true, tl0: tl0, tid: -1, keyIdx: keyIdx}
}

func f7(pic, tl0 int) vp8Fields { return vp8Fields{pic: pic, tl0: tl0, tid: -1, keyIdx: -1} }

func TestVP8MungerKeepsNumberingContinuous(t *testing.T) {
	none := vp8Fields{pic: -1, tl0: -1, tid: -1, keyIdx: -1}
	tests := []struct {
		name  string
		steps []vp8Step
	}{
		{"first source passes through", []vp8Step{
			{in: f15(100, 7, 3), out: f15(100, 7, 3)},
			{in: f15(100, 7, 3), out: f15(100, 7, 3)}, // second packet of the picture
			{in: f15(101, 8, 3), out: f15(101, 8, 3)},
		}},
		{"switch to a layer numbered lower continues", []vp8Step{
			{in: f15(20000, 200, 9), out: f15(20000, 200, 9)},
			{in: f15(20001, 201, 9), out: f15(20001, 201, 9)},
			{rebase: true, in: f15(50, 3, 1), out: f15(20002, 202, 10)},
			{in: f15(50, 3, 1), out: f15(20002, 202, 10)},
			{in: f15(51, 4, 1), out: f15(20003, 203, 10)},
			{in: f15(53, 6, 2), out: f15(20005, 205, 11)}, // a gap in the source stays a gap
		}},
		{"15-bit wrap", []vp8Step{
			{in: f15(0x7ffe, 255, 31), out: f15(0x7ffe, 255, 31)},
			{in: f15(0x7fff, 0, 0), out: f15(0x7fff, 0, 0)},
			{in: f15(0, 1, 0), out: f15(0, 1, 0)},
			{rebase: true, in: f15(0x7ff0, 100, 4), out: f15(1, 2, 1)},
			{in: f15(0x0002, 103, 4), out: f15(19, 5, 1)},
		}},
		{"7-bit ids wrap at 128", []vp8Step{
			{in: f7(126, 10), out: f7(126, 10)},
			{in: f7(127, 11), out: f7(127, 11)},
			{in: f7(0, 12), out: f7(0, 12)},
			{rebase: true, in: f7(90, 50), out: f7(1, 13)},
			{in: f7(91, 51), out: f7(2, 14)},
		}},
		{"older packets (reordered, resent) count back", []vp8Step{
			{in: f15(500, 20, 0), out: f15(500, 20, 0)},
			{rebase: true, in: f15(9000, 90, 0), out: f15(501, 21, 1)},
			{in: f15(9003, 93, 0), out: f15(504, 24, 1)},
			{in: f15(9001, 91, 0), out: f15(502, 22, 1)},
			{in: f15(9004, 94, 0), out: f15(505, 25, 1)},
		}},
		{"packets without the fields are untouched and keep the state", []vp8Step{
			{in: f15(10, 1, 0), out: f15(10, 1, 0)},
			{in: none, out: none},
			{rebase: true, in: none, out: none},
			{in: f15(7000, 70, 5), out: f15(11, 2, 1)},
		}},
		{"a rebase before anything was sent passes through", []vp8Step{
			{rebase: true, in: f15(300, 30, 2), out: f15(300, 30, 2)},
		}},
		{"temporal index is left alone", []vp8Step{
			{in: vp8Fields{pic: 5, pic15: true, tl0: 1, tid: 0, keyIdx: -1}, out: vp8Fields{pic: 5, pic15: true, tl0: 1, tid: 0, keyIdx: -1}},
			{rebase: true, in: vp8Fields{pic: 80, pic15: true, tl0: 9, tid: 2, keyIdx: -1}, out: vp8Fields{pic: 6, pic15: true, tl0: 2, tid: 2, keyIdx: -1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v vp8Munger
			for i, s := range tt.steps {
				if s.rebase {
					v.rebase()
				}
				p := vp8Pkt(s.in)
				v.rewrite(p)
				if got := readVP8(t, p); got != s.out {
					t.Fatalf("step %d: %+v became %+v, want %+v", i, s.in, got, s.out)
				}
				if p[len(p)-2] != 0x9d || p[len(p)-1] != 0x01 {
					t.Fatalf("step %d: the VP8 payload after the descriptor changed", i)
				}
			}
		})
	}
}

func TestVP8MungerLeavesShortPacketsAlone(t *testing.T) {
	var v vp8Munger
	for _, p := range [][]byte{nil, {0x90}, {0x90, 0x80, 0x81}, {0x90, 0xa0, 0x05}} {
		before := append([]byte(nil), p...)
		v.rewrite(p)
		if string(before) != string(p) {
			t.Fatalf("rewrite changed a truncated descriptor % x → % x", before, p)
		}
	}
}

// BenchmarkVP8Rewrite is the per-packet cost of keeping a viewer's VP8 numbering continuous
// (parse and rewrite of PictureID, TL0PICIDX and KEYIDX in place); it must not allocate.
func BenchmarkVP8Rewrite(b *testing.B) {
	p := vp8Pkt(f15(1000, 10, 1))
	var v vp8Munger
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pic := uint16(1000 + i/3)
		p[2], p[3] = vp8M|byte(pic>>8&0x7f), byte(pic)
		if i%600 == 0 {
			v.rebase()
		}
		v.rewrite(p)
	}
}

func TestVP8RewriteAllocatesNothing(t *testing.T) {
	p := vp8Pkt(f15(1000, 10, 1))
	var v vp8Munger
	if n := testing.AllocsPerRun(1000, func() { v.rewrite(p) }); n != 0 {
		t.Fatalf("rewrite allocates %.1f times per packet, want 0", n)
	}
}
