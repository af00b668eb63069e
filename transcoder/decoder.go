package transcoder

import (
	"fmt"
	"strings"

	"github.com/asticode/go-astiav"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
)

// videoDecoder decodes H.264, H.265, VP8, VP9 or AV1 frames into raw pictures, carrying each input's
// metadata to the picture it produces (also through B-frame reordering).
type videoDecoder struct {
	codec  string
	cc     *astiav.CodecContext
	pkt    *astiav.Packet
	frame  *astiav.Frame
	meta   metaTable
	sawKey bool
}

// codecID maps the names used in LadderConfig.SourceCodec to libav ids.
func codecID(name string) (astiav.CodecID, error) {
	switch strings.ToUpper(name) {
	case "", "H264", "AVC":
		return astiav.CodecIDH264, nil
	case "H265", "HEVC":
		return astiav.CodecIDHevc, nil
	case "VP8":
		return astiav.CodecIDVp8, nil
	case "VP9":
		return astiav.CodecIDVp9, nil
	case "AV1":
		if av1Decoder == nil {
			return 0, fmt.Errorf("%w: no AV1 decoder (libdav1d or libaom-av1) in libavcodec", ErrUnsupportedCodec)
		}
		return av1Decoder.ID(), nil
	}
	return 0, fmt.Errorf("%w: video %q", ErrUnsupportedCodec, name)
}

// av1Decoder is libavcodec's software AV1 decoder, libdav1d or else libaom-av1 (nil without
// either): FFmpeg 5.1's native "av1" decoder decodes only through a hardware accelerator, and
// go-astiav v0.16.0 has no AV1 codec id constant, so the id comes from this decoder.
var av1Decoder = func() *astiav.Codec {
	for _, name := range []string{"libdav1d", "libaom-av1"} {
		if c := astiav.FindDecoderByName(name); c != nil {
			return c
		}
	}
	return nil
}()

// codecNames are the canonical names of the source codecs.
var codecNames = func() map[astiav.CodecID]string {
	m := map[astiav.CodecID]string{astiav.CodecIDH264: "H264", astiav.CodecIDHevc: "H265",
		astiav.CodecIDVp8: "VP8", astiav.CodecIDVp9: "VP9"}
	if av1Decoder != nil {
		m[av1Decoder.ID()] = "AV1"
	}
	return m
}()

// findDecoder returns libavcodec's software decoder for id.
func findDecoder(id astiav.CodecID) *astiav.Codec {
	if av1Decoder != nil && id == av1Decoder.ID() {
		return av1Decoder
	}
	return astiav.FindDecoder(id)
}

func newVideoDecoder(codec string) (*videoDecoder, error) {
	id, err := codecID(codec)
	if err != nil {
		return nil, err
	}
	c := findDecoder(id)
	if c == nil {
		return nil, fmt.Errorf("%w: no %s decoder in libavcodec", ErrUnsupportedCodec, codec)
	}
	name := codecNames[id]
	d := &videoDecoder{codec: name, cc: astiav.AllocCodecContext(c),
		pkt: astiav.AllocPacket(), frame: astiav.AllocFrame(), meta: metaTable{}}
	// One thread: frame threading would delay every picture by a frame per thread.
	d.cc.SetThreadCount(1)
	d.cc.SetTimeBase(microBase)
	if err := d.cc.Open(c, nil); err != nil {
		d.close()
		return nil, fmt.Errorf("transcoder: open %s decoder: %w", codec, err)
	}
	return d, nil
}

// isKey reports whether in starts a decodable picture.
func (d *videoDecoder) isKey(in Encoded) bool { return isKeyframe(d.codec, in) }

// isKeyframe reports whether a frame of codec ("H264", "H265", "VP8", "VP9", "AV1") is a
// keyframe: its flag, or an IDR NAL unit (H.264), an IRAP NAL unit (H.265), the frame type in
// the VP8/VP9 frame header, or a sequence header OBU (AV1, low-overhead format).
func isKeyframe(codec string, in Encoded) bool {
	if in.Keyframe {
		return true
	}
	b := in.Data
	switch codec {
	case "H264":
		return hasIDR(b)
	case "H265":
		return hasIRAP(b)
	case "AV1":
		var tu av1.Bitstream
		return tu.Unmarshal(b) == nil && av1.IsRandomAccess2(tu)
	case "VP8":
		return len(b) >= 3 && b[0]&1 == 0
	case "VP9":
		if len(b) < 1 || b[0]>>6 != 2 { // frame_marker
			return false
		}
		profile, pos := int(b[0]>>5&1)|int(b[0]>>4&1)<<1, 4 // pos: show_existing_frame, from the MSB
		if profile == 3 {
			pos++ // reserved_zero
		}
		if b[0]>>(7-pos)&1 == 1 {
			return false
		}
		return b[0]>>(6-pos)&1 == 0 // frame_type 0: KEY_FRAME
	}
	return false
}

// decode feeds one frame and calls emit for every picture that comes out. Input before the
// first keyframe is skipped. A corrupt frame yields a non-nil corrupt error (the caller
// drops and logs it); fatal errors come from emit.
func (d *videoDecoder) decode(in Encoded, m frameMeta, emit func(*astiav.Frame, frameMeta) error) (corrupt, fatal error) {
	if !d.sawKey {
		if !d.isKey(in) {
			return nil, nil
		}
		d.sawKey = true
	}
	if err := fillPacket(d.pkt, in.Data); err != nil {
		return nil, err
	}
	us := toMicros(in.PTS)
	d.pkt.SetPts(us)
	d.pkt.SetDts(astiav.NoPtsValue)
	if in.Keyframe {
		d.pkt.SetFlags(astiav.NewPacketFlags(astiav.PacketFlagKey))
	}
	d.meta.put(us, m)
	err := d.cc.SendPacket(d.pkt)
	d.pkt.Unref()
	if err != nil && !isAgain(err) {
		corrupt = fmt.Errorf("transcoder: decode %s: %w", d.codec, err)
	}
	for {
		if err := d.cc.ReceiveFrame(d.frame); err != nil {
			if isAgain(err) {
				return corrupt, nil
			}
			return fmt.Errorf("transcoder: decode %s: %w", d.codec, err), nil
		}
		fm := d.meta.take(d.frame.Pts())
		ferr := emit(d.frame, fm)
		d.frame.Unref()
		if ferr != nil {
			return corrupt, ferr
		}
	}
}

// drain outputs the pictures the decoder still holds (end of stream) and leaves it ready for
// a new stream starting with a keyframe.
func (d *videoDecoder) drain(emit func(*astiav.Frame, frameMeta) error) error {
	if !d.sawKey {
		return nil
	}
	if err := d.cc.SendPacket(nil); err != nil && !isAgain(err) {
		return fmt.Errorf("transcoder: drain %s: %w", d.codec, err)
	}
	var ferr error
	for ferr == nil {
		if err := d.cc.ReceiveFrame(d.frame); err != nil {
			break
		}
		ferr = emit(d.frame, d.meta.take(d.frame.Pts()))
		d.frame.Unref()
	}
	fresh, err := newVideoDecoder(d.codec)
	if err != nil {
		return err
	}
	d.close()
	*d = *fresh
	return ferr
}

func (d *videoDecoder) close() {
	freeAndClear(&d.cc)
	freeAndClear(&d.frame)
	freeAndClear(&d.pkt)
}
