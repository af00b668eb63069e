package ingest

import (
	"fmt"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/webrtc/v4"
)

// hevcParams keeps an H.265 stream's latest VPS, SPS and PPS, so that every IRAP access unit
// handed to the re-encoder's decoder carries them (a decoder joining or restarting at any
// IRAP needs them in-band).
type hevcParams struct{ vps, sps, pps []byte }

// update keeps the parameter sets of an access unit, if it carries any.
func (p *hevcParams) update(au [][]byte) {
	for _, n := range au {
		if len(n) < 2 {
			continue
		}
		switch h265.NALUType(n[0] >> 1 & 0x3f) {
		case h265.NALUType_VPS_NUT:
			p.vps = n
		case h265.NALUType_SPS_NUT:
			p.sps = n
		case h265.NALUType_PPS_NUT:
			p.pps = n
		}
	}
}

// forDecoder returns an access unit with the parameter sets in front when it is an IRAP that
// lacks them, and whether it is an IRAP.
func (p *hevcParams) forDecoder(au [][]byte) (out [][]byte, irap bool) {
	if !h265.IsRandomAccess(au) {
		return au, false
	}
	has := map[h265.NALUType]bool{}
	for _, n := range au {
		if len(n) > 0 {
			has[h265.NALUType(n[0]>>1&0x3f)] = true
		}
	}
	out = make([][]byte, 0, len(au)+3)
	for _, ps := range []struct {
		typ h265.NALUType
		nal []byte
	}{{h265.NALUType_VPS_NUT, p.vps}, {h265.NALUType_SPS_NUT, p.sps}, {h265.NALUType_PPS_NUT, p.pps}} {
		if !has[ps.typ] && ps.nal != nil {
			out = append(out, ps.nal)
		}
	}
	return append(out, au...), true
}

// declareH265 says the stream has an H.265 video track (MPEG-TS stream type 0x24).
func (s *stream) declareH265() {
	if s.fixed {
		if s.hevc == nil {
			s.log.Warn("h265 video track announced after media started: ignored")
		}
		return
	}
	s.hasVideo = true
	s.hevc = &hevcParams{}
}

// startH265 describes an H.265 source and opens its re-encoder: WebRTC viewers get H.264
// (constrained baseline) made from it, and so does the room's LL-HLS ladder.
func (s *stream) startH265() (desc string, video *webrtc.RTPCodecParameters, mode string, err error) {
	if s.hevc.sps == nil || s.hevc.pps == nil || s.hevc.vps == nil {
		return "", nil, "", fmt.Errorf("h265: IRAP before any VPS, SPS and PPS")
	}
	desc, fps := "h265", 30
	var sps h265.SPS
	if sps.Unmarshal(s.hevc.sps) == nil {
		desc = fmt.Sprintf("h265 %dx%d", sps.Width(), sps.Height())
		if f := sps.FPS(); f > 0 && f < 240 {
			fps = int(math.Round(f))
		}
	}
	r, err := s.srv.cfg.Transcode.Reencoder("H265", fps, s.log)
	if err != nil {
		return "", nil, "", fmt.Errorf("%w: H.265 needs the re-encoder to H.264 for WebRTC viewers: %v", ErrUnsupportedCodec, err)
	}
	s.reenc = r
	s.log.Info("reencoding: h265 to h264", "fps", fps)
	return desc, h264Codec(nil), "reencoding: h265", nil
}
