package sfu

import (
	"io"
	"sync/atomic"

	"github.com/pion/transport/v5/packetio"
	"github.com/pion/webrtc/v4"
)

// A viewer connection's SRTP and SRTCP read streams get buffers that hold little until
// someone reads them. Pion makes a read stream for every SSRC that packets arrive for,
// also one nobody will read: a browser's RTCP compound packets carry an SDES chunk of
// its own (receive-only) SSRC, for which pion opens an SRTCP stream that only logs
// "unhandled RTCP ssrc". With pion's buffers (100 kB of RTCP, 1 MB of RTP, and a slot
// per packet for its attributes) every such viewer kept its reports there until the
// limit: measured, 84 kB per bare viewer after 600 reports; at a browser's one compound
// packet a second, 100 kB each within half an hour. Streams that are read (the senders'
// RTCP: receiver reports, NACK, PLI, transport-wide CC feedback) get pion's limits at their
// first read, which comes as the sender starts, before the peer's first report.
const (
	unreadBufferPackets = 16        // what a stream holds until its first read
	rtcpBufferBytes     = 100_000   // pion's SRTCP read-stream limit (srtp/v3)
	rtpBufferBytes      = 1_000_000 // pion's SRTP read-stream limit (srtp/v3)
)

// setViewerReadBuffers gives a viewer connection's read streams lazyBuffers.
func setViewerReadBuffers(se *webrtc.SettingEngine) {
	se.BufferFactory = func(kind packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
		b := newLazyBuffer(kind)
		if probe := readBufferProbe.Load(); probe != nil {
			(*probe)(ssrc, b)
		}
		return b
	}
}

// readBufferProbe, when set (tests: export_test.go), is told of every buffer made.
var readBufferProbe atomic.Pointer[func(ssrc uint32, b *lazyBuffer)]

// lazyBuffer is a packetio.Buffer limited to unreadBufferPackets until its first read,
// then to pion's byte limit for its kind of stream. Writes past a limit are dropped (srtp
// drops on packetio.ErrFull). It passes packet attributes through, as srtp's own buffer.
type lazyBuffer struct {
	*packetio.Buffer
	readLimit int
	read      atomic.Bool
}

func newLazyBuffer(kind packetio.BufferPacketType) *lazyBuffer {
	b := &lazyBuffer{Buffer: packetio.NewBuffer(), readLimit: rtpBufferBytes}
	if kind == packetio.RTCPBufferPacket {
		b.readLimit = rtcpBufferBytes
	}
	b.SetLimitCount(unreadBufferPackets)
	return b
}

// reading lifts the unread limit at the first read.
func (b *lazyBuffer) reading() {
	if !b.read.Load() && b.read.CompareAndSwap(false, true) {
		b.SetLimitCount(0)
		b.SetLimitSize(b.readLimit)
	}
}

func (b *lazyBuffer) Read(p []byte) (int, error) {
	b.reading()
	n, _, err := b.Buffer.Read(p, nil)
	return n, err
}

func (b *lazyBuffer) Write(p []byte) (int, error) { return b.Buffer.Write(p, nil) }

// ReadWithAttributes and WriteWithAttributes are what srtp calls where a buffer has them.
func (b *lazyBuffer) ReadWithAttributes(p []byte, attrs packetio.Attributes) (int, packetio.Attributes, error) {
	b.reading()
	return b.Buffer.Read(p, attrs)
}

func (b *lazyBuffer) WriteWithAttributes(p []byte, attrs packetio.Attributes) (int, error) {
	return b.Buffer.Write(p, attrs)
}
