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
type sequencedWriter struct {
	conn *Interceptor
	next interceptor.RTPWriter
	id   uint8

	mu  sync.Mutex // held while ext is in a packet on its way out
	ext [2]byte
}

// Write implements interceptor.RTPWriter.
func (s *sequencedWriter) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	if h == nil {
		return 0, errNilHeader
	}
	seq := uint16(s.conn.nextSeq.Add(1) - 1)
	if !s.mu.TryLock() {
		// Another goroutine's packet of this stream holds ext (a retransmission racing a
		// send): this rare one gets bytes of its own rather than waiting.
		return s.write(h, []byte{byte(seq >> 8), byte(seq)}, seq, payload, a)
	}
	defer s.mu.Unlock()
	s.ext = [2]byte{byte(seq >> 8), byte(seq)}
	return s.write(h, s.ext[:], seq, payload, a)
}

func (s *sequencedWriter) write(h *rtp.Header, ext []byte, seq uint16, payload []byte, a interceptor.Attributes) (int, error) {
	if err := h.SetExtension(s.id, ext); err != nil {
		return 0, fmt.Errorf("gcc: transport-wide sequence extension %d: %w", s.id, err)
	}
	s.conn.estimator.OnSent(seq, h.MarshalSize()+len(payload), time.Now())
	return s.next.Write(h, payload, a)
}
