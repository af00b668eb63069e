package sfu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// fanout hands a slot's new packets to its viewers. It is woken once per video frame and
// per audio packet (UpTrack.wakeDue), and one goroutine walks the slot's downtracks and
// drains each in turn. It replaces one wake-up per viewer per frame (a channel send, a
// goroutine scheduled, parked again: 10 % of the server's CPU at 300 viewers, for no
// packet sent) by one goroutine per walk; each viewer still gets only what it has not
// had, as its forwarder decides.
//
// The walk never runs in the goroutine that woke it: that is the source's read loop, which
// must stay current. On an overloaded node a walk takes longer than a frame; the read
// loop still stores every packet on arrival, so the viewers' rings stay live and a viewer
// that falls behind skips to a fresh keyframe, as its own goroutine did (walked in the
// read loop, the packets waited in pion's buffers instead and reached the viewers seconds
// late: measured at 1,000 viewers on one core).
//
// Only viewers whose packets the SFU sends itself (sfu/egress.go) are drained in the walk:
// their writes only queue for the batched sender, so no viewer holds up another. Viewers
// sent through pion's write chain (ICE-TCP, pion's estimator, --udp-batch-send=false),
// whose writes may block, are woken as before and drain in their own goroutine. A
// downtrack's own goroutine also still runs for what concerns it alone (its pacer's timer,
// a layer change, the first packet after it connects).
//
// A wake while a walk runs marks the walk to go once more; the walker exits when no wake
// came during its last walk, so an idle slot has no goroutine. A walk over more than
// fanoutShard viewers is split across up to GOMAXPROCS goroutines, so one large room
// still uses every core; each viewer is drained by one of them. The walk sends as it goes:
// each time the batched sender's queue holds a full batch, the walker sends it itself
// (sendLane.queueOwned); on one core the writer goroutine would otherwise send the walk's
// packets only once it ended, and the first viewers would wait for the last (measured:
// latency p50 +1–2 ms at 100 viewers). Yielding to the writer every few viewers was tried
// and measured worse (runtime.Gosched sends the walker to the back of the global run
// queue: transit p99 25–220 ms).
type fanout struct {
	state   atomic.Int32          // fanoutIdle, fanoutWalking or fanoutAgain
	targets func() []*DownTrack   // the viewers now (the slot's copy-on-write list)
	each    func(d *DownTrack)    // one viewer's turn (DownTrack.fanoutDrain: drain, or wake its goroutine)
	shards  func(viewers int) int // how many goroutines share a walk (nil: shardsFor)
	running sync.WaitGroup        // the walk's extra goroutines
	parts   [][]*DownTrack        // the walk's shards (walker only)
}

const (
	fanoutIdle    = iota // no walk
	fanoutWalking        // a walk runs
	fanoutAgain          // a walk runs, and packets came after it started: it goes once more

	// fanoutShard is the fewest viewers worth a goroutine of their own in a walk: a
	// frame's drain costs a few µs per viewer, a goroutine's start and join about one.
	fanoutShard = 64
)

func newFanout(targets func() []*DownTrack, each func(d *DownTrack)) *fanout {
	return &fanout{targets: targets, each: each}
}

// wake starts a walker, or has the walk in progress go once more; it never waits.
func (f *fanout) wake() {
	for {
		switch f.state.Load() {
		case fanoutIdle:
			if f.state.CompareAndSwap(fanoutIdle, fanoutWalking) {
				go f.walkUntilQuiet()
				return
			}
		case fanoutWalking:
			if f.state.CompareAndSwap(fanoutWalking, fanoutAgain) {
				return
			}
		default: // fanoutAgain: the walker will go once more and see these packets too
			return
		}
	}
}

// walkUntilQuiet is the walker: it walks until no wake came during its last walk.
func (f *fanout) walkUntilQuiet() {
	for {
		f.walk(f.targets())
		if f.state.CompareAndSwap(fanoutWalking, fanoutIdle) {
			return
		}
		f.state.Store(fanoutWalking) // it was fanoutAgain
	}
}

// walk drains every viewer in downs once: in this goroutine, or split into shards of
// which this goroutine takes the first.
func (f *fanout) walk(downs []*DownTrack) {
	n := f.shardCount(len(downs))
	if n <= 1 {
		f.drainAll(downs)
		return
	}
	per := (len(downs) + n - 1) / n
	f.parts = f.parts[:0]
	for i := per; i < len(downs); i += per {
		f.parts = append(f.parts, downs[i:min(i+per, len(downs))])
	}
	for _, part := range f.parts {
		f.running.Go(func() { f.drainAll(part) })
	}
	f.drainAll(downs[:per])
	f.running.Wait()
	clear(f.parts)
}

func (f *fanout) drainAll(downs []*DownTrack) {
	for _, d := range downs {
		f.each(d)
	}
}

func (f *fanout) shardCount(viewers int) int {
	if f.shards != nil {
		return f.shards(viewers)
	}
	return shardsFor(viewers, runtime.GOMAXPROCS(0))
}

// shardsFor is how many goroutines walk viewers on procs processors: one per fanoutShard
// viewers, at most one per processor.
func shardsFor(viewers, procs int) int {
	return max(1, min(procs, viewers/fanoutShard))
}
