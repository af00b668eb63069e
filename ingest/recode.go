package ingest

import (
	"fmt"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

// recodedSource is an input video codec that ingest always re-encodes to H.264 (constrained
// baseline) for the room: H.265 or AV1. Access units come as a list of NAL units (H.265) or
// OBUs without their size fields (AV1).
type recodedSource interface {
	codec() string // the transcoder's name: "H265", "AV1"
	update(au [][]byte)
	isKey(au [][]byte) bool
	// describe says what the parameters declare ("h265 1280x720") and the frame rate they
	// give (0: unknown), or an error while a keyframe's parameters are missing.
	describe() (desc string, fps float64, err error)
	// forDecoder returns the access unit as the decoder takes it (Annex B; AV1 low-overhead
	// format), with the parameters in front of a keyframe that lacks them.
	forDecoder(au [][]byte) (data []byte, key bool, err error)
}

// hevcParams keeps an H.265 stream's latest VPS, SPS and PPS, so that every IRAP access unit
// handed to the re-encoder's decoder carries them (a decoder joining or restarting at any
// IRAP needs them in-band).
type hevcParams struct{ media.H265ParamSets }

func (p *hevcParams) codec() string { return "H265" }

// update keeps the parameter sets of an access unit, if it carries any.
func (p *hevcParams) update(au [][]byte) {
	for _, n := range au {
		p.Keep(n)
	}
}

func (p *hevcParams) isKey(au [][]byte) bool { return h265.IsRandomAccess(au) }

func (p *hevcParams) describe() (string, float64, error) {
	if p.SPS == nil || p.PPS == nil || p.VPS == nil {
		return "", 0, fmt.Errorf("h265: IRAP before any VPS, SPS and PPS")
	}
	var sps h265.SPS
	if sps.Unmarshal(p.SPS) != nil {
		return "h265", 0, nil
	}
	return fmt.Sprintf("h265 %dx%d", sps.Width(), sps.Height()), sps.FPS(), nil
}

func (p *hevcParams) forDecoder(au [][]byte) ([]byte, bool, error) {
	au, irap := p.WithParams(au)
	b, err := h264.AnnexB(au).Marshal() // Annex B is the same for H.265
	return b, irap, err
}

// av1Params keeps an AV1 stream's latest sequence header OBU. A temporal unit with one is a
// keyframe (encoders repeat it at every keyframe: libaom, SVT-AV1, OBS).
type av1Params struct{ seq []byte }

func (p *av1Params) codec() string { return "AV1" }

func (p *av1Params) update(tu [][]byte) {
	for _, obu := range tu {
		if len(obu) > 0 && av1.OBUType(obu[0]>>3&0x0f) == av1.OBUTypeSequenceHeader {
			p.seq = obu
		}
	}
}

func (p *av1Params) isKey(tu [][]byte) bool { return av1.IsRandomAccess2(tu) }

func (p *av1Params) describe() (string, float64, error) {
	var sh av1.SequenceHeader
	if p.seq == nil || sh.Unmarshal(p.seq) != nil {
		return "", 0, fmt.Errorf("av1: keyframe without a sequence header")
	}
	return fmt.Sprintf("av1 %dx%d", sh.Width(), sh.Height()), 0, nil
}

func (p *av1Params) forDecoder(tu [][]byte) ([]byte, bool, error) {
	b, err := av1.Bitstream(tu).Marshal()
	return b, av1.IsRandomAccess2(tu), err
}

// declareRecoded says the stream's video track is src (H.265: MPEG-TS stream type 0x24 or
// Enhanced RTMP hvc1; AV1: Enhanced RTMP av01).
func (s *stream) declareRecoded(src recodedSource) {
	if s.fixed {
		if s.recoded == nil {
			s.log.Warn("video track announced after media started: ignored", "codec", src.codec())
		}
		return
	}
	s.hasVideo = true
	if s.recoded == nil || s.recoded.codec() != src.codec() {
		s.recoded = src
	}
}

// startRecoded describes the source and opens its re-encoder: WebRTC viewers get H.264
// (constrained baseline) made from it, and so does the room's LL-HLS ladder.
func (s *stream) startRecoded() (desc string, video *webrtc.RTPCodecParameters, mode string, err error) {
	desc, f, err := s.recoded.describe()
	if err != nil {
		return "", nil, "", err
	}
	fps := 30
	if f > 0 && f < 240 {
		fps = int(math.Round(f))
	}
	codec := s.recoded.codec()
	r, err := s.srv.cfg.Transcode.Reencoder(codec, fps, s.log)
	if err != nil {
		return "", nil, "", fmt.Errorf("%w: %s needs the re-encoder to H.264 for WebRTC viewers: %v", ErrUnsupportedCodec, codec, err)
	}
	s.reenc = r
	mode = "reencoding: " + map[string]string{"H265": "h265", "AV1": "av1"}[codec]
	s.log.Info(mode, "fps", fps)
	return desc, h264Codec(nil), mode, nil
}
