package sfu

import (
	"sync"
	"sync/atomic"
	"time"
)

// Pacing: a viewer's egress leaves at up to pacingFactor × what its allocation sends (as
// libwebrtc paces at 2.5× its target), so that a burst (a keyframe, a catch-up after a
// scheduling stall) is spread over a few milliseconds instead of arriving at once at a
// bottleneck with a shallow queue. The bucket holds burstWindow of that rate (50 ms of the
// allocation's average), at least minBurst bytes: at normal load a frame leaves as one
// burst, as without pacing, and a timer's lateness on a busy machine delays nothing.
const (
	pacingFactor = 2.5
	minPacing    = 300_000 // bit/s: below this, the bucket would hold back audio-sized bursts
	burstWindow  = 20 * time.Millisecond
	minBurst     = 4 * 1200 // bytes: four full packets
)

// pacer gates one viewer's egress. The video write loop asks wait before each packet (the
// packet stays where it is, in the source's ring, while it waits), and the media sent (video
// and audio, which goes out at once) is spent. Retransmissions and probes are only counted:
// they go out at once and take nothing from the media's bucket, or a NACK storm on a lossy
// path would hold back the fresh video behind it until it was stale. It holds no packets and
// allocates nothing, so a batched writer can sit under it: whatever wait lets through is one
// burst.
type pacer interface {
	// wait returns 0 when a packet may go now, or how long until one may.
	wait(now time.Time) time.Duration
	// spend takes media bytes sent to the viewer from the bucket, and counts them.
	spend(bytes int)
	// count counts bytes sent to the viewer outside the media (retransmissions, probes).
	count(bytes int)
	// setRate sets the pacing rate in bit/s (0: unlimited).
	setRate(bitrate uint64)
	// sent returns the bytes spent and counted so far.
	sent() uint64
}

// leakyBucket is the pacer of one viewer: a token bucket refilled at the pacing rate. A packet
// may go while tokens remain, and may take the bucket below zero (a packet is never split),
// which the refill then repays.
type leakyBucket struct {
	mu       sync.Mutex
	rate     float64 // bytes per second; 0: unlimited
	depth    float64 // bytes the bucket holds when full
	tokens   float64
	filledAt time.Time
	total    atomic.Uint64
}

func newLeakyBucket() *leakyBucket { return &leakyBucket{} }

func (b *leakyBucket) setRate(bitrate uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bitrate == 0 {
		b.rate = 0
		return
	}
	b.rate = float64(max(bitrate, minPacing)) / 8
	b.depth = max(b.rate*burstWindow.Seconds(), minBurst)
	b.tokens = min(b.tokens, b.depth)
}

// refill adds the tokens earned since the last refill; the caller holds mu.
func (b *leakyBucket) refill(now time.Time) {
	if b.filledAt.IsZero() {
		b.filledAt, b.tokens = now, b.depth
		return
	}
	if el := now.Sub(b.filledAt); el > 0 {
		b.tokens = min(b.tokens+el.Seconds()*b.rate, b.depth)
		b.filledAt = now
	}
}

func (b *leakyBucket) wait(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate == 0 {
		return 0
	}
	b.refill(now)
	if b.tokens > 0 {
		return 0
	}
	// Until the debt is repaid, and at least a millisecond (a timer's useful resolution).
	return max(time.Duration(-b.tokens/b.rate*float64(time.Second))+time.Microsecond, time.Millisecond)
}

func (b *leakyBucket) spend(bytes int) {
	b.total.Add(uint64(bytes))
	b.mu.Lock()
	if b.rate > 0 {
		b.tokens -= float64(bytes)
	}
	b.mu.Unlock()
}

func (b *leakyBucket) count(bytes int) { b.total.Add(uint64(bytes)) }

func (b *leakyBucket) sent() uint64 { return b.total.Load() }

// setPacing paces the viewer at pacingFactor × what its allocation sends (video and audio),
// or at its estimate when that is higher: a burst then leaves no faster than the path is
// thought to carry, and never slower than the allocation needs.
// Until the layers' bitrates are measured it does not pace.
func (a *allocator) setPacing(est uint64, now time.Time) {
	layer := a.layerBitrate(a.current, now)
	if layer == 0 && a.current != rankPause {
		a.bwe.pace.setRate(0)
		return
	}
	rate := pacingFactor * float64(layer+a.d.audioBitrate())
	a.bwe.pace.setRate(max(uint64(rate), est))
}
