//go:build linux && (amd64 || arm64)

package bare

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// socket is the viewer's UDP socket, connected to the server's candidate. It is a raw
// descriptor outside Go's network poller: nothing wakes up per datagram. A poll reads up
// to a batch of datagrams in one recvmmsg into reused buffers, with the kernel's receive
// time of each (SO_TIMESTAMPNS), so that arrival times do not depend on when the poll
// ran. (golang.org/x/net/ipv4's ReadBatch also uses recvmmsg, but allocates every
// message's source address and wants a socket in the poller.)
type socket struct {
	fd   int
	bufs [][]byte
	ctrl [][]byte
	iov  []unix.Iovec
	hdrs []mmsghdr
}

// mmsghdr is struct mmsghdr of <sys/socket.h> on 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// ctrlSize holds one SCM_TIMESTAMPNS control message (header and timespec) with room.
const ctrlSize = 64

func dialSocket(remote netip.AddrPort, readBuffer, batch int) (*socket, error) {
	if !remote.Addr().Is4() {
		return nil, fmt.Errorf("media socket: %s: only IPv4 candidates are supported", remote)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("media socket: %w", err)
	}
	s := &socket{fd: fd, bufs: make([][]byte, batch), ctrl: make([][]byte, batch), iov: make([]unix.Iovec, batch), hdrs: make([]mmsghdr, batch)}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, readBuffer) // best effort
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("media socket: receive timestamps: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(remote.Port()), Addr: remote.Addr().As4()}); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("media socket: connect %s: %w", remote, err)
	}
	for i := range batch {
		s.bufs[i], s.ctrl[i] = make([]byte, maxPacket), make([]byte, ctrlSize)
		s.iov[i].Base = &s.bufs[i][0]
		s.iov[i].SetLen(maxPacket)
		s.hdrs[i].hdr.Iov = &s.iov[i]
		s.hdrs[i].hdr.SetIovlen(1)
		s.hdrs[i].hdr.Control = &s.ctrl[i][0]
	}
	return s, nil
}

// poll reads the datagrams waiting (one batch at most) and hands each to fn with its
// receive time (Unix ns, 0 when the kernel gave none); it never blocks. more says that
// more may be waiting.
func (s *socket) poll(fn func(b []byte, stamp int64)) (more bool, err error) {
	for i := range s.hdrs {
		s.hdrs[i].hdr.SetControllen(ctrlSize)
	}
	var n uintptr
	var errno unix.Errno
	for {
		n, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(len(s.hdrs)),
			unix.MSG_DONTWAIT, 0, 0)
		if errno != unix.EINTR {
			break
		}
	}
	switch {
	case errno == unix.EAGAIN:
		return false, nil
	case errno == unix.ECONNREFUSED:
		return true, nil // an ICMP error of an earlier write: read on
	case errno != 0:
		return false, fmt.Errorf("recvmmsg: %w", errno)
	}
	for i := range int(n) {
		fn(s.bufs[i][:s.hdrs[i].len], s.stamp(i))
	}
	return int(n) == len(s.hdrs), nil
}

// stamp is the SCM_TIMESTAMPNS of message i (Unix ns), 0 when there is none.
func (s *socket) stamp(i int) int64 {
	c := s.ctrl[i][:min(int(s.hdrs[i].hdr.Controllen), ctrlSize)]
	const hdrLen, tsLen = unix.SizeofCmsghdr, 16
	if len(c) < hdrLen+tsLen || binary.NativeEndian.Uint32(c[8:]) != unix.SOL_SOCKET ||
		binary.NativeEndian.Uint32(c[12:]) != unix.SCM_TIMESTAMPNS {
		return 0
	}
	sec, nsec := int64(binary.NativeEndian.Uint64(c[hdrLen:])), int64(binary.NativeEndian.Uint64(c[hdrLen+8:]))
	return sec*1e9 + nsec
}

// write sends one datagram; a full send buffer drops it, as a network would.
func (s *socket) write(b []byte) error {
	_, err := unix.Write(s.fd, b)
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// close releases the descriptor; nothing may use the socket after.
func (s *socket) close() error { return unix.Close(s.fd) }
