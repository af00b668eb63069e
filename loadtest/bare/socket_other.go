//go:build !(linux && (amd64 || arm64))

package bare

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// socket is the viewer's UDP socket where raw recvmmsg is not available: a connected
// net.UDPConn polled with an expired read deadline, one datagram per read, stamped on
// reading.
type socket struct {
	conn *net.UDPConn
	buf  []byte
}

func dialSocket(remote netip.AddrPort, readBuffer, _ int) (*socket, error) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(remote))
	if err != nil {
		return nil, fmt.Errorf("media socket: %w", err)
	}
	_ = conn.SetReadBuffer(readBuffer)
	return &socket{conn: conn, buf: make([]byte, maxPacket)}, nil
}

func (s *socket) poll(fn func(b []byte, stamp int64)) (more bool, err error) {
	_ = s.conn.SetReadDeadline(time.Now())
	n, err := s.conn.Read(s.buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read: %w", err)
	}
	fn(s.buf[:n], time.Now().UnixNano())
	return true, nil
}

func (s *socket) write(b []byte) error {
	if _, err := s.conn.Write(b); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

func (s *socket) close() error { return s.conn.Close() }
