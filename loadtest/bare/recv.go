package bare

import (
	"encoding/binary"
	"slices"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// maxPending bounds the RTP packets kept while the SRTP keys are not derived yet (the
// server may start sending as soon as its side of DTLS is up).
const maxPending = 512

// receiver is the viewer's receive path, owned by its receive loop: it sorts what arrives
// on the socket (RFC 7983), answers STUN, queues DTLS, and turns SRTP into Packets from
// the clear RTP header, decrypting only the first packet of each video frame. With receiver
// reports on (rep set), it also keeps each SSRC's reception statistics and reads the
// server's sender reports (reports.go).
type receiver struct {
	kinds    [128]Kind // by payload type
	ice      *iceAgent
	dtls     *dtlsQueue
	onPacket func(*Packet)

	iceDone   chan struct{} // closed at the first success response
	connected bool
	ready     chan *srtpKeys // the keys, once DTLS is done
	srtp      *srtp.Context
	trailer   int // bytes after the payload: SRTP auth tag (or AEAD tag)
	pending   []pendingPacket
	rep       *reporter // receiver reports; nil when off

	frames frameStarts
	hdr    rtp.Header // reused by DecryptRTP
	plain  []byte     // decrypted packet
	pkt    Packet

	lastRx         atomic.Int64 // Unix ns of the newest batch
	decryptFailure atomic.Uint64
}

type pendingPacket struct {
	b       []byte
	arrived int64
}

func newReceiver(kinds [128]Kind, ice *iceAgent, q *dtlsQueue, onPacket func(*Packet)) *receiver {
	if onPacket == nil {
		onPacket = func(*Packet) {}
	}
	return &receiver{
		kinds: kinds, ice: ice, dtls: q, onPacket: onPacket,
		iceDone: make(chan struct{}), ready: make(chan *srtpKeys, 1),
		plain: make([]byte, 0, maxPacket),
	}
}

// handle takes one datagram that arrived at arrived (Unix ns).
func (r *receiver) handle(b []byte, arrived int64) {
	switch classify(b) {
	case classRTP:
		if len(b) < 2 {
			return
		}
		if b[1] >= 192 && b[1] <= 223 { // RTCP (RFC 5761): sender reports, read only for receiver reports
			if r.rep != nil && (r.srtp != nil || r.start()) {
				r.senderReports(b, arrived)
			}
			return
		}
		if r.srtp == nil && !r.start() {
			if len(r.pending) < maxPending {
				r.pending = append(r.pending, pendingPacket{slices.Clone(b), arrived})
			}
			return
		}
		r.rtp(b, arrived)
	case classSTUN:
		ok, _ := r.ice.handle(b) // a failed write: the socket is closing
		if ok && !r.connected {
			r.connected = true
			close(r.iceDone)
		}
	case classDTLS:
		r.dtls.push(b)
	}
}

// start takes the SRTP contexts if they are ready and replays the packets that waited for them.
func (r *receiver) start() bool {
	select {
	case k := <-r.ready:
		r.srtp, r.trailer = k.decrypt, k.trailer
		if r.rep != nil {
			r.rep.enc = k.encrypt
		}
	default:
		return false
	}
	for _, p := range r.pending {
		r.rtp(p.b, p.arrived)
	}
	r.pending = nil
	return true
}

// rtp hands one SRTP packet to onPacket; no allocation.
func (r *receiver) rtp(b []byte, arrived int64) {
	const fixedHeader = 12
	if len(b) < fixedHeader+r.trailer || b[0]>>6 != 2 {
		return
	}
	kind := r.kinds[b[1]&0x7f]
	if kind == 0 {
		return
	}
	p := &r.pkt
	*p = Packet{
		Kind: kind, Marker: b[1]&0x80 != 0,
		Seq: binary.BigEndian.Uint16(b[2:]), TS: binary.BigEndian.Uint32(b[4:]), SSRC: binary.BigEndian.Uint32(b[8:]),
		Size: len(b) - r.trailer, Arrived: arrived,
	}
	if r.rep != nil {
		r.rep.received(p, b[1]&0x7f)
	}
	if kind == Video && r.frames.first(p.Seq, p.TS, p.Marker) {
		p.Payload = r.decrypt(b)
	}
	r.onPacket(p)
}

// decrypt returns the packet's clear payload without padding; nil when it fails.
func (r *receiver) decrypt(b []byte) []byte {
	plain, err := r.srtp.DecryptRTP(r.plain[:cap(r.plain)], b, &r.hdr)
	if err != nil {
		r.decryptFailure.Add(1)
		return nil
	}
	off := headerLen(plain)
	end := len(plain)
	if plain[0]&0x20 != 0 && end > off { // padding
		end -= int(plain[end-1])
	}
	if off < 0 || off > end {
		r.decryptFailure.Add(1)
		return nil
	}
	return plain[off:end]
}

// headerLen is the length of an RTP header with its CSRCs and extension; -1 when b is
// too short.
func headerLen(b []byte) int {
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if off+4 > len(b) {
			return -1
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	if off > len(b) {
		return -1
	}
	return off
}

// frameStarts tells which video packets may start a frame and are worth decrypting: the
// first packet with a newer timestamp, and the packet right after the newest marker
// (the frame's first when packets were reordered).
type frameStarts struct {
	lastTS            uint32
	nextStart         uint16
	haveTS, haveStart bool
}

func (f *frameStarts) first(seq uint16, ts uint32, marker bool) bool {
	newTS := !f.haveTS || int32(ts-f.lastTS) > 0
	if newTS {
		f.lastTS, f.haveTS = ts, true
	}
	expected := f.haveStart && seq == f.nextStart
	if marker && (!f.haveStart || int16(seq+1-f.nextStart) > 0) {
		f.nextStart, f.haveStart = seq+1, true
	}
	return newTS || expected
}
