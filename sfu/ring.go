package sfu

import (
	"bytes"
	"sync"
	"time"
)

// maxPacketSize bounds a cached RTP packet; larger ones are dropped at ingest.
const maxPacketSize = 1500

// packetSlot is one cached RTP packet, addressed by its extended sequence number.
type packetSlot struct {
	extSeq  uint64
	arrival time.Time
	n       int
	key     bool // the first packet of a keyframe, as its uptrack marked it
	buf     [maxPacketSize]byte
}

// packetRing is an uptrack's packet cache: the publisher's reader writes each packet into the
// slot of its extended sequence number, and every downtrack reads from it at its own pace.
// It is both the fan-out queue (a slow viewer falls behind in the ring; the ingest never
// waits for it) and the retransmission cache answering viewers' NACKs. All memory is
// allocated once; Put and CopyOut allocate nothing.
type packetRing struct {
	mu      sync.RWMutex
	slots   []packetSlot
	mask    uint64
	head    uint64 // highest extended sequence number stored, 0 = empty
	lastKey uint64 // extended sequence number of the latest keyframe start
}

func newPacketRing(size int) *packetRing {
	n := 1
	for n < size {
		n <<= 1
	}
	return &packetRing{slots: make([]packetSlot, n), mask: uint64(n - 1)}
}

// Put stores pkt under extSeq. Packets older than the ring's window are ignored; it reports
// whether the packet was stored.
func (r *packetRing) Put(extSeq uint64, pkt []byte, arrival time.Time, keyframe bool) bool {
	if len(pkt) > maxPacketSize {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.head != 0 && extSeq+uint64(len(r.slots)) <= r.head {
		return false
	}
	s := &r.slots[extSeq&r.mask]
	again := s.extSeq == extSeq && s.n > 0 // a retransmitted copy keeps the original's mark
	s.key = keyframe || again && s.key
	s.extSeq, s.arrival, s.n = extSeq, arrival, copy(s.buf[:], pkt)
	if extSeq > r.head {
		r.head = extSeq
	}
	if keyframe && extSeq > r.lastKey {
		r.lastKey = extSeq
	}
	return true
}

// Head returns the highest extended sequence number stored (0 when empty).
func (r *packetRing) Head() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.head
}

// LastKeyframe returns the extended sequence number of the newest keyframe start (0: none).
func (r *packetRing) LastKeyframe() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lastKey
}

// catchUpRoom is how many packets a viewer starting at a cached keyframe must have left
// before the ring overwrites its start; the forwarder treats a cursor that close to being
// overwritten as a ring behind (see forwarder.catchUp).
const catchUpRoom = 64

// KeyframeEntry returns the newest keyframe's first packet, as a start for a joining viewer,
// with its arrival time: ok is false when there is none, or when the ring no longer holds it
// or would overwrite it before a viewer catches up from it. The ring bounds the cache: what
// followed the keyframe is at most Size() - catchUpRoom packets.
func (r *packetRing) KeyframeEntry() (extSeq uint64, arrival time.Time, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.lastKey == 0 || r.head-r.lastKey+1+catchUpRoom > uint64(len(r.slots)) {
		return 0, time.Time{}, false
	}
	s := &r.slots[r.lastKey&r.mask]
	if s.extSeq != r.lastKey || s.n == 0 {
		return 0, time.Time{}, false
	}
	return r.lastKey, s.arrival, true
}

// moveKeyframeBack makes extSeq, an earlier packet of the newest keyframe that arrived after
// its later packets, that keyframe's start.
func (r *packetRing) moveKeyframeBack(extSeq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if extSeq < r.lastKey {
		r.lastKey = extSeq
	}
	if s := &r.slots[extSeq&r.mask]; s.extSeq == extSeq {
		s.key = true
	}
}

// IsKeyframeStart reports whether the ring holds extSeq as a keyframe's first packet: a
// viewer waiting for a keyframe may start there and nowhere else. For H.264 and H.265 that is
// the parameter sets in front of the IDR, not the IDR slice that follows them, although both
// look like keyframe starts (media.IsKeyframeStart).
func (r *packetRing) IsKeyframeStart(extSeq uint64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := &r.slots[extSeq&r.mask]
	return s.extSeq == extSeq && s.n > 0 && s.key
}

// rtpTimestampAt and rtpTimestampEnd bound an RTP packet's timestamp (RFC 3550 section 5.1).
const rtpTimestampAt, rtpTimestampEnd = 4, 8

// PictureKeyframeStart returns the first packet of the newest keyframe when extSeq belongs
// to that keyframe's picture (the same RTP timestamp): a viewer placed at extSeq while the
// keyframe was arriving starts at its first packet instead of after its parameter sets.
func (r *packetRing) PictureKeyframeStart(extSeq uint64) (start uint64, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.lastKey == 0 || extSeq < r.lastKey || extSeq-r.lastKey >= uint64(len(r.slots)) {
		return 0, false
	}
	k, s := &r.slots[r.lastKey&r.mask], &r.slots[extSeq&r.mask]
	if k.extSeq != r.lastKey || s.extSeq != extSeq || k.n < rtpTimestampEnd || s.n < rtpTimestampEnd {
		return 0, false
	}
	return r.lastKey, bytes.Equal(k.buf[rtpTimestampAt:rtpTimestampEnd], s.buf[rtpTimestampAt:rtpTimestampEnd])
}

// Has reports whether the ring holds the packet extSeq.
func (r *packetRing) Has(extSeq uint64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := &r.slots[extSeq&r.mask]
	return s.extSeq == extSeq && s.n > 0
}

// Size is the number of packets the ring holds.
func (r *packetRing) Size() uint64 { return uint64(len(r.slots)) }

// CopyOut copies the packet with extSeq into dst. It returns the packet length and arrival
// time, or n = 0 when the ring does not hold that packet (never arrived, or overwritten).
func (r *packetRing) CopyOut(extSeq uint64, dst []byte) (n int, arrival time.Time) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := &r.slots[extSeq&r.mask]
	if s.extSeq != extSeq || s.n == 0 {
		return 0, time.Time{}
	}
	return copy(dst, s.buf[:s.n]), s.arrival
}
