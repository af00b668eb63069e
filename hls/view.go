package hls

import (
	"context"
	"net/http"
	"time"

	"github.com/glint-video/glint/media"
)

// A read-only view of a Stream's segments, for other packagings of the same fragments
// (the dash package's MPEG-DASH manifest): the same init segments, segments and parts,
// described rather than copied.

// TrackView describes one rendition at one instant.
type TrackView struct {
	Rendition string
	Audio     bool
	Timescale uint32
	Codec     string // RFC 6381, as in the HLS CODECS attribute
	// Video only (zero for audio).
	Width, Height int
	FPS           float64
	// Audio only (zero for video).
	SampleRate, Channels int
	// Bandwidth is the peak bitrate (bit/s) of the listed segments, or the nominal one.
	Bandwidth int
	// InitID names the init segment (init{InitID}.mp4) the listed segments play with.
	InitID uint64
	// Segments are the last Window complete segments that use InitID, oldest first.
	Segments []SegmentView
	// Live is the segment being written, with at least one part out; nil when there is
	// none (between segments, or once the Stream ended).
	Live  *SegmentView
	Ended bool
}

// SegmentView is one segment: its media sequence number (the number in seg{N}.m4s), its
// first sample's decode time and the ticks published so far (all of it once complete).
type SegmentView struct {
	MSN   uint64
	Start uint64 // decode time, in the track's timescale (the fMP4 tfdt)
	Ticks uint64
	Parts int
	// ProgramDateTime is the wall-clock capture time of its first sample.
	ProgramDateTime time.Time
}

// StreamTiming is a Stream's configured segment and part durations and its live window.
type StreamTiming struct {
	SegmentDuration time.Duration
	PartTarget      time.Duration // no part is longer
	Window          int           // complete segments listed
	BlockTimeout    time.Duration // how long a request for media yet to come is held
}

// Stream returns the Stream served as room, or nil; like any request for the room, it
// wakes on-demand renditions (OnRequest).
func (sv *Server) Stream(room string) *Stream { return sv.stream(room) }

// Timing returns the Stream's segment and part durations and window.
func (s *Stream) Timing() StreamTiming {
	return StreamTiming{SegmentDuration: s.cfg.SegmentDuration, PartTarget: s.partTarget,
		Window: s.cfg.Window, BlockTimeout: s.cfg.BlockTimeout}
}

// Track returns the rendition named rendition (AudioRendition for audio), or nil.
func (s *Stream) Track(rendition string) *Track { return s.track(rendition) }

// AwaitReady waits until the Stream's tracks have a complete segment (as the multivariant
// playlist does) or timeout passes; it reports whether any track is ready.
func (s *Stream) AwaitReady(ctx context.Context, timeout time.Duration) bool {
	return s.awaitReady(ctx, timeout)
}

// Views describes every ready track: the video renditions in ladder order, then audio.
func (s *Stream) Views() []TrackView {
	var out []TrackView
	for _, t := range s.tracks() {
		if v, ok := t.View(); ok {
			out = append(out, v)
		}
	}
	return out
}

// View describes the track; ok is false until it has a complete segment.
func (t *Track) View() (v TrackView, ok bool) {
	peak, _ := t.bandwidth()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.readyLocked() {
		return TrackView{}, false
	}
	last := t.segs[len(t.segs)-1]
	v = TrackView{Rendition: t.rendition, Audio: t.audio, Timescale: t.timescale, Bandwidth: peak,
		InitID: last.init.id, Ended: t.ended}
	if t.audio {
		v.Codec = media.AACCodecString(t.audioInfo.ASC)
		v.SampleRate, v.Channels = t.audioInfo.SampleRate, t.audioInfo.Channels
	} else {
		v.Codec, v.Width, v.Height, v.FPS = t.video.Codec, t.video.Width, t.video.Height, t.video.FPS
	}
	first := max(0, len(t.segs)-t.s.cfg.Window)
	for _, seg := range t.segs[first:] {
		if seg.init != last.init {
			v.Segments = v.Segments[:0] // only the segments of the current init: one Period
			continue
		}
		v.Segments = append(v.Segments, t.segView(seg))
	}
	if t.cur != nil && len(t.cur.parts) > 0 && t.cur.init == last.init {
		live := t.segView(t.cur)
		v.Live = &live
	}
	return v, true
}

func (t *Track) segView(seg *segment) SegmentView {
	return SegmentView{MSN: seg.msn, Start: toTicks(seg.start, t.timescale), Ticks: seg.ticks,
		Parts: len(seg.parts), ProgramDateTime: seg.pdt}
}

// ServeInit answers a request for init segment id (404 when no kept segment uses it),
// immutable like every init segment.
func (t *Track) ServeInit(w http.ResponseWriter, r *http.Request, id uint64) {
	t.mu.Lock()
	data := t.initLocked(id)
	t.mu.Unlock()
	t.serveData(w, r, data, true)
}

// Handlers of other packagings of these fragments (package dash) answer like /hls/ does.

// AllowMethod sets CORS headers and reports whether r is a GET or HEAD to answer; it has
// answered a preflight (OPTIONS) or a 405 itself when not.
func AllowMethod(w http.ResponseWriter, r *http.Request) bool { return allowMethod(w, r) }

// Fail answers an error with a one-line reason, never cached.
func Fail(w http.ResponseWriter, code int, reason string) { fail(w, code, reason) }

// ParseName reads N from a file name prefix + N + suffix, e.g. seg{N}.m4s.
func ParseName(file, prefix, suffix string) (uint64, bool) { return parseName(file, prefix, suffix) }
