// Package hls owns Glint's Low-Latency HLS output: it packages encoded video (H.264; H.265
// and AV1 too, for a source passed through) and AAC samples into CMAF (fragmented MP4) init segments, parts and segments, writes the media and
// multivariant playlists of RFC 8216bis (parts, preload hints, blocking reloads, delta
// updates, rendition reports, program date-times), and serves them over HTTP with
// CDN-friendly caching. Plain (non-LL) HLS clients play the same playlists.
//
// The package does not decode, transcode or depacketize: a caller (the HLS bridge) hands it
// complete access units and audio frames through Track.WriteSample. It imports no other Glint
// package (but internal/stats, for its latency histogram) and starts no goroutines; its
// counters (Server.Stats, Server.Collectors) are atomics read at scrape time. A blocked
// request is its own handler waiting for one broadcast per new part, released by that part,
// its timeout, its client leaving or Stream.Close. A Config.Sink (SegmentSink) is told of
// every finished part and segment, the way a recorder (the DVR) attaches.
//
// URL scheme, below /hls/{room}/:
//
//	index.m3u8                   multivariant playlist
//	{rendition}/index.m3u8       media playlist; the audio rendition is "a";
//	                             accepts _HLS_msn, _HLS_part and _HLS_skip
//	{rendition}/init{N}.mp4      init segment in effect from media sequence number N
//	                             (a new one after each discontinuity)
//	{rendition}/seg{N}.m4s       segment N: its parts concatenated
//	{rendition}/part{N}.{P}.m4s  part P of segment N
//
// Media sequence numbers start at the Stream's creation time divided by the segment
// duration, so that a later Stream of the same room (a server restart) never reuses a
// segment or part URI that a CDN cached as immutable.
package hls

import (
	"errors"
	"time"
)

// Defaults applied by NewStream to zero Config fields.
const (
	DefaultSegmentDuration = 2 * time.Second
	DefaultPartDuration    = 200 * time.Millisecond // PART-HOLD-BACK 0.6 s, start 0.4 s before the edge: docs/llhls-latency.md
	DefaultWindow          = 10
)

// Config sizes one Stream's segments, parts, playlist window and blocking reloads. Zero
// fields take the defaults; out-of-range values are clamped (and logged) by NewStream.
type Config struct {
	// SegmentDuration is the nominal segment length (default 2s, 1s-10s). Video segments
	// are cut at the first keyframe at or after it; EXT-X-TARGETDURATION is it rounded up
	// to whole seconds, and a segment is cut without a keyframe rather than exceed that
	// by half a second.
	SegmentDuration time.Duration
	// PartDuration is the nominal part length (default 200ms, 200ms-1s). PART-TARGET
	// is 1% above it (and a millisecond), so that whole frames (6 at 30 fps, 5 at 25 fps)
	// fit a 200ms part; a video frame a timestamp jitter longer is trimmed to fit.
	PartDuration time.Duration
	// Window is how many complete segments the live playlist lists (default 10, at least
	// 3). Twice as many are kept in memory so that segments stay downloadable after they
	// leave the playlist, as RFC 8216bis 6.2.2 requires.
	Window int
	// BlockTimeout bounds a blocking playlist reload or preload-hint request (default and
	// maximum 3 x target duration); when it expires the request is answered 503.
	BlockTimeout time.Duration
	// Sink, when set, is told of every part and segment (see SegmentSink for the contract:
	// it must not block).
	Sink SegmentSink
}

// TrackInfo is a VideoTrackInfo or an AudioTrackInfo, as given to Track.Discontinuity.
type TrackInfo interface{ trackInfo() }

// VideoTrackInfo describes one video rendition: H.264 (avc1), H.265 (hvc1) or AV1 (av01).
type VideoTrackInfo struct {
	// Format is the coding of the samples; the zero value is H264.
	Format VideoFormat
	// Codec is the RFC 6381 codec string, e.g. "avc1.42e01f", "hvc1.1.6.L93.B0",
	// "av01.0.05M.08"; empty means computed from the parameter sets.
	Codec         string
	Width, Height int     // zero means taken from the SPS (AV1: the sequence header)
	FPS           float64 // for FRAME-RATE; zero leaves it out
	BitrateKbps   int     // nominal bitrate, used for BANDWIDTH until segments are measured
	// SPS and PPS (H.264, H.265; VPS too for H.265) are single NAL units without start code
	// or length prefix; SequenceHeader (AV1) is the sequence header OBU, with or without its
	// size field. None given means they are taken from the first keyframe's in-band
	// parameter sets.
	VPS, SPS, PPS  []byte
	SequenceHeader []byte
}

// AudioTrackInfo describes the AAC rendition shared by all video renditions.
type AudioTrackInfo struct {
	SampleRate, Channels int
	ASC                  []byte // AAC AudioSpecificConfig (2 bytes for AAC-LC)
	BitrateKbps          int
}

func (VideoTrackInfo) trackInfo() {}
func (AudioTrackInfo) trackInfo() {}

// Sample is one encoded access unit (video) or frame (audio).
//
// DTS and PTS of all tracks of a Stream must be on one clock (e.g. time since the room
// started), so that audio follows video segment boundaries and stays in sync; the first
// sample of any track maps to media time 10 s. A sample lasts until the next one's DTS.
// DTS must increase per track: a forward gap of up to 10 s stays a gap in the timeline
// (all tracks stay in sync); a step back or a longer jump is logged and smoothed over,
// the timeline continuing where it was. A publisher that restarts should still go through
// Track.Discontinuity.
type Sample struct {
	// Data is an H.264 or H.265 access unit in AVCC form (4-byte big-endian length before
	// each NAL unit; Annex-B start codes are accepted and converted), an AV1 temporal unit
	// (low-overhead format: OBUs with size fields; temporal delimiters are removed), or one
	// raw AAC frame (no ADTS header).
	Data     []byte
	DTS, PTS time.Duration
	Keyframe bool // an IDR access unit; ignored for audio (every frame is a sync sample)
	// Duration is used only where the next sample's DTS is not known: the last sample
	// before a Close or Discontinuity, and when DTS jumps. Zero means the previous one's.
	Duration time.Duration
	// CaptureTime is the wall-clock time the sample was captured, for
	// EXT-X-PROGRAM-DATE-TIME; zero means time.Now() when written.
	CaptureTime time.Time
}

var (
	// ErrClosed is returned by writes to a Stream that was closed.
	ErrClosed = errors.New("hls: stream closed")
	// ErrNeedKeyframe is returned for a video sample dropped because the track waits for a
	// keyframe (its first, or the first after a discontinuity): ask the source for one.
	ErrNeedKeyframe = errors.New("hls: waiting for a keyframe")
)

// AudioRendition is the rendition name of a Stream's audio track in URLs.
const AudioRendition = "a"
