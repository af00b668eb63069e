package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/glint-video/glint/media"
)

// flvDemuxer turns RTMP messages (FLV tags, legacy and Enhanced RTMP) into stream calls,
// with one 32-bit millisecond unwrapper for both tracks.
type flvDemuxer struct {
	st          *stream
	ts          msUnwrapper
	audioIgnore string
}

func (d *flvDemuxer) handle(msg message.Message) error {
	switch m := msg.(type) {
	case *message.Video:
		if m.Codec != message.CodecH264 {
			return fmt.Errorf("%w: video codec id %d (H.265 over legacy FLV); publish H.264, or H.265 over Enhanced RTMP", ErrUnsupportedCodec, m.Codec)
		}
		switch m.Type {
		case message.VideoTypeConfig:
			return d.avcConfig(m.AVCConfig)
		case message.VideoTypeAU:
			return d.avcc(m.DTS, m.PTSDelta, m.AU)
		}
	case *message.VideoExSequenceStart:
		switch m.FourCC {
		case message.FourCCAVC:
			return d.avcConfig(m.AVCConfig)
		case message.FourCCHEVC:
			return d.hevcConfig(m.HEVCConfig)
		case message.FourCCAV1:
			d.st.declareRecoded(&av1Params{}) // the sequence header comes in-band with every keyframe
			return nil
		}
		return unsupportedVideo(m.FourCC)
	case *message.VideoExCodedFrames:
		return d.exFrames(m.FourCC, m.DTS, m.PTSDelta, m.Payload)
	case *message.VideoExFramesX:
		return d.exFrames(m.FourCC, m.DTS, 0, m.Payload)
	case *message.VideoExMultitrack, *message.AudioExMultitrack:
		return fmt.Errorf("%w: multitrack Enhanced RTMP; publish one video and one audio track", ErrUnsupportedCodec)
	case *message.Audio:
		return d.legacyAudio(m)
	case *message.AudioExSequenceStart:
		switch m.FourCC {
		case message.FourCCOpus:
			d.st.declareAudio(audioIn{codec: "opus", sampleRate: 48000, channels: 2})
		case message.FourCCMP4A:
			d.aacConfig(m.AACConfig)
		default:
			d.ignoreAudio(fourCC(m.FourCC))
		}
	case *message.AudioExCodedFrames:
		switch m.FourCC {
		case message.FourCCOpus, message.FourCCMP4A:
			return d.st.audioFrame(d.ts.ticks(m.DTS), m.Payload)
		}
		d.ignoreAudio(fourCC(m.FourCC))
	case *message.CommandAMF0:
		switch m.Name {
		case "deleteStream", "FCUnpublish", "closeStream":
			return errUnpublished
		}
	}
	return nil
}

func (d *flvDemuxer) legacyAudio(m *message.Audio) error {
	if m.Codec != message.CodecMPEG4Audio {
		d.ignoreAudio(fmt.Sprintf("FLV audio codec id %d", m.Codec))
		return nil
	}
	if m.AACType == message.AudioAACTypeConfig {
		d.aacConfig(m.AACConfig)
		return nil
	}
	if len(m.AU) == 0 {
		return nil
	}
	return d.st.audioFrame(d.ts.ticks(m.DTS), m.AU)
}

func (d *flvDemuxer) avcConfig(c *mp4.AVCDecoderConfiguration) error {
	if c == nil || len(c.SequenceParameterSets) == 0 || len(c.PictureParameterSets) == 0 {
		return errors.New("h264 config without SPS or PPS")
	}
	d.st.declareVideo(c.SequenceParameterSets[0].NALUnit, c.PictureParameterSets[0].NALUnit)
	return nil
}

// hevcConfig declares an H.265 track (Enhanced RTMP FourCC hvc1) with the VPS, SPS and PPS
// of its HEVCDecoderConfigurationRecord.
func (d *flvDemuxer) hevcConfig(c *mp4.HvcC) error {
	if c == nil {
		return errors.New("h265 config missing")
	}
	var nalus [][]byte
	for _, a := range c.NaluArrays {
		for _, n := range a.Nalus {
			nalus = append(nalus, n.NALUnit)
		}
	}
	d.st.declareRecoded(&hevcParams{})
	if d.st.recoded != nil {
		d.st.recoded.update(nalus)
	}
	return nil
}

// exFrames takes one Enhanced RTMP video frame: length-prefixed NAL units (avc1, hvc1) or an
// AV1 temporal unit (av01, low-overhead OBUs).
func (d *flvDemuxer) exFrames(f message.FourCC, dts, ptsDelta time.Duration, payload []byte) error {
	switch f {
	case message.FourCCAVC, message.FourCCHEVC:
		return d.avcc(dts, ptsDelta, payload)
	case message.FourCCAV1:
		if len(payload) == 0 {
			return nil
		}
		var tu av1.Bitstream
		if err := tu.Unmarshal(payload); err != nil {
			return fmt.Errorf("av1 temporal unit: %w", err)
		}
		t := d.ts.ticks(dts)
		return d.st.videoAU(t+media.Ticks(ptsDelta, ticksPerSecond), t, tu)
	}
	return unsupportedVideo(f)
}

// avcc takes one H.264 or H.265 access unit of length-prefixed NAL units (AVCC / HVCC).
func (d *flvDemuxer) avcc(dts, ptsDelta time.Duration, payload []byte) error {
	var au h264.AVCC
	if err := au.Unmarshal(payload); err != nil {
		if errors.Is(err, h264.ErrAVCCNoNALUs) {
			return nil
		}
		return fmt.Errorf("h264 avcc: %w", err)
	}
	t := d.ts.ticks(dts)
	return d.st.videoAU(t+media.Ticks(ptsDelta, ticksPerSecond), t, au)
}

func (d *flvDemuxer) aacConfig(c *mpeg4audio.AudioSpecificConfig) {
	if c == nil {
		return
	}
	asc, err := c.Marshal()
	if err != nil {
		d.ignoreAudio("AAC with a bad AudioSpecificConfig")
		return
	}
	d.st.declareAudio(aacIn(c, asc))
}

// aacIn describes an AAC track from its AudioSpecificConfig.
func aacIn(c *mpeg4audio.AudioSpecificConfig, asc []byte) audioIn {
	channels := int(c.ChannelConfig)
	switch {
	case channels == 7:
		channels = 8
	case channels == 0 || channels > 7:
		channels = 2 // a PCE layout; the decoder reads it from the stream
	}
	return audioIn{codec: "aac", sampleRate: c.SampleRate, channels: channels, asc: asc}
}

// ignoreAudio logs, once, audio that ingest does not carry.
func (d *flvDemuxer) ignoreAudio(what string) {
	if d.audioIgnore == "" {
		d.audioIgnore = what
		d.st.log.Warn("audio dropped: unsupported codec; publish AAC or Opus", "codec", what)
	}
}

func unsupportedVideo(f message.FourCC) error {
	return fmt.Errorf("%w: Enhanced RTMP video %s; set the encoder to H.264, H.265 (HEVC) or AV1",
		ErrUnsupportedCodec, fourCC(f))
}

func fourCC(f message.FourCC) string {
	b := []byte{byte(f >> 24), byte(f >> 16), byte(f >> 8), byte(f)}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("0x%08x", uint32(f))
		}
	}
	return string(b)
}
