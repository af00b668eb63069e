package loadtest

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/pion/rtp/codecs"

	"github.com/glint-video/glint/media"
)

// rtpPacket is one packetized payload with the header fields a viewer reads.
type rtpPacket struct {
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte
}

// packetizeAll packetizes frames as the publisher does (frame i stamped at base + i ms).
func packetizeAll(frames []accessUnit, base time.Time) []rtpPacket {
	var pkz packetizer
	var out []rtpPacket
	seq := uint16(65500) // wraps inside the test
	for i, au := range frames {
		pkz.packetize(au, base.Add(time.Duration(i)*time.Millisecond), func(payload []byte, marker bool) {
			out = append(out, rtpPacket{seq, uint32(i * 3000), marker, append([]byte(nil), payload...)})
			seq++
		})
	}
	return out
}

func TestPacketizationCarriesSEIAndDecodes(t *testing.T) {
	frames, err := preEncode(320, 180, 30, 500, 1)
	if err != nil {
		t.Fatalf("preEncode: %v", err)
	}
	if len(frames) != 30 || !frames[0].keyframe || frames[1].keyframe {
		t.Fatalf("%d frames, keyframes %v %v: want 30, only the first an IDR", len(frames), frames[0].keyframe, frames[1].keyframe)
	}
	base := time.Unix(1_700_000_000, 123456789)
	pkts := packetizeAll(frames, base)

	dec := newTestDecoder(t)
	var depack codecs.H264Packet
	var au []byte
	frame := 0
	for i, p := range pkts {
		if len(p.payload) > maxPayload {
			t.Errorf("packet %d: %d bytes > %d", i, len(p.payload), maxPayload)
		}
		first := i == 0 || pkts[i-1].marker
		if got, ok := captureTimeOf(p.payload); ok != first {
			t.Errorf("frame %d packet %d: capture SEI %v, want it in (only) the first packet", frame, i, ok)
		} else if ok && got != base.Add(time.Duration(frame)*time.Millisecond).UnixNano() {
			t.Errorf("frame %d: capture time %d", frame, got)
		}
		if frame == 0 && i == 0 && (p.payload[0]&nalTypeMsk != media.H264NALSTAPA || !isKeyframePacket(p.payload)) {
			t.Errorf("keyframe's first packet 0x%02x: want a STAP-A of the SEI, SPS and PPS", p.payload[0])
		}
		if first && media.IsKeyframeStart("video/H264", p.payload) != (frame == 0) {
			t.Errorf("frame %d: first packet is a keyframe start %v", frame, !(frame == 0))
		}
		b, err := depack.Unmarshal(p.payload)
		if err != nil {
			t.Fatalf("depacketize packet %d: %v", i, err)
		}
		au = append(au, b...)
		if !p.marker {
			continue
		}
		if got, ok := media.FindCaptureTimeAnnexB(au); !ok || !got.Equal(base.Add(time.Duration(frame)*time.Millisecond)) {
			t.Errorf("frame %d: reassembled access unit has capture time %v, %v", frame, got, ok)
		}
		dec.decode(t, au)
		au, frame = au[:0], frame+1
	}
	if frame != len(frames) {
		t.Errorf("%d marker packets, want %d", frame, len(frames))
	}
	if dec.pictures < len(frames)-2 || dec.width != 320 || dec.height != 180 {
		t.Errorf("decoded %d pictures of %dx%d, want ~%d of 320x180", dec.pictures, dec.width, dec.height, len(frames))
	}
}

func TestLiveSourceAnswersKeyframeRequests(t *testing.T) {
	src, err := newLiveSource(320, 180, 30, 500)
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	for i := range 5 {
		au, err := src.next(i == 3)
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 0 || i == 3; au.keyframe != want || hasType(au, media.H264NALSPS) != want || hasType(au, media.H264NALIDR) != want {
			t.Errorf("frame %d: keyframe %v, SPS %v, IDR %v; want %v", i, au.keyframe, hasType(au, media.H264NALSPS), hasType(au, media.H264NALIDR), want)
		}
	}
}

func hasType(au accessUnit, typ byte) bool {
	for _, n := range au.nals {
		if n[0]&nalTypeMsk == typ {
			return true
		}
	}
	return false
}

func TestOpusTone(t *testing.T) {
	pkts, err := encodeOpusTone(50, opusKbps)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 50 {
		t.Fatalf("%d packets, want 50", len(pkts))
	}
	var total int
	for _, p := range pkts {
		total += len(p)
	}
	if kbps := total * 8 / 1000; kbps < 8 || kbps > 2*opusKbps {
		t.Errorf("%d kbit/s of Opus, want about %d", kbps, opusKbps)
	}
}

// testDecoder decodes Annex B access units with libav's H.264 decoder.
type testDecoder struct {
	cc            *astiav.CodecContext
	pkt           *astiav.Packet
	frame         *astiav.Frame
	pictures      int
	width, height int
}

func newTestDecoder(t *testing.T) *testDecoder {
	c := astiav.FindDecoder(astiav.CodecIDH264)
	if c == nil {
		t.Fatal("no H.264 decoder in libavcodec")
	}
	d := &testDecoder{cc: astiav.AllocCodecContext(c), pkt: astiav.AllocPacket(), frame: astiav.AllocFrame()}
	if err := d.cc.Open(c, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cc.Free(); d.pkt.Free(); d.frame.Free() })
	return d
}

func (d *testDecoder) decode(t *testing.T, au []byte) {
	t.Helper()
	// libav reads up to 64 bytes past the end and FromData adds no padding: append zeros
	// (trailing_zero_8bits to the decoder).
	padded := append(append([]byte(nil), au...), make([]byte, 64)...)
	if err := d.pkt.FromData(padded); err != nil {
		t.Fatal(err)
	}
	if err := d.cc.SendPacket(d.pkt); err != nil {
		t.Fatalf("decode: %v", err)
	}
	for {
		err := d.cc.ReceiveFrame(d.frame)
		if errors.Is(err, astiav.ErrEagain) {
			return
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		d.pictures++
		d.width, d.height = d.frame.Width(), d.frame.Height()
		d.frame.Unref()
	}
}

func TestCaptureTimeOfSTAPA(t *testing.T) {
	sei := media.AppendCaptureSEI(nil, time.Unix(0, 42))
	stap := append([]byte{media.H264NALSTAPA, 0, 0}, sei...)
	binary.BigEndian.PutUint16(stap[1:], uint16(len(sei)))
	if got, ok := captureTimeOf(stap); !ok || got != 42 {
		t.Errorf("STAP-A with the SEI first: %d, %v", got, ok)
	}
	if _, ok := captureTimeOf([]byte{0x65, 1, 2}); ok {
		t.Error("IDR slice read as a capture SEI")
	}
}
