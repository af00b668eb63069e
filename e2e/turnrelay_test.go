package e2e

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

// delayRelay is a TURN server on 127.0.0.1 whose relays hold every packet from the peer (the
// server's media towards the browser) for delay before passing it on: an extra path delay
// for one page, which netem cannot give in this kernel. The page is forced through it with
// watch.js's test-only ?turn=HOST:PORT (iceTransportPolicy 'relay').
type delayRelay struct {
	Addr   string // host:port of the TURN listener
	server *turn.Server
	gen    *delayingGenerator
}

// Lateness is the relay's own jitter: the most any relayed packet left after its due time,
// and the share of packets that left more than lateLimit after it.
func (r *delayRelay) Lateness() (worst time.Duration, lateShare float64) {
	r.gen.mu.Lock()
	defer r.gen.mu.Unlock()
	var total, late int64
	for _, c := range r.gen.conns {
		worst = max(worst, time.Duration(c.maxLate.Load()))
		total += c.packets.Load()
		late += c.late.Load()
	}
	if total > 0 {
		lateShare = float64(late) / float64(total)
	}
	return worst, lateShare
}

// lateLimit is how late a relayed packet may leave before it counts as late.
const lateLimit = 20 * time.Millisecond

const relayUser, relayPass, relayRealm = "glint", "glint", "glint.test"

func startDelayRelay(t *testing.T, delay time.Duration) *delayRelay {
	t.Helper()
	ln, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bigReadBuffer(ln)
	gen := &delayingGenerator{delay: delay, RelayAddressGeneratorStatic: &turn.RelayAddressGeneratorStatic{
		RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1",
	}}
	key := turn.GenerateAuthKey(relayUser, relayRealm, relayPass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: relayRealm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == relayUser
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            ln,
			RelayAddressGenerator: gen,
		}},
	})
	if err != nil {
		t.Fatalf("turn server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &delayRelay{Addr: ln.LocalAddr().String(), server: srv, gen: gen}
}

// delayingGenerator allocates relays as RelayAddressGeneratorStatic does, wrapped in a
// delayConn.
type delayingGenerator struct {
	*turn.RelayAddressGeneratorStatic
	delay time.Duration

	mu    sync.Mutex
	conns []*delayConn
}

func (g *delayingGenerator) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGeneratorStatic.AllocatePacketConn(c)
	if err != nil {
		return nil, nil, err
	}
	bigReadBuffer(conn)
	dc := newDelayConn(conn, g.delay)
	g.mu.Lock()
	g.conns = append(g.conns, dc)
	g.mu.Unlock()
	return dc, addr, nil
}

// delayConn delivers what its PacketConn reads delay after it arrived, in order.
type delayConn struct {
	net.PacketConn
	delay time.Duration
	queue chan delayed
	// maxLate is the most a packet left after its due time (the relay's own jitter); late
	// counts the packets that left more than lateLimit after it, of packets.
	maxLate       atomic.Int64
	packets, late atomic.Int64
	err           error
}

type delayed struct {
	due  time.Time
	data []byte
	from net.Addr
}

func newDelayConn(c net.PacketConn, d time.Duration) *delayConn {
	dc := &delayConn{PacketConn: c, delay: d, queue: make(chan delayed, 4096)}
	go dc.readLoop()
	return dc
}

func (c *delayConn) readLoop() {
	defer close(c.queue)
	buf := make([]byte, 1600)
	for {
		n, from, err := c.PacketConn.ReadFrom(buf)
		if err != nil {
			c.err = err
			return
		}
		c.queue <- delayed{due: time.Now().Add(c.delay), data: append([]byte(nil), buf[:n]...), from: from}
	}
}

func (c *delayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	d, ok := <-c.queue
	if !ok {
		return 0, nil, c.err
	}
	time.Sleep(time.Until(d.due))
	late := time.Since(d.due)
	if late > time.Duration(c.maxLate.Load()) {
		c.maxLate.Store(int64(late))
	}
	c.packets.Add(1)
	if late > lateLimit {
		c.late.Add(1)
	}
	return copy(p, d.data), d.from, nil
}

// bigReadBuffer gives a relay socket 8 MiB of receive buffer (SO_RCVBUFFORCE as root), so
// that a test process starved of CPU for a moment on a loaded machine delays packets rather
// than dropping them.
func bigReadBuffer(c net.PacketConn) {
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return
	}
	_ = uc.SetReadBuffer(8 << 20)
	if raw, err := uc.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20)
		})
	}
}
