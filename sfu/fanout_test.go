package sfu

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingFanout returns a fanout over n distinct downtracks whose each counts its visits
// per downtrack (through visit, called first).
func countingFanout(n int, visit func(d *DownTrack)) (*fanout, map[*DownTrack]*atomic.Int32) {
	downs := make([]*DownTrack, n)
	counts := make(map[*DownTrack]*atomic.Int32, n)
	for i := range downs {
		downs[i] = &DownTrack{id: "d"}
		counts[downs[i]] = new(atomic.Int32)
	}
	f := newFanout(func() []*DownTrack { return downs }, func(d *DownTrack) {
		if visit != nil {
			visit(d)
		}
		counts[d].Add(1)
	})
	return f, counts
}

// waitIdle waits for the walker to exit (the walks run in their own goroutine).
func waitIdle(t *testing.T, f *fanout) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.state.Load() != fanoutIdle {
		if time.Now().After(deadline) {
			t.Fatalf("the walker is still running (state %d)", f.state.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

func checkVisits(t *testing.T, counts map[*DownTrack]*atomic.Int32, want int32) {
	t.Helper()
	for d, c := range counts {
		if got := c.Load(); got != want {
			t.Fatalf("downtrack %p visited %d times, want %d", d, got, want)
		}
	}
}

func TestFanoutWalksEveryViewerPerWake(t *testing.T) {
	f, counts := countingFanout(10, nil)
	for range 3 {
		f.wake()
		waitIdle(t, f)
	}
	checkVisits(t, counts, 3)
}

// The walk runs in a goroutine of its own: the waker (the source's read loop) never waits
// for it, not even for the first walk.
func TestFanoutWakeNeverWalksInTheWaker(t *testing.T) {
	release := make(chan struct{})
	f, counts := countingFanout(3, func(*DownTrack) { <-release })
	done := make(chan struct{})
	go func() { f.wake(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("wake waited for the walk")
	}
	close(release)
	waitIdle(t, f)
	checkVisits(t, counts, 1)
}

// A wake during a walk makes the walk go once more: the packets that woke it are not left
// waiting, and any number of such wakes cost one more walk.
func TestFanoutWakeDuringWalkGoesOnceMore(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	f, counts := countingFanout(4, func(*DownTrack) {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
	})
	f.wake()
	<-entered
	for range 5 {
		f.wake()
	}
	if s := f.state.Load(); s != fanoutAgain {
		t.Fatalf("state during the walk after wakes = %d, want again", s)
	}
	close(release)
	waitIdle(t, f)
	checkVisits(t, counts, 2)
}

// A walk over many viewers is shared by several goroutines, each viewer drained once.
func TestFanoutSplitsLargeWalks(t *testing.T) {
	var inFlight, most atomic.Int32
	var twoAtOnce sync.Once
	overlap := make(chan struct{})
	f, counts := countingFanout(5*fanoutShard+3, func(*DownTrack) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if n >= 2 {
			twoAtOnce.Do(func() { close(overlap) })
			return
		}
		select { // hold the first drain until another shard's goroutine drains too
		case <-overlap:
		case <-time.After(5 * time.Second):
		}
	})
	f.shards = func(viewers int) int { return shardsFor(viewers, 4) }
	f.wake()
	waitIdle(t, f)
	f.wake()
	waitIdle(t, f)
	checkVisits(t, counts, 2)
	if most.Load() < 2 {
		t.Fatalf("at most %d viewers drained at once, want the walk shared", most.Load())
	}
}

func TestShardsFor(t *testing.T) {
	for _, c := range []struct{ viewers, procs, want int }{
		{0, 8, 1}, {1, 8, 1}, {fanoutShard, 8, 1}, {2*fanoutShard - 1, 8, 1},
		{2 * fanoutShard, 8, 2}, {300, 1, 1}, {300, 2, 2}, {300, 16, 4}, {1000, 16, 15},
	} {
		if got := shardsFor(c.viewers, c.procs); got != c.want {
			t.Errorf("shardsFor(%d, %d) = %d, want %d", c.viewers, c.procs, got, c.want)
		}
	}
}
