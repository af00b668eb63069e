package sfu

import (
	"fmt"
	"testing"
	"time"
)

func TestLeakyBucket(t *testing.T) {
	start := time.Unix(1000, 0)
	b := newLeakyBucket()
	if w := b.wait(start); w != 0 {
		t.Fatalf("unlimited bucket waits %v", w)
	}
	b.setRate(8_000_000) // 1 MB/s: a 20 ms burst is 20,000 bytes
	if w := b.wait(start); w != 0 {
		t.Fatalf("a full bucket waits %v", w)
	}
	// A 40-packet keyframe at once: the bucket lets 20,000 bytes (and the packet that takes
	// it below zero) go, then holds the rest for as long as the rate takes to repay them.
	sent := 0
	for sent < 40*1200 && b.wait(start) == 0 {
		b.spend(1200)
		sent += 1200
	}
	if sent != 17*1200 {
		t.Fatalf("a full bucket let %d bytes go at once, want %d", sent, 17*1200)
	}
	w := b.wait(start)
	if want := 400 * time.Microsecond; w < want || w > want+2*time.Millisecond {
		t.Fatalf("wait %v after the burst, want about %v (at least a millisecond)", w, want)
	}
	if w := b.wait(start.Add(2 * time.Millisecond)); w != 0 {
		t.Fatalf("still waiting %v once the debt is repaid", w)
	}
	// Retransmissions and probes are counted but take nothing from the bucket.
	before := b.sent()
	b.count(50_000)
	if w := b.wait(start.Add(2 * time.Millisecond)); w != 0 {
		t.Fatalf("counted bytes made the bucket wait %v", w)
	}
	if got := b.sent() - before; got != 50_000 {
		t.Fatalf("sent grew by %d, want 50000", got)
	}
	// A low rate keeps a burst of at least minBurst.
	b.setRate(100_000)
	if b.rate != minPacing/8 || b.depth != minBurst {
		t.Fatalf("rate %v B/s depth %v B, want %v and %v", b.rate, b.depth, minPacing/8, minBurst)
	}
}

// BenchmarkForwardPaced is BenchmarkForward with each viewer's pacer on, at a rate its
// traffic never reaches (normal load): the pacer's own cost per packet.
func BenchmarkForwardPaced(b *testing.B) {
	for _, viewers := range []int{1, 100} {
		b.Run(fmt.Sprintf("viewers=%d", viewers), func(b *testing.B) {
			benchForward(b, viewers, func(d *DownTrack) {
				d.bwe = newViewerBWE()
				d.bwe.pace.setRate(1 << 40)
			})
		})
	}
}
