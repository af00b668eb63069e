package sfu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/ice/v4"

	"github.com/glint-video/glint/internal/testkit"
)

func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startBatchConn is a started batched sender with lanes send lanes on udp, closed with the
// test.
func startBatchConn(tb testing.TB, udp *net.UDPConn, lanes int) *batchConn {
	tb.Helper()
	c, err := newBatchConn(udp, lanes, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// TestBatchConnDeliversEverything: packets written by many goroutines at once to several
// receivers all arrive, each sender's in order and from the socket's own address whichever
// lane sent them, in fewer sendmmsg calls than packets; Close sends what was queued, closes
// the lanes' descriptors, and later writes fail.
func TestBatchConnDeliversEverything(t *testing.T) {
	for _, lanes := range []int{1, 3} {
		t.Run(fmt.Sprintf("lanes=%d", lanes), func(t *testing.T) { testBatchConnDelivers(t, lanes) })
	}
}

func testBatchConnDelivers(t *testing.T, lanes int) {
	const receivers, senders, each = 4, 8, 500
	var recvs []*net.UDPConn
	for range receivers {
		recv := listenLoopback(t)
		defer recv.Close()
		if err := recv.SetReadBuffer(8 << 20); err != nil {
			t.Fatal(err)
		}
		recvs = append(recvs, recv)
	}
	c := startBatchConn(t, listenLoopback(t), lanes)
	if len(c.lanes) != lanes {
		t.Fatalf("%d lanes, want %d", len(c.lanes), lanes)
	}
	from := c.LocalAddr().(*net.UDPAddr).AddrPort()
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			pkt := make([]byte, 1200)
			to := recvs[s%receivers].LocalAddr()
			for i := range each {
				binary.BigEndian.PutUint16(pkt[0:], uint16(s))
				binary.BigEndian.PutUint32(pkt[2:], uint32(i))
				if n, err := c.WriteTo(pkt, to); err != nil || n != len(pkt) {
					t.Errorf("WriteTo: %d %v", n, err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for r, recv := range recvs {
		readers.Go(func() { readInOrder(t, recv, from, r, receivers, senders*each/receivers) })
	}
	wg.Wait()
	readers.Wait()
	// The writer counts a batch after its sendmmsg returns, which may be after the receiver
	// has read it: wait for the count to catch up.
	calls, packets := c.batchStats()
	for deadline := time.Now().Add(5 * time.Second); packets < senders*each && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		calls, packets = c.batchStats()
	}
	t.Logf("%d packets in %d sendmmsg calls", packets, calls)
	if packets != senders*each || calls >= packets {
		t.Errorf("%d packets in %d calls", packets, calls)
	}
	to := recvs[0].LocalAddr()
	if _, err := c.WriteTo([]byte{1}, to); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := recvs[0].Read(buf); err != nil || n != 1 {
		t.Errorf("the packet queued before Close: %d %v", n, err)
	}
	if _, err := c.WriteTo([]byte{1}, to); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close: %v", err)
	}
	for i, l := range c.lanes {
		if raw, err := l.conn.SyscallConn(); err == nil && raw.Control(func(uintptr) {}) == nil {
			t.Errorf("lane %d: its descriptor is open after Close", i)
		}
	}
}

// readInOrder reads want packets on recv, each from from, and checks that each sender's
// (those s with s%receivers == r) arrive in order.
func readInOrder(t *testing.T, recv *net.UDPConn, from netip.AddrPort, r, receivers, want int) {
	next := map[uint16]uint32{}
	buf := make([]byte, 2048)
	_ = recv.SetReadDeadline(time.Now().Add(20 * time.Second))
	for got := range want {
		n, src, err := recv.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Errorf("receiver %d after %d packets: %v", r, got, err)
			return
		}
		s, i := binary.BigEndian.Uint16(buf), binary.BigEndian.Uint32(buf[2:])
		if n != 1200 || int(s)%receivers != r || i != next[s] || src != from {
			t.Errorf("receiver %d packet %d: %d bytes from %v, sender %d seq %d, want seq %d from %v",
				r, got, n, src, s, i, next[s], from)
			return
		}
		next[s]++
	}
}

// TestLaneIndexSpreadsDestinations: a destination always maps to the same lane, and
// viewers on one host (ports in a row) or on many hosts (one port) spread over the lanes.
func TestLaneIndexSpreadsDestinations(t *testing.T) {
	for _, lanes := range []int{2, 3, 8} {
		onePort, oneHost := make([]int, lanes), make([]int, lanes)
		for i := range 800 {
			host := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 50000)
			port := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+i))
			for _, ap := range []netip.AddrPort{host, port} {
				if laneIndex(ap, lanes) != laneIndex(ap, lanes) {
					t.Fatalf("%v: two lanes", ap)
				}
			}
			onePort[laneIndex(host, lanes)]++
			oneHost[laneIndex(port, lanes)]++
		}
		for l := range lanes {
			mean := 800 / lanes
			if onePort[l] < mean*3/4 || onePort[l] > mean*5/4 || oneHost[l] < mean*3/4 || oneHost[l] > mean*5/4 {
				t.Errorf("%d lanes: hosts %v, ports %v per lane", lanes, onePort, oneHost)
				break
			}
		}
	}
	if got := laneIndex(netip.MustParseAddrPort("[::1]:5000"), 1); got != 0 {
		t.Errorf("one lane: index %d", got)
	}
}

// BenchmarkSocketSend compares one sendto per packet with the batched sender (sendmmsg,
// UDP GSO): 4 goroutines, each writing bursts of 1200-byte packets (1: paced packets; 8: a
// frame; 40: a keyframe) to 50 loopback receivers in turn, as viewer tracks do. cpu-ns/op is
// the process's CPU per packet, receivers included (on loopback the stack's receive side
// runs in the sender's context too).
func BenchmarkSocketSend(b *testing.B) {
	for _, burst := range []int{1, 8, 40} {
		for _, mode := range []string{"sendto", "batched"} {
			b.Run(fmt.Sprintf("burst=%d/%s", burst, mode), func(b *testing.B) { benchSocketSend(b, mode, burst) })
		}
	}
}

// discardingUDP is a loopback socket that reads and drops every packet until the test ends.
func discardingUDP(tb testing.TB) *net.UDPConn {
	tb.Helper()
	recv := testkit.LoopbackUDP(tb)
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := recv.Read(buf); err != nil {
				return
			}
		}
	}()
	return recv
}

func benchSocketSend(b *testing.B, mode string, burst int) {
	var dests []net.Addr
	for range 50 {
		dests = append(dests, discardingUDP(b).LocalAddr())
	}
	send, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	var conn net.PacketConn = send
	if mode == "batched" {
		conn = startBatchConn(b, send, 1)
	} else {
		defer conn.Close()
	}
	b.SetParallelism(2)
	b.SetBytes(1200)
	var next atomic.Int64
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		pkt := make([]byte, 1200)
		for {
			to := dests[next.Add(1)%int64(len(dests))]
			for range burst {
				if !pb.Next() {
					return
				}
				_, _ = conn.WriteTo(pkt, to)
			}
		}
	})
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user + system CPU time so far (sender, writer and receiver).
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestGSOGrouping: groups keep each destination's order, one size per group with a shorter
// last packet allowed, and large packets alone.
func TestGSOGrouping(t *testing.T) {
	a, b := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")
	pkt := func(addr netip.AddrPort, n int) outPacket { return outPacket{data: make([]byte, n), addr: addr} }
	batch := []outPacket{pkt(a, 1200), pkt(b, 1000), pkt(a, 1200), pkt(a, 700), pkt(a, 1200), pkt(b, 1000),
		pkt(b, 1450), pkt(b, 1450)}
	groups := newGSOBatcher().group(batch)
	type want struct {
		addr              netip.AddrPort
		segSize, segments int
		bytes             int
	}
	wants := []want{{a, 1200, 3, 3100}, {b, 1000, 2, 2000}, {a, 1200, 1, 1200}, {b, 1450, 1, 1450}, {b, 1450, 1, 1450}}
	if len(groups) != len(wants) {
		t.Fatalf("%d groups, want %d", len(groups), len(wants))
	}
	for i, w := range wants {
		g := groups[i]
		if g.addr != w.addr || g.segSize != w.segSize || g.segments != w.segments || g.bytes != w.bytes {
			t.Errorf("group %d: addr %v size %d segments %d bytes %d, want %+v", i, g.addr, g.segSize, g.segments, g.bytes, w)
		}
	}
	if back := ungroup(groups[:1], nil); len(back) != 3 || len(back[2].data) != 700 {
		t.Errorf("ungroup: %d packets", len(back))
	}
}

// TestBatchConnAddrPortPath: the ICE mux takes batchConn for an AddrPortReaderWriter, and a
// packet written with WriteToAddrPort arrives, its reply read with ReadFromAddrPort naming
// the sender; reading allocates nothing (BenchmarkBatchConnQueue shows the writes).
func TestBatchConnAddrPortPath(t *testing.T) {
	var _ ice.AddrPortReaderWriter = (*batchConn)(nil)
	peer := listenLoopback(t)
	defer peer.Close()
	c := startBatchConn(t, listenLoopback(t), 1)
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	if n, err := c.WriteToAddrPort([]byte("ping"), to); err != nil || n != 4 {
		t.Fatalf("WriteToAddrPort: %d %v", n, err)
	}
	buf := make([]byte, 64)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("peer read: %q %v", buf[:n], err)
	}
	if _, err := peer.WriteToUDPAddrPort([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, src, err := c.ReadFromAddrPort(buf)
	if err != nil || string(buf[:n]) != "pong" || src.Port() != to.Port() {
		t.Fatalf("ReadFromAddrPort: %q from %v, %v (want from port %d)", buf[:n], src, err, to.Port())
	}
	// Reads allocate nothing (the mux's read loop sees every viewer's RTCP): queue 101
	// packets, then read them.
	for range 101 {
		if _, err := peer.WriteToUDPAddrPort(buf[:32], from); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := c.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadFromAddrPort: %.2f allocations per packet", allocs)
	}
}

// BenchmarkBatchConnQueue is the viewer goroutine's share of a batched send: copy into a
// pooled buffer and queue for the writer (the writer's sendmmsg runs on its own goroutine).
func BenchmarkBatchConnQueue(b *testing.B) {
	recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer recv.Close()
	send, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	c := startBatchConn(b, send, 1)
	to := recv.LocalAddr().(*net.UDPAddr)
	pkt := make([]byte, 1200)
	for _, mode := range []string{"WriteTo", "WriteToAddrPort"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if mode == "WriteTo" {
					_, _ = c.WriteTo(pkt, to)
				} else {
					_, _ = c.WriteToAddrPort(pkt, to.AddrPort())
				}
			}
		})
	}
}

// A producer that fills a batch while no one sends sends it itself: with no writer
// goroutine at all, batchMax-1 packets stay queued and the batchMax-th sends them all, in
// order, from the producer's own goroutine (the fan-out walk's case on a one-core node).
func TestBatchConnProducerSendsAFullBatch(t *testing.T) {
	recv := listenLoopback(t)
	defer recv.Close()
	udp := listenLoopback(t)
	defer udp.Close()
	c, err := unstartedBatchConn(udp, 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	var transit transitHistograms
	arrived, held := time.Now().Add(-3*time.Millisecond), 2*time.Millisecond
	queue := func(i int) {
		buf := c.lane(to).bufs.take()
		binary.BigEndian.PutUint32(buf[:], uint32(i))
		if err := c.lane(to).queueOwned(buf, 1000, to, sendStamp{hist: &transit, arrived: arrived, held: held}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range batchMax - 1 {
		queue(i)
	}
	if _, packets := c.batchStats(); packets != 0 {
		t.Fatalf("%d packets sent before the batch was full", packets)
	}
	queue(batchMax - 1)
	if _, packets := c.batchStats(); packets != batchMax {
		t.Fatalf("%d packets sent once the batch was full, want %d", packets, batchMax)
	}
	// Each packet's transit is counted once it is sent, from its arrival: here over 2 ms;
	// and once less the pacer's hold.
	var counts, unpaced [len(transitBounds) + 1]uint64
	sum := transit.all.addTo(&counts)
	unpacedSum := transit.unpaced.addTo(&unpaced)
	if got := quantile(counts, 0); got < 5*time.Millisecond || counts[0]+counts[len(counts)-1] != 0 {
		t.Fatalf("transit counted when sent: lowest bucket %v, counts %v", got, counts)
	}
	if total, totalUnpaced := countsTotal(counts), countsTotal(unpaced); total != batchMax || totalUnpaced != batchMax {
		t.Fatalf("transit counted for %d packets, unpaced for %d, want %d", total, totalUnpaced, batchMax)
	}
	if sum-unpacedSum != uint64(batchMax*held) {
		t.Fatalf("unpaced transit sums %v, transit %v: want %v less", time.Duration(unpacedSum), time.Duration(sum), batchMax*held)
	}
	buf := make([]byte, 2048)
	_ = recv.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range batchMax {
		n, err := recv.Read(buf)
		if err != nil || n != 1000 || binary.BigEndian.Uint32(buf) != uint32(i) {
			t.Fatalf("datagram %d: %d bytes, seq %d, %v", i, n, binary.BigEndian.Uint32(buf), err)
		}
	}
}

// A packet too large for the queue is written at once, and its transit counted then, once.
func TestBatchConnCountsTheTransitOfADirectWrite(t *testing.T) {
	recv := listenLoopback(t)
	defer recv.Close()
	udp := listenLoopback(t)
	defer udp.Close()
	c, err := unstartedBatchConn(udp, 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var transit transitHistograms
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	if _, err := c.queueCopy(make([]byte, maxPacketSize+16), to, sendStamp{hist: &transit, arrived: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var counts [len(transitBounds) + 1]uint64
	transit.all.addTo(&counts)
	if total := countsTotal(counts); total != 1 {
		t.Fatalf("transit counted %d times for one direct write, want 1", total)
	}
	if _, packets := c.batchStats(); packets != 0 {
		t.Fatalf("%d packets went through the queue, want the direct write", packets)
	}
}

func countsTotal(counts [len(transitBounds) + 1]uint64) (n uint64) {
	for _, c := range counts {
		n += c
	}
	return n
}
