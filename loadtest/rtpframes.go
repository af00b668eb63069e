package loadtest

import (
	"slices"
	"time"

	"github.com/glint-video/glint/media"
)

// frameSlots is how many frames a viewer assembles at once (packets of older frames still
// arriving late, retransmissions).
const frameSlots = 8

// frameSlot is one frame being assembled: the packets sharing an RTP timestamp.
type frameSlot struct {
	used, done         bool
	ts                 uint32
	start, end         uint16 // sequence numbers of the first packet (the SEI) and the marker packet
	haveStart, haveEnd bool
	packets, bytes     int
	captured           int64 // from the SEI, Unix ns; 0 when none arrived
	keyframe           bool  // a packet carried an SPS or an IDR slice
	copies             []seqPayload
}

type seqPayload struct {
	seq     uint16
	payload []byte
}

// doneFrame is a frame that arrived complete.
type doneFrame struct {
	captured int64 // Unix ns, 0 when unknown
	keyframe bool
	bytes    int
	pts      time.Duration
}

// frameAssembler tells when the frames of one H.264 RTP stream are complete. The light
// mode looks at the clear RTP header and the first byte or three of each payload (the NAL
// type; the SEI's capture time in the frame's first packet) and keeps no packet; it needs
// no allocation per packet. The full mode (exact, costlier) keeps a copy of every packet,
// reassembles each access unit with media.H264Depacketizer and checks it: capture-time SEI
// present, SPS + PPS + IDR in a keyframe, a slice in every frame.
type frameAssembler struct {
	full        bool
	slots       [frameSlots]frameSlot
	next        int    // the slot to reuse next (the oldest)
	lastEnd     uint16 // newest marker sequence number seen
	haveLastEnd bool
	tsExt       int64 // extended RTP timestamp of the newest frame
	lastTS      uint32
	haveTS      bool
	incomplete  uint64 // frames given up with packets missing
	corrupt     uint64 // full mode: complete frames that failed the checks
	depack      media.H264Depacketizer
}

// add takes one new (not duplicate) packet; it returns the frame it completed, if any.
func (a *frameAssembler) add(seq uint16, ts uint32, marker bool, payload []byte, size int) (doneFrame, bool) {
	s := a.slot(ts)
	if s == nil {
		return doneFrame{}, false // a packet of a frame already complete or given up
	}
	s.packets++
	s.bytes += size
	if captured, ok := captureTimeOf(payload); ok {
		s.captured, s.start, s.haveStart = captured, seq, true
	}
	if isKeyframePacket(payload) {
		s.keyframe = true
		if !s.haveStart && startsKeyframe(payload) {
			s.start, s.haveStart = seq, true // no SEI (another sender): the SPS starts the frame
		}
	}
	if a.full {
		s.copies = append(s.copies, seqPayload{seq, slices.Clone(payload)})
	}
	if marker {
		s.end, s.haveEnd = seq, true
		if !s.haveStart && a.haveLastEnd && int16(seq-a.lastEnd) > 0 {
			s.start, s.haveStart = a.lastEnd+1, true // no SEI: the frame starts after the previous one
		}
		if !a.haveLastEnd || int16(seq-a.lastEnd) > 0 {
			a.lastEnd, a.haveLastEnd = seq, true
		}
	}
	if !s.haveStart || !s.haveEnd || s.packets != int(s.end-s.start)+1 {
		return doneFrame{}, false
	}
	s.done = true
	f := doneFrame{captured: s.captured, keyframe: s.keyframe, bytes: s.bytes, pts: a.pts(ts)}
	if a.full && !a.check(s, &f) {
		a.corrupt++
		return doneFrame{}, false
	}
	return f, true
}

// slot finds the frame of ts or starts one in the oldest slot (giving that frame up if it
// was not complete); nil when the frame of ts is already done.
func (a *frameAssembler) slot(ts uint32) *frameSlot {
	for i := range a.slots {
		if s := &a.slots[i]; s.used && s.ts == ts {
			if s.done {
				return nil
			}
			return s
		}
	}
	s := &a.slots[a.next]
	a.next = (a.next + 1) % frameSlots
	if s.used && !s.done {
		a.incomplete++
	}
	*s = frameSlot{used: true, ts: ts, copies: s.copies[:0]}
	return s
}

// pts extends the 32-bit RTP timestamp into a duration.
func (a *frameAssembler) pts(ts uint32) time.Duration {
	if !a.haveTS {
		a.haveTS, a.lastTS = true, ts
	}
	d := int64(int32(ts - a.lastTS))
	if d > 0 {
		a.tsExt += d
		a.lastTS = ts
		return time.Duration(a.tsExt) * time.Second / 90000
	}
	return time.Duration(a.tsExt+d) * time.Second / 90000
}

// check reassembles the access unit of s and verifies it (full mode); it sets the
// frame's capture time and keyframe flag from the access unit itself.
func (a *frameAssembler) check(s *frameSlot, f *doneFrame) bool {
	slices.SortFunc(s.copies, func(x, y seqPayload) int { return int(int16(x.seq-s.start)) - int(int16(y.seq-s.start)) })
	var types [32]bool
	var captured time.Time
	nal := func(n []byte) {
		types[n[0]&nalTypeMsk] = true
		if t, ok := media.ParseCaptureSEI(n); ok && captured.IsZero() {
			captured = t
		}
	}
	a.depack.Reset()
	for _, p := range s.copies {
		if err := a.depack.Push(p.payload, nal); err != nil {
			return false
		}
	}
	if a.depack.Pending() || captured.IsZero() {
		return false
	}
	key := types[media.H264NALIDR]
	if key && (!types[media.H264NALSPS] || !types[media.H264NALPPS]) || !key && !types[media.H264NALSlice] {
		return false
	}
	f.captured, f.keyframe = captured.UnixNano(), key
	return true
}

// captureTimeOf reads the capture-time SEI when payload is one (a single NAL unit packet,
// or the first NAL unit of a STAP-A).
func captureTimeOf(payload []byte) (int64, bool) {
	if len(payload) == 0 {
		return 0, false
	}
	nal := payload
	if payload[0]&nalTypeMsk == media.H264NALSTAPA {
		nal = nil
		for first := range media.H264STAPANALs(payload) {
			nal = first
			break
		}
	}
	t, ok := media.ParseCaptureSEI(nal)
	if !ok {
		return 0, false
	}
	return t.UnixNano(), true
}

// isKeyframePacket reports whether an H.264 payload carries an SPS or (the start of) an
// IDR slice.
func isKeyframePacket(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	switch t := p[0] & nalTypeMsk; t {
	case media.H264NALIDR, media.H264NALSPS:
		return true
	case media.H264NALSTAPA:
		for nal := range media.H264STAPANALs(p) {
			if t := nal[0] & nalTypeMsk; t == media.H264NALSPS || t == media.H264NALIDR {
				return true
			}
		}
	case media.H264NALFUA:
		return len(p) > 1 && p[1]&nalTypeMsk == media.H264NALIDR
	}
	return false
}

// startsKeyframe reports whether a keyframe packet is the first of its frame (an SPS,
// alone or aggregated); a slice or fragment is not.
func startsKeyframe(p []byte) bool {
	switch p[0] & nalTypeMsk {
	case media.H264NALSPS, media.H264NALSTAPA:
		return true
	}
	return false
}
