package loadtest

import (
	"sync/atomic"
	"time"
)

// Every viewer, whatever its protocol, ends up with a sequence of decodable video frames
// (a WebRTC viewer assembles them from RTP, an LL-HLS viewer reads them from parts) and
// feeds them to one frameStats, so that latency, join time, freezes and frame counts mean
// the same for both.

// freezeGap is the longest pause between two shown frames that does not count as a freeze.
const freezeGap = 200 * time.Millisecond

// Player buffers of the playout model (see frameStats.frame): a WebRTC player shows a
// frame when it is complete, an LL-HLS player keeps about three parts buffered.
const (
	webrtcPlayoutBuffer = 0
	hlsPlayoutBuffer    = time.Second
)

// frameStats measures one viewer's frames. One goroutine calls join and frame; the
// counters may be read from any goroutine.
type frameStats struct {
	frames    packetCounter    // decodable frames by capture time (arrival when unknown), bytes = frame sizes
	latency   latencyHistogram // capture → frame complete at the viewer
	freezes   atomic.Uint64
	noCapture atomic.Uint64 // frames without a capture time
	joinNanos atomic.Int64  // request → first decodable frame; 0 until then

	// The playout model, owned by the writing goroutine.
	buffer   time.Duration
	playing  bool
	offset   time.Duration // play time = pts + offset
	lastPlay time.Duration // since the Unix epoch
	lastPTS  time.Duration
}

func newFrameStats(clock *markClock, buffer time.Duration) *frameStats {
	return &frameStats{frames: packetCounter{clock: clock}, buffer: buffer}
}

// join records the join time once: request sent → first decodable frame.
func (s *frameStats) join(d time.Duration) {
	s.joinNanos.CompareAndSwap(0, max(int64(d), 1))
}

// joined returns the join time (false before the first decodable frame).
func (s *frameStats) joined() (time.Duration, bool) {
	n := s.joinNanos.Load()
	return time.Duration(n), n != 0
}

// frame records a decodable frame that became complete at arrived (Unix ns), captured at
// captured (Unix ns, 0 when unknown), with presentation time pts, of size bytes. Frames
// before the join are not counted.
//
// Freezes come from a playout model: a player shows frame i at pts_i + offset, where the
// offset is fixed at the first frame (its arrival plus the player's buffer); a frame that
// arrives after its time is shown on arrival and the offset grows by the delay (the player
// stalls and its delay grows, as real ones do). A pause of more than freezeGap between two
// shown frames is a freeze: a late frame, or frames missing.
func (s *frameStats) frame(arrived, captured int64, pts time.Duration, bytes int) {
	if s.joinNanos.Load() == 0 {
		return
	}
	stamp := captured
	if captured == 0 {
		s.noCapture.Add(1)
		stamp = arrived
	} else {
		s.latency.observe(arrived - captured)
	}
	s.frames.count(stamp, bytes)

	now := time.Duration(arrived)
	if !s.playing || pts-s.lastPTS > 10*time.Second || pts < s.lastPTS-10*time.Second {
		s.playing, s.offset, s.lastPlay = true, now-pts+s.buffer, 0 // start, or a new timeline
	}
	due := pts + s.offset
	play := max(now, due)
	s.offset += play - due
	if s.lastPlay != 0 && play-s.lastPlay > freezeGap {
		s.freezes.Add(1)
	}
	s.lastPlay, s.lastPTS = max(s.lastPlay, play), pts
}
