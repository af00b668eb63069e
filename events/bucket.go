package events

import (
	"math"
	"time"
)

// tokenBucket admits rate events per second on average and burst at once.
type tokenBucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(max(burst, 1)), tokens: float64(max(burst, 1)), last: now}
}

// take uses one token if there is one; otherwise it returns how long until there is.
func (b *tokenBucket) take(now time.Time) (ok bool, wait time.Duration) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(b.burst, b.tokens+el*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
