package sfu_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/glint-video/glint/internal/testkit"
)

// A stallMeter records when this test process stood still: a goroutine that wakes every
// stallTick and finds itself more than stallMin late marks the time it missed as a stall (the
// machine's other work, or a garbage collection, held the whole process: server, paths and
// viewers alike). The weak-network checks hold the SFU to issue 12's targets less what the
// process lost to stalls within the span each measures (a freeze, a frame's trip, a climb):
// on a quiet machine that is nothing, on a loaded CI machine it is what the SFU could not
// help. The table shows the raw numbers and the stalls beside them.
const (
	stallTick = 5 * time.Millisecond
	stallMin  = 20 * time.Millisecond
)

type stallMeter struct {
	mu     sync.Mutex
	stalls []stallSpan
}

type stallSpan struct{ from, to time.Time }

func startStallMeter(t *testing.T, ctx context.Context) *stallMeter {
	m := &stallMeter{}
	testkit.Go(t, ctx, func(ctx context.Context) {
		tk := time.NewTicker(stallTick)
		defer tk.Stop()
		prev := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			now := time.Now()
			if now.Sub(prev) > stallMin {
				m.mu.Lock()
				m.stalls = append(m.stalls, stallSpan{from: prev.Add(stallTick), to: now})
				m.mu.Unlock()
			}
			prev = now
		}
	})
	return m
}

// within returns how long the process stood still between from and to.
func (m *stallMeter) within(from, to time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var total time.Duration
	for _, s := range m.stalls {
		if lo, hi := later(s.from, from), earlier(s.to, to); hi.After(lo) {
			total += hi.Sub(lo)
		}
	}
	return total
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
