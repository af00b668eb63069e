package transcoder

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/glint-video/glint/media"
)

// H264Encoder makes decodable Annex B access units at its frame rate: an IDR (with SPS
// and PPS) first, GOP frames after the last IDR and when asked, never a B-frame.
func TestH264EncoderStandalone(t *testing.T) {
	const w, h, fps, gop, n = 320, 180, 30, 10, 25
	enc, err := NewH264Encoder(EncoderConfig{Width: w, Height: h, FPS: fps, BitrateKbps: 300, GOP: gop,
		Preset: "ultrafast", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if enc.PixelFormat() != astiav.PixelFormatYuv420P {
		t.Errorf("pixel format %v, want yuv420p", enc.PixelFormat())
	}
	src := newLavfiSource(t, fmt.Sprintf("testsrc2=size=%dx%d:rate=%d,format=yuv420p", w, h, fps), false)
	defer src.close()
	frame := astiav.AllocFrame()
	defer frame.Free()
	var aus []Encoded
	for i := range n {
		src.next(t, frame)
		out, err := enc.Encode(frame, i == 15)
		frame.Unref()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(out) != 1 {
			t.Fatalf("frame %d: %d access units out, want 1 (zerolatency)", i, len(out))
		}
		aus = append(aus, out...)
	}
	tick := time.Second / fps
	lastIDR := 0
	for i, au := range aus {
		wantKey := i == 0 || i-lastIDR == gop || i == 15 // a forced IDR restarts the GOP
		if wantKey {
			lastIDR = i
		}
		if au.Keyframe != wantKey || au.PTS != time.Duration(i)*tick || au.DTS != au.PTS {
			t.Errorf("access unit %d: key %v PTS %v DTS %v, want key %v PTS %v", i, au.Keyframe, au.PTS, au.DTS, wantKey, time.Duration(i)*tick)
		}
		if au.Keyframe && !hasNAL(au.Data, media.H264NALSPS) {
			t.Errorf("IDR %d has no SPS", i)
		}
	}
	pics := decodeAll(t, astiav.CodecIDH264, aus)
	if len(pics) != n {
		t.Fatalf("decoded %d pictures, want %d", len(pics), n)
	}
	for i, p := range pics {
		if p.w != w || p.h != h || p.typ == astiav.PictureTypeB {
			t.Errorf("picture %d: %dx%d type %v", i, p.w, p.h, p.typ)
		}
	}
}

func TestH264EncoderRejectsBadConfig(t *testing.T) {
	for _, cfg := range []EncoderConfig{
		{Width: 320, Height: 180, FPS: 0, BitrateKbps: 300, GOP: 10},
		{Width: 321, Height: 180, FPS: 30, BitrateKbps: 300, GOP: 10},
		{Width: 320, Height: 180, FPS: 30, BitrateKbps: 300, GOP: 10, Encoder: EncoderInfo{Name: "no_such_encoder"}},
	} {
		if enc, err := NewH264Encoder(cfg); err == nil {
			enc.Close()
			t.Errorf("%+v: no error", cfg)
		} else if !errors.Is(err, ErrBadConfig) && !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func hasNAL(annexB []byte, typ byte) bool {
	for nal := range media.SplitAnnexB(annexB) {
		if len(nal) > 0 && nal[0]&0x1f == typ {
			return true
		}
	}
	return false
}
