package sfu

import (
	"testing"
	"time"
)

// pacerHeld counts a packet's hold from its arrival or from when the pacer began holding
// the backlog, whichever is later; nothing while the pacer holds nothing.
func TestPacerHeld(t *testing.T) {
	t0 := time.Now()
	d := &DownTrack{}
	if got := d.pacerHeld(t0, t0.Add(30*time.Millisecond)); got != 0 {
		t.Errorf("no backlog held: %v, want 0", got)
	}
	d.heldSince = t0.Add(10 * time.Millisecond)
	for _, tc := range []struct {
		arrival, now time.Duration
		want         time.Duration
	}{
		{arrival: 0, now: 30 * time.Millisecond, want: 20 * time.Millisecond},                     // arrived before the hold
		{arrival: 15 * time.Millisecond, now: 30 * time.Millisecond, want: 15 * time.Millisecond}, // arrived during it
		{arrival: 40 * time.Millisecond, now: 30 * time.Millisecond, want: 0},                     // after the drain's clock reading
	} {
		if got := d.pacerHeld(t0.Add(tc.arrival), t0.Add(tc.now)); got != tc.want {
			t.Errorf("arrived at +%v, sent at +%v: held %v, want %v", tc.arrival, tc.now, got, tc.want)
		}
	}
}
