package gcc

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

var errNilHeader = errors.New("gcc: RTP header is nil")

// transportCCID returns the id the stream's transport-wide sequence extension was negotiated
// with, or 0 when it was not.
func transportCCID(info *interceptor.StreamInfo) uint8 {
	for _, ext := range info.RTPHeaderExtensions {
		if ext.URI == sdp.TransportCCURI {
			return uint8(ext.ID)
		}
	}
	return 0
}

// sequencedWriter numbers one stream's outgoing packets with its connection's transport-wide
// sequence (one counter for all the connection's streams, RTX and probes included), records
// each in the estimator's send history and passes it on. The extension's two bytes live in
// the writer, not in a slice made per packet: the header points at them until the packet
// has been marshalled further down the chain (SRTP), which happens before the write returns.
// Pion binds one writer per encoding, its RTX packets included, so a retransmission or probe
// (the downtrack's RTCP and probe goroutines) may be written while a media packet is: the
// writer has a buffer for each of the two.
type sequencedWriter struct {
	conn *Interceptor
	next interceptor.RTPWriter
	id   uint8
	ext  [2]extSlot
}

// extSlot holds one packet's extension bytes while it is on its way out.
type extSlot struct {
	mu    sync.Mutex
	bytes [2]byte
}

// Write implements interceptor.RTPWriter.
func (s *sequencedWriter) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	if h == nil {
		return 0, errNilHeader
	}
	seq := s.conn.estimator.NextSequence()
	for i := range s.ext {
		if slot := &s.ext[i]; slot.mu.TryLock() {
			return s.writeIn(slot, h, seq, payload, a)
		}
	}
	// More writers at once than slots (not the downtrack's way): this one gets bytes of its
	// own rather than waiting.
	return s.write(h, make([]byte, 2), seq, payload, a)
}

// writeIn writes the packet with its extension bytes in slot, which the caller has locked.
func (s *sequencedWriter) writeIn(slot *extSlot, h *rtp.Header, seq uint16, payload []byte, a interceptor.Attributes) (int, error) {
	defer slot.mu.Unlock()
	return s.write(h, slot.bytes[:], seq, payload, a)
}

func (s *sequencedWriter) write(h *rtp.Header, ext []byte, seq uint16, payload []byte, a interceptor.Attributes) (int, error) {
	if err := s.conn.estimator.Number(h, s.id, ext, seq, len(payload), time.Now()); err != nil {
		return 0, err
	}
	return s.next.Write(h, payload, a)
}

// NextSequence takes the connection's next transport-wide sequence number. Every packet
// of the connection takes one, whichever path writes it (the interceptor's writer or the
// SFU's own egress, sfu/egress.go).
func (e *Estimator) NextSequence() uint16 { return uint16(e.nextSeq.Add(1) - 1) }

// Number writes seq into h as the transport-wide sequence extension id, with ext (two
// bytes the caller keeps until h is marshalled) as its storage, and records the packet
// (its header and payloadLen bytes of payload) in the send history as sent at now.
func (e *Estimator) Number(h *rtp.Header, id uint8, ext []byte, seq uint16, payloadLen int, now time.Time) error {
	ext[0], ext[1] = byte(seq>>8), byte(seq)
	if err := h.SetExtension(id, ext[:2]); err != nil {
		return fmt.Errorf("gcc: transport-wide sequence extension %d: %w", id, err)
	}
	e.OnSent(seq, h.MarshalSize()+payloadLen, now)
	return nil
}
