package sfu_test

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
	"github.com/glint-video/glint/internal/testnode"
)

// lossyConn drops the next `drop` inbound datagrams larger than minSize once armed: a lossy
// last mile for one viewer only.
type lossyConn struct {
	net.PacketConn
	minSize int
	drop    atomic.Int32
	dropped atomic.Int32
}

func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || n < c.minSize || c.drop.Load() <= 0 {
			return n, addr, err
		}
		c.drop.Add(-1)
		c.dropped.Add(1)
	}
}

func lossyViewer(t *testing.T, ctx context.Context, url string) (*lossyConn, *testnode.Received) {
	t.Helper()
	lossy := &lossyConn{PacketConn: testkit.LoopbackUDP(t), minSize: 150}
	_, rec := testnode.PlayThrough(t, ctx, url, lossy)
	return lossy, rec
}

func TestViewerLossIsRepairedFromTheCache(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	pub := srv.Publish(t, ctx, "loss")
	lossy, rec := lossyViewer(t, ctx, srv.WHEP("loss"))

	pub.Prime(t, ctx, rec)
	sent := [][]byte{testnode.KeyframePayload(1)}
	pub.SendVideo(t, sent[0], true)
	lossy.drop.Store(5)
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
	t.Logf("dropped %d, NACKed %d, retransmitted %d", lossy.dropped.Load(), tot.NACKsIn, tot.Retransmits)
	if lossy.dropped.Load() != 5 || tot.Retransmits == 0 || tot.NACKsIn == 0 {
		t.Fatalf("dropped %d, NACKs %d, retransmits %d: want losses repaired by retransmission", lossy.dropped.Load(), tot.NACKsIn, tot.Retransmits)
	}
	if tot.NACKsUpstream != 0 {
		t.Errorf("%d NACKs sent upstream for packets the cache had", tot.NACKsUpstream)
	}
}

func TestPacketsTheServerLacksAreNACKedUpstream(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	srv := testnode.Start(t, testnode.Options{})
	pub := srv.Publish(t, ctx, "up")
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
