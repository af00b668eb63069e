package hlsbridge

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/transcoder"
)

// Start-up: frames from the first keyframe are held this long (or until startFrames of
// them) to measure the frame rate before the ladder opens.
const (
	startFrames = 6
	startSpan   = 500 * time.Millisecond
	retryAfter  = 5 * time.Second // a ladder that failed is rebuilt no sooner
)

// videoPipe depacketizes the room's video, runs it through a transcoder.Ladder and writes
// every rung to its hls video track (rung i → tracks[i], passthrough rungs first).
type videoPipe struct {
	b      *bridge
	log    *slog.Logger
	mime   string
	codec  string // "H264", "H265", "VP8", "VP9", "AV1"
	dep    depacketizer
	clock  rtpClock
	frames []frame

	pending []timedFrame // held at start-up to measure the frame rate
	fps     int
	ladder  *transcoder.Ladder
	rungs   []transcoder.Rung // fixed for the bridge's life: they are its renditions
	tracks  []*hls.Track
	width   int
	height  int
	wrote   bool // samples went out: a new source means a discontinuity
	discNow bool // the next keyframe starts after a discontinuity
	retryAt time.Time
	warned  rateLimited
	keys    keyPacer // asks the publisher for a keyframe per segment (hlsbridge/keypace.go)
	step    frameInterval
}

type timedFrame struct {
	frame
	pts   time.Duration
	shift time.Duration // the clock's shift when pts was taken
}

func newVideoPipe(b *bridge) *videoPipe {
	return &videoPipe{b: b, log: b.log.With("kind", "video"), clock: rtpClock{rate: 90000},
		keys: keyPacer{segment: b.opts.HLS.SegmentDuration}}
}

func (v *videoPipe) push(p packet, h *media.RTPView) {
	v.b.sawVideo.Store(true)
	if !strings.EqualFold(p.mime, v.mime) {
		v.codecChanged(p.mime)
	}
	if v.dep == nil {
		return
	}
	if p.discontinuity {
		v.sourceChanged()
	}
	v.frames = v.dep.push(rtpPacket{seq: h.SequenceNumber, ts: h.Timestamp, marker: h.Marker,
		payload: h.Payload(p.data), arrival: p.arrival}, v.frames[:0])
	for _, f := range v.frames {
		pts := v.clock.pts(f.ts, v.b.since(f.first), v.log)
		v.pace(pts, f.keyframe)
		v.handleFrame(timedFrame{f, pts, v.clock.shift})
	}
}

// codecChanged follows a publisher that came back with another codec: the ladder is rebuilt
// (same rungs) at the next keyframe.
func (v *videoPipe) codecChanged(mime string) {
	dep, codec := newDepacketizer(mime)
	if dep == nil {
		v.log.Warn("hlsbridge: unsupported video codec, video not bridged", "codec", mime)
	} else if v.mime != "" {
		v.log.Info("hlsbridge: video codec changed", "from", v.mime, "to", mime)
	}
	v.mime, v.codec, v.dep = mime, codec, dep
	v.closeLadder()
	v.sourceChanged()
}

// sourceChanged starts over after a new source (a publisher reconnect or a layer change):
// what the ladder holds goes out, the clock re-anchors, and the next keyframe starts a
// discontinuity.
func (v *videoPipe) sourceChanged() {
	if v.dep != nil {
		v.dep.reset()
	}
	v.clock.reset()
	v.b.captureOffset.Store(0) // until the new source shows capture-time SEIs
	v.pending = nil
	if v.ladder != nil {
		if err := v.ladder.Flush(); err != nil {
			v.log.Warn("hlsbridge: ladder flush", "err", err)
		}
	}
	v.discNow = v.discNow || v.wrote
}

func (v *videoPipe) handleFrame(f timedFrame) {
	if v.ladder == nil {
		if time.Now().Before(v.retryAt) || (len(v.pending) == 0 && !v.startsSource(f)) {
			return
		}
		v.pending = append(v.pending, f)
		if first := v.pending[0]; len(v.pending) < startFrames && f.pts-first.pts < startSpan &&
			time.Since(first.first) < 2*startSpan {
			return
		}
		pending := v.pending
		v.pending = nil
		if err := v.startLadder(pending); err != nil {
			v.log.Error("hlsbridge: video ladder failed to start", "err", err)
			v.retryAt = time.Now().Add(retryAfter)
			return
		}
		for _, p := range pending {
			p.pts -= v.clock.shift - p.shift // on the clock as it settled since
			v.feed(p)
		}
		return
	}
	v.feed(f)
}

// startsSource reports whether f can start the ladder: a keyframe that tells the picture
// size (the first one a subscriber sees may lack the SPS sent just before it).
func (v *videoPipe) startsSource(f timedFrame) bool {
	if !f.keyframe {
		return false
	}
	if _, _, ok := frameSize(v.codec, f.data); !ok {
		// The SFU starts a local subscriber at the IDR's first packet, after the SPS/PPS
		// packets ffmpeg and others send before it.
		v.log.Debug("hlsbridge: keyframe without picture size (no SPS), waiting for the next")
		return false
	}
	return true
}

// startLadder opens the ladder for the source seen in pending (which starts with a
// keyframe) and, the first time, adds the hls tracks of its rungs.
func (v *videoPipe) startLadder(pending []timedFrame) error {
	key := pending[0]
	w, h, ok := frameSize(v.codec, key.data)
	if !ok {
		return fmt.Errorf("no picture size in the %s keyframe", v.codec)
	}
	v.width, v.height = w, h
	v.fps = estimateFPS(pending)
	if v.rungs == nil {
		v.rungs = v.chooseRungs(w, h)
		v.b.alt.useRungs(v.rungs)
	}
	l, err := transcoder.NewLadder(transcoder.LadderConfig{
		SourceCodec: v.codec, Rungs: v.rungs, FPS: v.fps, SegmentDuration: v.b.opts.HLS.SegmentDuration,
		Encoder: v.b.encoder, Output: v.output, Log: v.log,
	})
	if err != nil {
		return err
	}
	v.ladder = l
	v.b.ladder.Store(l)
	v.b.joins.able.Store(v.rungs[0].Passthrough) // joins ask the publisher for the leader's keyframes
	if v.b.demand.parked.Load() {
		if err := l.Park(); err != nil {
			return err
		}
		v.b.demand.isParked.Store(true)
	}
	v.notePassthrough()
	if v.tracks == nil {
		for i, r := range v.rungs {
			info := hls.VideoTrackInfo{Format: hlsFormat(v.codec, r), FPS: float64(v.fps), BitrateKbps: r.BitrateKbps}
			if info.Format != hls.H264 {
				info = v.trackInfo(i, key.data)
			}
			t, err := v.b.stream.AddVideo(r.Name, info)
			if err != nil {
				v.closeLadder()
				v.tracks = nil
				return err
			}
			v.tracks = append(v.tracks, t)
		}
	}
	v.log.Info("hlsbridge: video started", "codec", v.codec, "size", fmt.Sprintf("%dx%d", w, h), "fps", v.fps,
		"renditions", rungNames(v.rungs), "encoder", v.b.encoder.Name)
	return nil
}

// chooseRungs takes the room's ladder (Options.Rooms), keeps only passthrough rungs when
// there is no encoder, and puts passthrough rungs first (the first rendition leads
// segmentation); an H.265 or AV1 source passed through gets an H.264 rung of its size too.
func (v *videoPipe) chooseRungs(w, h int) []transcoder.Rung {
	ladder := v.b.opts.ladder(v.b.room, w, h)
	var pass, enc []transcoder.Rung
	for _, r := range ladder {
		switch {
		case r.Passthrough:
			pass = append(pass, r)
		case v.b.encoder.Name != "":
			enc = append(enc, r)
		}
	}
	rungs := append(pass, enc...)
	if v.b.encoder.Name != "" {
		rungs = withH264SourceRung(rungs, v.codec, w, h)
	}
	return rungs
}

// feed pushes one frame into the ladder, starting a discontinuity at a keyframe when the
// source changed or its picture size did.
func (v *videoPipe) feed(f timedFrame) {
	if f.keyframe {
		if w, h, ok := frameSize(v.codec, f.data); ok && (w != v.width || h != v.height) {
			v.log.Info("hlsbridge: source resolution changed", "from", fmt.Sprintf("%dx%d", v.width, v.height),
				"to", fmt.Sprintf("%dx%d", w, h))
			v.width, v.height = w, h
			v.discNow = v.discNow || v.wrote
		}
		if v.discNow {
			v.discontinuity(f.data)
		}
	}
	v.b.noteCapture(f)
	v.b.noteOnAir(f.pts)
	v.applyParking()
	if v.ladder == nil {
		return
	}
	err := v.ladder.Push(transcoder.Encoded{Data: f.data, PTS: f.pts, DTS: f.pts, Keyframe: f.keyframe,
		Duration: v.step.next(f.pts, time.Second/time.Duration(v.fps))})
	if err != nil {
		v.log.Error("hlsbridge: video ladder failed, rebuilding it at a later keyframe", "err", err)
		v.closeLadder()
		v.retryAt = time.Now().Add(retryAfter)
	}
}

// discontinuity starts a new discontinuity on every rendition before keyframe key: a
// passthrough rendition of an H.264, H.265 or AV1 source gets the new parameter sets as its
// new init segment; the others take theirs from their encoder's next IDR.
func (v *videoPipe) discontinuity(key []byte) {
	v.discNow = false
	for i, t := range v.tracks {
		var info hls.TrackInfo
		if v.rungs[i].Passthrough {
			info = v.trackInfo(i, key) // the format may have changed with the codec
		}
		if err := t.Discontinuity(info); err != nil {
			v.log.Warn("hlsbridge: discontinuity", "rendition", t.Rendition(), "err", err)
		}
	}
	v.log.Info("hlsbridge: video discontinuity", "size", fmt.Sprintf("%dx%d", v.width, v.height))
}

// output writes one ladder output to its rendition.
func (v *videoPipe) output(rung int, e transcoder.Encoded) {
	if rung < 0 || rung >= len(v.tracks) {
		return
	}
	if v.b.alt.isRung(rung) {
		v.b.alt.write(e)
	}
	err := v.tracks[rung].WriteSample(hls.Sample{Data: e.Data, DTS: e.DTS, PTS: e.PTS, Keyframe: e.Keyframe,
		Duration: e.Duration, CaptureTime: v.b.captureTime(e.PTS)})
	switch {
	case err == nil:
		v.wrote = true
		if rung == 0 {
			v.b.leaderStarted()
		}
	case errors.Is(err, hls.ErrNeedKeyframe), errors.Is(err, hls.ErrClosed):
	default:
		v.warned.warn(v.log, "hlsbridge: video sample not written", "rendition", v.tracks[rung].Rendition(), "err", err)
	}
}

func (v *videoPipe) closeLadder() {
	if v.ladder != nil {
		_ = v.ladder.Close()
		v.ladder = nil
		v.b.joins.able.Store(false)
		v.b.ladder.Store(nil)
	}
}

func (v *videoPipe) reset() {
	v.closeLadder()
	v.pending = nil
	if v.dep != nil {
		v.dep.reset()
	}
	v.clock.reset()
	v.step.reset()
	v.discNow = v.discNow || v.wrote
}

func (v *videoPipe) close() {
	v.closeLadder()
	v.b.alt.close()
	if v.dep != nil && v.dep.stats() > 0 {
		v.log.Info("hlsbridge: video frames dropped (loss or corruption)", "frames", v.dep.stats())
	}
}

// estimateFPS measures the frame rate of the held start-up frames (default 30).
func estimateFPS(fs []timedFrame) int {
	if len(fs) < 2 {
		return 30
	}
	ticks := int64(fs[len(fs)-1].ts - fs[0].ts)
	if ticks <= 0 {
		return 30
	}
	fps := math.Round(float64(len(fs)-1) * 90000 / float64(ticks))
	return int(min(max(fps, 1), 120))
}

func rungNames(rs []transcoder.Rung) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}
