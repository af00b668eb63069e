package media

import (
	"errors"
	"iter"
)

// H.264 over RTP (RFC 6184, packetization-mode 1): single NAL unit packets, STAP-A
// aggregation and FU-A fragmentation, both ways. Neither side allocates once its buffers
// have grown to the stream's sizes.

// ErrH264Truncated is returned by H264Depacketizer.Push for an aggregation or fragmentation
// packet cut short. Like the other Push errors, it says a NAL unit was lost; the NAL units of
// the payload that were whole have still been handed on.
var ErrH264Truncated = errors.New("h264 rtp: truncated aggregation or fragmentation packet")

// ErrH264FragmentLost is returned by H264Depacketizer.Push when a fragmented NAL unit lost a
// fragment: its start, or its end.
var ErrH264FragmentLost = errors.New("h264 rtp: fragmented NAL unit lost a fragment")

// ErrH264UnsupportedPT is returned by H264Depacketizer.Push for a packet type outside
// packetization-mode 1 (STAP-B, MTAP, FU-B, type 0 and the reserved types).
var ErrH264UnsupportedPT = errors.New("h264 rtp: packet type outside packetization-mode 1")

const (
	fuStartBit  = 0x80
	fuEndBit    = 0x40
	nalTypeMask = 0x1f
	stapAHeader = 1 // bytes before the first aggregated NAL unit
	stapASize   = 2 // bytes of each aggregated NAL unit's size
	fuAHeader   = 2 // FU indicator and FU header
)

// H264Packetizer cuts access units into RTP payloads of at most MaxPayload bytes: a NAL
// unit that fits goes alone, a larger one in FU-A fragments; with Aggregate, a run of
// consecutive parameter sets and SEI (the NAL units in front of a keyframe's slices) goes in
// one STAP-A as far as it fits. Its buffers are reused: a payload is valid only until emit
// returns.
type H264Packetizer struct {
	MaxPayload int
	Aggregate  bool
	buf        []byte
}

// Packetize emits the payloads of one access unit (NAL units without start codes; empty
// ones are skipped) in order; marker is set on the last. It stops at emit's first error and
// returns it.
func (p *H264Packetizer) Packetize(au [][]byte, emit func(payload []byte, marker bool) error) error {
	last := len(au) - 1
	for last >= 0 && len(au[last]) == 0 {
		last--
	}
	for i := 0; i <= last; i++ {
		nal := au[i]
		if len(nal) == 0 {
			continue
		}
		if n := p.aggregatable(au[i : last+1]); n > 1 {
			if err := emit(p.stapA(au[i:i+n]), i+n-1 == last); err != nil {
				return err
			}
			i += n - 1
			continue
		}
		if len(nal) <= p.MaxPayload {
			if err := emit(nal, i == last); err != nil {
				return err
			}
			continue
		}
		if err := p.fragment(nal, i == last, emit); err != nil {
			return err
		}
	}
	return nil
}

// aggregatable returns how many NAL units at the front of nals go in one STAP-A: parameter
// sets and SEI, as many as fit (0 or 1: no STAP-A).
func (p *H264Packetizer) aggregatable(nals [][]byte) int {
	if !p.Aggregate {
		return 0
	}
	size, n := stapAHeader, 0
	for _, nal := range nals {
		if len(nal) == 0 || !aggregated(nal[0]&nalTypeMask) || size+stapASize+len(nal) > p.MaxPayload {
			break
		}
		size += stapASize + len(nal)
		n++
	}
	return n
}

func aggregated(typ byte) bool {
	return typ == H264NALSEI || typ == H264NALSPS || typ == H264NALPPS
}

// stapA writes one STAP-A of nals: its NRI is the highest of theirs, its F bit set if any
// of theirs is (RFC 6184 section 5.7.1).
func (p *H264Packetizer) stapA(nals [][]byte) []byte {
	var hdr byte
	for _, nal := range nals {
		hdr = max(hdr&0x60, nal[0]&0x60) | (hdr|nal[0])&0x80
	}
	p.buf = append(p.buf[:0], hdr|H264NALSTAPA)
	for _, nal := range nals {
		p.buf = append(p.buf, byte(len(nal)>>8), byte(len(nal)))
		p.buf = append(p.buf, nal...)
	}
	return p.buf
}

// fragment emits nal in FU-A fragments; marker goes on the last when lastNAL.
func (p *H264Packetizer) fragment(nal []byte, lastNAL bool, emit func([]byte, bool) error) error {
	indicator, typ, body := nal[0]&0xe0|H264NALFUA, nal[0]&nalTypeMask, nal[1:]
	for off := 0; off < len(body); {
		end := min(off+p.MaxPayload-fuAHeader, len(body))
		hdr := typ
		if off == 0 {
			hdr |= fuStartBit
		}
		if end == len(body) {
			hdr |= fuEndBit
		}
		p.buf = append(append(p.buf[:0], indicator, hdr), body[off:end]...)
		if err := emit(p.buf, lastNAL && end == len(body)); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// H264Depacketizer turns RTP payloads, in sequence order, back into NAL units. It keeps only
// the fragmented NAL unit in progress; the caller decides what makes an access unit (marker,
// timestamp) and what a loss means.
type H264Depacketizer struct {
	fu   []byte
	inFU bool
}

// Reset forgets a fragmented NAL unit in progress.
func (d *H264Depacketizer) Reset() { d.fu, d.inFU = d.fu[:0], false }

// Pending reports whether a fragmented NAL unit has started and not ended: at the end of an
// access unit, that NAL unit is lost.
func (d *H264Depacketizer) Pending() bool { return d.inFU }

// Push parses one payload and calls nal for each NAL unit it completes (header byte first,
// type 1 to 23; valid only during the call). An empty payload (padding) holds nothing. The error tells of
// a NAL unit lost: a truncated packet, a fragment without its start, a fragmented NAL unit
// that never ended (a fragment's start, or any other packet, arriving while one is pending),
// or a packet type outside packetization-mode 1 (STAP-B, MTAP, FU-B, reserved types).
func (d *H264Depacketizer) Push(payload []byte, nal func([]byte)) error {
	if len(payload) == 0 {
		return nil
	}
	var err error
	typ := payload[0] & nalTypeMask
	if d.inFU && typ != H264NALFUA {
		d.inFU, err = false, ErrH264FragmentLost
	}
	switch {
	case typ >= 1 && typ < H264NALSTAPA:
		nal(payload)
	case typ == H264NALSTAPA:
		err = firstErr(err, splitSTAPA(payload[stapAHeader:], nalsOnly(nal)))
	case typ == H264NALFUA:
		err = firstErr(err, d.fragment(payload, nal))
	default:
		err = firstErr(err, ErrH264UnsupportedPT)
	}
	return err
}

// nalsOnly wraps nal so that it gets NAL unit types 1 to 23 only: an aggregation or
// fragmentation type (or type 0) inside an aggregation or fragmentation packet is not
// something a decoder takes, and is dropped.
func nalsOnly(nal func([]byte)) func([]byte) bool {
	return func(b []byte) bool {
		if typ := b[0] & nalTypeMask; typ >= 1 && typ < H264NALSTAPA {
			nal(b)
		}
		return true
	}
}

// firstErr keeps the first of two errors.
func firstErr(first, second error) error {
	if first != nil {
		return first
	}
	return second
}

// H264STAPANALs iterates over the NAL units aggregated in a STAP-A payload (its header
// byte first), whatever their types; it stops at a size of 0 or one that runs past the end.
func H264STAPANALs(payload []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if len(payload) > stapAHeader {
			_ = splitSTAPA(payload[stapAHeader:], yield)
		}
	}
}

// H264PayloadNALTypes lists the NAL unit types an H.264 RTP payload carries: a single NAL
// unit's, each aggregated unit's of a STAP-A, or the type of the unit a FU-A starts. A FU-A
// continuation and the packet types outside packetization-mode 1 give none.
func H264PayloadNALTypes(payload []byte) []uint8 {
	if len(payload) == 0 {
		return nil
	}
	switch typ := payload[0] & nalTypeMask; {
	case typ >= 1 && typ <= 23:
		return []uint8{typ}
	case typ == H264NALSTAPA:
		var types []uint8
		for nal := range H264STAPANALs(payload) {
			types = append(types, nal[0]&nalTypeMask)
		}
		return types
	case typ == H264NALFUA:
		if len(payload) > 1 && payload[1]&fuStartBit != 0 {
			return []uint8{payload[1] & nalTypeMask}
		}
	}
	return nil
}

// splitSTAPA hands on the NAL units of an aggregation packet's body until nal returns
// false; it reports a body that does not end with a whole NAL unit.
func splitSTAPA(b []byte, nal func([]byte) bool) error {
	for len(b) > 0 {
		if len(b) < stapASize {
			return ErrH264Truncated
		}
		n := int(b[0])<<8 | int(b[1])
		if n == 0 || n > len(b)-stapASize {
			return ErrH264Truncated
		}
		if !nal(b[stapASize : stapASize+n]) {
			return nil
		}
		b = b[stapASize+n:]
	}
	return nil
}

// fragment adds one FU-A fragment to the NAL unit in progress.
func (d *H264Depacketizer) fragment(b []byte, nal func([]byte)) error {
	if len(b) < fuAHeader {
		return ErrH264Truncated
	}
	var err error
	start, end := b[1]&fuStartBit != 0, b[1]&fuEndBit != 0
	switch {
	case start:
		if d.inFU {
			err = ErrH264FragmentLost // the previous fragmented NAL unit lost its end
		}
		d.fu = append(append(d.fu[:0], b[0]&0xe0|b[1]&nalTypeMask), b[fuAHeader:]...)
		d.inFU = true
	case !d.inFU:
		return ErrH264FragmentLost // a fragment without its start
	default:
		d.fu = append(d.fu, b[fuAHeader:]...)
	}
	if end {
		d.inFU = false
		nalsOnly(nal)(d.fu)
	}
	return err
}
