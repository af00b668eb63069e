package sfu

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// sendLane is one of the batched sender's queues and its writer goroutine. Each lane sends
// through its own descriptor of the shared media socket (a dup for every lane after the
// first), so lanes call sendmmsg in parallel: Go serializes writes on one descriptor, and
// one writer caps a node's whole egress at what one core's kernel can send (measured on 2
// cores: one writer at 100 % of its core delivered 50-60 % of the frames to 1,000 viewers
// of 2.6 Mbit/s; two lanes 71-90 %, BENCHMARKS.md "Send lanes"). A destination always maps
// to the same lane (laneIndex), so each viewer's packets leave in the order they were
// queued.
type sendLane struct {
	c    *batchConn // the shared parts: counters, the GSO switch, the log
	conn *net.UDPConn
	pc   *ipv4.PacketConn

	limit  int          // queued packets before producers wait: the socket's queueMax shared by its lanes
	bufs   *laneBuffers // the lane's free packet buffers
	mu     sync.Mutex
	space  *sync.Cond // signalled when the writer takes the queue
	queue  []outPacket
	closed bool
	wake   chan struct{} // capacity 1: the writer has work
	exited chan struct{}

	// sending is held by whoever sends — the writer goroutine, or a producer that filled a
	// batch (queueOwned) — so batches leave in queue order; it guards what follows.
	sending sync.Mutex
	spare   []outPacket         // the last batch's storage, the next queue's
	msgs    []ipv4.Message      // one sendmmsg call's messages
	gso     *gsoBatcher         // groups a batch's runs for UDP GSO
	addrs   addrCache           // one *net.UDPAddr per destination
	plain   [batchMax][1][]byte // each message's one buffer when not grouped
}

// maxSendLanes bounds the lanes a socket gets by default (one per core the process may use).
const maxSendLanes = 8

// sendLaneCount is the number of lanes for a configured count: n itself, or with n ≤ 0 one
// per core the process may run on (GOMAXPROCS follows taskset), at most maxSendLanes.
func sendLaneCount(n int) int {
	if n > 0 {
		return n
	}
	return min(runtime.GOMAXPROCS(0), maxSendLanes)
}

// newSendLane is a lane of a socket with lanes lanes in all.
func newSendLane(c *batchConn, conn *net.UDPConn, lanes int) *sendLane {
	l := &sendLane{c: c, conn: conn, pc: ipv4.NewPacketConn(conn), limit: max(queueMax/lanes, 4*batchMax),
		wake: make(chan struct{}, 1), exited: make(chan struct{})}
	l.space = sync.NewCond(&l.mu)
	l.bufs = newLaneBuffers(l.limit + batchMax)
	l.gso = newGSOBatcher()
	l.msgs = make([]ipv4.Message, batchMax)
	l.addrs = addrCache{m: map[netip.AddrPort]*net.UDPAddr{}}
	return l
}

// dupLane opens another descriptor of udp's socket for a lane of its own.
func dupLane(c *batchConn, udp *net.UDPConn, lanes int) (*sendLane, error) {
	f, err := udp.File()
	if err != nil {
		return nil, fmt.Errorf("media socket: duplicate the descriptor for a send lane: %w", err)
	}
	defer f.Close() // FilePacketConn made its own duplicate
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("media socket: send lane from the duplicate: %w", err)
	}
	conn, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("media socket: send lane is a %T, not a UDP socket", pc)
	}
	return newSendLane(c, conn, lanes), nil
}

// laneIndex maps a destination to one of n lanes: viewers on one host differ by port, hosts
// by address.
func laneIndex(addr netip.AddrPort, n int) int {
	if n == 1 {
		return 0
	}
	a := addr.Addr().As16()
	h := uint64(addr.Port())<<32 | uint64(binary.BigEndian.Uint32(a[12:]))
	h ^= uint64(binary.BigEndian.Uint32(a[8:])) << 32
	h *= 0x9e3779b97f4a7c15
	return int((h >> 32) * uint64(n) >> 32) // the hash's top bits scaled to [0, n): no division
}

// queueOwned queues buf[:n] for addr (a destination of this lane), its transit counted as
// stamp says once sent; the buffer is the lane's from now on, sent or not.
func (l *sendLane) queueOwned(buf *[maxPacketSize]byte, n int, addr netip.AddrPort, stamp sendStamp) error {
	l.mu.Lock()
	for len(l.queue) >= l.limit && !l.closed {
		l.space.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		l.bufs.give(buf)
		return net.ErrClosed
	}
	l.queue = append(l.queue, outPacket{buf: buf, data: buf[:n], addr: addr, stamp: stamp})
	queued := len(l.queue)
	l.mu.Unlock()
	if queued == 1 {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	if queued >= batchMax && l.sending.TryLock() {
		l.sendQueued() // a full batch waits and no one sends: send it here
		l.sending.Unlock()
	}
	return nil
}

// close refuses further packets and wakes producers waiting for room.
func (l *sendLane) close() {
	l.mu.Lock()
	l.closed = true
	l.space.Broadcast()
	l.mu.Unlock()
}

// writeLoop sends what is queued until done closes; then it sends what is left and exits.
//
// A producer that queues a full batch while no one sends sends it itself (queueOwned): the
// fan-out walk (sfu/fanout.go) queues a frame for every viewer in one run, and on a node
// with one core the writer goroutine would run only once the walk ended, so the first
// viewers' packets would wait for the last viewers' turn.
func (l *sendLane) writeLoop(done <-chan struct{}) {
	defer close(l.exited)
	for {
		stopping := false
		select {
		case <-l.wake:
		case <-done:
			stopping = true
		}
		l.sending.Lock()
		l.sendQueued()
		l.sending.Unlock()
		if stopping {
			return
		}
	}
}

// sendQueued takes the queue and sends it; the caller holds l.sending.
func (l *sendLane) sendQueued() {
	l.mu.Lock()
	batch := l.queue
	l.queue = l.spare[:0]
	l.space.Broadcast()
	l.mu.Unlock()
	if len(batch) == 0 {
		l.spare = batch
		return
	}
	l.addrs.trim()
	l.send(batch)
	sent := time.Now()
	l.bufs.giveSent(batch)
	for i := range batch {
		batch[i].stamp.count(sent)
		batch[i] = outPacket{}
	}
	l.spare = batch
}

// send writes batch with sendmmsg: as GSO groups where the kernel has UDP_SEGMENT, else
// packet by packet, batchMax messages per call.
func (l *sendLane) send(batch []outPacket) {
	if !l.c.noGSO.Load() {
		l.sendGSO(batch)
		return
	}
	l.sendPlain(batch)
}

// sendPlain writes batch one message per packet.
func (l *sendLane) sendPlain(batch []outPacket) {
	msgs := l.msgs
	for len(batch) > 0 {
		k := min(len(batch), len(msgs))
		for i := range k {
			l.plain[i][0] = batch[i].data
			msgs[i].Buffers, msgs[i].Addr = l.plain[i][:], l.addrs.udpAddr(batch[i].addr)
		}
		n, err := l.pc.WriteBatch(msgs[:k], 0)
		if err != nil {
			l.c.sendError(err)
			n = max(n, 1) // skip the message that failed
		}
		l.c.batches.Add(1)
		l.c.packets.Add(int64(n))
		for i := range k {
			l.plain[i][0] = nil
		}
		clearMessages(msgs[:k])
		batch = batch[min(n, k):]
	}
}
