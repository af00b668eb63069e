package hlsbridge

import (
	"time"

	"github.com/glint-video/glint/media"
)

// rtpPacket is the part of an RTP packet a depacketizer needs.
type rtpPacket struct {
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte // valid only during push
	arrival time.Time
}

// frame is one depacketized video frame: an H.264 access unit in Annex-B form (start codes,
// SPS and PPS in front of every IDR), or a VP8/VP9 frame without payload descriptors.
type frame struct {
	data        []byte
	ts          uint32 // RTP timestamp
	keyframe    bool
	first, last time.Time // arrival of its first and last packet
	// capture is the time carried by the frame's capture-time SEI (media.ParseCaptureSEI),
	// zero when it has none.
	capture time.Time
}

// depacketizer turns RTP packets in sequence order into complete frames. After a lost
// packet it drops the damaged frame and every frame up to the next keyframe.
type depacketizer interface {
	push(p rtpPacket, out []frame) []frame
	reset()
	stats() (dropped int)
}

// seqTracker notices lost packets: it reports false for a packet that does not follow the
// previous one.
type seqTracker struct {
	started bool
	last    uint16
}

// next records seq and reports whether it follows the previous packet without a gap; ok is
// false for a duplicate or late packet, which the caller should ignore.
func (s *seqTracker) next(seq uint16) (contiguous, ok bool) {
	if !s.started {
		s.started, s.last = true, seq
		return true, true
	}
	d := seq - s.last
	if d == 0 || d >= 0x8000 {
		return false, false
	}
	s.last = seq
	return d == 1, true
}

// h264Depacketizer reassembles H.264 access units from RTP (RFC 6184, packetization modes 0
// and 1: single NAL unit packets, STAP-A and FU-A). An access unit ends at the marker bit or
// when the RTP timestamp changes. It keeps the latest SPS and PPS and puts them in front of
// an IDR that comes without them.
type h264Depacketizer struct {
	frameGate
	nals [][]byte
	fu   []byte
	inFU bool
	sps  []byte
	pps  []byte
}

func newH264Depacketizer() *h264Depacketizer {
	return &h264Depacketizer{frameGate: frameGate{needKey: true}}
}

// reset forgets the access unit in progress and waits for a keyframe (a new source).
func (d *h264Depacketizer) reset() {
	d.restart()
	d.nals, d.fu, d.inFU = nil, nil, false
}

func (d *h264Depacketizer) push(p rtpPacket, out []frame) []frame {
	if !d.admit(p) {
		return out
	}
	if d.active && p.ts != d.ts {
		out = d.finish(out)
	}
	if !d.active {
		d.begin(p)
	}
	d.last = p.arrival
	d.parsePayload(p.payload)
	if p.marker {
		out = d.finish(out)
	}
	return out
}

// parsePayload adds the NAL units of one RTP payload to the access unit.
func (d *h264Depacketizer) parsePayload(b []byte) {
	if len(b) == 0 {
		return
	}
	typ := b[0] & 0x1f
	if d.inFU && typ != media.H264NALFUA {
		d.broken, d.inFU = true, false // a fragmented NAL unit never ended
	}
	switch {
	case typ >= 1 && typ <= 23:
		d.addNAL(b)
	case typ == media.H264NALSTAPA:
		for rest := b[1:]; len(rest) > 0; {
			if len(rest) < 2 {
				d.broken = true
				return
			}
			n := int(rest[0])<<8 | int(rest[1])
			if n == 0 || n > len(rest)-2 {
				d.broken = true // truncated aggregation packet
				return
			}
			d.addNAL(rest[2 : 2+n])
			rest = rest[2+n:]
		}
	case typ == media.H264NALFUA:
		d.parseFU(b)
	default: // STAP-B, MTAP, FU-B (interleaved mode) or reserved types
		d.broken = true
	}
}

// parseFU handles one FU-A fragment.
func (d *h264Depacketizer) parseFU(b []byte) {
	if len(b) < 2 {
		d.broken = true
		return
	}
	start, end := b[1]&0x80 != 0, b[1]&0x40 != 0
	switch {
	case start:
		if d.inFU {
			d.broken = true // the previous fragmented NAL unit lost its end
		}
		d.fu = append(d.fu[:0], b[0]&0xe0|b[1]&0x1f)
		d.fu = append(d.fu, b[2:]...)
		d.inFU = true
	case !d.inFU:
		d.broken = true // a fragment without its start
		return
	default:
		d.fu = append(d.fu, b[2:]...)
	}
	if end {
		d.addNAL(d.fu)
		d.inFU = false
	}
}

// addNAL copies one complete NAL unit into the access unit. A NAL unit with the forbidden
// bit set (RFC 6184: it may contain errors) is dropped; if it is a slice the access unit is
// broken.
func (d *h264Depacketizer) addNAL(nal []byte) {
	if len(nal) == 0 {
		return
	}
	typ := nal[0] & 0x1f
	if nal[0]&0x80 != 0 {
		d.broken = d.broken || typ >= 1 && typ <= media.H264NALIDR
		return
	}
	if typ == 0 || typ >= media.H264NALSTAPA {
		return // unspecified types: nothing a decoder needs
	}
	c := append([]byte(nil), nal...)
	switch typ {
	case media.H264NALSPS:
		d.sps = c
	case media.H264NALPPS:
		d.pps = c
	}
	d.nals = append(d.nals, c)
}

// finish ends the access unit in progress and appends it to out unless it is damaged or
// follows a loss before the next keyframe.
func (d *h264Depacketizer) finish(out []frame) []frame {
	nals, whole := d.nals, d.end(d.inFU)
	d.nals, d.inFU = nil, false
	if !whole || len(nals) == 0 {
		return out
	}
	var key, hasSPS, hasPPS bool
	var capture time.Time
	size := 0
	for _, n := range nals {
		switch n[0] & 0x1f {
		case media.H264NALSEI:
			if t, ok := media.ParseCaptureSEI(n); ok {
				capture = t
			}
		case media.H264NALIDR:
			key = true
		case media.H264NALSPS:
			hasSPS = true
		case media.H264NALPPS:
			hasPPS = true
		}
		size += 4 + len(n)
	}
	if !d.pass(key) {
		return out
	}
	if key {
		if !hasPPS && d.pps != nil {
			nals = append([][]byte{d.pps}, nals...)
			size += 4 + len(d.pps)
		}
		if !hasSPS && d.sps != nil {
			nals = append([][]byte{d.sps}, nals...)
			size += 4 + len(d.sps)
		}
	}
	data := make([]byte, 0, size)
	for _, n := range nals {
		data = append(data, 0, 0, 0, 1)
		data = append(data, n...)
	}
	return append(out, frame{data: data, ts: d.ts, keyframe: key, first: d.first, last: d.last, capture: capture})
}

// parameterSets returns the first SPS and PPS of an Annex-B access unit.
func parameterSets(au []byte) (sps, pps []byte) {
	for _, n := range splitAnnexB(au) {
		switch n[0] & 0x1f {
		case media.H264NALSPS:
			if sps == nil {
				sps = n
			}
		case media.H264NALPPS:
			if pps == nil {
				pps = n
			}
		}
	}
	return sps, pps
}

// splitAnnexB returns the non-empty NAL units of an Annex-B byte stream (3- or 4-byte start
// codes).
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	for nal := range media.SplitAnnexB(b) {
		if len(nal) > 0 {
			out = append(out, nal)
		}
	}
	return out
}
