package sfu_test

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// shapedConn limits what one viewer receives to a rate, like a bottleneck link in front of
// it: packets queue up to maxDelay (which the viewer's congestion feedback sees as delay)
// and are dropped beyond it. It is in-process and applies to that viewer only; network
// namespaces with tc would shape the same way but need a process per viewer, and pion's
// vnet would move the whole server onto a virtual network.
type shapedConn struct {
	net.PacketConn
	rate     atomic.Int64 // bytes per second; 0 = unlimited
	maxDelay time.Duration
	out      chan shapedPacket
	nextFree time.Time
	done     chan struct{}
}

type shapedPacket struct {
	b      []byte
	addr   net.Addr
	depart time.Time
}

func newShapedConn(c net.PacketConn, kbps int64) *shapedConn {
	s := &shapedConn{PacketConn: c, maxDelay: 60 * time.Millisecond, out: make(chan shapedPacket, 4096), done: make(chan struct{})}
	s.setKbps(kbps)
	go s.pump()
	return s
}

func (s *shapedConn) setKbps(kbps int64) { s.rate.Store(kbps * 1000 / 8) }

func (s *shapedConn) pump() {
	defer close(s.out)
	buf := make([]byte, 1600)
	for {
		n, addr, err := s.PacketConn.ReadFrom(buf)
		if err != nil {
			return
		}
		now := time.Now()
		depart := now
		if rate := s.rate.Load(); rate > 0 {
			if s.nextFree.Before(now) {
				s.nextFree = now
			}
			depart = s.nextFree.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
			if depart.Sub(now) > s.maxDelay {
				continue // queue full: dropped
			}
			s.nextFree = depart
		}
		select {
		case s.out <- shapedPacket{b: append([]byte(nil), buf[:n]...), addr: addr, depart: depart}:
		default:
		}
	}
}

func (s *shapedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	p, ok := <-s.out
	if !ok {
		return 0, nil, net.ErrClosed
	}
	if d := time.Until(p.depart); d > 0 {
		time.Sleep(d)
	}
	return copy(b, p.b), p.addr, nil
}

// shapedViewer plays url through a bottleneck of kbps (0: unlimited).
func shapedViewer(t *testing.T, ctx context.Context, url string, kbps int64) (*shapedConn, *testnode.Received, *client.Session) {
	t.Helper()
	shaped := newShapedConn(testkit.LoopbackUDP(t), kbps)
	sess, rec := testnode.PlayThrough(t, ctx, url, shaped)
	return shaped, rec, sess
}

// sizedSimulcast sends three VP8 layers of realistic size at 30 fps: l ~150, m ~500,
// h ~1600 kbit/s, a keyframe every 2 s on each and whenever a layer's PLI asks, like an
// encoder would.
func sizedSimulcast(ctx context.Context, layers map[string]*webrtc.TrackLocalStaticRTP, keyReq map[string]*atomic.Bool, wg *sync.WaitGroup) {
	sizedSimulcastCounted(ctx, layers, keyReq, wg, &atomic.Int64{})
}

// sizedSimulcastCounted is sizedSimulcast that also stores the number of the newest frame;
// every packet carries its frame number in payload bytes 2-5.
func sizedSimulcastCounted(ctx context.Context, layers map[string]*webrtc.TrackLocalStaticRTP, keyReq map[string]*atomic.Bool, wg *sync.WaitGroup, frames *atomic.Int64) {
	sizes := map[string]int{"l": 620, "m": 2080, "h": 6660} // bytes per frame
	wg.Add(1)
	go func() {
		defer wg.Done()
		seq := map[string]uint16{}
		tk := time.NewTicker(33 * time.Millisecond)
		defer tk.Stop()
		for frame := 1; ; frame++ {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			frames.Store(int64(frame))
			for rid, size := range sizes {
				key := frame%60 == 0 || keyReq[rid].Swap(false)
				for off := 0; off < size; off += 1100 {
					n := min(1100, size-off)
					payload := make([]byte, n)
					payload[0] = 0x00
					if off == 0 {
						payload[0] = 0x10 // S bit: start of the frame
					}
					payload[1] = 0x01
					if key {
						payload[1] = 0x00
					}
					binary.BigEndian.PutUint32(payload[2:], uint32(frame))
					payload[n-1] = rid[0]
					seq[rid]++
					pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: off+n >= size, SequenceNumber: seq[rid], Timestamp: uint32(frame) * 3000}, Payload: payload}
					_ = pkt.Header.SetExtension(1, []byte("0"))
					_ = pkt.Header.SetExtension(2, []byte(rid))
					_ = layers[rid].WriteRTP(pkt)
				}
			}
		}
	}()
}

func TestBWEViewersSettleOnTheLayerTheirBandwidthCarries(t *testing.T) {
	ctx := testkit.Context(t, 90*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	streamCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	layers, keyReq := simulcastPublisherPLI(t, ctx, srv.WHIP("bwe"))
	sizedSimulcast(streamCtx, layers, keyReq, &wg)
	testkit.Eventually(t, ctx, "three measured layers", func() bool {
		info, ok := srv.SFU.Room("bwe")
		return ok && info.Live && len(info.Tracks) == 1 && len(info.Tracks[0].Layers) == 3
	})
	time.Sleep(1200 * time.Millisecond) // layer bitrates are measured over a second

	_, fast, _ := shapedViewer(t, ctx, srv.WHEP("bwe"), 0)
	midLink, mid, _ := shapedViewer(t, ctx, srv.WHEP("bwe"), 800)
	_, slow, _ := shapedViewer(t, ctx, srv.WHEP("bwe"), 250)
	start := time.Now()
	settled := func(rec *testnode.Received, want byte) func() bool {
		return func() bool { return lastLayer(rec) == want }
	}
	testkit.Eventually(t, ctx, "unconstrained viewer on h", settled(fast, 'h'))
	testkit.Eventually(t, ctx, "800 kbit/s viewer on m", settled(mid, 'm'))
	testkit.Eventually(t, ctx, "250 kbit/s viewer on l", settled(slow, 'l'))
	t.Logf("settled after %v", time.Since(start).Round(100*time.Millisecond))
	// Stays there: sample for 3 s.
	for range 15 {
		time.Sleep(200 * time.Millisecond)
		if lastLayer(fast) != 'h' || lastLayer(mid) != 'm' || lastLayer(slow) != 'l' {
			t.Fatalf("layers moved after settling: %c %c %c", lastLayer(fast), lastLayer(mid), lastLayer(slow))
		}
	}
	midLink.setKbps(0)
	lifted := time.Now()
	testkit.Eventually(t, ctx, "the 800 kbit/s viewer back on h after the limit is lifted", settled(mid, 'h'))
	t.Logf("climbed back to h %v after the limit was lifted", time.Since(lifted).Round(100*time.Millisecond))
}

func TestBWEVideoPausesWhenEvenTheLowestLayerDoesNotFitAndAudioGoesOn(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	pub := srv.Publish(t, ctx, "thin")
	streamCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Add(1)
	go func() { // ~500 kbit/s of video in 2 packets a frame, 20 ms audio frames
		defer wg.Done()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for n := 1; streamCtx.Err() == nil; n++ {
			<-tk.C
			_ = pub.WriteAudio(make([]byte, 80))
			if n%3 == 0 {
				kind := testnode.DeltaPayload(n)
				if n%90 == 0 {
					kind = testnode.KeyframePayload(n)
				}
				_ = pub.WriteVideo(append(kind, make([]byte, 1000)...), false)
				_ = pub.WriteVideo(append([]byte{0x41}, make([]byte, 1000)...), true)
			}
		}
	}()
	time.Sleep(1200 * time.Millisecond) // layer bitrate measured
	link, rec, sess := shapedViewer(t, ctx, srv.WHEP("thin"), 120)
	var videoBefore int
	testkit.Eventually(t, ctx, "video paused for the 120 kbit/s viewer", func() bool {
		info := srv.SessionStats(t, sess.Location())
		for _, tr := range info.Tracks {
			if tr.Kind == "video" && tr.Paused {
				videoBefore = rec.Count("video")
				return true
			}
		}
		return false
	})
	audioBefore := rec.Count("audio")
	time.Sleep(2 * time.Second)
	if v := rec.Count("video") - videoBefore; v > 5 {
		t.Fatalf("%d video packets arrived while paused", v)
	}
	if a := rec.Count("audio") - audioBefore; a < 50 {
		t.Fatalf("only %d audio packets in 2 s while video was paused, want audio to go on", a)
	}
	link.setKbps(0)
	lifted := time.Now()
	testkit.Eventually(t, ctx, "video back after the limit is lifted", func() bool { return rec.Count("video") > videoBefore+30 })
	t.Logf("video resumed %v after the limit was lifted", time.Since(lifted).Round(100*time.Millisecond))
}
