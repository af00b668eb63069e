package transcoder

import (
	"cmp"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
)

// Reencoder turns H.264 that WebRTC viewers cannot play as it is (B-frames, long GOPs), or
// H.265, into
// WebRTC-safe H.264: constrained baseline, no B-frames, tune=zerolatency, CBR-like VBV, the
// source size (following size changes), an IDR every KeyframeInterval and on request. Push
// must not be called concurrently with itself or Close; RequestKeyframe may be called from
// any goroutine.
type Reencoder struct {
	guard  guard // Push, Flush, Close
	cfg    ReencoderConfig
	log    *slog.Logger
	dec    *videoDecoder
	enc    *rungEncoder
	keyReq atomic.Bool
	bad    rateLimitedLog
	out    []Encoded
}

// NewReencoder opens the decoder; the encoder opens on the first picture (source size).
func NewReencoder(cfg ReencoderConfig) (*Reencoder, error) {
	cfg.BitrateKbps = positiveOr(cfg.BitrateKbps, defaultReencKbps)
	cfg.FPS = positiveOr(cfg.FPS, defaultFPS)
	cfg.KeyframeInterval = positiveOr(cfg.KeyframeInterval, defaultSegment)
	cfg.Encoder = cfg.Encoder.orLibx264()
	cfg.Preset = cmp.Or(cfg.Preset, reencoderPreset)
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	dec, err := newVideoDecoder(cmp.Or(cfg.SourceCodec, "H264"))
	if err != nil {
		return nil, fmt.Errorf("transcoder: reencoder: %w", err)
	}
	log := cfg.Log.With("component", "transcoder")
	gop := max(1, int(cfg.KeyframeInterval*time.Duration(cfg.FPS)/time.Second))
	p := encoderParams{info: cfg.Encoder, kbps: cfg.BitrateKbps, fps: cfg.FPS, gop: gop,
		preset: cfg.Preset, profile: "baseline", threads: cfg.Threads}
	r := &Reencoder{cfg: cfg, log: log, dec: dec,
		enc: newRungEncoder(Rung{Name: "webrtc", Passthrough: true, BitrateKbps: cfg.BitrateKbps}, p, log)}
	return r, nil
}

// Push feeds one access unit (Annex-B, decode order, PTS set) and returns the access units
// completed by it: none while the decoder holds pictures back for reordering, usually one.
// Each output carries the PTS of its source picture, with DTS equal to PTS. Input before the
// first IDR is skipped; a corrupt access unit is dropped and logged (nil error).
func (r *Reencoder) Push(in Encoded) ([]Encoded, error) {
	if err := r.guard.enter(); err != nil {
		return nil, err
	}
	defer r.guard.leave()
	r.out = nil
	corrupt, err := r.dec.decode(in, frameMeta{pts: in.PTS, dur: in.Duration}, r.encodePicture)
	if corrupt != nil {
		r.bad.warn(r.log, "transcoder: corrupt access unit dropped", "err", corrupt, "pts", in.PTS)
	}
	if err != nil {
		return r.out, fmt.Errorf("transcoder: reencoder: %w", err)
	}
	return r.out, nil
}

func (r *Reencoder) encodePicture(src *astiav.Frame, m frameMeta) error {
	r.enc.process(src, m, r.keyReq.Swap(false))
	if r.enc.err != nil {
		return r.enc.err
	}
	r.out = append(r.out, r.enc.out...)
	r.enc.out = nil
	return nil
}

// Flush returns the pictures the decoder still holds back for reordering (end of stream).
func (r *Reencoder) Flush() ([]Encoded, error) {
	if err := r.guard.enter(); err != nil {
		return nil, err
	}
	defer r.guard.leave()
	r.out = nil
	if err := r.dec.drain(r.encodePicture); err != nil {
		return r.out, fmt.Errorf("transcoder: reencoder flush: %w", err)
	}
	return r.out, nil
}

// RequestKeyframe makes the next output picture an IDR (for a viewer's PLI/FIR).
func (r *Reencoder) RequestKeyframe() { r.keyReq.Store(true) }

// Close frees every libav object. Safe to call more than once.
func (r *Reencoder) Close() error {
	r.guard.close(func() {
		r.dec.close()
		r.enc.close()
	})
	return nil
}
