// Package media holds the codec-level pieces every other package shares: a zero-allocation
// view of an RTP packet, keyframe detection per codec, and codec identity/matching rules.
package media

import (
	"encoding/binary"
	"errors"
)

// ErrShortPacket is returned for buffers too small to be RTP.
var ErrShortPacket = errors.New("rtp: packet too short")

// ErrNotRTP is returned for buffers whose version is not 2.
var ErrNotRTP = errors.New("rtp: not version 2")

// RTPView is a parsed RTP fixed header plus the bounds of the payload inside the buffer it
// was parsed from. Parsing allocates nothing.
type RTPView struct {
	Marker         bool
	PayloadType    uint8
	SequenceNumber uint16
	Timestamp      uint32
	SSRC           uint32
	PayloadStart   int // offset of the payload (after CSRCs and extensions)
	PayloadEnd     int // offset after the payload (before padding)
}

// ParseRTP fills v from buf.
func (v *RTPView) ParseRTP(buf []byte) error {
	if len(buf) < 12 {
		return ErrShortPacket
	}
	if buf[0]>>6 != 2 {
		return ErrNotRTP
	}
	hasPadding := buf[0]&0x20 != 0
	hasExtension := buf[0]&0x10 != 0
	csrcCount := int(buf[0] & 0x0f)
	v.Marker = buf[1]&0x80 != 0
	v.PayloadType = buf[1] & 0x7f
	v.SequenceNumber = binary.BigEndian.Uint16(buf[2:4])
	v.Timestamp = binary.BigEndian.Uint32(buf[4:8])
	v.SSRC = binary.BigEndian.Uint32(buf[8:12])
	off := 12 + 4*csrcCount
	if hasExtension {
		if len(buf) < off+4 {
			return ErrShortPacket
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(buf[off+2:off+4]))
	}
	end := len(buf)
	if hasPadding {
		if end <= off {
			return ErrShortPacket
		}
		pad := int(buf[end-1])
		if pad == 0 {
			return ErrShortPacket // RFC 3550: the padding count includes itself
		}
		end -= pad
	}
	if off > end {
		return ErrShortPacket
	}
	v.PayloadStart, v.PayloadEnd = off, end
	return nil
}

// Payload returns the payload slice of buf as located by the last ParseRTP.
func (v *RTPView) Payload(buf []byte) []byte { return buf[v.PayloadStart:v.PayloadEnd] }

// SeqNewer reports whether a is after b in RTP sequence space (RFC 3550 wrap-around).
func SeqNewer(a, b uint16) bool { return a != b && a-b < 0x8000 }

// SeqExtender turns 16-bit sequence numbers into monotonic 64-bit ones, tolerating reordering.
type SeqExtender struct {
	started bool
	highest uint64
}

// Extend returns the extended sequence number for seq.
func (e *SeqExtender) Extend(seq uint16) uint64 {
	if !e.started {
		e.started = true
		e.highest = uint64(seq) + 1<<16 // room below for reordered early packets
		return e.highest
	}
	cycle := e.highest &^ 0xffff
	ext := cycle | uint64(seq)
	diff := int64(ext) - int64(e.highest)
	switch {
	case diff > 0x8000:
		ext -= 1 << 16
	case diff < -0x8000:
		ext += 1 << 16
	}
	if ext > e.highest {
		e.highest = ext
	}
	return ext
}

// Highest returns the highest extended sequence number seen (0 before the first packet).
func (e *SeqExtender) Highest() uint64 { return e.highest }
