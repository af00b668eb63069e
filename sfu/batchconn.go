package sfu

import (
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
)

var _ ice.AddrPortReaderWriter = (*batchConn)(nil)

// batchConn is the shared media socket as the ICE UDP mux sees it. Reads go straight to the
// socket. Writes — every viewer's SRTP packets, from one goroutine per viewer track — are
// copied into a queue and sent by a writer goroutine with sendmmsg, up to batchMax packets
// per system call: under load the queue fills while the previous call runs, so a keyframe
// fanned out to hundreds of viewers costs a few dozen system calls instead of thousands, and
// the viewer goroutines never wait in the kernel. An idle socket sends a lone packet at once
// (the writer is woken by the first packet queued), so batching adds no delay beyond one
// goroutine handoff. When a lane's queue is full (its share of queueMax: the kernel's send
// buffer full, the writer behind), writers wait, as they would in a blocking sendto.
//
// There is a queue and a writer per send lane (sfu/sendlane.go): one per core by default,
// each destination always on the same lane, so the kernel's share of the egress — over a
// third of it — runs on every core rather than one.
//
// It is also an ice.AddrPortReaderWriter (ReadFromAddrPort, WriteToAddrPort), so the ICE
// mux reads and writes with netip.AddrPort values: no *net.UDPAddr allocated per packet
// read, no address conversion per packet written. Each lane keeps one *net.UDPAddr per
// destination for sendmmsg (addrCache).
type batchConn struct {
	*net.UDPConn
	log *slog.Logger

	lanes  []*sendLane
	closed atomic.Bool
	done   chan struct{} // closed by Close: the writers stop

	noGSO     atomic.Bool // the kernel refused UDP_SEGMENT
	batches   atomic.Int64
	packets   atomic.Int64
	sendErrs  atomic.Int64
	lastError atomic.Int64 // unix nanoseconds of the last logged send error
}

type outPacket struct {
	buf   *[maxPacketSize]byte // pooled; nil for a packet that is a slice of a GSO group
	data  []byte               // the packet: buf[:n], or a segment of a group
	addr  netip.AddrPort
	stamp sendStamp
}

// sendStamp asks the batched sender to count a packet's transit — from its arrival at the
// SFU to the return of the last sendmmsg of the batch that carried it (one clock reading
// per batch) — into hist (nil: not counted), held of it the time the viewer's pacer held
// the packet back. The viewer's drain cannot see that last part: the time its packets
// wait in the queue for the sender, behind other viewers' packets, while a fan-out walk
// goes on.
type sendStamp struct {
	hist    *transitHistograms
	arrived time.Time
	held    time.Duration
}

// count records the packet's transit as sent at sent, if it is to be counted.
func (s sendStamp) count(sent time.Time) {
	if s.hist != nil {
		s.hist.observe(sent.Sub(s.arrived), s.held)
	}
}

const (
	batchMax = 64   // messages per sendmmsg
	queueMax = 8192 // queued packets before writers wait (≈ 10 MiB), shared by the lanes
)

// newBatchConn starts a batched sender on udp with lanes send lanes (sendLaneCount: 0 is
// one per core).
func newBatchConn(udp *net.UDPConn, lanes int, log *slog.Logger) (*batchConn, error) {
	c, err := unstartedBatchConn(udp, lanes, log)
	if err != nil {
		return nil, err
	}
	for _, l := range c.lanes {
		go l.writeLoop(c.done)
	}
	return c, nil
}

// unstartedBatchConn is a batchConn whose writer goroutines have not started (tests start
// none: producers then send full batches themselves).
func unstartedBatchConn(udp *net.UDPConn, lanes int, log *slog.Logger) (*batchConn, error) {
	n := sendLaneCount(lanes)
	c := &batchConn{UDPConn: udp, log: log, done: make(chan struct{})}
	c.lanes = []*sendLane{newSendLane(c, udp, n)}
	for range n - 1 {
		l, err := dupLane(c, udp, n)
		if err != nil {
			c.closeLanes()
			return nil, err
		}
		c.lanes = append(c.lanes, l)
	}
	return c, nil
}

// ReadFromAddrPort reads a packet without allocating its source address (the ICE mux's
// read path).
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(b)
}

// WriteTo queues a copy of b for addr and returns at once. Addresses other than
// *net.UDPAddr and packets over maxPacketSize are written directly.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || len(b) > maxPacketSize {
		return c.UDPConn.WriteTo(b, addr)
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// WriteToAddrPort queues a copy of b for addr and returns at once (the ICE mux's write
// path). Packets over maxPacketSize are written directly.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.queueCopy(b, addr, sendStamp{})
}

// queueCopy is WriteToAddrPort with the packet's transit counted as stamp says: once sent,
// or once written for a packet over maxPacketSize.
func (c *batchConn) queueCopy(b []byte, addr netip.AddrPort, stamp sendStamp) (int, error) {
	if len(b) > maxPacketSize {
		n, err := c.UDPConn.WriteToUDPAddrPort(b, addr)
		if err == nil {
			stamp.count(time.Now())
		}
		return n, err
	}
	lane := c.lane(addr)
	buf := lane.bufs.take()
	n := copy(buf[:], b)
	if err := lane.queueOwned(buf, n, addr, stamp); err != nil {
		return 0, err
	}
	return len(b), nil
}

// lane is the send lane of destination addr. A packet the caller builds in place (the
// SFU's own egress, sfu/egress.go, encrypts into the buffer: no copy) takes its buffer from
// the lane (bufs.take), then hands it to the lane's queueOwned or gives it back (bufs.give).
func (c *batchConn) lane(addr netip.AddrPort) *sendLane {
	return c.lanes[laneIndex(addr, len(c.lanes))]
}

// sendError counts a failed send and logs it at most once a second (a vanished peer makes
// ECONNREFUSED-like errors that are no one's problem).
func (c *batchConn) sendError(err error) {
	c.sendErrs.Add(1)
	now := time.Now().UnixNano()
	if last := c.lastError.Load(); now-last > int64(time.Second) && c.lastError.CompareAndSwap(last, now) {
		c.log.Debug("media socket: send failed", "err", err, "errors", c.sendErrs.Load())
	}
}

// Close stops the writers after they sent what was queued, then closes the socket.
func (c *batchConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	for _, l := range c.lanes {
		l.close()
	}
	close(c.done)
	for _, l := range c.lanes {
		<-l.exited
	}
	c.closeLanes()
	return c.UDPConn.Close()
}

// closeLanes closes the lanes' duplicate descriptors (the first lane's is the socket's own).
func (c *batchConn) closeLanes() {
	for _, l := range c.lanes {
		if l.conn != c.UDPConn {
			l.conn.Close()
		}
	}
}

// batchStats reports the sendmmsg calls made and the packets they sent.
func (c *batchConn) batchStats() (calls, packets int64) { return c.batches.Load(), c.packets.Load() }

// addrCache keeps one *net.UDPAddr per destination for the writer's sendmmsg messages, so a
// packet queued with a netip.AddrPort costs no allocation when sent. Sessions come and go:
// past addrCacheMax destinations the cache starts afresh (between batches).
type addrCache struct {
	m map[netip.AddrPort]*net.UDPAddr
}

const addrCacheMax = 4096

func (a *addrCache) udpAddr(ap netip.AddrPort) *net.UDPAddr {
	if ua, ok := a.m[ap]; ok {
		return ua
	}
	ua := net.UDPAddrFromAddrPort(ap)
	a.m[ap] = ua
	return ua
}

// trim drops every cached address once there are more than addrCacheMax (the sender's,
// between batches: no message refers to one then).
func (a *addrCache) trim() {
	if len(a.m) > addrCacheMax {
		clear(a.m)
	}
}
