package sfu

import (
	"net"
	"syscall"
)

// readBufferSize returns the socket's effective SO_RCVBUF (Linux reports twice the asked size).
func readBufferSize(c *net.UDPConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var size int
	var sockErr error
	if err := raw.Control(func(fd uintptr) {
		size, sockErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil {
		return 0, err
	}
	return size / 2, sockErr
}

// forceReadBuffer sets SO_RCVBUFFORCE, which passes net.core.rmem_max when the process has
// CAP_NET_ADMIN (e.g. root); it is a no-op error otherwise.
func forceReadBuffer(c *net.UDPConn, size int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var sockErr error
	if err := raw.Control(func(fd uintptr) {
		sockErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size)
	}); err != nil {
		return err
	}
	return sockErr
}
