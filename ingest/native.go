package ingest

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// Native H.265 and AV1 (Config.NativeCodecs, on when LL-HLS runs): the source is published
// into the room as it is, as a WHIP publisher of the codec would (RFC 7798 H.265 RTP, the AV1
// RTP payload format), instead of being re-encoded here. WebRTC viewers that decode the codec
// get it; the LL-HLS ladder decodes it once for its renditions, and its H.264 rung of the
// source's size becomes the room's alternate video for the other WebRTC viewers
// (sfu.PublishAlternate, hlsbridge/alternate.go). H.265 other than Main (profile 1) and AV1
// other than Main (profile 0), which WebRTC does not negotiate, and H.265 with B-frames
// (frames out of presentation order, which WebRTC decoders do not reorder) are still
// re-encoded.

// nativeSender packetizes the access units of a native H.265 or AV1 source.
type nativeSender interface {
	// payloads returns the RTP payloads of one access unit in the decoder's form
	// (recodedSource.forDecoder), in order.
	payloads(data []byte) [][]byte
}

type h265Sender struct{ pay codecs.H265Payloader }

func (h *h265Sender) payloads(annexB []byte) [][]byte {
	return h.pay.Payload(rtpMTU-rtpHeaderSize, annexB)
}

type av1Sender struct{ pay codecs.AV1Payloader }

func (a *av1Sender) payloads(tu []byte) [][]byte { return a.pay.Payload(rtpMTU-rtpHeaderSize, tu) }

// nativeCodec is the room's RTP codec for a source sent natively, with its packetizer; nil
// when the source's profile is not one WebRTC viewers negotiate.
func nativeCodec(src recodedSource) (*webrtc.RTPCodecParameters, nativeSender) {
	switch p := src.(type) {
	case *hevcParams:
		var sps h265.SPS
		if p.SPS == nil || sps.Unmarshal(p.SPS) != nil || sps.ProfileTierLevel.GeneralProfileIdc != 1 {
			return nil, nil
		}
		return &webrtc.RTPCodecParameters{PayloadType: videoPT, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH265, ClockRate: ticksPerSecond,
			SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}}, &h265Sender{}
	case *av1Params:
		var sh av1.SequenceHeader
		if p.seq == nil || sh.Unmarshal(p.seq) != nil || sh.SeqProfile != 0 {
			return nil, nil
		}
		level := 5
		if len(sh.SeqLevelIdx) > 0 {
			level = int(sh.SeqLevelIdx[0])
		}
		return &webrtc.RTPCodecParameters{PayloadType: videoPT, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeAV1, ClockRate: ticksPerSecond,
			SDPFmtpLine: fmt.Sprintf("level-idx=%d;profile=0;tier=0", level)}}, &av1Sender{}
	}
	return nil, nil
}

// startNative describes the source and sends it natively, when Config.NativeCodecs allows,
// its profile is one WebRTC negotiates and its first frame shows no reordering (ptsReorder:
// PTS ≠ DTS); ok false: re-encode it.
func (s *stream) startNative(ptsReorder bool) (desc string, video *webrtc.RTPCodecParameters, mode string, ok bool) {
	if !s.srv.cfg.NativeCodecs {
		return "", nil, "", false
	}
	if ptsReorder {
		s.log.Info("source has b-frames: re-encoded", "codec", s.recoded.codec())
		return "", nil, "", false
	}
	desc, _, err := s.recoded.describe()
	if err != nil {
		return "", nil, "", false
	}
	video, sender := nativeCodec(s.recoded)
	if video == nil {
		s.log.Info("source profile not negotiated by WebRTC: re-encoded", "video", desc)
		return "", nil, "", false
	}
	s.native = sender
	mode = "native: " + map[string]string{"H265": "h265", "AV1": "av1"}[s.recoded.codec()]
	s.log.Info(mode, "fmtp", video.SDPFmtpLine)
	return desc, video, mode, true
}

// sendNative sends one access unit of a native source at presentation time pts (90 kHz).
func (s *stream) sendNative(au [][]byte, pts, dts int64) error {
	s.noteKeyframeRequest()
	if pts != dts && !s.lateReorders {
		s.lateReorders = true
		s.log.Warn("b-frames appeared after the stream started; sent as they are (WebRTC viewers of the codec may stutter)")
	}
	data, _, err := s.recoded.forDecoder(au)
	if err != nil {
		s.softError(s.recoded.codec()+" access unit", err)
		return nil
	}
	payloads := s.native.payloads(data)
	for i, p := range payloads {
		if err := s.video.send(uint32(pts), i == len(payloads)-1, p); err != nil {
			return err
		}
	}
	return nil
}
