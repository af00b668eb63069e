package limits

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
)

// Refusal is the error of a limit at its maximum: what to answer and why.
type Refusal struct {
	Kind   string // the limit: "sessions_per_ip", "hls_blocked_per_ip", ...
	Status int    // 429 for a client's own limit, 503 for the node's
	Reason string // one line for the client
}

func (r *Refusal) Error() string { return r.Reason }

// Counter counts what is in progress (sessions, blocked requests, watchers) per key and
// for the node, each with its own maximum (0: unlimited). A key's entry exists only while
// its count is above zero, so the table holds no more entries than there are things in
// progress. Safe for concurrent use; a nil *Counter admits everything.
type Counter struct {
	kind   string // names the limit in refusals
	what   string // what is counted, for the reason: "sessions", "blocked playlist requests"
	perKey int
	total  int

	mu       sync.Mutex
	counts   map[string]int
	n        int
	rejected atomic.Uint64
}

// NewCounter returns a counter of at most perKey per key and total in all (0: no limit),
// or nil when both are 0.
func NewCounter(kind, what string, perKey, total int) *Counter {
	if perKey <= 0 && total <= 0 {
		return nil
	}
	return &Counter{kind: kind, what: what, perKey: max(perKey, 0), total: max(total, 0), counts: map[string]int{}}
}

// Acquire counts one more for key, or refuses with a *Refusal when key or the node is at
// its maximum; the key "" (an exempt client) has no limit of its own but counts toward the
// node's. release (safe to call more than once) gives the count back.
func (c *Counter) Acquire(key string) (release func(), err error) {
	if c == nil {
		return func() {}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.total > 0 && c.n >= c.total:
		c.rejected.Add(1)
		return nil, &Refusal{Kind: c.kind, Status: http.StatusServiceUnavailable,
			Reason: fmt.Sprintf("this server is at its limit of %d %s; try again later", c.total, c.what)}
	case c.perKey > 0 && key != "" && c.counts[key] >= c.perKey:
		c.rejected.Add(1)
		return nil, &Refusal{Kind: c.kind, Status: http.StatusTooManyRequests,
			Reason: fmt.Sprintf("too many %s from %s (at most %d)", c.what, key, c.perKey)}
	}
	if key != "" {
		c.counts[key]++
	}
	c.n++
	var once sync.Once
	return func() { once.Do(func() { c.release(key) }) }, nil
}

func (c *Counter) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if key == "" {
		return
	}
	if c.counts[key]--; c.counts[key] <= 0 {
		delete(c.counts, key)
	}
}

// Count returns the node's count and the number of keys with a count.
func (c *Counter) Count() (n, keys int) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, len(c.counts)
}

// Full reports whether the node-wide maximum is reached (never for an unlimited total).
func (c *Counter) Full() bool {
	if c == nil || c.total == 0 {
		return false
	}
	n, _ := c.Count()
	return n >= c.total
}

// Rejected returns how many acquisitions were refused.
func (c *Counter) Rejected() uint64 {
	if c == nil {
		return 0
	}
	return c.rejected.Load()
}
