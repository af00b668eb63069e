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

// h264Depacketizer reassembles H.264 access units from RTP (media.H264Depacketizer: RFC
// 6184 packetization modes 0 and 1). An access unit ends at the marker bit or when the RTP
// timestamp changes; one that lost a NAL unit is broken. It keeps the latest SPS and PPS and
// puts them in front of an IDR that comes without them.
type h264Depacketizer struct {
	frameGate
	dep    media.H264Depacketizer
	nals   [][]byte
	params media.H264ParamSets
}

func newH264Depacketizer() *h264Depacketizer {
	return &h264Depacketizer{frameGate: frameGate{needKey: true}}
}

// reset forgets the access unit in progress and waits for a keyframe (a new source).
func (d *h264Depacketizer) reset() {
	d.restart()
	d.dep.Reset()
	d.nals = nil
}

func (d *h264Depacketizer) push(p rtpPacket, out []frame) []frame {
	return d.pushByTimestamp(p, out, d)
}

func (d *h264Depacketizer) canStart(rtpPacket) bool { return true }
func (d *h264Depacketizer) startUnit()              {}
func (d *h264Depacketizer) forget()                 { d.dep.Reset() }

func (d *h264Depacketizer) unmarshal(payload []byte) error { return d.dep.Push(payload, d.addNAL) }

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
	d.params.Keep(nal)
	d.nals = append(d.nals, append([]byte(nil), nal...))
}

// finish ends the access unit in progress and appends it to out unless it is damaged or
// follows a loss before the next keyframe.
func (d *h264Depacketizer) finish(out []frame) []frame {
	nals, whole := d.nals, d.end(d.dep.Pending())
	d.nals = nil
	d.dep.Reset()
	if !whole || len(nals) == 0 {
		return out
	}
	pre, key := d.params.Missing(nil, nals)
	if !d.pass(key) {
		return out
	}
	var capture time.Time
	for _, n := range nals {
		if t, ok := media.ParseCaptureSEI(n); ok {
			capture = t
		}
	}
	data := annexB(pre, nals)
	return append(out, frame{data: data, ts: d.ts, keyframe: key, first: d.first, last: d.last, capture: capture})
}

// annexB joins groups of NAL units, in order, each behind a 4-byte start code.
func annexB(groups ...[][]byte) []byte {
	size := 0
	for _, g := range groups {
		for _, n := range g {
			size += 4 + len(n)
		}
	}
	data := make([]byte, 0, size)
	for _, g := range groups {
		for _, n := range g {
			data = append(append(data, 0, 0, 0, 1), n...)
		}
	}
	return data
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
