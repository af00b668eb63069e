package transcoder

import (
	"log/slog"
	"time"
)

// boundaryClock decides which source pictures start a segment. When the ladder has a
// passthrough rung, boundaries can only be source keyframes: the first keyframe at least one
// segment after the previous boundary. Otherwise a boundary is the first picture at or after
// each multiple of the segment duration from the first picture. slack absorbs PTS jitter.
type boundaryClock struct {
	segment, slack time.Duration
	followSource   bool
	started        bool
	last, next     time.Duration
}

func (c *boundaryClock) atSourceFrame(pts time.Duration, key bool) bool {
	if !key {
		return false
	}
	if !c.started || pts < c.last || pts-c.last >= c.segment-c.slack {
		c.started, c.last = true, pts
		return true
	}
	return false
}

func (c *boundaryClock) atPicture(pts time.Duration) bool {
	if !c.started || pts < c.last {
		c.started, c.last, c.next = true, pts, pts+c.segment
		return true
	}
	if pts < c.next-c.slack {
		return false
	}
	c.last = pts
	for c.next-c.slack <= pts {
		c.next += c.segment
	}
	return true
}

// loadMeter compares processing time with the media time it covered, over windows of at
// least window of media time: wall time (are we keeping up?) and CPU time (how much of a core
// do we need? which does not grow when other processes compete for the CPU).
type loadMeter struct {
	window      time.Duration
	busy, cpu   time.Duration
	first, last time.Duration
	n           int
}

// add records one frame; it returns true when a window is complete (then call take).
func (m *loadMeter) add(busy, cpu, pts time.Duration) bool {
	if m.n > 0 && pts < m.last {
		*m = loadMeter{window: m.window}
	}
	if m.n == 0 {
		m.first = pts
	}
	m.n++
	m.busy += busy
	m.cpu += cpu
	m.last = pts
	return m.last-m.first >= m.window && m.n > 1
}

// span is the media time the current window covers (as take counts it).
func (m *loadMeter) span() time.Duration {
	if m.n < 2 {
		return 0
	}
	return time.Duration(float64(m.last-m.first) * float64(m.n) / float64(m.n-1))
}

// take returns the loads of the completed window (busy time over media time) and resets.
func (m *loadMeter) take() (load, cpuLoad float64) {
	span := float64(m.last-m.first) * float64(m.n) / float64(m.n-1)
	load, cpuLoad = float64(m.busy)/span, float64(m.cpu)/span
	*m = loadMeter{window: m.window}
	return load, cpuLoad
}

// rateLimitedLog logs a recurring warning at most once per second, with how many were
// suppressed in between.
type rateLimitedLog struct {
	last       time.Time
	suppressed int
}

func (r *rateLimitedLog) warn(log *slog.Logger, msg string, args ...any) {
	if time.Since(r.last) < time.Second {
		r.suppressed++
		return
	}
	if r.suppressed > 0 {
		args = append(args, "suppressed", r.suppressed)
	}
	r.last, r.suppressed = time.Now(), 0
	log.Warn(msg, args...)
}
