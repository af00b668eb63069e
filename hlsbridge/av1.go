package hlsbridge

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/pion/rtp/codecs"
)

// temporalDelimiter is the OBU (type 2, with an empty size field) that starts every temporal
// unit of an AV1 low-overhead bitstream; RTP leaves it out (AV1 RTP spec, section 5).
var temporalDelimiter = []byte{0x12, 0x00}

// av1Depacketizer reassembles AV1 temporal units (AV1 RTP payload spec: aggregation header,
// OBU elements, fragments across packets) with pion's AV1Depacketizer, which writes each
// packet's OBUs in the low-overhead format with their size fields. A temporal unit runs from
// a packet whose first element does not continue a fragment (Z=0) to the marker bit or a
// change of RTP timestamp; it is handed on with a temporal delimiter in front, as libav's AV1
// decoders expect.
type av1Depacketizer struct {
	frameGate
	dep  codecs.AV1Depacketizer
	data []byte
}

func newAV1Depacketizer() *av1Depacketizer {
	return &av1Depacketizer{frameGate: frameGate{needKey: true}}
}

func (d *av1Depacketizer) reset() {
	d.restart()
	d.dep = codecs.AV1Depacketizer{}
	d.data = nil
}

func (d *av1Depacketizer) push(p rtpPacket, out []frame) []frame {
	return d.pushByTimestamp(p, out, d)
}

// canStart: a first element with Z set continues an OBU of a frame whose start is missing.
func (d *av1Depacketizer) canStart(p rtpPacket) bool { return p.payload[0]&0x80 == 0 }
func (d *av1Depacketizer) startUnit()                { d.data = append(d.data[:0:0], temporalDelimiter...) }
func (d *av1Depacketizer) forget()                   { d.dep = codecs.AV1Depacketizer{} }

func (d *av1Depacketizer) unmarshal(payload []byte) error {
	obus, err := d.dep.Unmarshal(payload)
	d.data = append(d.data, obus...)
	return err
}

func (d *av1Depacketizer) finish(out []frame) []frame {
	data, whole := d.data, d.end(false)
	d.data = nil
	if !whole || len(data) <= len(temporalDelimiter) {
		return out
	}
	key := av1SequenceHeader(data) != nil
	if !d.pass(key) {
		return out
	}
	return append(out, frame{data: data, ts: d.ts, keyframe: key, first: d.first, last: d.last})
}

// av1SequenceHeader returns the sequence header of a temporal unit (low-overhead format), or
// nil when it has none (it is then not a keyframe: a coded video sequence starts with one).
func av1SequenceHeader(tu []byte) *av1.SequenceHeader {
	obu := av1SequenceHeaderOBU(tu)
	if obu == nil {
		return nil
	}
	var sh av1.SequenceHeader
	if sh.Unmarshal(obu) != nil {
		return nil
	}
	return &sh
}

// av1SequenceHeaderOBU returns the sequence header OBU of a temporal unit (without its size
// field), or nil.
func av1SequenceHeaderOBU(tu []byte) []byte {
	var bs av1.Bitstream
	if bs.Unmarshal(tu) != nil {
		return nil
	}
	for _, obu := range bs {
		if len(obu) > 0 && av1.OBUType(obu[0]>>3&0x0f) == av1.OBUTypeSequenceHeader {
			return obu
		}
	}
	return nil
}
