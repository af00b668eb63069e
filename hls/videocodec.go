package hls

import (
	"bytes"
	"fmt"

	mp4av1 "github.com/Eyevinn/mp4ff/av1"
	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

	"github.com/glint-video/glint/media"
)

// The codec-specific half of a video rendition: the init segment's sample entry (avc1,
// hvc1, av01) made from the codec's parameter sets, the RFC 6381 codec string, the sample
// format of ISO/IEC 14496-15 (length-prefixed NAL units) or of AV1-ISOBMFF (OBUs with size
// fields, no temporal delimiter), and the parameter sets a keyframe carries in-band.

// VideoFormat is the coding of a video rendition's samples.
type VideoFormat uint8

const (
	// H264 renditions are packaged as avc1 (the zero value).
	H264 VideoFormat = iota
	// H265 renditions are packaged as hvc1 (parameter sets in the hvcC box).
	H265
	// AV1 renditions are packaged as av01 (the sequence header in the av1C box).
	AV1
)

func (f VideoFormat) String() string {
	switch f {
	case H265:
		return "H265"
	case AV1:
		return "AV1"
	}
	return "H264"
}

// paramsGiven reports whether info carries parameter sets (else they come in-band).
func (info *VideoTrackInfo) paramsGiven() bool {
	return len(info.VPS)+len(info.SPS)+len(info.PPS)+len(info.SequenceHeader) > 0
}

// configKey is the parameter set whose change means a new init segment: the SPS, or AV1's
// sequence header.
func (info *VideoTrackInfo) configKey() []byte {
	if info.Format == AV1 {
		return info.SequenceHeader
	}
	return info.SPS
}

// checkParams reports what a format's init segment lacks.
func checkParams(info *VideoTrackInfo) error {
	switch info.Format {
	case H264:
		if len(info.SPS) < 4 || len(info.PPS) == 0 {
			return fmt.Errorf("H.264 video needs both SPS and PPS (or neither)")
		}
	case H265:
		if len(info.VPS) < 3 || len(info.SPS) < 3 || len(info.PPS) < 3 {
			return fmt.Errorf("H.265 video needs VPS, SPS and PPS (or none)")
		}
	case AV1:
		if len(info.SequenceHeader) < 2 {
			return fmt.Errorf("AV1 video needs a sequence header OBU (or none)")
		}
	default:
		return fmt.Errorf("unknown video format %d", info.Format)
	}
	return nil
}

// cloneParams copies the parameter sets, so that the caller may reuse its buffers.
func cloneParams(info *VideoTrackInfo) {
	info.VPS, info.SPS, info.PPS = bytes.Clone(info.VPS), bytes.Clone(info.SPS), bytes.Clone(info.PPS)
	info.SequenceHeader = bytes.Clone(withoutOBUSize(info.SequenceHeader))
}

// keepParams is info with the current parameter sets, codec and size, and info's frame rate
// and bitrate where set.
func (t *Track) keepParams(info VideoTrackInfo) VideoTrackInfo {
	cur := t.video
	if info.FPS > 0 {
		cur.FPS = info.FPS
	}
	if info.BitrateKbps > 0 {
		cur.BitrateKbps = info.BitrateKbps
	}
	return cur
}

// completeVideoInfo fills Codec, Width and Height from the parameter sets where they are
// unset.
func completeVideoInfo(info *VideoTrackInfo) error {
	var codec string
	var w, h int
	switch info.Format {
	case H264:
		sps, err := avc.ParseSPSNALUnit(info.SPS, false)
		if err != nil {
			return fmt.Errorf("parse SPS: %w", err)
		}
		codec, w, h = media.AVCCodecString(info.SPS[1], info.SPS[2], info.SPS[3]), int(sps.Width), int(sps.Height)
	case H265:
		sps, err := hevc.ParseSPSNALUnit(info.SPS)
		if err != nil {
			return fmt.Errorf("parse H.265 SPS: %w", err)
		}
		sw, sh := sps.ImageSize()
		codec, w, h = hevc.CodecString("hvc1", sps), int(sw), int(sh)
	case AV1:
		var sh av1.SequenceHeader
		if err := sh.Unmarshal(info.SequenceHeader); err != nil {
			return fmt.Errorf("parse AV1 sequence header: %w", err)
		}
		level, high := av1Level(&sh)
		codec, w, h = av1CodecString(sh.SeqProfile, level, high, sh.ColorConfig.BitDepth), sh.Width(), sh.Height()
	}
	if info.Codec == "" {
		info.Codec = codec
	}
	if info.Width == 0 || info.Height == 0 {
		info.Width, info.Height = w, h
	}
	return nil
}

// av1CodecString is the codecs parameter of AV1-ISOBMFF (section "Codecs Parameter String"):
// av01.P.LLT.DD, profile, level index, tier and bit depth; the optional fields are left out
// (their defaults: 4:2:0, BT.709, studio range).
func av1CodecString(profile, level uint8, highTier bool, depth int) string {
	tier := "M"
	if highTier {
		tier = "H"
	}
	return fmt.Sprintf("av01.%d.%02d%s.%02d", profile, level, tier, max(depth, 8))
}

// av1Level is the level index and tier of a sequence header's first operating point.
func av1Level(sh *av1.SequenceHeader) (level uint8, highTier bool) {
	if len(sh.SeqLevelIdx) > 0 {
		level = sh.SeqLevelIdx[0]
	}
	return level, len(sh.SeqTier) > 0 && sh.SeqTier[0]
}

// newVideoInit builds an init segment with one video track whose sample entry describes
// info's parameter sets (avc1 with avcC, hvc1 with hvcC, av01 with av1C).
func newVideoInit(id uint64, info *VideoTrackInfo) (*initSection, error) {
	init := mp4.CreateEmptyInit()
	init.AddEmptyTrack(90000, "video", "und")
	trak := init.Moov.Trak
	var err error
	switch info.Format {
	case H264:
		err = trak.SetAVCDescriptor("avc1", [][]byte{info.SPS}, [][]byte{info.PPS}, true)
	case H265:
		err = trak.SetHEVCDescriptor("hvc1", [][]byte{info.VPS}, [][]byte{info.SPS}, [][]byte{info.PPS}, nil, true)
	case AV1:
		err = setAV1Descriptor(trak, info)
	}
	if err != nil {
		return nil, fmt.Errorf("%s sample entry: %w", info.Format, err)
	}
	data, err := encodeBox(init)
	if err != nil {
		return nil, fmt.Errorf("init segment: %w", err)
	}
	return &initSection{id: id, data: data, key: bytes.Clone(info.configKey())}, nil
}

// setAV1Descriptor adds an av01 sample entry whose av1C carries the sequence header (mp4ff
// has the boxes but no constructor from a sequence header).
func setAV1Descriptor(trak *mp4.TrakBox, info *VideoTrackInfo) error {
	var sh av1.SequenceHeader
	if err := sh.Unmarshal(info.SequenceHeader); err != nil {
		return fmt.Errorf("parse sequence header: %w", err)
	}
	obu, err := av1.Bitstream{info.SequenceHeader}.Marshal() // with its size field
	if err != nil {
		return fmt.Errorf("sequence header: %w", err)
	}
	cc := sh.ColorConfig
	rec := mp4av1.CodecConfRec{Version: 1, SeqProfile: sh.SeqProfile, HighBitdepth: bit(cc.HighBitDepth),
		TwelveBit: bit(cc.TwelveBit), MonoChrome: bit(cc.MonoChrome), ChromaSubsamplingX: bit(cc.SubsamplingX),
		ChromaSubsamplingY: bit(cc.SubsamplingY), ChromaSamplePosition: byte(cc.ChromaSamplePosition), ConfigOBUs: obu}
	level, high := av1Level(&sh)
	rec.SeqLevelIdx0, rec.SeqTier0 = level, bit(high)
	w, h := sh.Width(), sh.Height()
	trak.Tkhd.Width, trak.Tkhd.Height = mp4.Fixed32(w<<16), mp4.Fixed32(h<<16)
	trak.Mdia.Minf.Stbl.Stsd.AddChild(mp4.CreateVisualSampleEntryBox("av01", uint16(w), uint16(h), &mp4.Av1CBox{CodecConfRec: rec}))
	return nil
}

func bit(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// videoSample converts an access unit to the sample format of its track: length-prefixed
// NAL units (H.264, H.265: Annex-B accepted), or AV1 OBUs with size fields and without
// temporal delimiters.
func videoSample(f VideoFormat, data []byte) ([]byte, error) {
	if f == AV1 {
		return av1Sample(data)
	}
	return toAVCC(data)
}

// av1Sample returns a temporal unit (low-overhead format) without its temporal delimiters,
// which AV1-ISOBMFF leaves out of samples. data itself is returned when it has none.
func av1Sample(data []byte) ([]byte, error) {
	var out []byte
	tds, frames := 0, 0
	err := av1OBUs(data, func(typ av1.OBUType, obu []byte) {
		if typ == av1.OBUTypeTemporalDelimiter {
			tds++
			return
		}
		frames++
		out = append(out, obu...)
	})
	switch {
	case err != nil:
		return nil, err
	case frames == 0:
		return nil, fmt.Errorf("AV1 temporal unit without frame data")
	case tds == 0:
		return data, nil
	}
	return out, nil
}

// av1OBUs calls fn with each OBU of a temporal unit in the low-overhead format (only the last
// may lack its size field): its type and its bytes, header and size field included.
// Written out because mediacommon's av1.Bitstream refuses OBUs with an extension header
// (temporal or spatial layers, as Chromium's L1T2/L1T3 modes send).
func av1OBUs(tu []byte, fn func(typ av1.OBUType, obu []byte)) error {
	for len(tu) > 0 {
		h, n := tu[0], 1
		if h&0x80 != 0 {
			return fmt.Errorf("AV1 OBU with the forbidden bit set")
		}
		if h&0x04 != 0 {
			n++ // extension header
		}
		if n > len(tu) {
			return fmt.Errorf("AV1 OBU header cut short")
		}
		size := len(tu) - n
		if h&0x02 != 0 {
			var v av1.LEB128
			l, err := v.Unmarshal(tu[n:])
			if err != nil {
				return fmt.Errorf("AV1 OBU size: %w", err)
			}
			n += l
			if uint64(v) > uint64(len(tu)-n) {
				return fmt.Errorf("AV1 OBU of %d bytes in %d", v, len(tu)-n)
			}
			size = int(v)
		}
		fn(av1.OBUType(h>>3&0x0f), tu[:n+size])
		tu = tu[n+size:]
	}
	return nil
}

// withoutOBUSize returns an OBU without its size field (the form of a sequence header kept
// in VideoTrackInfo), or obu itself when it has none or cannot be read.
func withoutOBUSize(obu []byte) []byte {
	if len(obu) < 2 || obu[0]&0x02 == 0 || obu[0]&0x04 != 0 {
		return obu
	}
	var v av1.LEB128
	l, err := v.Unmarshal(obu[1:])
	if err != nil || uint64(v) != uint64(len(obu)-1-l) {
		return obu
	}
	return append([]byte{obu[0] &^ 0x02}, obu[1+l:]...)
}

// inbandParams returns the parameter sets a keyframe sample (in its track's sample format)
// carries; nil fields for those it lacks.
func inbandParams(f VideoFormat, sample []byte) (p VideoTrackInfo) {
	p.Format = f
	switch f {
	case H264:
		p.SPS, p.PPS = media.H264ParameterSets(media.SplitAVCC(sample))
	case H265:
		for nal := range media.SplitAVCC(sample) {
			switch media.H265NALType(nal) {
			case media.H265NALVPS:
				p.VPS = nal
			case media.H265NALSPS:
				p.SPS = nal
			case media.H265NALPPS:
				p.PPS = nal
			}
		}
	case AV1:
		_ = av1OBUs(sample, func(typ av1.OBUType, obu []byte) {
			if typ == av1.OBUTypeSequenceHeader {
				p.SequenceHeader = withoutOBUSize(obu)
			}
		})
	}
	return p
}

// withCurrentParams fills the parameter sets a keyframe left out from cur (a PPS sent
// once, an unchanged VPS).
func withCurrentParams(found VideoTrackInfo, cur *VideoTrackInfo) VideoTrackInfo {
	if found.VPS == nil {
		found.VPS = cur.VPS
	}
	if found.PPS == nil {
		found.PPS = cur.PPS
	}
	return found
}

// InitCodec reads the RFC 6381 codec string and picture size of a video init segment with an
// hvc1/hev1 or av01 sample entry (as this package makes for an H.265 or AV1 source passed
// through), for packagings that serve stored segments (the DVR).
func InitCodec(init []byte) (codec string, width, height int, err error) {
	f, err := mp4.DecodeFile(bytes.NewReader(init))
	if err != nil {
		return "", 0, 0, fmt.Errorf("init segment: %w", err)
	}
	if f.Init == nil || f.Init.Moov == nil || f.Init.Moov.Trak == nil {
		return "", 0, 0, fmt.Errorf("init segment without a track")
	}
	stsd := f.Init.Moov.Trak.Mdia.Minf.Stbl.Stsd
	switch {
	case stsd.HvcX != nil && stsd.HvcX.HvcC != nil:
		spss := stsd.HvcX.HvcC.GetNalusForType(hevc.NALU_SPS)
		if len(spss) == 0 {
			return "", 0, 0, fmt.Errorf("hvcC without an SPS")
		}
		sps, err := hevc.ParseSPSNALUnit(spss[0])
		if err != nil {
			return "", 0, 0, fmt.Errorf("hvcC SPS: %w", err)
		}
		return hevc.CodecString(stsd.HvcX.Type(), sps), int(stsd.HvcX.Width), int(stsd.HvcX.Height), nil
	case stsd.Av01 != nil && stsd.Av01.Av1C != nil:
		c, depth := stsd.Av01.Av1C, 8
		if c.HighBitdepth == 1 {
			depth = 10 + 2*int(c.TwelveBit)
		}
		codec = av1CodecString(c.SeqProfile, c.SeqLevelIdx0, c.SeqTier0 == 1, depth)
		return codec, int(stsd.Av01.Width), int(stsd.Av01.Height), nil
	}
	return "", 0, 0, fmt.Errorf("no hvc1 or av01 sample entry")
}
