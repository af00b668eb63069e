package gcc

import (
	"sync"
	"time"
)

// historySize is how many packets the send history holds: feedback comes every 50-100 ms,
// so at 1,000 packets a second (≈ 10 Mbit/s) a packet stays a second. It divides 65536, so
// an entry's index is its sequence number's low bits.
const historySize = 1024

// sentPacket is what the history knows of one packet sent.
type sentPacket struct {
	sent  time.Duration // since the estimator started
	size  uint32        // bytes, RTP header included
	seq   uint16
	state uint8
}

const (
	slotEmpty = iota
	slotSent
	slotReported // its feedback has been used; repeated feedback is ignored
)

// sendHistory is a ring of the packets sent, indexed by transport-wide sequence number:
// recording a packet takes one short lock and allocates nothing.
type sendHistory struct {
	mu    sync.Mutex
	slots [historySize]sentPacket
}

// record notes that packet seq of size bytes left at sent.
func (h *sendHistory) record(seq uint16, size int, sent time.Duration) {
	h.mu.Lock()
	h.slots[seq%historySize] = sentPacket{sent: sent, size: uint32(size), seq: seq, state: slotSent}
	h.mu.Unlock()
}

// take returns packet seq if it is in the history and has not been reported on before, and
// marks it reported. The caller holds h.mu.
func (h *sendHistory) take(seq uint16) (sentPacket, bool) {
	s := &h.slots[seq%historySize]
	if s.seq != seq || s.state != slotSent {
		return sentPacket{}, false
	}
	s.state = slotReported
	return *s, true
}
