package media

import "time"

// Media clocks count ticks of 1/rate seconds (90 kHz for video RTP and MPEG-TS, 48 kHz for
// Opus, an MP4 track's timescale). The conversions use exact integer arithmetic, split at
// whole seconds so that no product overflows, whatever the stream's age.

// Ticks converts d to ticks of 1/rate seconds, rounded to the nearest tick (halves away
// from zero), so that Ticks(Duration(t, rate), rate) == t for every rate up to 1 GHz.
func Ticks(d time.Duration, rate uint32) int64 {
	r := int64(rate)
	whole, frac := int64(d/time.Second), int64(d%time.Second)
	half := int64(time.Second / 2)
	if frac < 0 {
		half = -half
	}
	return whole*r + (frac*r+half)/int64(time.Second)
}

// Duration converts ticks of 1/rate seconds to a duration, truncated toward zero; it is 0
// for rate 0 (an unknown clock).
func Duration(ticks int64, rate uint32) time.Duration {
	if rate == 0 {
		return 0
	}
	r := int64(rate)
	return time.Duration(ticks/r)*time.Second + time.Duration(ticks%r)*time.Second/time.Duration(r)
}
