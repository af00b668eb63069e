package bare

import (
	"context"
	"slices"
	"sync"
	"time"
)

// DefaultPollInterval is how often a Group reads its viewers' sockets. At 2.5 Mbit/s a
// viewer gets a video frame (one GSO message) every 33 ms and an audio packet every 20:
// polled every 10 ms, many reads found nothing, and the generator took 54-55 % of a core
// at 1,000 viewers against 44-45 % every 20 ms (BENCHMARKS.md, "Send lanes"); latency is
// taken from kernel receive times, so it is not delayed.
const DefaultPollInterval = 20 * time.Millisecond

// setupPollInterval is how often a viewer reads its socket while it connects (ICE, DTLS),
// so that the polling adds at most a millisecond or so to each round trip of the join.
const setupPollInterval = time.Millisecond

// Group reads the sockets of many connected viewers from one goroutine, every interval:
// each poll drains a socket with as few system calls as the datagrams waiting allow, and
// nothing runs per datagram in between. Arrival times come from the kernel, so latency is
// not delayed by the polling. A load generator makes one group per core it uses.
type Group struct {
	interval time.Duration
	mu       sync.Mutex
	viewers  []*Viewer // polled in turn; guarded by mu, held for a whole round
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewGroup starts a group polling every interval (DefaultPollInterval when 0). Close
// stops it, after its viewers are closed.
func NewGroup(interval time.Duration) *Group {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Group{interval: interval, cancel: cancel, done: make(chan struct{})}
	go g.run(ctx)
	return g
}

func (g *Group) run(ctx context.Context) {
	defer close(g.done)
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for fired(ctx, t.C) {
		g.mu.Lock()
		g.viewers = slices.DeleteFunc(g.viewers, func(v *Viewer) bool { return !v.pollSocket() })
		g.mu.Unlock()
	}
}

// fired waits for a tick of c (true) or the end of ctx (false).
func fired(ctx context.Context, c <-chan time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-c:
		return true
	}
}

func (g *Group) add(v *Viewer) {
	g.mu.Lock()
	g.viewers = append(g.viewers, v)
	g.mu.Unlock()
}

// remove takes v out of the group; once it returns, the group does not touch v.
func (g *Group) remove(v *Viewer) {
	g.mu.Lock()
	g.viewers = slices.DeleteFunc(g.viewers, func(x *Viewer) bool { return x == v })
	g.mu.Unlock()
}

// Close stops the group's goroutine.
func (g *Group) Close() {
	g.cancel()
	<-g.done
}
