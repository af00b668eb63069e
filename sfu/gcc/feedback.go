package gcc

import (
	"encoding/binary"
	"time"

	"github.com/glint-video/glint/media"
)

// Transport-cc feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01, section 3.1),
// read in place: the header's base sequence number, status count and reference time, then
// the packet status chunks (run length, or a status vector of 14 one-bit or 7 two-bit
// symbols), then one receive delta per received packet (1 byte unsigned for "small", 2 bytes
// signed for "large", in 250 µs units). Nothing is allocated.

const (
	rtcpTypeRTPFB  = 205
	rtpfbTransport = 15

	feedbackHeaderSize = 20 // RTCP header, sender and media SSRC, base seq, count, reference time, fb count
	deltaUnit          = 250 * time.Microsecond
	referenceUnit      = 64 * time.Millisecond

	symbolNotReceived   = 0
	symbolSmallDelta    = 1
	symbolLargeDelta    = 2
	statusVectorSymbols = 14 // of one bit; 7 of two
)

// feedbackVisitor receives what one feedback packet says, in sequence-number order.
type feedbackVisitor interface {
	// onFeedbackStart gets the packet's reference time: a 24-bit count of 64 ms.
	onFeedbackStart(referenceTime uint32)
	// onPacketStatus gets one packet's status: received sinceReference after the
	// reference time, or not received.
	onPacketStatus(seq uint16, received bool, sinceReference time.Duration)
}

// walkCompound calls walkFeedback for every transport-cc feedback packet in the compound
// RTCP packet b. A malformed sub-packet ends the walk, keeping what came before it.
func walkCompound(b []byte, v feedbackVisitor) {
	for pkt, rest, ok := media.NextRTCP(b); ok; pkt, rest, ok = media.NextRTCP(rest) {
		if pkt[0]&0x1f == rtpfbTransport && pkt[1] == rtcpTypeRTPFB {
			walkFeedback(pkt, v)
		}
	}
}

// walkFeedback reads one transport-cc feedback packet (its RTCP header included, padding
// removed). It checks the whole packet before it reports anything: a malformed packet
// (statuses or deltas beyond its end) reports nothing and returns false.
func walkFeedback(pkt []byte, v feedbackVisitor) bool {
	if len(pkt) < feedbackHeaderSize {
		return false
	}
	count := int(binary.BigEndian.Uint16(pkt[14:]))
	chunks, deltas, ok := measureFeedback(pkt[feedbackHeaderSize:], count)
	if !ok || feedbackHeaderSize+chunks+deltas > len(pkt) {
		return false
	}
	base := binary.BigEndian.Uint16(pkt[12:])
	v.onFeedbackStart(uint32(pkt[16])<<16 | uint32(pkt[17])<<8 | uint32(pkt[18]))
	r := statusReader{chunks: pkt[feedbackHeaderSize : feedbackHeaderSize+chunks], remaining: count}
	deltaBytes := pkt[feedbackHeaderSize+chunks:]
	var since time.Duration
	for i := range count {
		symbol, _ := r.next()
		seq := base + uint16(i)
		switch symbol {
		case symbolSmallDelta:
			since += time.Duration(deltaBytes[0]) * deltaUnit
			deltaBytes = deltaBytes[1:]
		case symbolLargeDelta:
			since += time.Duration(int16(binary.BigEndian.Uint16(deltaBytes))) * deltaUnit
			deltaBytes = deltaBytes[2:]
		default:
			v.onPacketStatus(seq, false, 0)
			continue
		}
		v.onPacketStatus(seq, true, since)
	}
	return true
}

// measureFeedback returns the bytes the status chunks of count packets take at the start of
// b, and the bytes their receive deltas take after them; ok is false when b ends first.
func measureFeedback(b []byte, count int) (chunkBytes, deltaBytes int, ok bool) {
	r := statusReader{chunks: b, remaining: count}
	for range count {
		symbol, ok := r.next()
		if !ok {
			return 0, 0, false
		}
		switch symbol {
		case symbolSmallDelta:
			deltaBytes++
		case symbolLargeDelta:
			deltaBytes += 2
		}
	}
	return len(b) - len(r.chunks), deltaBytes, true
}

// statusReader yields packet status symbols from status chunks one at a time.
type statusReader struct {
	chunks    []byte // from the chunk after the current one
	chunk     uint16
	at, end   int // the next symbol's index in the current chunk, and the end of its symbols
	remaining int // statuses left in the packet
}

// next returns the next packet's status symbol, or false when the chunks end first.
func (r *statusReader) next() (uint8, bool) {
	for r.at == r.end {
		if len(r.chunks) < 2 {
			return 0, false
		}
		r.chunk = binary.BigEndian.Uint16(r.chunks)
		r.chunks = r.chunks[2:]
		n := statusVectorSymbols / 2
		switch {
		case r.chunk&0x8000 == 0: // run length; a run of 0 (which no sender writes) counts nothing
			n = int(r.chunk & 0x1fff)
		case r.chunk&0x4000 == 0:
			n = statusVectorSymbols
		}
		// A chunk's symbols beyond the packet's status count are padding.
		r.at, r.end = 0, min(n, r.remaining)
	}
	i := r.at
	r.at++
	r.remaining--
	switch {
	case r.chunk&0x8000 == 0:
		return uint8(r.chunk >> 13 & 3), true
	case r.chunk&0x4000 == 0:
		return uint8(r.chunk >> (statusVectorSymbols - 1 - i) & 1), true
	default:
		return uint8(r.chunk >> (12 - 2*i) & 3), true
	}
}
