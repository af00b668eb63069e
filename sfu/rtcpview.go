package sfu

import (
	"encoding/binary"
	"math"

	"github.com/glint-video/glint/media"
)

// A viewer's RTCP, read in place: the parts of a compound packet a downtrack acts on —
// receiver report blocks (in RRs and SRs), generic NACKs, PLI, FIR and REMB — without
// unmarshalling the packet into pion's rtcp types (rtcp.Unmarshal allocates every packet
// and every report; a viewer sends several compound packets a second, and with 300 viewers
// that was a tenth of the server's CPU). Everything else — transport-cc feedback, which
// the viewer's estimator has read by the time the downtrack reads (pion's, or sfu/gcc's,
// whose feedback walk reads it in place as this one does), SDES, BYE, XR — is skipped.
// Sub-packets come from media.NextRTCP: a malformed one ends the walk of its compound
// packet, keeping what came before it.

// RTCP packet types and feedback formats (RFC 3550, RFC 4585, RFC 5104, REMB draft).
const (
	rtcpTypeSR    = 200
	rtcpTypeRR    = 201
	rtcpTypeRTPFB = 205
	rtcpTypePSFB  = 206

	rtpfbNack  = 1
	psfbPLI    = 1
	psfbFIR    = 4
	psfbApp    = 15
	reportSize = 24
)

// reportBlock is one reception report (RFC 3550 6.4.1).
type reportBlock struct {
	ssrc             uint32
	fractionLost     uint8
	lastSeq          uint32 // extended highest sequence number received
	jitter           uint32
	lastSR, delaySSR uint32 // LSR, DLSR (1/65536 s)
}

// rtcpVisitor receives what a compound packet says; the byte slices it is given are views
// of the packet, valid only during the call.
type rtcpVisitor interface {
	onReport(r reportBlock)
	// onNack gets the NACK's FCI: (PID, BLP) pairs, 4 bytes each.
	onNack(mediaSSRC uint32, fci []byte)
	onKeyframeRequest(mediaSSRC uint32)
	onREMB(bitrate float32)
}

// walkRTCP calls v for every sub-packet of the compound packet b that it understands.
func walkRTCP(b []byte, v rtcpVisitor) {
	for pkt, rest, ok := media.NextRTCP(b); ok; pkt, rest, ok = media.NextRTCP(rest) {
		count, typ := pkt[0]&0x1f, pkt[1]
		switch typ {
		case rtcpTypeSR:
			walkReports(pkt, 28, count, v)
		case rtcpTypeRR:
			walkReports(pkt, 8, count, v)
		case rtcpTypeRTPFB:
			if count == rtpfbNack && len(pkt) >= 16 {
				v.onNack(binary.BigEndian.Uint32(pkt[8:]), pkt[12:len(pkt)&^3])
			}
		case rtcpTypePSFB:
			walkPayloadFeedback(pkt, count, v)
		}
	}
}

// walkReports reads count report blocks from pkt starting at offset.
func walkReports(pkt []byte, offset int, count uint8, v rtcpVisitor) {
	for i := range int(count) {
		at := offset + i*reportSize
		if at+reportSize > len(pkt) {
			return
		}
		r := pkt[at : at+reportSize]
		v.onReport(reportBlock{
			ssrc:         binary.BigEndian.Uint32(r),
			fractionLost: r[4],
			lastSeq:      binary.BigEndian.Uint32(r[8:]),
			jitter:       binary.BigEndian.Uint32(r[12:]),
			lastSR:       binary.BigEndian.Uint32(r[16:]),
			delaySSR:     binary.BigEndian.Uint32(r[20:]),
		})
	}
}

// walkPayloadFeedback reads a PLI, a FIR (each of its entries) or a REMB.
func walkPayloadFeedback(pkt []byte, format uint8, v rtcpVisitor) {
	if len(pkt) < 12 {
		return
	}
	switch format {
	case psfbPLI:
		v.onKeyframeRequest(binary.BigEndian.Uint32(pkt[8:]))
	case psfbFIR:
		for fci := pkt[12:]; len(fci) >= 8; fci = fci[8:] {
			v.onKeyframeRequest(binary.BigEndian.Uint32(fci))
		}
	case psfbApp:
		if len(pkt) >= 20 && string(pkt[12:16]) == "REMB" {
			exp := int(pkt[17] >> 2)
			mantissa := uint64(pkt[17]&3)<<16 | uint64(pkt[18])<<8 | uint64(pkt[19])
			v.onREMB(float32(min(math.Ldexp(float64(mantissa), exp), math.MaxFloat32)))
		}
	}
}

// forEachNacked calls fn for every sequence number a NACK's FCI names, in order.
func forEachNacked(fci []byte, fn func(seq uint16)) {
	for ; len(fci) >= 4; fci = fci[4:] {
		pid, blp := binary.BigEndian.Uint16(fci), binary.BigEndian.Uint16(fci[2:])
		fn(pid)
		for bit := range uint16(16) {
			if blp&(1<<bit) != 0 {
				fn(pid + bit + 1)
			}
		}
	}
}
