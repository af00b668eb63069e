package loadtest

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"

	"github.com/glint-video/glint/transcoder"
)

// The synthetic picture and sound come from libav itself (lavfi testsrc2: moving colour
// bars, a counter and a gradient; sine: a 440 Hz tone), the picture encoded by
// transcoder's H.264 encoder with the ladder's low-latency settings (no B-frames,
// zerolatency, an IDR on demand), the sound by libopus.

// videoEncoder makes H.264 access units (Annex B) of the synthetic picture.
type videoEncoder struct {
	src   *transcoder.LavfiSource
	enc   *transcoder.H264Encoder
	frame *astiav.Frame
}

// newVideoEncoder opens libx264 at width x height, fps, kbps, an IDR every gop frames:
// the fastest preset, constrained baseline and one thread (the load generator's CPU is
// precious; one thread keeps 720p30 easily).
func newVideoEncoder(width, height, fps, kbps, gop int) (*videoEncoder, error) {
	if astiav.FindEncoderByName("libx264") == nil {
		return nil, errors.New("encoder libx264 not in libavcodec (install libavcodec-extra or a build with x264)")
	}
	enc, err := transcoder.NewH264Encoder(transcoder.EncoderConfig{Width: width, Height: height, FPS: fps,
		BitrateKbps: kbps, GOP: gop, Preset: "ultrafast", Profile: "baseline", Threads: 1})
	if err != nil {
		return nil, err
	}
	src, err := transcoder.NewLavfiSource(fmt.Sprintf("testsrc2=size=%dx%d:rate=%d,format=yuv420p", width, height, fps), false)
	if err != nil {
		enc.Close()
		return nil, err
	}
	return &videoEncoder{src: src, enc: enc, frame: astiav.AllocFrame()}, nil
}

// next encodes the next picture and appends its access unit (Annex B) to dst. forceIDR
// makes it an IDR (a keyframe request was answered).
func (e *videoEncoder) next(dst []byte, forceIDR bool) (au []byte, keyframe bool, err error) {
	for {
		if err := e.src.Next(e.frame); err != nil {
			return dst, false, err
		}
		out, err := e.enc.Encode(e.frame, forceIDR)
		e.frame.Unref()
		if err != nil {
			return dst, false, err
		}
		if len(out) == 0 {
			continue // the encoder buffers (not with zerolatency): feed the next picture
		}
		for _, o := range out {
			dst = append(dst, o.Data...)
			keyframe = keyframe || o.Keyframe
		}
		return dst, keyframe, nil
	}
}

func (e *videoEncoder) close() {
	e.enc.Close()
	e.frame.Free()
	e.src.Close()
}

// encodeOpusTone returns n packets of 20 ms of a 440 Hz stereo tone encoded with libopus
// at kbps. 50 packets (1 s, a whole number of periods) loop seamlessly.
func encodeOpusTone(n, kbps int) ([][]byte, error) {
	codec := astiav.FindEncoderByName("libopus")
	if codec == nil {
		return nil, errors.New("encoder libopus not in libavcodec")
	}
	src, err := transcoder.NewLavfiSource("sine=frequency=440:sample_rate=48000,volume=0.3,"+
		"aformat=sample_fmts=flt:channel_layouts=stereo,asetnsamples=n=960:p=0", true)
	if err != nil {
		return nil, err
	}
	defer src.Close()
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
		if err := src.Next(frame); err != nil {
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
