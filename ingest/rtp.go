package ingest

import (
	"fmt"
	"math/rand/v2"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/media"
)

const (
	rtpMTU        = 1200 // bytes of an RTP packet, header included
	rtpHeaderSize = 12
	videoPT       = 96
	audioPT       = 111
	// reencodedProfile is the profile of the re-encoder's output: constrained baseline.
	reencodedProfile = "42e01f"
)

// rtpSender numbers and marshals the packets of one track.
type rtpSender struct {
	kind  string
	pt    uint8
	ssrc  uint32
	seq   uint16
	base  uint32 // random timestamp origin, as RFC 3550 asks
	write func(kind string, pkt []byte) error
	h264  media.H264Packetizer // video: RFC 6184 packetization-mode 1, one NAL unit per packet
}

func newRTPSender(kind string, pt uint8, write func(string, []byte) error) *rtpSender {
	return &rtpSender{kind: kind, pt: pt, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), base: rand.Uint32(), write: write,
		h264: media.H264Packetizer{MaxPayload: rtpMTU - rtpHeaderSize}}
}

func (r *rtpSender) send(ts uint32, marker bool, payload []byte) error {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: r.pt, SequenceNumber: r.seq, Timestamp: r.base + ts,
		SSRC: r.ssrc, Marker: marker}, Payload: payload}
	b, err := pkt.Marshal()
	if err != nil {
		return fmt.Errorf("rtp %s: %w", r.kind, err)
	}
	r.seq++
	return r.write(r.kind, b)
}

// sendH264 sends one access unit (NAL units without start codes) at ts: single NAL unit
// packets, FU-A for NAL units over the MTU, the marker on the last packet.
func (r *rtpSender) sendH264(ts uint32, au [][]byte) error {
	return r.h264.Packetize(au, func(payload []byte, last bool) error {
		return r.send(ts, last, payload)
	})
}

// h264Params keeps a stream's latest SPS and PPS.
type h264Params struct{ media.H264ParamSets }

// update keeps the SPS and PPS of an access unit, if it carries any.
func (p *h264Params) update(au [][]byte) {
	for _, n := range au {
		p.Keep(n)
	}
}

// forRTP returns the NAL units of an access unit to send: no delimiters or filler, and the
// SPS and PPS in front of an IDR that does not carry them.
func (p *h264Params) forRTP(au [][]byte) (out [][]byte, idr bool) {
	out, idr = p.Missing(make([][]byte, 0, len(au)+2), au)
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if typ := n[0] & 0x1f; typ != media.H264NALAUD && typ != media.H264NALFiller {
			out = append(out, n)
		}
	}
	return out, idr
}

// isIDR reports whether an access unit holds an IDR slice.
func isIDR(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 && n[0]&0x1f == media.H264NALIDR {
			return true
		}
	}
	return false
}

// h264Codec is the room's video codec for an SPS (profile-level-id from its first 3 bytes
// after the NAL header), or for the re-encoder's output when sps is nil.
func h264Codec(sps []byte) *webrtc.RTPCodecParameters {
	plid := reencodedProfile
	if len(sps) >= 4 {
		plid = fmt.Sprintf("%02x%02x%02x", sps[1], sps[2], sps[3])
	}
	return &webrtc.RTPCodecParameters{PayloadType: videoPT, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: ticksPerSecond,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid,
	}}
}

func opusCodec() *webrtc.RTPCodecParameters {
	return &webrtc.RTPCodecParameters{PayloadType: audioPT, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
	}}
}

// spsDescription says what an SPS declares ("h264 42c00d 320x240") and whether it allows
// frame reordering (B-frames): max_num_reorder_frames > 0 in its VUI. An SPS that does not
// say leaves the answer to the timestamps (PTS != DTS).
func spsDescription(sps []byte) (desc string, reorders bool) {
	desc = "h264 " + h264Codec(sps).SDPFmtpLine[len("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id="):]
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return desc, false
	}
	desc += fmt.Sprintf(" %dx%d", s.Width(), s.Height())
	if s.VUI != nil && s.VUI.BitstreamRestriction != nil {
		return desc, s.VUI.BitstreamRestriction.MaxNumReorderFrames > 0
	}
	return desc, false
}
