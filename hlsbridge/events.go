package hlsbridge

import (
	"fmt"
	"time"

	"github.com/glint-video/glint/hls"
)

// onAirStale: a room whose newest video frame is older than this has nothing on air.
const onAirStale = 2 * time.Second

// noteOnAir remembers the capture time of the newest video frame fed to the ladder.
func (b *bridge) noteOnAir(pts time.Duration) {
	b.onAir.Store(b.captureTime(pts).UnixNano())
	b.onAirAt.Store(time.Now().UnixNano())
}

// OnAir returns the capture time (the PROGRAM-DATE-TIME scale) of the newest video frame of
// room's bridge: the frame on air now. False when the room has no bridge or no recent video.
func (m *Manager) OnAir(room string) (time.Time, bool) {
	m.mu.Lock()
	rb := m.bridges[room]
	m.mu.Unlock()
	if rb == nil {
		return time.Time{}, false
	}
	at, capture := rb.b.onAirAt.Load(), rb.b.onAir.Load()
	if at == 0 || time.Since(time.Unix(0, at)) > onAirStale {
		return time.Time{}, false
	}
	return time.Unix(0, capture), true
}

// AddDateRange adds a timed event to room's LL-HLS stream (EXT-X-DATERANGE and emsg).
func (m *Manager) AddDateRange(room string, dr hls.DateRange) error {
	m.mu.Lock()
	rb := m.bridges[room]
	m.mu.Unlock()
	if rb == nil {
		return fmt.Errorf("hlsbridge: room %q has no LL-HLS stream", room)
	}
	return rb.b.stream.AddDateRange(dr)
}
