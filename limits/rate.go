package limits

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys bounds a RateLimiter's table when NewRateLimiter is given no bound.
const DefaultMaxKeys = 100_000

// RateLimiter is a token bucket per key (a client IP, a token's hash). A bucket left idle
// long enough to refill completely is the same as a new one, so it is evicted; the table
// never holds more than maxKeys buckets: when it is full of active ones, a new key is
// refused until some refill (fail closed: an attack from more addresses than maxKeys
// cannot grow the memory). Safe for concurrent use; a nil *RateLimiter allows everything.
type RateLimiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	refill  time.Duration // from empty to full: an idle bucket this old is evicted
	now     func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
	rejected  atomic.Uint64
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewRateLimiter returns a limiter of perSecond requests with bursts of burst per key, or
// nil (no limit) when perSecond <= 0. burst < 1 means 1; maxKeys <= 0 means DefaultMaxKeys.
func NewRateLimiter(perSecond float64, burst, maxKeys int) *RateLimiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &RateLimiter{
		limit: rate.Limit(perSecond), burst: burst, maxKeys: maxKeys, refill: max(refill, time.Second),
		now: time.Now, buckets: map[string]*bucket{},
	}
}

// Allow takes one token from key's bucket; when there is none it returns false and how
// long until there is. The key "" (an exempt client) is always allowed.
func (l *RateLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil || key == "" {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys || now.Sub(l.lastSweep) >= l.refill {
			l.sweepLocked(now)
		}
		if len(l.buckets) >= l.maxKeys {
			l.rejected.Add(1)
			return false, l.refill
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		l.rejected.Add(1)
		return false, d
	}
	return true, 0
}

// sweepLocked evicts the buckets idle for a full refill. Called with l.mu held, at most
// once per refill period unless the table is full, so its cost is spread over the
// requests of that period.
func (l *RateLimiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= l.refill {
			delete(l.buckets, k)
		}
	}
}

// Keys returns how many buckets the table holds.
func (l *RateLimiter) Keys() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Rejected returns how many requests Allow refused.
func (l *RateLimiter) Rejected() uint64 {
	if l == nil {
		return 0
	}
	return l.rejected.Load()
}

// retryAfterSeconds is d as a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
