package transcoder

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

// Test inputs are made with libav itself: a lavfi source (testsrc2 / sine) through a filter
// graph, encoded with libx264 / libvpx / libopus / aac.

// lavfiSource is a LavfiSource that fails the test on errors.
type lavfiSource struct{ *LavfiSource }

func newLavfiSource(tb testing.TB, desc string, audio bool) lavfiSource {
	tb.Helper()
	src, err := NewLavfiSource(desc, audio)
	if err != nil {
		tb.Fatal(err)
	}
	return lavfiSource{src}
}

func (s lavfiSource) next(tb testing.TB, f *astiav.Frame) {
	tb.Helper()
	if err := s.Next(f); err != nil {
		tb.Fatal(err)
	}
}

func (s lavfiSource) close() { s.Close() }

// testEncoder encodes test material; opts are libav options.
type testEncoder struct {
	cc  *astiav.CodecContext
	pkt *astiav.Packet
}

func newTestEncoder(tb testing.TB, name string, setup func(*astiav.CodecContext), opts map[string]string) *testEncoder {
	tb.Helper()
	c := astiav.FindEncoderByName(name)
	if c == nil {
		tb.Fatalf("no encoder %s", name)
	}
	cc := astiav.AllocCodecContext(c)
	setup(cc)
	d := astiav.NewDictionary()
	defer d.Free()
	for k, v := range opts {
		_ = d.Set(k, v, 0)
	}
	if err := cc.Open(c, d); err != nil {
		tb.Fatalf("open %s: %v", name, err)
	}
	return &testEncoder{cc: cc, pkt: astiav.AllocPacket()}
}

// push sends f (nil flushes) and returns the packets as (data, pts, dts, key).
func (e *testEncoder) push(tb testing.TB, f *astiav.Frame) (out []testPacket) {
	tb.Helper()
	if err := e.cc.SendFrame(f); err != nil {
		tb.Fatalf("send frame: %v", err)
	}
	for {
		err := e.cc.ReceivePacket(e.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return out
		}
		if err != nil {
			tb.Fatalf("receive packet: %v", err)
		}
		out = append(out, testPacket{data: e.pkt.Data(), pts: e.pkt.Pts(), dts: e.pkt.Dts(),
			key: e.pkt.Flags().Has(astiav.PacketFlagKey)})
		e.pkt.Unref()
	}
}

func (e *testEncoder) close() { e.cc.Free(); e.pkt.Free() }

type testPacket struct {
	data     []byte
	pts, dts int64
	key      bool
}

// testBase is an arbitrary capture-time origin, to check that PTS are carried through.
const testBase = 1000*time.Second + 123456789

// synthVideo encodes n frames of testsrc2 at w x h, fps, with codec "H264" (bframes B-frames,
// a keyframe every keyint frames), "VP8" or "VP9". Outputs are in decode order.
func synthVideo(tb testing.TB, codec string, w, h, fps, n, bframes, keyint int) []Encoded {
	tb.Helper()
	src := newLavfiSource(tb, fmt.Sprintf("testsrc2=size=%dx%d:rate=%d,format=yuv420p", w, h, fps), false)
	defer src.close()
	name, opts := "libx264", map[string]string{"preset": "veryfast", "bf": fmt.Sprint(bframes),
		"g": fmt.Sprint(keyint), "x264-params": "scenecut=0", "forced-idr": "1"}
	switch codec {
	case "VP8":
		name, opts = "libvpx", map[string]string{"deadline": "realtime", "cpu-used": "8", "g": fmt.Sprint(keyint), "lag-in-frames": "0"}
	case "VP9":
		name, opts = "libvpx-vp9", map[string]string{"deadline": "realtime", "cpu-used": "8", "g": fmt.Sprint(keyint), "lag-in-frames": "0"}
	case "H265":
		name, opts = "libx265", map[string]string{"preset": "ultrafast", "g": fmt.Sprint(keyint),
			"x265-params": fmt.Sprintf("log-level=error:scenecut=0:min-keyint=%d:bframes=%d", keyint, bframes)}
	case "AV1":
		name, opts = "libaom-av1", map[string]string{"usage": "realtime", "cpu-used": "8", "g": fmt.Sprint(keyint), "lag-in-frames": "0"}
	}
	enc := newTestEncoder(tb, name, func(cc *astiav.CodecContext) {
		cc.SetWidth(w)
		cc.SetHeight(h)
		cc.SetPixelFormat(astiav.PixelFormatYuv420P)
		cc.SetTimeBase(astiav.NewRational(1, fps))
		cc.SetFramerate(astiav.NewRational(fps, 1))
		cc.SetBitRate(int64(w * h * 4))
		cc.SetThreadCount(1)
	}, opts)
	defer enc.close()
	frame := astiav.AllocFrame()
	defer frame.Free()
	tick := time.Second / time.Duration(fps)
	var out []Encoded
	add := func(ps []testPacket) {
		for _, p := range ps {
			out = append(out, Encoded{Data: p.data, PTS: testBase + time.Duration(p.pts)*tick,
				DTS: testBase + time.Duration(p.dts)*tick, Keyframe: p.key, Duration: tick})
		}
	}
	for i := 0; i < n; i++ {
		src.next(tb, frame)
		frame.SetPts(int64(i))
		frame.SetPictureType(astiav.PictureTypeNone)
		if i%keyint == 0 {
			frame.SetPictureType(astiav.PictureTypeI)
		}
		add(enc.push(tb, frame))
		frame.Unref()
	}
	add(enc.push(tb, nil))
	return out
}

// decodedPicture is what a test decoder saw.
type decodedPicture struct {
	w, h int
	typ  astiav.PictureType
	key  bool
	pts  int64
}

// decodeAll decodes access units with libav and returns the pictures in output order,
// failing the test on any decode error.
func decodeAll(tb testing.TB, codec astiav.CodecID, aus []Encoded) []decodedPicture {
	tb.Helper()
	c := astiav.FindDecoder(codec)
	cc := astiav.AllocCodecContext(c)
	defer cc.Free()
	if err := cc.Open(c, nil); err != nil {
		tb.Fatalf("open decoder: %v", err)
	}
	pkt, f := astiav.AllocPacket(), astiav.AllocFrame()
	defer pkt.Free()
	defer f.Free()
	var out []decodedPicture
	recv := func() {
		for {
			err := cc.ReceiveFrame(f)
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return
			}
			if err != nil {
				tb.Fatalf("decode: %v", err)
			}
			out = append(out, decodedPicture{w: f.Width(), h: f.Height(), typ: f.PictureType(), key: f.KeyFrame(), pts: f.Pts()})
			f.Unref()
		}
	}
	for _, au := range aus {
		if err := fillPacket(pkt, au.Data); err != nil {
			tb.Fatal(err)
		}
		pkt.SetPts(toMicros(au.PTS))
		if err := cc.SendPacket(pkt); err != nil {
			tb.Fatalf("decode send (pts %v): %v", au.PTS, err)
		}
		pkt.Unref()
		recv()
	}
	if err := cc.SendPacket(nil); err != nil {
		tb.Fatalf("flush: %v", err)
	}
	recv()
	return out
}
