package ingest

import (
	"sync/atomic"
	"time"
)

// watchdog closes a connection that makes no progress for a while: gosrt ignores read
// deadlines, and an RTMP peer can keep a socket busy with bytes that never make a frame.
type watchdog struct {
	d     time.Duration
	t     *time.Timer
	fired atomic.Bool
}

// newWatchdog calls onIdle once, from its own goroutine, if kick is not called within d.
func newWatchdog(d time.Duration, onIdle func()) *watchdog {
	w := &watchdog{d: d}
	w.t = time.AfterFunc(d, func() {
		w.fired.Store(true)
		onIdle()
	})
	return w
}

// kick restarts the countdown (nil-safe).
func (w *watchdog) kick() {
	if w != nil {
		w.t.Reset(w.d)
	}
}

// stop ends the countdown; Fired tells whether it had already run out.
func (w *watchdog) stop() { w.t.Stop() }

// Fired reports whether the connection was closed for idleness.
func (w *watchdog) Fired() bool { return w.fired.Load() }
