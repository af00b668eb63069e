package loadtest

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// The synthetic picture and sound come from libav itself (lavfi testsrc2: moving colour
// bars, a counter and a gradient; sine: a 440 Hz tone), encoded with libx264 and libopus.
// Package transcoder has an H.264 encoder with the same low-latency settings, unexported;
// this is the load generator's small copy (no B-frames, zerolatency, an IDR on demand).

// lavfiSource pulls frames from a source-only filter graph.
type lavfiSource struct {
	graph *astiav.FilterGraph
	sink  *astiav.FilterContext
}

func newLavfiSource(desc string, audio bool) (*lavfiSource, error) {
	g := astiav.AllocFilterGraph()
	name := "buffersink"
	if audio {
		name = "abuffersink"
	}
	sink, err := g.NewFilterContext(astiav.FindFilterByName(name), "out", nil)
	if err != nil {
		g.Free()
		return nil, fmt.Errorf("lavfi %s: %w", name, err)
	}
	in := astiav.AllocFilterInOut()
	defer in.Free()
	in.SetName("out")
	in.SetFilterContext(sink)
	in.SetPadIdx(0)
	in.SetNext(nil)
	if err := g.Parse(desc, in, nil); err != nil {
		g.Free()
		return nil, fmt.Errorf("lavfi %q: %w", desc, err)
	}
	if err := g.Configure(); err != nil {
		g.Free()
		return nil, fmt.Errorf("lavfi %q: %w", desc, err)
	}
	return &lavfiSource{graph: g, sink: sink}, nil
}

func (s *lavfiSource) next(f *astiav.Frame) error {
	if err := s.sink.BuffersinkGetFrame(f, 0); err != nil {
		return fmt.Errorf("lavfi frame: %w", err)
	}
	return nil
}

func (s *lavfiSource) close() { s.graph.Free() }

// videoEncoder makes H.264 access units (Annex B) of the synthetic picture.
type videoEncoder struct {
	src   *lavfiSource
	cc    *astiav.CodecContext
	frame *astiav.Frame
	pkt   *astiav.Packet
	n     int64 // frames sent to the encoder
}

// newVideoEncoder opens libx264 at width x height, fps, kbps, an IDR every gop frames.
func newVideoEncoder(width, height, fps, kbps, gop int) (*videoEncoder, error) {
	codec := astiav.FindEncoderByName("libx264")
	if codec == nil {
		return nil, errors.New("encoder libx264 not in libavcodec (install libavcodec-extra or a build with x264)")
	}
	src, err := newLavfiSource(fmt.Sprintf("testsrc2=size=%dx%d:rate=%d,format=yuv420p", width, height, fps), false)
	if err != nil {
		return nil, err
	}
	e := &videoEncoder{src: src, cc: astiav.AllocCodecContext(codec), frame: astiav.AllocFrame(), pkt: astiav.AllocPacket()}
	e.cc.SetWidth(width)
	e.cc.SetHeight(height)
	e.cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	e.cc.SetTimeBase(astiav.NewRational(1, fps))
	e.cc.SetFramerate(astiav.NewRational(fps, 1))
	e.cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	e.cc.SetBitRate(int64(kbps) * 1000)
	e.cc.SetGopSize(gop)
	e.cc.SetThreadCount(1) // the load generator's CPU is precious; one thread keeps 720p30 easily
	rate := strconv.Itoa(kbps * 1000)
	opts := map[string]string{
		"bf": "0", "maxrate": rate, "bufsize": rate, "preset": "ultrafast", "tune": "zerolatency",
		"profile": "baseline", "forced-idr": "1",
		"x264-params": "scenecut=0:keyint=" + strconv.Itoa(gop) + ":min-keyint=" + strconv.Itoa(gop),
	}
	dict := astiav.NewDictionary()
	defer dict.Free()
	for k, v := range opts {
		if err := dict.Set(k, v, 0); err != nil {
			e.close()
			return nil, fmt.Errorf("libx264 option %s: %w", k, err)
		}
	}
	if err := e.cc.Open(codec, dict); err != nil {
		e.close()
		return nil, fmt.Errorf("open libx264 %dx%d: %w", width, height, err)
	}
	return e, nil
}

// next encodes the next picture and appends its access unit (Annex B) to dst. forceIDR
// makes it an IDR (a keyframe request was answered).
func (e *videoEncoder) next(dst []byte, forceIDR bool) (au []byte, keyframe bool, err error) {
	for {
		if err := e.src.next(e.frame); err != nil {
			return dst, false, err
		}
		e.frame.SetPts(e.n)
		e.n++
		if forceIDR {
			e.frame.SetPictureType(astiav.PictureTypeI)
		} else {
			e.frame.SetPictureType(astiav.PictureTypeNone)
		}
		err := e.cc.SendFrame(e.frame)
		e.frame.Unref()
		if err != nil {
			return dst, false, fmt.Errorf("encode: %w", err)
		}
		err = e.cc.ReceivePacket(e.pkt)
		if errors.Is(err, astiav.ErrEagain) {
			continue // the encoder buffers (not with zerolatency): feed the next picture
		}
		if err != nil {
			return dst, false, fmt.Errorf("encode: %w", err)
		}
		dst = append(dst, e.pkt.Data()...)
		keyframe = e.pkt.Flags().Has(astiav.PacketFlagKey)
		e.pkt.Unref()
		return dst, keyframe, nil
	}
}

func (e *videoEncoder) close() {
	if e.cc != nil {
		e.cc.Free()
	}
	e.frame.Free()
	e.pkt.Free()
	e.src.close()
}

// encodeOpusTone returns n packets of 20 ms of a 440 Hz stereo tone encoded with libopus
// at kbps. 50 packets (1 s, a whole number of periods) loop seamlessly.
func encodeOpusTone(n, kbps int) ([][]byte, error) {
	codec := astiav.FindEncoderByName("libopus")
	if codec == nil {
		return nil, errors.New("encoder libopus not in libavcodec")
	}
	src, err := newLavfiSource("sine=frequency=440:sample_rate=48000,volume=0.3,"+
		"aformat=sample_fmts=flt:channel_layouts=stereo,asetnsamples=n=960:p=0", true)
	if err != nil {
		return nil, err
	}
	defer src.close()
	cc := astiav.AllocCodecContext(codec)
	defer cc.Free()
	cc.SetSampleRate(48000)
	cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	cc.SetSampleFormat(astiav.SampleFormatFlt)
	cc.SetBitRate(int64(kbps) * 1000)
	cc.SetTimeBase(astiav.NewRational(1, 48000))
	dict := astiav.NewDictionary()
	defer dict.Free()
	_ = dict.Set("frame_duration", "20", 0)
	if err := cc.Open(codec, dict); err != nil {
		return nil, fmt.Errorf("open libopus: %w", err)
	}
	frame, pkt := astiav.AllocFrame(), astiav.AllocPacket()
	defer frame.Free()
	defer pkt.Free()
	var out [][]byte
	for pts := int64(0); len(out) < n; pts += 960 {
		if err := src.next(frame); err != nil {
			return nil, err
		}
		frame.SetPts(pts)
		err := cc.SendFrame(frame)
		frame.Unref()
		if err != nil {
			return nil, fmt.Errorf("encode opus: %w", err)
		}
		for len(out) < n {
			if err := cc.ReceivePacket(pkt); err != nil {
				if errors.Is(err, astiav.ErrEagain) {
					break
				}
				return nil, fmt.Errorf("encode opus: %w", err)
			}
			out = append(out, append([]byte(nil), pkt.Data()...))
			pkt.Unref()
		}
	}
	return out, nil
}
