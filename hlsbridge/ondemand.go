package hlsbridge

import (
	"sync/atomic"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/hls"
)

// On-demand rooms (config.HLSOnDemand): re-encoding is most of a bridge's CPU, so a room
// whose HLS URLs nobody requests does not re-encode. Its bridge still runs: the source
// rendition (H.264 passed through) and the audio are written as always, so the DVR keeps
// recording them and a player of the source rendition never waits; the ladder's re-encoded
// rungs are parked (transcoder.Ladder.Park) and their renditions suspended
// (hls.Track.Suspend), so the multivariant playlist lists only what plays.
//
// Any request under /hls/{room}/ (hls.Server.OnRequest) wakes the room: the ladder resumes
// from its backlog (the previous segment's start, encoded faster than real time), the
// renditions come back aligned with the source's segments, and the multivariant request
// that woke them waits for them (hls.Stream.Wake, up to wakeWait). Options.Idle after the
// last request's longest wait (see idle), the rungs park again.
//
// A room without a passthrough rendition (VP8/VP9 publishers, or a ladder without
// "source") has nothing cheap to keep running: its bridge starts parked, wakes the same way,
// and when idle is replaced by a fresh parked bridge (its stream ends; the DVR's recording of
// it too). WebRTC viewers of an H.265/AV1 room's alternate video (the H.264 source-size rung,
// hlsbridge/alternate.go) count as requests: their keyframe requests wake the room and it
// does not park while they watch. While parked its backlog holds the frames since the last keyframe (bounded); when
// there is none, the wake asks the publisher for a keyframe.

// wakeWait is how long a request that wakes a room waits for the resumed renditions.
const wakeWait = 3 * time.Second

// onDemand is the on-demand state of a bridge; the zero value is an always-on bridge.
type onDemand struct {
	enabled    bool
	parked     atomic.Bool  // wanted state: the video pipeline applies it
	isParked   atomic.Bool  // applied state: the ladder is parked
	lastDemand atomic.Int64 // unix nanoseconds of the last HLS request
	passNames  atomic.Value // map[string]bool: the passthrough renditions (set once the rungs are chosen)
	wakes      atomic.Int64 // times woken
}

func (m *Manager) onDemand(room string) bool {
	return m.opts.Rooms(room).HLSMode == config.HLSOnDemand
}

// requested is hls.Server's OnRequest: it notes the request and wakes a parked room.
func (m *Manager) requested(room string) {
	v, ok := m.live.Load(room)
	if !ok {
		return
	}
	v.(*bridge).demanded("HLS requested")
}

// demanded notes a demand for the re-encoded rungs (an HLS request, a WebRTC viewer of the
// room's alternate video) and wakes a parked bridge.
func (b *bridge) demanded(why string) {
	if !b.demand.enabled {
		return
	}
	now := time.Now()
	b.demand.lastDemand.Store(now.UnixNano())
	if b.demand.parked.CompareAndSwap(true, false) {
		b.demand.wakes.Add(1)
		b.stream.Wake(now.Add(wakeWait))
		b.log.Info("hlsbridge: re-encoding resumes", "why", why)
	}
}

// idle reports whether an awake on-demand bridge has had no request for Options.Idle after
// the last one could have been answered, and has no WebRTC viewer of its alternate video: a
// request may be held up to the stream's block timeout (a blocking reload, or the playlist
// of a rendition coming back from a wake), and a room that parked under it would leave it to
// answer 503.
func (b *bridge) idle(now time.Time) bool {
	return b.demand.enabled && !b.demand.parked.Load() &&
		now.Sub(time.Unix(0, b.demand.lastDemand.Load())) >= b.opts.Idle+b.stream.Timing().BlockTimeout &&
		b.alt.viewers() == 0
}

// hasPassthrough reports whether the bridge writes a passthrough rendition (known once the
// video started).
func (b *bridge) hasPassthrough() bool {
	names, _ := b.demand.passNames.Load().(map[string]bool)
	return len(names) > 0
}

// park parks an awake on-demand bridge that has a passthrough rendition.
func (b *bridge) park() {
	if b.demand.parked.CompareAndSwap(false, true) {
		b.log.Info("hlsbridge: no HLS request for a while, re-encoding parked", "idle", b.opts.Idle)
	}
}

// recordable reports whether the DVR records a rendition of this bridge: every one, except
// in an on-demand room with a passthrough rendition, where the re-encoded renditions come
// and go and only the passthrough ones and the audio are continuous.
func (b *bridge) recordable(rendition string) bool {
	names, _ := b.demand.passNames.Load().(map[string]bool)
	return !b.demand.enabled || rendition == hls.AudioRendition || len(names) == 0 || names[rendition]
}

// sink is the SegmentSink of the bridge's stream: Options.HLS.Sink, filtered by recordable.
func (b *bridge) sink(next hls.SegmentSink) hls.SegmentSink {
	if next == nil || !b.demand.enabled {
		return next
	}
	return hls.SinkFuncs{
		Part: func(p hls.FinishedPart) {
			if b.recordable(p.Rendition) {
				next.PartFinished(p)
			}
		},
		Segment: func(s hls.FinishedSegment) {
			if b.recordable(s.Rendition) {
				next.SegmentFinished(s)
			}
		},
		Closed: next.StreamClosed,
	}
}

// notePassthrough records the bridge's passthrough renditions once its rungs are chosen.
func (v *videoPipe) notePassthrough() {
	names := map[string]bool{}
	for _, r := range v.rungs {
		if r.Passthrough && v.codec == "H264" {
			names[r.Name] = true
		}
	}
	v.b.demand.passNames.Store(names)
}

// applyParking brings the ladder to the bridge's wanted state (on the video goroutine).
func (v *videoPipe) applyParking() {
	if v.ladder == nil || !v.b.demand.enabled {
		return
	}
	want := v.b.demand.parked.Load()
	if want == v.ladder.Parked() {
		return
	}
	if want {
		if err := v.ladder.Park(); err != nil {
			v.log.Warn("hlsbridge: park", "err", err)
		}
		v.suspendReencoded()
		v.b.demand.isParked.Store(true)
		return
	}
	v.b.demand.isParked.Store(false)
	n, err := v.ladder.Resume()
	if err != nil {
		v.log.Error("hlsbridge: resume failed, rebuilding the ladder at a later keyframe", "err", err)
		v.closeLadder()
		return
	}
	if n == 0 {
		v.b.requestKeyframe() // nothing to catch up from: start at a fresh keyframe
	}
}

// suspendReencoded suspends the renditions of re-encoded rungs (the leading rendition is a
// passthrough one whenever there is one: passthrough rungs come first).
func (v *videoPipe) suspendReencoded() {
	for i, t := range v.tracks {
		if v.rungs[i].Passthrough && v.codec == "H264" {
			continue
		}
		if err := t.Suspend(); err != nil {
			v.log.Debug("hlsbridge: suspend", "rendition", t.Rendition(), "err", err)
		}
	}
}
