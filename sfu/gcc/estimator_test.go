package gcc

import (
	"testing"
	"time"
)

// meanEstimate runs the link for d and returns the mean of its estimate over the last half.
func meanEstimate(l *simLink, d time.Duration) float64 {
	var sum, n float64
	from := l.now + d/2
	l.run(d, func(now time.Duration, est int) {
		if now >= from {
			sum += float64(est)
			n++
		}
	})
	return sum / n
}

func TestEstimateConvergesToCapacity(t *testing.T) {
	l := newSimLink(t, 1_000_000)
	var trace []int
	l.run(4*time.Second, func(_ time.Duration, est int) { trace = append(trace, est) })
	t.Logf("first 4 s: %v", trace)
	mean := meanEstimate(l, 6*time.Second)
	t.Logf("mean over 7-10 s: %.0f", mean)
	if mean < 700_000 || mean > 1_100_000 {
		t.Fatalf("estimate %.0f bit/s behind a 1 Mbit/s path, want 0.7-1.1 Mbit/s", mean)
	}
}

func TestEstimateFallsWithinASecondWhenCapacityDrops(t *testing.T) {
	l := newSimLink(t, 2_000_000)
	l.run(8*time.Second, nil)
	before := l.est.GetTargetBitrate()
	l.capacity = 500_000
	fell := time.Duration(-1)
	l.run(3*time.Second, func(now time.Duration, est int) {
		if fell < 0 && est <= 600_000 {
			fell = now - 8*time.Second
		}
	})
	t.Logf("estimate %d before the drop to 500 kbit/s; at or below 600 kbit/s after %v; %d at the end", before, fell, l.est.GetTargetBitrate())
	if fell < 0 || fell > 1500*time.Millisecond {
		t.Fatalf("estimate fell to 600 kbit/s after %v, want within ~1 s", fell)
	}
	if mean := meanEstimate(l, 6*time.Second); mean < 350_000 || mean > 600_000 {
		t.Fatalf("estimate %.0f bit/s behind 500 kbit/s, want 350-600 kbit/s", mean)
	}
}

func TestEstimateClimbsWhenCapacityRises(t *testing.T) {
	l := newSimLink(t, 500_000)
	l.run(8*time.Second, nil)
	l.capacity = 2_000_000
	climbed := time.Duration(-1)
	l.run(30*time.Second, func(now time.Duration, est int) {
		if climbed < 0 && est >= 1_500_000 {
			climbed = now - 8*time.Second
		}
	})
	t.Logf("above 1.5 Mbit/s %v after the path grew from 500 kbit/s to 2 Mbit/s", climbed)
	if climbed < 0 || climbed > 25*time.Second {
		t.Fatalf("estimate did not climb above 1.5 Mbit/s within 25 s (%v)", climbed)
	}
}

// Climbing from 500 kbit/s to 1.5 Mbit/s takes the estimator alone ~17 s (8 % a second, as
// libwebrtc's without probes); in the SFU, probes (sfu/probe.go) make the climb.

func TestSendPathAllocatesNothing(t *testing.T) {
	l := newSimLink(t, 2_000_000)
	l.run(2*time.Second, nil)
	now := time.Now()
	seq := uint16(0)
	if n := testing.AllocsPerRun(1000, func() { seq++; l.est.OnSent(seq, 1200, now) }); n != 0 {
		t.Fatalf("OnSent: %v allocations per packet, want 0", n)
	}
}

func TestFeedbackAllocatesNothing(t *testing.T) {
	l := newSimLink(t, 2_000_000)
	l.run(2*time.Second, nil)
	var raw [][]byte
	for range 100 {
		l.now += 50 * time.Millisecond
		for range 10 {
			l.send()
		}
		l.deliver()
		for _, p := range l.recorder.BuildFeedbackPacket() {
			b, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, b)
		}
	}
	i := 0
	now := time.Now()
	if n := testing.AllocsPerRun(len(raw)-1, func() { l.est.OnRTCP(raw[i], now); i++ }); n != 0 {
		t.Fatalf("OnRTCP: %v allocations per feedback, want 0", n)
	}
}

// TestLossBasedCutsHoldsAndGrows: feedback every 50 ms with 20 % loss cuts the loss-based
// estimate (not below the acknowledged rate), 5 % holds it, none grows it back toward the
// delay-based estimate, and never past it.
func TestLossBasedCutsHoldsAndGrows(t *testing.T) {
	const delay, acked = 2_000_000, 800_000
	var l lossBased
	now := time.Duration(0)
	feed := func(lost int, d time.Duration) int {
		var est int
		for end := now + d; now < end; now += 50 * time.Millisecond {
			est = l.onFeedback(lost, 20, acked, delay, now)
		}
		return est
	}
	if est := feed(0, time.Second); est != delay {
		t.Fatalf("no loss: %d, want the delay-based %d", est, delay)
	}
	cut := feed(4, time.Second)
	if cut >= delay || cut < acked {
		t.Fatalf("20 %% loss: %d, want below %d and not below the acknowledged %d", cut, delay, acked)
	}
	if held := feed(1, time.Second); held != cut {
		t.Fatalf("5 %% loss: %d, want held at %d", held, cut)
	}
	grown := feed(0, 2*time.Second)
	if grown <= cut || grown > delay {
		t.Fatalf("no loss again: %d, want above %d and at most %d", grown, cut, delay)
	}
}
