package sfu

import (
	"testing"
	"time"
)

// TestProbeLosing: a probe stops at the first NACK on a clean path, and on a path with
// random loss only at two NACKs beyond twice that loss.
func TestProbeLosing(t *testing.T) {
	for _, tt := range []struct {
		packets, nacked uint64
		base            float64
		want            bool
	}{
		{10, 0, 0, false},
		{10, 1, 0, true},
		{40, 5, 0.05, false}, // 5 % random loss: 2 expected, 4 allowed before the two beyond
		{40, 6, 0.05, true},
	} {
		if got := probeLosing(tt.packets, tt.nacked, tt.base); got != tt.want {
			t.Errorf("probeLosing(%d packets, %d nacked, base %.2f) = %v, want %v", tt.packets, tt.nacked, tt.base, got, tt.want)
		}
	}
}

// TestLossBWEUsualLoss: the usual loss is the least of the latest reports, so one report of
// a congestion episode does not raise the loss a probe is allowed.
func TestLossBWEUsualLoss(t *testing.T) {
	start := time.Now()
	l := newLossBWE(1_000_000, start)
	var s lossSample
	for i, lost := range []uint8{13, 13, 128} { // 5 %, 5 %, then a congestion episode's 50 %
		s.fractionLost, s.sentBytes, s.packets = lost, s.sentBytes+100_000, s.packets+100
		l.onReport(s, start.Add(time.Duration(i+1)*time.Second))
	}
	if got := l.usualLoss(); got < 0.04 || got > 0.06 {
		t.Errorf("usual loss after reports of 5 %%, 5 %%, 50 %%: %.3f, want 0.05", got)
	}
}
