package hlsbridge

import (
	"testing"
	"time"
)

// TestFrameIntervalFollowsTheSource: a publisher that starts at 11 fps and ramps up to 30
// fps with a few milliseconds of jitter gets expected durations of about 33 ms within a
// second of the change; a stall or a step back does not disturb the average, and before
// any step the fallback (1/fps estimated at the start) is used.
func TestFrameIntervalFollowsTheSource(t *testing.T) {
	var f frameInterval
	fallback := time.Second / 11
	if d := f.next(0, fallback); d != fallback {
		t.Fatalf("first frame: %v, want the fallback %v", d, fallback)
	}
	pts := time.Duration(0)
	for range 10 {
		pts += time.Second / 11
		if d := f.next(pts, fallback); d < 90*time.Millisecond || d > 92*time.Millisecond {
			t.Fatalf("at 11 fps: %v", d)
		}
	}
	var d time.Duration
	for i := range 30 {
		pts += time.Second/30 + time.Duration(i%5-2)*time.Millisecond
		d = f.next(pts, fallback)
	}
	if d < 31*time.Millisecond || d > 36*time.Millisecond {
		t.Errorf("a second after ramping up to 30 fps: %v, want about 33ms", d)
	}
	for _, p := range []time.Duration{pts + 5*time.Second, pts} { // a stall, then back
		if got := f.next(p, fallback); got != d {
			t.Errorf("pts %v: %v, want the average %v kept", p, got, d)
		}
	}
	f.reset()
	if got := f.next(pts, fallback); got != fallback {
		t.Errorf("after reset: %v, want the fallback", got)
	}
}
