package hlsbridge

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp/codecs"

	"github.com/glint-video/glint/media"
)

// h265Depacketizer reassembles H.265 access units from RTP (RFC 7798 without DONL: single
// NAL units, aggregation packets, fragmentation units) with pion's H265Depacketizer, which
// writes each packet's complete NAL units in Annex-B form. An access unit ends at the marker
// bit or when the RTP timestamp changes; it keeps the latest VPS, SPS and PPS and puts them
// in front of an IRAP that comes without them.
type h265Depacketizer struct {
	frameGate
	dep    codecs.H265Depacketizer
	nals   [][]byte
	params media.H265ParamSets
}

func newH265Depacketizer() *h265Depacketizer {
	return &h265Depacketizer{frameGate: frameGate{needKey: true}}
}

func (d *h265Depacketizer) reset() {
	d.restart()
	d.dep = codecs.H265Depacketizer{}
	d.nals = nil
}

func (d *h265Depacketizer) push(p rtpPacket, out []frame) []frame {
	return d.pushByTimestamp(p, out, d)
}

func (d *h265Depacketizer) canStart(rtpPacket) bool { return true }
func (d *h265Depacketizer) startUnit()              {}
func (d *h265Depacketizer) forget()                 { d.dep = codecs.H265Depacketizer{} }

// unmarshal keeps the complete NAL units of one packet (and the parameter sets among them).
func (d *h265Depacketizer) unmarshal(payload []byte) error {
	b, err := d.dep.Unmarshal(payload)
	for _, nal := range splitAnnexB(b) {
		d.params.Keep(nal)
		d.nals = append(d.nals, nal)
	}
	return err
}

func (d *h265Depacketizer) finish(out []frame) []frame {
	nals, whole := d.nals, d.end(false)
	d.nals = nil
	if !whole || len(nals) == 0 {
		return out
	}
	nals, key := d.params.WithParams(nals)
	if !d.pass(key) {
		return out
	}
	return append(out, frame{data: annexB(nals), ts: d.ts, keyframe: key, first: d.first, last: d.last})
}

// h265FrameSize returns the picture size the SPS of an H.265 access unit (Annex B) declares.
func h265FrameSize(key []byte) (w, h int, ok bool) {
	for _, nal := range splitAnnexB(key) {
		if media.H265NALType(nal) == media.H265NALSPS {
			var sps h265.SPS
			if sps.Unmarshal(nal) != nil {
				return 0, 0, false
			}
			return sps.Width(), sps.Height(), true
		}
	}
	return 0, 0, false
}
