package hlsbridge

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/transcoder"
)

// Audio waits for the leading video rendition so that its segments line up with video's;
// it holds at most audioHold of AAC meanwhile, and goes on alone after audioAlone without
// any video packet, or audioGiveUp when video never starts.
const (
	audioHold   = time.Second
	audioAlone  = 2 * time.Second
	audioGiveUp = 10 * time.Second
)

// audioPipe converts the room's Opus to AAC (one AudioConverter, shared by every variant)
// and writes it to the stream's audio rendition.
type audioPipe struct {
	b       *bridge
	log     *slog.Logger
	conv    *transcoder.AudioConverter
	track   *hls.Track
	clock   rtpClock
	wrote   bool
	disc    bool // the next output starts after a discontinuity
	held    []hls.Sample
	firstAt time.Time
	open    bool // writing to the track (video leads, or audio goes alone)
	retryAt time.Time
	badMime string
	warned  rateLimited
}

func newAudioPipe(b *bridge) *audioPipe {
	return &audioPipe{b: b, log: b.log.With("kind", "audio"), clock: rtpClock{rate: 48000}}
}

func (a *audioPipe) push(p packet, h *media.RTPView) {
	if !strings.EqualFold(p.mime, "audio/opus") {
		if p.mime != a.badMime {
			a.badMime = p.mime
			a.log.Warn("hlsbridge: unsupported audio codec, audio not bridged", "codec", p.mime)
		}
		return
	}
	if p.discontinuity {
		a.clock.reset()
		a.disc = a.disc || a.wrote
	}
	payload := h.Payload(p.data)
	if len(payload) == 0 {
		return
	}
	if a.firstAt.IsZero() {
		a.firstAt = time.Now()
	}
	if a.conv == nil && !a.openConverter() {
		return
	}
	pts := a.clock.pts(h.Timestamp, a.b.since(p.arrival), a.log)
	out, err := a.conv.Convert(transcoder.Encoded{Data: payload, PTS: pts, DTS: pts, Keyframe: true})
	if err != nil {
		a.log.Error("hlsbridge: audio converter failed, rebuilding it", "err", err)
		a.closeConverter()
		a.retryAt = time.Now().Add(retryAfter)
	}
	for _, e := range out {
		a.write(hls.Sample{Data: e.Data, DTS: e.DTS, PTS: e.PTS, Keyframe: true, Duration: e.Duration,
			CaptureTime: a.b.captureTime(e.PTS)})
	}
}

// openConverter opens the Opus → AAC converter and, the first time, adds the audio track.
func (a *audioPipe) openConverter() bool {
	if time.Now().Before(a.retryAt) {
		return false
	}
	conv, err := transcoder.NewAudioConverter("opus", "aac", 48000, 2, transcoder.WithAudioLogger(a.log))
	if err != nil {
		a.log.Error("hlsbridge: audio converter", "err", err)
		a.retryAt = time.Now().Add(retryAfter)
		return false
	}
	if a.track == nil {
		rate, channels := conv.OutputFormat()
		t, err := a.b.stream.AddAudio(hls.AudioTrackInfo{SampleRate: rate, Channels: channels,
			ASC: conv.AudioSpecificConfig(), BitrateKbps: 128})
		if err != nil {
			_ = conv.Close()
			a.log.Error("hlsbridge: audio track", "err", err)
			a.retryAt = time.Now().Add(retryAfter)
			return false
		}
		a.track = t
		a.log.Info("hlsbridge: audio started", "from", "opus", "to", "aac", "rate", rate, "channels", channels)
	}
	a.conv = conv
	return true
}

// write hands one AAC frame to the track, or holds it until video leads.
func (a *audioPipe) write(s hls.Sample) {
	if !a.open && !a.mayStart() {
		a.held = append(a.held, s)
		for len(a.held) > 0 && s.DTS-a.held[0].DTS > audioHold {
			a.held = a.held[1:]
		}
		return
	}
	held := a.held
	a.held = nil
	for _, h := range held {
		a.writeNow(h)
	}
	a.writeNow(s)
}

// mayStart decides when audio starts: once the leading video rendition has, or alone.
func (a *audioPipe) mayStart() bool {
	waited := time.Since(a.firstAt)
	switch {
	case a.b.isLeading():
	case !a.b.sawVideo.Load() && waited >= audioAlone:
		a.log.Info("hlsbridge: no video, audio-only stream")
	case waited >= audioGiveUp:
		a.log.Warn("hlsbridge: video has not started, audio goes on alone")
	default:
		return false
	}
	a.open = true
	return true
}

func (a *audioPipe) writeNow(s hls.Sample) {
	if a.disc {
		a.disc = false
		if err := a.track.Discontinuity(nil); err != nil {
			a.log.Warn("hlsbridge: audio discontinuity", "err", err)
		}
	}
	err := a.track.WriteSample(s)
	switch {
	case err == nil:
		a.wrote = true
	case errors.Is(err, hls.ErrClosed):
	default:
		a.warned.warn(a.log, "hlsbridge: audio sample not written", "err", err)
	}
}

func (a *audioPipe) closeConverter() {
	if a.conv != nil {
		_ = a.conv.Close()
		a.conv = nil
	}
}

func (a *audioPipe) reset() {
	a.closeConverter()
	a.clock.reset()
	a.held = nil
	a.disc = a.disc || a.wrote
}

func (a *audioPipe) close() { a.closeConverter() }
