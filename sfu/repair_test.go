package sfu_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

func lossyViewer(t *testing.T, ctx context.Context, url string) (*testkit.LossyConn, *testnode.Received) {
	t.Helper()
	lossy := &testkit.LossyConn{PacketConn: testkit.LoopbackUDP(t), MinSize: 150}
	_, rec := testnode.PlayThrough(t, ctx, url, lossy)
	return lossy, rec
}

func TestViewerLossIsRepairedFromTheCache(t *testing.T) {
	ctx, srv, pub := testnode.StartRoom(t, 30*time.Second, "loss")
	lossy, rec := lossyViewer(t, ctx, srv.WHEP("loss"))

	pub.Prime(t, ctx, rec)
	sent := [][]byte{testnode.KeyframePayload(1)}
	pub.SendVideo(t, sent[0], true)
	lossy.Drop.Store(5)
	for i := 1; i <= 200; i++ {
		p := testnode.DeltaPayload(i)
		sent = append(sent, p)
		pub.SendVideo(t, p, i%3 == 0)
		time.Sleep(2 * time.Millisecond)
	}
	testkit.Eventually(t, ctx, "every packet, retransmissions included", func() bool {
		got, _ := rec.Snapshot("video")
		return containsAll(got, sent)
	})
	tot := srv.SFU.Totals()
	t.Logf("dropped %d, NACKed %d, retransmitted %d", lossy.Dropped.Load(), tot.NACKsIn, tot.Retransmits)
	if lossy.Dropped.Load() != 5 || tot.Retransmits == 0 || tot.NACKsIn == 0 {
		t.Fatalf("dropped %d, NACKs %d, retransmits %d: want losses repaired by retransmission", lossy.Dropped.Load(), tot.NACKsIn, tot.Retransmits)
	}
	if tot.NACKsUpstream != 0 {
		t.Errorf("%d NACKs sent upstream for packets the cache had", tot.NACKsUpstream)
	}
}

func TestPacketsTheServerLacksAreNACKedUpstream(t *testing.T) {
	ctx, srv, pub := testnode.StartRoom(t, 30*time.Second, "up")
	_, rec := srv.Play(t, ctx, "up")
	pub.Prime(t, ctx, rec)
	for i := 1; i <= 100; i++ {
		if i == 50 {
			pub.SkipVideo() // this packet never reaches the server
		}
		pub.SendVideo(t, testnode.DeltaPayload(i), i%3 == 0)
		time.Sleep(2 * time.Millisecond)
	}
	testkit.Eventually(t, ctx, "a NACK upstream for the packet the cache lacks", func() bool {
		return srv.SFU.Totals().NACKsUpstream > 0
	})
}

func containsAll(got, want [][]byte) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			if bytes.Equal(g, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// randomLossConn drops each inbound datagram with probability pct/100: random loss on one
// viewer's last mile (what nftables' numgen rule does on a real interface).
type randomLossConn struct {
	net.PacketConn
	pct     atomic.Int32
	dropped atomic.Int64
}

func (c *randomLossConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || rand.IntN(100) >= int(c.pct.Load()) {
			return n, addr, err
		}
		c.dropped.Add(1)
	}
}

// frameTracker counts complete frames (every packet from the first to the marker, in
// sequence) as a decoder would, by the frame number the test publisher puts in each
// packet, and the longest time between two completed frames.
type frameTracker struct {
	mu       sync.Mutex
	packets  map[uint32]map[uint16]bool // frame → sequence numbers
	marker   map[uint32]uint16
	first    map[uint32]uint16
	complete map[uint32]bool
	lastDone time.Time
	maxGap   time.Duration
}

func newFrameTracker() *frameTracker {
	return &frameTracker{packets: map[uint32]map[uint16]bool{}, marker: map[uint32]uint16{}, first: map[uint32]uint16{}, complete: map[uint32]bool{}}
}

func (f *frameTracker) add(payload []byte, seq uint16, marker bool) {
	if len(payload) < 6 {
		return
	}
	frame := binary.BigEndian.Uint32(payload[2:])
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.complete[frame] {
		return
	}
	if f.packets[frame] == nil {
		f.packets[frame] = map[uint16]bool{}
	}
	f.packets[frame][seq] = true
	if marker {
		f.marker[frame] = seq
	}
	if payload[0]&0x10 != 0 {
		f.first[frame] = seq
	}
	first, hasFirst := f.first[frame]
	last, hasLast := f.marker[frame]
	if !hasFirst || !hasLast {
		return
	}
	for s := first; s != last+1; s++ {
		if !f.packets[frame][s] {
			return
		}
	}
	now := time.Now()
	f.complete[frame] = true
	if !f.lastDone.IsZero() && now.Sub(f.lastDone) > f.maxGap {
		f.maxGap = now.Sub(f.lastDone)
	}
	f.lastDone = now
	delete(f.packets, frame)
}

// completeIn counts complete frames numbered from..to.
func (f *frameTracker) completeIn(from, to uint32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for fr := from; fr <= to; fr++ {
		if f.complete[fr] {
			n++
		}
	}
	return n
}

func testFivePercentLoss(t *testing.T, r bweRate) {
	ctx := testkit.Context(t, 90*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	sent := startSizedSimulcast(t, ctx, srv, "lossy", r.layerBytes())

	lossy := &randomLossConn{PacketConn: testkit.LoopbackUDP(t)}
	mux := webrtc.NewICEUDPMux(nil, lossy)
	defer mux.Close()
	frames := newFrameTracker()
	opts := client.Options{LoopbackOnly: true, SettingEngine: func(se *webrtc.SettingEngine) { se.SetICEUDPMux(mux) },
		OnTrack: func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			for {
				pkt, _, err := track.ReadRTP()
				if err != nil {
					return
				}
				if track.Kind() == webrtc.RTPCodecTypeVideo && len(pkt.Payload) > 0 {
					frames.add(pkt.Payload, pkt.SequenceNumber, pkt.Marker)
				}
			}
		}}
	sess, err := client.Play(ctx, srv.WHEP("lossy"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())
	testkit.Eventually(t, ctx, "first frames", func() bool { frames.mu.Lock(); defer frames.mu.Unlock(); return len(frames.complete) > 10 })

	frames.mu.Lock()
	frames.maxGap = 0
	frames.mu.Unlock()
	startFrame := sent.Load() + 1
	lossy.pct.Store(5)
	time.Sleep(r.lossFor)
	lossy.pct.Store(0)
	endFrame := sent.Load()
	time.Sleep(time.Second) // repairs still in flight
	got := frames.completeIn(uint32(startFrame), uint32(endFrame))
	frames.mu.Lock()
	gap := frames.maxGap
	frames.mu.Unlock()
	want := endFrame - startFrame + 1
	share := float64(got) / float64(want)
	tot := srv.SFU.Totals()
	t.Logf("5%% loss for %v: %d of %d frames complete (%.2f%%), longest gap %v, %d datagrams dropped, %d retransmits",
		r.lossFor, got, want, 100*share, gap.Round(time.Millisecond), lossy.dropped.Load(), tot.Retransmits)
	if share < 0.99 {
		t.Fatalf("only %.2f%% of frames complete under 5%% loss, want ≥ 99%%", 100*share)
	}
	// The freeze bound is the full-rate check; the low-rate variant runs under the race
	// detector, which slows every NACK round trip several-fold, so it only bounds a freeze
	// to what a lost repair (not a missing one) costs there.
	maxFreeze := 500 * time.Millisecond
	if !r.strict {
		maxFreeze = 1500 * time.Millisecond
	}
	if gap > maxFreeze {
		t.Fatalf("a freeze of %v under 5%% loss, want none over %v", gap, maxFreeze)
	}
}
