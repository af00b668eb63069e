package media

import (
	"math"
	"testing"
	"time"
)

func TestTicks(t *testing.T) {
	const century = 100 * 365 * 24 * time.Hour
	tests := []struct {
		d    time.Duration
		rate uint32
		want int64
	}{
		{0, 90000, 0},
		{time.Second, 90000, 90000},
		{20 * time.Millisecond, 48000, 960},
		{11111, 90000, 1},   // 1/90000 s, truncated to ns, rounds back to 1
		{5555, 90000, 0},    // just under half a tick
		{5556, 90000, 1},    // just over half a tick
		{-11111, 90000, -1}, // negative durations mirror positive ones
		{-5556, 90000, -1},  // rounded away from zero
		{1500 * time.Millisecond, 1000, 1500},
		{century, 90000, int64(century/time.Second) * 90000}, // no overflow for long streams
		{time.Duration(math.MaxInt64), 90000, 9_223_372_036*90000 + 76930},
		{time.Duration(math.MinInt64), 90000, -9_223_372_036*90000 - 76930},
		{time.Second, math.MaxUint32, math.MaxUint32},
		{time.Second, 0, 0},
	}
	for _, tt := range tests {
		if got := Ticks(tt.d, tt.rate); got != tt.want {
			t.Errorf("Ticks(%d, %d) = %d, want %d", tt.d, tt.rate, got, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		ticks int64
		rate  uint32
		want  time.Duration
	}{
		{0, 90000, 0},
		{90000, 90000, time.Second},
		{1, 90000, 11111},
		{-1, 90000, -11111},
		{960, 48000, 20 * time.Millisecond},
		{90000 * 3600 * 24 * 365 * 100, 90000, 100 * 365 * 24 * time.Hour}, // a century of 90 kHz ticks
		{12345, 0, 0},
	}
	for _, tt := range tests {
		if got := Duration(tt.ticks, tt.rate); got != tt.want {
			t.Errorf("Duration(%d, %d) = %d, want %d", tt.ticks, tt.rate, got, tt.want)
		}
	}
	for _, rate := range []uint32{1000, 48000, 90000, 1_000_000_000} {
		for _, ticks := range []int64{1, 7, 89999, 1 << 40, -3} {
			if got := Ticks(Duration(ticks, rate), rate); got != ticks {
				t.Errorf("rate %d: %d ticks come back as %d", rate, ticks, got)
			}
		}
	}
}
