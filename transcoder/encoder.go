package transcoder

import (
	"fmt"
	"maps"
	"strconv"

	"github.com/asticode/go-astiav"
)

// encoderParams are the settings of one H.264 encoder instance.
type encoderParams struct {
	info          EncoderInfo
	width, height int
	kbps, fps     int
	gop           int    // frames between periodic IDRs (forced IDRs come on top)
	preset        string // libx264 preset
	profile       string // "main" or "baseline"
	threads       int    // 0 = libav auto
}

// h264Encoder is one opened H.264 encoder: low-latency rate control, no B-frames, IDR on demand.
type h264Encoder struct {
	p      encoderParams
	cc     *astiav.CodecContext
	pkt    *astiav.Packet
	pixFmt astiav.PixelFormat
	meta   metaTable
}

// lowLatencyOptions are each supported encoder's private options for low latency and IDRs
// on demand (beside the profile, set for all).
var lowLatencyOptions = map[string]map[string]string{
	"libx264":    {"tune": "zerolatency", "forced-idr": "1", "x264-params": "scenecut=0"},
	"h264_nvenc": {"preset": "p1", "tune": "ll", "zerolatency": "1", "delay": "0", "rc": "cbr", "forced-idr": "1"},
	"h264_qsv":   {"preset": "veryfast", "async_depth": "1", "look_ahead": "0", "forced_idr": "1"},
	"h264_vaapi": {},
}

// encoderOptions returns the private/generic libav options of each supported encoder.
func encoderOptions(p encoderParams) map[string]string {
	rate := strconv.Itoa(p.kbps * 1000)
	o := map[string]string{"bf": "0", "maxrate": rate, "bufsize": rate}
	specific, known := lowLatencyOptions[p.info.Name]
	if !known {
		return o
	}
	maps.Copy(o, specific)
	o["profile"] = p.profile
	switch p.info.Name {
	case "libx264":
		o["preset"] = p.preset
	case "h264_vaapi":
		if p.profile == "baseline" {
			o["profile"] = "constrained_baseline"
		}
	}
	return o
}

// pickPixelFormat prefers planar 4:2:0, then NV12 (hardware encoders), then whatever is first.
func pickPixelFormat(c *astiav.Codec) astiav.PixelFormat {
	fmts := c.PixelFormats()
	for _, want := range []astiav.PixelFormat{astiav.PixelFormatYuv420P, astiav.PixelFormatNv12} {
		for _, f := range fmts {
			if f == want {
				return f
			}
		}
	}
	if len(fmts) > 0 {
		return fmts[0]
	}
	return astiav.PixelFormatYuv420P
}

func openH264Encoder(p encoderParams) (*h264Encoder, error) {
	p.info = p.info.orLibx264()
	if p.width <= 0 || p.height <= 0 || p.width%2 != 0 || p.height%2 != 0 {
		return nil, fmt.Errorf("%w: encoder size %dx%d (must be even, positive)", ErrBadConfig, p.width, p.height)
	}
	c := astiav.FindEncoderByName(p.info.Name)
	if c == nil {
		return nil, fmt.Errorf("%w: encoder %s not in libavcodec", ErrUnsupportedCodec, p.info.Name)
	}
	e := &h264Encoder{p: p, cc: astiav.AllocCodecContext(c), pkt: astiav.AllocPacket(),
		pixFmt: pickPixelFormat(c), meta: metaTable{}}
	e.cc.SetWidth(p.width)
	e.cc.SetHeight(p.height)
	e.cc.SetPixelFormat(e.pixFmt)
	e.cc.SetTimeBase(microBase)
	e.cc.SetFramerate(astiav.NewRational(p.fps, 1))
	e.cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	e.cc.SetBitRate(int64(p.kbps) * 1000)
	e.cc.SetGopSize(p.gop)
	e.cc.SetThreadCount(p.threads)
	dict := astiav.NewDictionary()
	defer dict.Free()
	for k, v := range encoderOptions(p) {
		if err := dict.Set(k, v, 0); err != nil {
			e.close()
			return nil, fmt.Errorf("transcoder: encoder option %s: %w", k, err)
		}
	}
	if err := e.cc.Open(c, dict); err != nil {
		e.close()
		return nil, fmt.Errorf("transcoder: open %s %dx%d: %w", p.info.Name, p.width, p.height, err)
	}
	return e, nil
}

// encode sends one picture (already at the encoder's size and pixel format; the encoder sets
// its pts and picture type) and returns the access units that came out.
func (e *h264Encoder) encode(f *astiav.Frame, m frameMeta, forceIDR bool) ([]Encoded, error) {
	us := toMicros(m.pts)
	f.SetPts(us)
	if forceIDR {
		f.SetPictureType(astiav.PictureTypeI)
	} else {
		f.SetPictureType(astiav.PictureTypeNone)
	}
	e.meta.put(us, m)
	if err := e.cc.SendFrame(f); err != nil {
		return nil, fmt.Errorf("transcoder: encode %s %dx%d: %w", e.p.info.Name, e.p.width, e.p.height, err)
	}
	var out []Encoded
	for {
		if err := e.cc.ReceivePacket(e.pkt); err != nil {
			if isAgain(err) {
				return out, nil
			}
			return out, fmt.Errorf("transcoder: encode %s: %w", e.p.info.Name, err)
		}
		pm := e.meta.take(e.pkt.Pts())
		key := e.pkt.Flags().Has(astiav.PacketFlagKey)
		out = append(out, Encoded{Data: e.pkt.Data(), PTS: pm.pts, DTS: pm.pts, Keyframe: key,
			Duration: pm.dur, Boundary: pm.boundary && key})
		e.pkt.Unref()
	}
}

func (e *h264Encoder) close() {
	freeAndClear(&e.cc)
	freeAndClear(&e.pkt)
}
