//go:build linux && (amd64 || arm64)

package bare

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// socket is the viewer's UDP socket, connected to the server's candidate. It is a raw
// descriptor outside Go's network poller: nothing wakes up per datagram. A poll reads up
// to a batch of datagrams in one recvmmsg, with the kernel's receive time of each
// (SO_TIMESTAMPNS), so that arrival times do not depend on when the poll ran.
// (golang.org/x/net/ipv4's ReadBatch also uses recvmmsg, but allocates every message's
// source address and wants a socket in the poller.)
//
// The socket receives with UDP_GRO: a run of equal-sized datagrams the server sent as one
// GSO message (sfu/batchgso.go) is queued to the socket whole and read as one message,
// which the poll splits at the segment size the kernel reports. On a receiving machine a
// NIC's receive offload does the same; on loopback, where the receivers' side of the stack
// runs on the sender's core, it keeps the receivers' per-datagram work off the server's CPU
// figures. Messages are then up to 64 KiB, so the buffers are not the socket's own: a
// poll borrows a set from a pool (a load generator polls a few sockets at a time, and
// holds thousands).
type socket struct {
	fd       int
	batch    int
	gro      bool  // the kernel took UDP_GRO (Linux ≥ 5.0)
	messages int64 // messages read (a GSO message read whole is one); the poller's only
}

// mmsghdr is struct mmsghdr of <sys/socket.h> on 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// ctrlSize holds an SCM_TIMESTAMPNS control message (header and timespec) and a UDP_GRO
// one (header and int), with room.
const ctrlSize = 64

// maxMessage is the largest datagram the kernel hands a UDP_GRO socket (one GSO message).
const maxMessage = 1 << 16

// msgSet is one poll's recvmmsg messages and their buffers, wired together once.
type msgSet struct {
	bufs [][]byte
	ctrl [][]byte
	iov  []unix.Iovec
	hdrs []mmsghdr
}

var msgSets sync.Pool // of *msgSet, any batch size (a set of the wrong size is dropped)

func borrowMsgSet(batch, size int) *msgSet {
	if m, ok := msgSets.Get().(*msgSet); ok && len(m.hdrs) == batch && len(m.bufs[0]) == size {
		return m
	}
	m := &msgSet{bufs: make([][]byte, batch), ctrl: make([][]byte, batch), iov: make([]unix.Iovec, batch), hdrs: make([]mmsghdr, batch)}
	for i := range batch {
		m.bufs[i], m.ctrl[i] = make([]byte, size), make([]byte, ctrlSize)
		m.iov[i].Base = &m.bufs[i][0]
		m.iov[i].SetLen(size)
		m.hdrs[i].hdr.Iov = &m.iov[i]
		m.hdrs[i].hdr.SetIovlen(1)
		m.hdrs[i].hdr.Control = &m.ctrl[i][0]
	}
	return m
}

func dialSocket(remote netip.AddrPort, readBuffer, batch int) (*socket, error) {
	if !remote.Addr().Is4() {
		return nil, fmt.Errorf("media socket: %s: only IPv4 candidates are supported", remote)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("media socket: %w", err)
	}
	s := &socket{fd: fd, batch: batch}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, readBuffer) // best effort
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("media socket: receive timestamps: %w", err)
	}
	s.gro = unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1) == nil
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(remote.Port()), Addr: remote.Addr().As4()}); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("media socket: connect %s: %w", remote, err)
	}
	return s, nil
}

// poll reads the datagrams waiting (one batch of messages at most) and hands each to fn
// with its receive time (Unix ns, 0 when the kernel gave none); it never blocks. more
// says that more may be waiting.
func (s *socket) poll(fn func(b []byte, stamp int64)) (more bool, err error) {
	size := maxPacket
	if s.gro {
		size = maxMessage
	}
	m := borrowMsgSet(s.batch, size)
	defer msgSets.Put(m)
	for i := range m.hdrs {
		m.hdrs[i].hdr.SetControllen(ctrlSize)
	}
	var n uintptr
	var errno unix.Errno
	for {
		n, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(len(m.hdrs)),
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
	s.messages += int64(n)
	for i := range int(n) {
		b := m.bufs[i][:m.hdrs[i].len]
		stamp, segment := controls(m.ctrl[i][:min(int(m.hdrs[i].hdr.Controllen), ctrlSize)])
		if segment <= 0 {
			segment = len(b)
		}
		for len(b) > 0 {
			k := min(segment, len(b))
			fn(b[:k], stamp)
			b = b[k:]
		}
	}
	return int(n) == len(m.hdrs), nil
}

// controls reads a message's control messages: its SCM_TIMESTAMPNS (Unix ns, 0 when there
// is none) and its UDP_GRO segment size (0: one datagram).
func controls(c []byte) (stamp int64, segment int) {
	const hdrLen = unix.SizeofCmsghdr
	for len(c) >= hdrLen {
		n := int(binary.NativeEndian.Uint64(c)) // cmsg_len: header and data
		if n < hdrLen || n > len(c) {
			break
		}
		level, typ, data := binary.NativeEndian.Uint32(c[8:]), binary.NativeEndian.Uint32(c[12:]), c[hdrLen:n]
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS && len(data) >= 16:
			sec, nsec := int64(binary.NativeEndian.Uint64(data)), int64(binary.NativeEndian.Uint64(data[8:]))
			stamp = sec*1e9 + nsec
		case level == unix.SOL_UDP && typ == unix.UDP_GRO && len(data) >= 4:
			segment = int(int32(binary.NativeEndian.Uint32(data)))
		}
		c = c[min(cmsgAlign(n), len(c)):]
	}
	return stamp, segment
}

// cmsgAlign rounds a control message's length up to the next one's start (CMSG_ALIGN).
func cmsgAlign(n int) int { return (n + 7) &^ 7 }

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
