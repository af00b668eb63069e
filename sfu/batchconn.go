package sfu

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"golang.org/x/net/ipv4"
)

var _ ice.AddrPortReaderWriter = (*batchConn)(nil)

// batchConn is the shared media socket as the ICE UDP mux sees it. Reads go straight to the
// socket. Writes — every viewer's SRTP packets, from one goroutine per viewer track — are
// copied into a queue and sent by one writer goroutine with sendmmsg, up to batchMax packets
// per system call: under load the queue fills while the previous call runs, so a keyframe
// fanned out to hundreds of viewers costs a few dozen system calls instead of thousands, and
// the viewer goroutines never wait in the kernel. An idle socket sends a lone packet at once
// (the writer is woken by the first packet queued), so batching adds no delay beyond one
// goroutine handoff. When the queue holds queueMax packets (the kernel's send buffer full,
// the writer behind), writers wait, as they would in a blocking sendto.
//
// It is also an ice.AddrPortReaderWriter (ReadFromAddrPort, WriteToAddrPort), so the ICE
// mux reads and writes with netip.AddrPort values: no *net.UDPAddr allocated per packet
// read, no address conversion per packet written. The writer keeps one *net.UDPAddr per
// destination for sendmmsg (addrCache).
type batchConn struct {
	*net.UDPConn
	pc  *ipv4.PacketConn
	log *slog.Logger

	mu     sync.Mutex
	space  *sync.Cond // signalled when the writer takes the queue
	queue  []outPacket
	closed bool
	wake   chan struct{} // capacity 1: the writer has work
	done   chan struct{} // closed by Close: the writer stops
	exited chan struct{}

	// sending is held by whoever sends — the writer goroutine, or a producer that filled a
	// batch (queueOwned) — so batches leave in queue order; it guards what follows.
	sending   sync.Mutex
	spare     []outPacket         // the last batch's storage, the next queue's
	msgs      []ipv4.Message      // one sendmmsg call's messages
	gso       *gsoBatcher         // groups a batch's runs for UDP GSO
	addrs     addrCache           // one *net.UDPAddr per destination
	plain     [batchMax][1][]byte // each message's one buffer when not grouped
	noGSO     atomic.Bool         // the kernel refused UDP_SEGMENT
	bufs      sync.Pool
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
	queueMax = 8192 // queued packets before writers wait (≈ 10 MiB)
)

func newBatchConn(udp *net.UDPConn, log *slog.Logger) *batchConn {
	c := unstartedBatchConn(udp, log)
	go c.writeLoop()
	return c
}

// unstartedBatchConn is a batchConn whose writer goroutine has not started (tests).
func unstartedBatchConn(udp *net.UDPConn, log *slog.Logger) *batchConn {
	c := &batchConn{UDPConn: udp, pc: ipv4.NewPacketConn(udp), log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
	c.space = sync.NewCond(&c.mu)
	c.gso = newGSOBatcher()
	c.msgs = make([]ipv4.Message, batchMax)
	c.addrs = addrCache{m: map[netip.AddrPort]*net.UDPAddr{}}
	c.bufs.New = func() any { return new([maxPacketSize]byte) }
	return c
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
	buf := c.packetBuffer()
	n := copy(buf[:], b)
	if err := c.queueOwned(buf, n, addr, stamp); err != nil {
		return 0, err
	}
	return len(b), nil
}

// packetBuffer lends a buffer for a packet that the caller builds in place and then hands
// to queueOwned (the SFU's own egress, sfu/egress.go, encrypts into it: no copy).
func (c *batchConn) packetBuffer() *[maxPacketSize]byte { return c.bufs.Get().(*[maxPacketSize]byte) }

// queueOwned queues buf[:n] for addr, its transit counted as stamp says once sent; the
// buffer is the sender's from now on, sent or not.
func (c *batchConn) queueOwned(buf *[maxPacketSize]byte, n int, addr netip.AddrPort, stamp sendStamp) error {
	c.mu.Lock()
	for len(c.queue) >= queueMax && !c.closed {
		c.space.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		c.bufs.Put(buf)
		return net.ErrClosed
	}
	c.queue = append(c.queue, outPacket{buf: buf, data: buf[:n], addr: addr, stamp: stamp})
	queued := len(c.queue)
	c.mu.Unlock()
	if queued == 1 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	if queued >= batchMax && c.sending.TryLock() {
		c.sendQueued() // a full batch waits and no one sends: send it here
		c.sending.Unlock()
	}
	return nil
}

// writeLoop sends what is queued until Close; then it sends what is left and exits.
//
// A producer that queues a full batch while no one sends sends it itself (queueOwned): the
// fan-out walk (sfu/fanout.go) queues a frame for every viewer in one run, and on a node
// with one core the writer goroutine would run only once the walk ended, so the first
// viewers' packets would wait for the last viewers' turn.
func (c *batchConn) writeLoop() {
	defer close(c.exited)
	for {
		stopping := false
		select {
		case <-c.wake:
		case <-c.done:
			stopping = true
		}
		c.sending.Lock()
		c.sendQueued()
		c.sending.Unlock()
		if stopping {
			return
		}
	}
}

// sendQueued takes the queue and sends it; the caller holds c.sending.
func (c *batchConn) sendQueued() {
	c.mu.Lock()
	batch := c.queue
	c.queue = c.spare[:0]
	c.space.Broadcast()
	c.mu.Unlock()
	if len(batch) == 0 {
		c.spare = batch
		return
	}
	c.addrs.trim()
	c.send(batch, c.msgs)
	sent := time.Now()
	for i := range batch {
		batch[i].stamp.count(sent)
		if batch[i].buf != nil {
			c.bufs.Put(batch[i].buf)
		}
		batch[i] = outPacket{}
	}
	c.spare = batch
}

// send writes batch with sendmmsg: as GSO groups where the kernel has UDP_SEGMENT, else
// packet by packet, batchMax messages per call.
func (c *batchConn) send(batch []outPacket, msgs []ipv4.Message) {
	if !c.noGSO.Load() {
		c.sendGSO(batch, msgs)
		return
	}
	c.sendPlain(batch, msgs)
}

// sendPlain writes batch one message per packet.
func (c *batchConn) sendPlain(batch []outPacket, msgs []ipv4.Message) {
	for len(batch) > 0 {
		k := min(len(batch), len(msgs))
		for i := range k {
			c.plain[i][0] = batch[i].data
			msgs[i].Buffers, msgs[i].Addr = c.plain[i][:], c.addrs.udpAddr(batch[i].addr)
		}
		n, err := c.pc.WriteBatch(msgs[:k], 0)
		if err != nil {
			c.sendError(err)
			n = max(n, 1) // skip the message that failed
		}
		c.batches.Add(1)
		c.packets.Add(int64(n))
		for i := range k {
			c.plain[i][0] = nil
		}
		clearMessages(msgs[:k])
		batch = batch[min(n, k):]
	}
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

// Close stops the writer after it sent what was queued, then closes the socket.
func (c *batchConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.space.Broadcast()
	c.mu.Unlock()
	close(c.done)
	<-c.exited
	return c.UDPConn.Close()
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
