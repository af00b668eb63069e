package hls

import (
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"sync"
	"time"
)

// Stream is one room's HLS output: any number of H.264 renditions and at most one AAC
// rendition shared by all of them. Its methods are safe for concurrent use.
type Stream struct {
	name       string
	cfg        Config
	log        *slog.Logger
	firstMSN   uint64
	target     int           // EXT-X-TARGETDURATION, whole seconds
	partTarget time.Duration // PART-TARGET: no part is longer
	maxSegment time.Duration // no segment is longer (rounds to target)
	done       chan struct{} // closed by Close
	stats      streamStats

	mu      sync.Mutex
	video   []*Track // in the order added; video[0] leads segmentation
	audio   *Track
	closed  bool
	changed chan struct{} // closed and replaced when a track gets ready or completes a segment
	discGen int           // discontinuity generation, shared by all tracks
	bounds  []boundary    // recent segment starts of the leading video track
	readyAt time.Time     // when the first track completed its first segment
	// wakeUntil: suspended tracks are resuming, the multivariant playlist waits for them
	wakeUntil time.Time
	clock     streamClock
	// dateRanges are the timed events (AddDateRange), by start.
	dateRanges []DateRange
	onJoin     func(rendition string) bool // OnJoin's hook
}

// boundary is where the leading video track started segment msn (with discontinuity
// sequence number dseq), in media time.
type boundary struct {
	media time.Duration
	msn   uint64
	dseq  uint64
}

// streamClock maps sample DTS to media time (the fMP4 decode time) and media time to
// wall-clock time (EXT-X-PROGRAM-DATE-TIME), the same way for every track.
type streamClock struct {
	haveOffset  bool
	offset      time.Duration // media time = DTS + offset
	rebasedAt   time.Time
	haveAnchor  bool
	anchorMedia time.Duration
	anchorWall  time.Time
}

// mediaStart is the media time of a Stream's first sample: a margin keeps decode times of
// tracks that start slightly earlier than the first one positive.
const mediaStart = 10 * time.Second

var renditionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewStream returns an empty Stream; add its tracks with AddVideo and AddAudio. name is the
// room id, used in logs.
func NewStream(name string, cfg Config, log *slog.Logger) *Stream {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("room", name)
	cfg = normalizeConfig(cfg, log)
	target := int(math.Ceil(cfg.SegmentDuration.Seconds()))
	s := &Stream{
		name:       name,
		cfg:        cfg,
		log:        log,
		target:     target,
		partTarget: (cfg.PartDuration*101/100 + time.Millisecond - 1).Truncate(time.Millisecond),
		maxSegment: time.Duration(target)*time.Second + time.Second/2 - time.Millisecond,
		done:       make(chan struct{}),
		changed:    make(chan struct{}),
	}
	s.firstMSN = uint64(time.Now().UnixNano() / int64(cfg.SegmentDuration))
	if max := 3 * time.Duration(target) * time.Second; s.cfg.BlockTimeout <= 0 || s.cfg.BlockTimeout > max {
		s.cfg.BlockTimeout = max
	}
	return s
}

func normalizeConfig(cfg Config, log *slog.Logger) Config {
	clamp := func(what string, v *time.Duration, def, lo, hi time.Duration) {
		switch {
		case *v == 0:
			*v = def
		case *v < lo || *v > hi:
			c := min(max(*v, lo), hi)
			log.Warn("hls: config value out of range, clamped", "field", what, "value", *v, "used", c)
			*v = c
		}
	}
	clamp("SegmentDuration", &cfg.SegmentDuration, DefaultSegmentDuration, time.Second, 10*time.Second)
	clamp("PartDuration", &cfg.PartDuration, DefaultPartDuration, 200*time.Millisecond, time.Second)
	if cfg.PartDuration > cfg.SegmentDuration/2 {
		cfg.PartDuration = cfg.SegmentDuration / 2
		log.Warn("hls: PartDuration above half a segment, clamped", "used", cfg.PartDuration)
	}
	switch {
	case cfg.Window == 0:
		cfg.Window = DefaultWindow
	case cfg.Window < 3:
		log.Warn("hls: Window below 3 segments, clamped", "value", cfg.Window)
		cfg.Window = 3
	}
	return cfg
}

// Name returns the room id the Stream was created with.
func (s *Stream) Name() string { return s.name }

// AddVideo adds a video rendition (H.264, H.265 or AV1: info.Format) served as
// /hls/{room}/{rendition}/. rendition is 1-64 letters, digits, '-' or '_', not "a". The first video rendition added leads: the other
// renditions and audio take their first media sequence number from its segments, and
// audio cuts its segments where it cut.
func (s *Stream) AddVideo(rendition string, info VideoTrackInfo) (*Track, error) {
	if !renditionName.MatchString(rendition) || rendition == AudioRendition {
		return nil, fmt.Errorf("hls %s: invalid video rendition name %q", s.name, rendition)
	}
	t := newTrack(s, rendition, false, 90000)
	if err := t.setVideoInfo(info); err != nil {
		return nil, fmt.Errorf("hls %s/%s: %w", s.name, rendition, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	for _, v := range s.video {
		if v.rendition == rendition {
			return nil, fmt.Errorf("hls %s: rendition %q already added", s.name, rendition)
		}
	}
	t.discGen = s.discGen
	s.video = append(s.video, t)
	return t, nil
}

// AddAudio adds the AAC rendition, served as /hls/{room}/a/ and used by every variant.
func (s *Stream) AddAudio(info AudioTrackInfo) (*Track, error) {
	if info.SampleRate <= 0 || info.Channels <= 0 || len(info.ASC) < 2 {
		return nil, fmt.Errorf("hls %s: audio needs a sample rate, channels and an AudioSpecificConfig", s.name)
	}
	t := newTrack(s, AudioRendition, true, uint32(info.SampleRate))
	if err := t.setAudioInfo(info); err != nil {
		return nil, fmt.Errorf("hls %s/a: %w", s.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.audio != nil {
		return nil, fmt.Errorf("hls %s: audio already added", s.name)
	}
	t.discGen = s.discGen
	s.audio = t
	return t, nil
}

// Close ends the Stream: pending samples are packaged, every playlist gets EXT-X-ENDLIST,
// and blocked requests are answered. Segments stay servable while the Stream is
// registered with a Server. Close is idempotent.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	tracks := s.tracksLocked()
	s.mu.Unlock()
	for _, t := range tracks {
		t.close()
	}
	close(s.done)
	s.broadcast()
	if s.cfg.Sink != nil {
		s.cfg.Sink.StreamClosed(s.name)
	}
	s.log.Info("hls: stream closed")
}

// tracks returns the video tracks followed by the audio track, if any.
func (s *Stream) tracks() []*Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracksLocked()
}

func (s *Stream) tracksLocked() []*Track {
	out := append([]*Track(nil), s.video...)
	if s.audio != nil {
		out = append(out, s.audio)
	}
	return out
}

// track returns the track serving rendition, or nil.
func (s *Stream) track(rendition string) *Track {
	for _, t := range s.tracks() {
		if t.rendition == rendition {
			return t
		}
	}
	return nil
}

// broadcast wakes everything waiting on the Stream's changed channel.
func (s *Stream) broadcast() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Stream) changedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// trackReady notes that a track completed its first segment.
func (s *Stream) trackReady() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readyAt.IsZero() {
		s.readyAt = time.Now()
	}
}

// mediaOffset returns the DTS → media time offset, fixed by the first sample of any track.
func (s *Stream) mediaOffset(dts time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.clock.haveOffset {
		s.clock.haveOffset, s.clock.offset = true, mediaStart-dts
	}
	return s.clock.offset
}

// rebase returns a new offset for a track whose DTS jumped to dts while its media time had
// reached end. Tracks that jump together (a source restarting its timestamps) share the
// first one's new offset, which keeps them in sync, unless it would move one backwards.
func (s *Stream) rebase(dts, end time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.clock.rebasedAt) < 5*time.Second && dts+s.clock.offset >= end-200*time.Millisecond &&
		dts+s.clock.offset <= end+time.Second {
		return s.clock.offset
	}
	s.clock.offset, s.clock.rebasedAt = end-dts, now
	return s.clock.offset
}

// programDateTime maps media time to wall-clock time for every track alike, anchored at
// the first capture time and re-anchored when capture times drift more than a second or
// at a discontinuity (a new source: its capture clock may differ by less than that).
func (s *Stream) programDateTime(media time.Duration, capture time.Time, disc bool) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.clock
	if c.haveAnchor && !disc {
		if d := c.anchorWall.Add(media - c.anchorMedia).Sub(capture); d > -time.Second && d < time.Second {
			return c.anchorWall.Add(media - c.anchorMedia)
		}
		s.log.Debug("hls: program date-time re-anchored", "drift", c.anchorWall.Add(media-c.anchorMedia).Sub(capture))
	}
	c.haveAnchor, c.anchorMedia, c.anchorWall = true, media, capture
	return capture
}

// leader reports whether t leads segmentation, and whether the stream has video at all.
func (s *Stream) leader(t *Track) (isLeader, hasVideo bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.video) > 0 && s.video[0] == t, len(s.video) > 0
}

// addBoundary records that the leading track started segment msn at media time media.
func (s *Stream) addBoundary(media time.Duration, msn, dseq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bounds = append(s.bounds, boundary{media, msn, dseq})
	if len(s.bounds) > 16 {
		s.bounds = append(s.bounds[:0], s.bounds[len(s.bounds)-16:]...)
	}
}

// leaderSegmentAt returns the leader's segment containing media, for a follower track whose
// first segment starts there: its number and discontinuity sequence number are the
// follower's. ok is false while the leader has not started a segment at or before media.
func (s *Stream) leaderSegmentAt(media time.Duration) (b boundary, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.bounds) - 1; i >= 0; i-- {
		if b := s.bounds[i]; b.media <= media+time.Millisecond {
			return b, true
		}
	}
	return boundary{}, false
}

// leaderActive reports whether the leading track started a segment recently enough
// before media for followers to keep cutting where it cuts.
func (s *Stream) leaderActive(media time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bounds) > 0 && media-s.bounds[len(s.bounds)-1].media <= 2*s.cfg.SegmentDuration+s.cfg.PartDuration
}

// crossedBoundary reports whether the leader started a segment in (from, to].
func (s *Stream) crossedBoundary(from, to time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bounds {
		if b.media > from+time.Millisecond && b.media <= to+time.Millisecond {
			return true
		}
	}
	return false
}

// joinDiscontinuity returns the discontinuity generation for a track at generation gen
// that starts a discontinuity: the pending one if other tracks started it and this track
// has not applied it yet (one reconnect, one EXT-X-DISCONTINUITY everywhere), else a new one.
func (s *Stream) joinDiscontinuity(gen int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen >= s.discGen {
		s.discGen++
	}
	return s.discGen
}

func (s *Stream) discGeneration() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discGen
}
