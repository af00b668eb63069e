package hlsbridge

import (
	"encoding/binary"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/pion/rtp/codecs"

	"github.com/glint-video/glint/media"
)

// vpxDepacketizer reassembles VP8 (RFC 7741) or VP9 (RFC 9628) frames: it strips the payload
// descriptors and concatenates a frame's packets, from the one that starts it (VP8: S=1 and
// partition 0; VP9: B=1) to the marker bit (VP9: E=1) or a change of RTP timestamp.
// VP9 spatial layers come out as separate frames of the same timestamp; the SFU forwards one
// layer to local subscribers, so in practice each frame is a whole picture.
type vpxDepacketizer struct {
	frameGate
	vp9  bool
	data []byte
}

func newVPXDepacketizer(isVP9 bool) *vpxDepacketizer {
	return &vpxDepacketizer{vp9: isVP9, frameGate: frameGate{needKey: true}}
}

func (d *vpxDepacketizer) reset() {
	d.restart()
	d.data = nil
}

func (d *vpxDepacketizer) push(p rtpPacket, out []frame) []frame {
	if !d.admit(p) {
		return out
	}
	payload, start, end, err := d.descriptor(p.payload)
	if err != nil {
		d.lost()
		return out
	}
	if d.active && (p.ts != d.ts || start) {
		out = d.finish(out)
	}
	if !d.active {
		if !start {
			d.needKey = true // the frame's first packet is missing
			return out
		}
		d.begin(p)
		d.data = nil
	}
	d.last = p.arrival
	d.data = append(d.data, payload...)
	if p.marker || end {
		out = d.finish(out)
	}
	return out
}

// descriptor strips the payload descriptor and reports whether the packet starts or ends a
// frame.
func (d *vpxDepacketizer) descriptor(b []byte) (payload []byte, start, end bool, err error) {
	if d.vp9 {
		var pk codecs.VP9Packet
		payload, err = pk.Unmarshal(b)
		return payload, pk.B, pk.E, err
	}
	desc, err := media.ParseVP8Descriptor(b)
	if err != nil {
		return nil, false, false, err
	}
	return b[desc.Size:], desc.Start && desc.PartitionID == 0, false, nil
}

func (d *vpxDepacketizer) finish(out []frame) []frame {
	data, whole := d.data, d.end(false)
	d.data = nil
	if !whole || len(data) == 0 {
		return out
	}
	key := data[0]&1 == 0 // VP8 frame tag: P bit clear
	if d.vp9 {
		key = vp9.IsRandomAccess(data) // the frame header, not the descriptor's P bit
	}
	if !d.pass(key) {
		return out
	}
	return append(out, frame{data: data, ts: d.ts, keyframe: key, first: d.first, last: d.last})
}

// newDepacketizer returns the depacketizer for a video MIME type, or nil if unsupported.
func newDepacketizer(mime string) (depacketizer, string) {
	switch strings.ToLower(mime) {
	case "video/h264":
		return newH264Depacketizer(), "H264"
	case "video/vp8":
		return newVPXDepacketizer(false), "VP8"
	case "video/vp9":
		return newVPXDepacketizer(true), "VP9"
	case "video/av1":
		return newAV1Depacketizer(), "AV1"
	case "video/h265":
		return newH265Depacketizer(), "H265"
	}
	return nil, ""
}

// frameSize returns the picture size a keyframe announces (H.264: its SPS; AV1: its sequence
// header), or ok false.
func frameSize(codec string, key []byte) (w, h int, ok bool) {
	switch codec {
	case "H264":
		sps, _ := media.H264ParameterSets(media.SplitAnnexB(key))
		var s h264.SPS
		if sps == nil || s.Unmarshal(sps) != nil {
			return 0, 0, false
		}
		w, h = s.Width(), s.Height()
	case "VP8":
		if len(key) < 10 || key[0]&1 != 0 || key[3] != 0x9d || key[4] != 0x01 || key[5] != 0x2a {
			return 0, 0, false
		}
		w, h = int(binary.LittleEndian.Uint16(key[6:])&0x3fff), int(binary.LittleEndian.Uint16(key[8:])&0x3fff)
	case "VP9":
		var hd vp9.Header
		if hd.Unmarshal(key) != nil {
			return 0, 0, false
		}
		w, h = hd.Width(), hd.Height()
	case "H265":
		w, h, _ = h265FrameSize(key)
	case "AV1":
		if sh := av1SequenceHeader(key); sh != nil {
			w, h = sh.Width(), sh.Height()
		}
	}
	return w, h, w > 0 && h > 0
}
