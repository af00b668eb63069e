package hls

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// Track is one rendition of a Stream. It packages the samples written to it into parts and
// segments; WriteSample and Discontinuity are meant to be called from one goroutine per
// track (they are safe, but samples must arrive in decode order).
type Track struct {
	s          *Stream
	rendition  string
	audio      bool
	timescale  uint32
	partTicks  uint64 // PART-TARGET in ticks: no part is longer
	log        *slog.Logger
	defaultDur time.Duration

	renderMu  sync.Mutex // one render per version when many waiters wake together
	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on each new part: one broadcast wakes all waiters
	version   uint64        // counts those broadcasts; rendered playlists are cached per version
	rendered  [2][2]renderedPlaylist
	ended     bool
	video     VideoTrackInfo
	audioInfo AudioTrackInfo
	init      *initSection // nil until the parameter sets are known
	lastInit  uint64
	segs      []*segment // complete segments still servable, oldest first
	cur       *segment   // segment being written; nil before the first sample and after a discontinuity
	nextMSN   uint64
	started   bool // nextMSN is set
	part      partBuilder
	pending   *pendingSample // written, not yet packaged: its duration needs the next DTS (or commitIfPartFull)
	offset    time.Duration  // media time = DTS + offset
	hasOffset bool
	lastDur   time.Duration
	end       time.Duration // media time at which the last packaged sample ends
	fragSeq   uint32
	discNext  bool // the next segment starts with EXT-X-DISCONTINUITY
	discGen   int
	dseq      uint64 // discontinuity sequence number of the last segment started
	waiting   bool   // a follower dropping samples until the leading track has started
	waitSince time.Duration
	dropped   int
	marks     []pendingMark // date ranges whose emsg has not gone into a part yet
	join      joinState     // start positions for joining viewers (join.go)
}

type pendingSample struct {
	Sample
	media time.Duration
}

type partBuilder struct {
	samples     []mp4.FullSample
	captures    []time.Time // the samples' capture times, for the part latency metric
	ticks       uint64
	independent bool
}

type segment struct {
	msn      uint64
	dseq     uint64
	disc     bool // EXT-X-DISCONTINUITY before it
	init     *initSection
	start    time.Duration // media time of its first sample
	pdt      time.Time
	parts    []part
	ticks    uint64 // duration of its published parts
	size     int
	data     []byte // complete segments: the parts concatenated
	complete bool
}

type part struct {
	data        []byte
	ticks       uint64
	independent bool
}

func newTrack(s *Stream, rendition string, audio bool, timescale uint32) *Track {
	t := &Track{
		s:         s,
		rendition: rendition,
		audio:     audio,
		timescale: timescale,
		partTicks: toTicks(s.partTarget, timescale),
		log:       s.log.With("rendition", rendition),
		changed:   make(chan struct{}),
		fragSeq:   1,
	}
	t.defaultDur = time.Second / 30
	return t
}

// Rendition returns the track's rendition name, as used in URLs.
func (t *Track) Rendition() string { return t.rendition }

// setVideoInfo and setAudioInfo need t.mu held, or the track not yet added to its Stream.
func (t *Track) setVideoInfo(info VideoTrackInfo) error {
	if info.FPS > 0 {
		t.defaultDur = time.Duration(float64(time.Second) / info.FPS)
	}
	if !info.paramsGiven() {
		if t.init != nil && info.Format == t.video.Format {
			info = t.keepParams(info) // the next keyframe's in-band ones say whether they changed
		} else {
			t.init = nil // parameter sets come in-band with the first keyframe
		}
		t.video = info
		return nil
	}
	if err := checkParams(&info); err != nil {
		return err
	}
	cloneParams(&info)
	if err := completeVideoInfo(&info); err != nil {
		return err
	}
	init, err := newVideoInit(t.newInitID(), &info)
	if err != nil {
		return err
	}
	t.video, t.init = info, init
	return nil
}

func (t *Track) setAudioInfo(info AudioTrackInfo) error {
	if info.SampleRate <= 0 || info.Channels <= 0 || len(info.ASC) < 2 {
		return fmt.Errorf("audio needs a sample rate, channels and an AudioSpecificConfig")
	}
	if uint32(info.SampleRate) != t.timescale {
		return fmt.Errorf("audio sample rate %d differs from the track's %d: add a new stream", info.SampleRate, t.timescale)
	}
	info.ASC = bytes.Clone(info.ASC)
	init, err := newAudioInit(t.newInitID(), info)
	if err != nil {
		return err
	}
	t.audioInfo, t.init = info, init
	t.defaultDur = time.Duration(1024 * int64(time.Second) / int64(info.SampleRate))
	return nil
}

// newInitID names a new init segment after the first segment that will use it, keeping
// names unique within the Stream (and, through firstMSN, across Streams of a room).
func (t *Track) newInitID() uint64 {
	id := t.s.firstMSN
	if t.started {
		id = t.nextMSN
	}
	id = max(id, t.lastInit+1)
	t.lastInit = id
	return id
}

// WriteSample adds one sample. Parts are cut at the part target, video segments at the
// first keyframe at or after the segment duration; audio (and video renditions other than
// the first) cut where the first video rendition did. Video samples before the first
// keyframe are dropped with ErrNeedKeyframe; a keyframe whose in-band SPS differs from the
// current one starts a new init segment and a discontinuity by itself. WriteSample copies
// smp.Data: the caller may reuse the buffer.
func (t *Track) WriteSample(smp Sample) error {
	if len(smp.Data) == 0 {
		return fmt.Errorf("hls %s/%s: empty sample", t.s.name, t.rendition)
	}
	var inband VideoTrackInfo
	if t.audio {
		smp.Data = bytes.Clone(smp.Data) // kept until its part is out: the caller may reuse its buffer
	} else {
		t.mu.Lock()
		format := t.video.Format
		t.mu.Unlock()
		data, err := videoSample(format, smp.Data)
		if err != nil {
			return fmt.Errorf("hls %s/%s: %w", t.s.name, t.rendition, err)
		}
		if &data[0] == &smp.Data[0] {
			data = bytes.Clone(data)
		}
		smp.Data = data
		if smp.Keyframe {
			inband = inbandParams(format, data)
		}
	}
	if smp.CaptureTime.IsZero() {
		smp.CaptureTime = time.Now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return ErrClosed
	}
	if inband.configKey() != nil {
		t.applyParameterSets(inband)
	}
	if t.cur == nil {
		return t.startWith(smp)
	}
	published := false
	if t.pending != nil {
		published = t.commitPending(smp.DTS)
	} else {
		t.followEarlyCommit(smp.DTS)
	}
	p := &pendingSample{Sample: smp, media: smp.DTS + t.offset}
	t.closeGap(p)
	switch {
	case t.segmentEnds(p):
		t.finishSegment()
		t.startSegment(p)
		published = true
	case t.partEnds(p):
		published = t.closePart() || published
	}
	t.pending = p
	if t.commitIfPartFull() || published {
		t.notify()
	}
	return nil
}

// startWith begins the first segment, or the first after a discontinuity, with smp.
func (t *Track) startWith(smp Sample) error {
	if !t.audio && (!smp.Keyframe || t.init == nil) {
		if t.dropped++; t.dropped == 1 {
			t.log.Debug("hls: dropping video until a keyframe with its parameter sets")
		}
		return ErrNeedKeyframe
	}
	if !t.hasOffset {
		t.offset, t.hasOffset = t.s.mediaOffset(smp.DTS), true
	}
	if t.started && (smp.DTS+t.offset < t.end || smp.DTS+t.offset > t.end+maxGap) {
		t.offset = t.s.rebase(smp.DTS, t.end) // after a discontinuity: timestamps restarted
	}
	media := smp.DTS + t.offset
	if media < 0 {
		return fmt.Errorf("hls %s/%s: DTS %v is before the stream's start", t.s.name, t.rendition, smp.DTS)
	}
	if !t.started {
		if !t.startNumbering(media) {
			if !t.audio {
				return ErrNeedKeyframe
			}
			return nil
		}
	}
	t.dropped = 0
	p := &pendingSample{Sample: smp, media: media}
	t.startSegment(p)
	t.pending = p
	if t.commitIfPartFull() {
		t.notify()
	}
	return nil
}

// startNumbering numbers a track's first segment (its first ever, or its first after
// Suspend): the leader starts at the Stream's first number, followers at the number and
// discontinuity sequence of the leader's segment they start in, so that media sequence
// numbers line up across renditions. A follower waits for the leader for at most two
// segment durations of its own media. It reports false while the track must wait.
func (t *Track) startNumbering(media time.Duration) bool {
	msn := t.s.firstMSN
	isLeader, hasVideo := t.s.leader(t)
	if b, ok := t.s.leaderSegmentAt(media); !isLeader && hasVideo && ok {
		msn, t.dseq, t.discGen = b.msn, b.dseq, t.s.discGeneration()
	} else if !isLeader && hasVideo {
		if !t.waiting {
			t.waiting, t.waitSince = true, media
		}
		if media-t.waitSince <= 2*t.s.cfg.SegmentDuration {
			return false
		}
		t.log.Warn("hls: leading video rendition has not started, starting unaligned")
	}
	if msn < t.nextMSN { // resumed: a segment URL never names other media than it did
		t.log.Warn("hls: resumed track cannot align with the leader", "msn", msn, "next", t.nextMSN)
		msn = t.nextMSN
	}
	t.nextMSN, t.started, t.waiting = msn, true, false
	t.log.Info("hls: track started", "msn", msn, "dropped", t.dropped)
	return true
}

// applyParameterSets handles the in-band parameter sets of a keyframe (SPS/PPS, VPS too
// for H.265, AV1's sequence header): the first ones complete a track added without them; a
// different SPS or sequence header (new resolution, profile) means a new init segment and a
// discontinuity. Corrupt ones are logged and ignored.
func (t *Track) applyParameterSets(found VideoTrackInfo) {
	if t.init != nil && bytes.Equal(found.configKey(), t.init.key) {
		return
	}
	found = withCurrentParams(found, &t.video)
	if checkParams(&found) != nil {
		return
	}
	info := t.video
	if t.init != nil {
		info.Codec, info.Width, info.Height = "", 0, 0
	}
	info.VPS, info.SPS, info.PPS, info.SequenceHeader = found.VPS, found.SPS, found.PPS, found.SequenceHeader
	cloneParams(&info)
	if err := completeVideoInfo(&info); err != nil {
		t.log.Warn("hls: ignoring in-band parameter sets", "err", err)
		return
	}
	if t.init == nil {
		init, err := newVideoInit(t.newInitID(), &info)
		if err != nil {
			t.log.Warn("hls: ignoring in-band parameter sets", "err", err)
			return
		}
		t.video, t.init = info, init
		t.log.Info("hls: parameter sets from the stream", "codec", info.Codec, "width", info.Width, "height", info.Height)
		return
	}
	t.log.Info("hls: parameter sets changed in the stream: new init segment and discontinuity",
		"codec", info.Codec, "width", info.Width, "height", info.Height,
		"old_width", t.video.Width, "old_height", t.video.Height)
	if err := t.discontinuityLocked(info); err != nil {
		t.log.Warn("hls: parameter set change", "err", err)
	}
}

// Discontinuity ends the current segment and starts the next with EXT-X-DISCONTINUITY:
// for a publisher that reconnected (timestamps restart) or changed its encoding. info
// (a VideoTrackInfo for a video track, an AudioTrackInfo for audio) brings a new init
// segment; nil keeps the current one. A video track then waits for a keyframe. Other
// tracks of the Stream get the discontinuity at their next segment unless they call
// Discontinuity themselves first, so one reconnect makes one discontinuity everywhere.
func (t *Track) Discontinuity(info TrackInfo) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return ErrClosed
	}
	return t.discontinuityLocked(info)
}

func (t *Track) discontinuityLocked(info TrackInfo) error {
	apply := func() error { return nil }
	switch v := info.(type) {
	case nil:
	case VideoTrackInfo:
		if t.audio {
			return fmt.Errorf("hls %s/%s: video info for the audio track", t.s.name, t.rendition)
		}
		apply = func() error { return t.setVideoInfo(v) }
	case AudioTrackInfo:
		if !t.audio {
			return fmt.Errorf("hls %s/%s: audio info for a video track", t.s.name, t.rendition)
		}
		apply = func() error { return t.setAudioInfo(v) }
	default:
		return fmt.Errorf("hls %s/%s: unknown track info %T", t.s.name, t.rendition, info)
	}
	t.flush() // the current segment ends with the old init segment
	err := apply()
	t.discNext = true
	t.discGen = t.s.joinDiscontinuity(t.discGen)
	t.log.Info("hls: discontinuity", "next_msn", t.nextMSN, "new_info", info != nil)
	t.notify()
	if err != nil {
		return fmt.Errorf("hls %s/%s: discontinuity keeps the old init segment: %w", t.s.name, t.rendition, err)
	}
	return nil
}

// close packages what is pending and ends the track's playlist.
func (t *Track) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return
	}
	t.flush()
	t.ended = true
	t.notify()
}

// notify wakes every request waiting on the track.
func (t *Track) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
	t.version++
}
