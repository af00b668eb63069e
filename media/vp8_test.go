package media

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseVP8Descriptor(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		err  error
		want VP8Descriptor
	}{
		{"empty", nil, ErrVP8Short, VP8Descriptor{}},
		{"no extension, keyframe", []byte{0x10, 0x9c}, nil, VP8Descriptor{Start: true, Size: 1, Keyframe: true}},
		{"no extension, delta", []byte{0x10, 0x9d}, nil, VP8Descriptor{Start: true, Size: 1}},
		{"N, partition 2", []byte{0x22, 0x9c}, nil, VP8Descriptor{NonReference: true, PartitionID: 2, Size: 1}},
		{"descriptor only", []byte{0x10}, nil, VP8Descriptor{Start: true, Size: 1}},
		{"X without its byte", []byte{0x90}, ErrVP8Short, VP8Descriptor{}},
		{"X with no fields", []byte{0x90, 0x00, 0x9c}, nil, VP8Descriptor{Extended: true, Start: true, Size: 2, Keyframe: true}},
		{"7-bit picture id", []byte{0x90, 0x80, 0x05, 0x9d}, nil,
			VP8Descriptor{Extended: true, Start: true, HasPictureID: true, PictureID: 5, Size: 3, picOff: 2}},
		{"15-bit picture id", []byte{0x90, 0x80, 0x81, 0x02, 0x9c}, nil,
			VP8Descriptor{Extended: true, Start: true, HasPictureID: true, PictureID15: true, PictureID: 0x102, Size: 4, Keyframe: true, picOff: 2}},
		{"picture id cut", []byte{0x90, 0x80}, ErrVP8Short, VP8Descriptor{}},
		{"15-bit id cut short", []byte{0x90, 0x80, 0x81}, ErrVP8Short, VP8Descriptor{}},
		{"all fields", []byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0x63, 0x9d}, nil, VP8Descriptor{
			Extended: true, Start: true, HasPictureID: true, PictureID15: true, PictureID: 0x102, HasTL0PICIDX: true, TL0PICIDX: 7,
			HasTID: true, TID: 1, LayerSync: true, HasKeyIdx: true, KeyIdx: 3, Size: 6, picOff: 2, tl0Off: 4, tkOff: 5}},
		{"all fields, no payload", []byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0x40}, nil, VP8Descriptor{
			Extended: true, Start: true, HasPictureID: true, PictureID15: true, PictureID: 0x102, HasTL0PICIDX: true, TL0PICIDX: 7,
			HasTID: true, TID: 1, HasKeyIdx: true, Size: 6, picOff: 2, tl0Off: 4, tkOff: 5}},
		{"L without I", []byte{0x90, 0x40, 0x07}, nil, VP8Descriptor{Extended: true, Start: true, HasTL0PICIDX: true, TL0PICIDX: 7, Size: 3, tl0Off: 2}},
		{"L cut", []byte{0x90, 0x40}, ErrVP8Short, VP8Descriptor{}},
		{"K only", []byte{0x90, 0x10, 0xc3}, nil, VP8Descriptor{Extended: true, Start: true, HasKeyIdx: true, KeyIdx: 3, Size: 3, tkOff: 2}},
		{"T byte missing", []byte{0x90, 0xa0, 0x05}, ErrVP8Short, VP8Descriptor{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVP8Descriptor(tt.p)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("ParseVP8Descriptor(% x) = %+v, %v; want %+v, %v", tt.p, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestVP8DescriptorSettersRewriteInPlace(t *testing.T) {
	p := []byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0x63, 0x9d, 0x01}
	d, err := ParseVP8Descriptor(p)
	if err != nil {
		t.Fatal(err)
	}
	d.SetPictureID(p, 0x7abc)
	d.SetTL0PICIDX(p, 200)
	d.SetKeyIdx(p, 0x3e) // 5 bits: 0x1e
	got, err := ParseVP8Descriptor(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.PictureID != 0x7abc || !got.PictureID15 || got.TL0PICIDX != 200 || got.KeyIdx != 0x1e || got.TID != 1 || !got.LayerSync {
		t.Fatalf("after the setters: %+v", got)
	}
	if !bytes.Equal(p[6:], []byte{0x9d, 0x01}) {
		t.Fatalf("the setters touched the payload: % x", p)
	}
	short := []byte{0x90, 0x80, 0x05, 0x9d}
	d, _ = ParseVP8Descriptor(short)
	d.SetPictureID(short, 0x1ff) // 7 bits: 0x7f
	d.SetTL0PICIDX(short, 9)     // absent: nothing written
	d.SetKeyIdx(short, 9)
	if !bytes.Equal(short, []byte{0x90, 0x80, 0x7f, 0x9d}) || d.PictureIDBits() != 7 {
		t.Fatalf("7-bit rewrite: % x (%d bits)", short, d.PictureIDBits())
	}
}

func TestParseVP8DescriptorAllocatesNothing(t *testing.T) {
	p := []byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0x63, 0x9d}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := ParseVP8Descriptor(p); err != nil {
			t.Fatal(err)
		}
		_, _ = ParseVP8Descriptor(p[:3])
	}); n != 0 {
		t.Fatalf("%v allocations per parse, want 0", n)
	}
}

// FuzzParseVP8Descriptor: any payload (outside input) parses without a panic; a parsed
// descriptor fits the payload, and writing its own values back changes nothing.
func FuzzParseVP8Descriptor(f *testing.F) {
	f.Add([]byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0x63, 0x9d, 0x01})
	f.Add([]byte{0x90, 0x80, 0x05})
	f.Add([]byte{0x80, 0x20})
	f.Add([]byte{0x10, 0x9c})
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := ParseVP8Descriptor(p)
		if err != nil {
			if d != (VP8Descriptor{}) {
				t.Fatalf("an error with a descriptor: %+v", d)
			}
			return
		}
		if d.Size < 1 || d.Size > len(p) || d.Keyframe && (d.Size >= len(p) || !d.Start || d.PartitionID != 0) {
			t.Fatalf("descriptor %+v does not fit % x", d, p)
		}
		orig := append([]byte(nil), p...)
		d.SetPictureID(p, d.PictureID)
		d.SetTL0PICIDX(p, d.TL0PICIDX)
		d.SetKeyIdx(p, d.KeyIdx)
		if !bytes.Equal(p, orig) {
			t.Fatalf("writing the parsed values back changed % x → % x", orig, p)
		}
		if d2, _ := ParseVP8Descriptor(p); d2 != d {
			t.Fatalf("a second parse differs: %+v vs %+v", d2, d)
		}
	})
}
