package bare

import (
	"context"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// Packet classes on the shared socket (RFC 7983, by the first byte).
const (
	classOther = iota
	classSTUN  // 0-3
	classDTLS  // 20-63
	classRTP   // 128-191: RTP or RTCP
)

func classify(b []byte) int {
	if len(b) == 0 {
		return classOther
	}
	switch c := b[0]; {
	case c <= 3:
		return classSTUN
	case c >= 20 && c <= 63:
		return classDTLS
	case c >= 128 && c <= 191:
		return classRTP
	}
	return classOther
}

// dtlsQueue is the net.PacketConn pion/dtls runs over: it reads the DTLS records the
// receive loop hands it (copies; a handful per session) and writes to the socket.
type dtlsQueue struct {
	sock   *socket
	remote net.Addr
	in     chan []byte
	ctx    context.Context // the session's: its end unblocks reads
	local  net.Addr

	mu       sync.Mutex
	deadline time.Time
}

func newDTLSQueue(ctx context.Context, sock *socket, local, remote net.Addr) *dtlsQueue {
	return &dtlsQueue{sock: sock, local: local, remote: remote, in: make(chan []byte, 64), ctx: ctx}
}

// push queues a record from the receive loop; a full queue drops it (DTLS retransmits).
func (q *dtlsQueue) push(b []byte) {
	select {
	case q.in <- slices.Clone(b):
	default:
	}
}

func (q *dtlsQueue) ReadFrom(p []byte) (int, net.Addr, error) {
	q.mu.Lock()
	deadline := q.deadline
	q.mu.Unlock()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case b := <-q.in:
		return copy(p, b), q.remote, nil
	case <-timeout:
		return 0, nil, os.ErrDeadlineExceeded
	case <-q.ctx.Done():
		return 0, nil, net.ErrClosed
	}
}

func (q *dtlsQueue) WriteTo(p []byte, _ net.Addr) (int, error) {
	select {
	case <-q.ctx.Done():
		return 0, net.ErrClosed // the socket may be closed
	default:
	}
	if err := q.sock.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (q *dtlsQueue) Close() error                     { return nil } // the viewer closes the socket
func (q *dtlsQueue) LocalAddr() net.Addr              { return q.local }
func (q *dtlsQueue) SetDeadline(t time.Time) error    { return q.SetReadDeadline(t) }
func (q *dtlsQueue) SetWriteDeadline(time.Time) error { return nil }
func (q *dtlsQueue) SetReadDeadline(t time.Time) error {
	q.mu.Lock()
	q.deadline = t
	q.mu.Unlock()
	return nil
}
