package media

import "encoding/binary"

// NextRTCP splits the first sub-packet off the compound RTCP packet b (RFC 3550 section
// 6.1), in place: pkt is that sub-packet, header included and padding removed, and rest is
// what follows it. ok is false when b holds no further well-formed sub-packet (fewer than 4
// bytes, a version other than 2, a length beyond b, or padding longer than the packet):
// a malformed sub-packet ends the walk of its compound packet, keeping what came before.
// Nothing is allocated; both walkers of a viewer's RTCP (sfu/rtcpview.go and sfu/gcc's
// transport-cc feedback) iterate with it.
func NextRTCP(b []byte) (pkt, rest []byte, ok bool) {
	if len(b) < 4 || b[0]>>6 != 2 {
		return nil, nil, false
	}
	size := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
	if size > len(b) {
		return nil, nil, false
	}
	pkt, rest = b[:size], b[size:]
	if pkt[0]&0x20 != 0 { // padding: its last byte counts the padding bytes
		pad := int(pkt[len(pkt)-1])
		if pad == 0 || pad > len(pkt)-4 {
			return nil, nil, false
		}
		pkt = pkt[:len(pkt)-pad]
	}
	return pkt, rest, true
}
