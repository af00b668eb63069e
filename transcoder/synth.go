package transcoder

import (
	"cmp"
	"fmt"
	"time"

	"github.com/asticode/go-astiav"
)

// Synthetic material for load generators and tests: pictures and sound from a lavfi source
// (testsrc2, sine, ...) and H.264 from the same low-latency encoder set-up the ladder uses.

// LavfiSource pulls frames from a source-only libav filter graph, e.g.
// "testsrc2=size=1280x720:rate=30,format=yuv420p" or "sine=frequency=440".
type LavfiSource struct {
	graph *astiav.FilterGraph
	sink  *astiav.FilterContext
}

// NewLavfiSource parses and configures desc; audio says it ends in sound, not pictures.
func NewLavfiSource(desc string, audio bool) (*LavfiSource, error) {
	g := astiav.AllocFilterGraph()
	name := "buffersink"
	if audio {
		name = "abuffersink"
	}
	sink, err := g.NewFilterContext(astiav.FindFilterByName(name), "out", nil)
	if err != nil {
		g.Free()
		return nil, fmt.Errorf("transcoder: lavfi %s: %w", name, err)
	}
	out := astiav.AllocFilterInOut()
	defer out.Free()
	out.SetName("out")
	out.SetFilterContext(sink)
	out.SetPadIdx(0)
	out.SetNext(nil)
	if err := g.Parse(desc, out, nil); err != nil {
		g.Free()
		return nil, fmt.Errorf("transcoder: lavfi %q: %w", desc, err)
	}
	if err := g.Configure(); err != nil {
		g.Free()
		return nil, fmt.Errorf("transcoder: lavfi %q: %w", desc, err)
	}
	return &LavfiSource{graph: g, sink: sink}, nil
}

// Next fills f with the next frame; Unref it when done.
func (s *LavfiSource) Next(f *astiav.Frame) error {
	if err := s.sink.BuffersinkGetFrame(f, 0); err != nil {
		return fmt.Errorf("transcoder: lavfi frame: %w", err)
	}
	return nil
}

// Close frees the filter graph.
func (s *LavfiSource) Close() { s.graph.Free() }

// EncoderConfig is one H.264 encoder of its own (NewH264Encoder), with the ladder's
// low-latency settings: no B-frames, zerolatency, CBR-like rate control, IDR on demand,
// no scene-cut IDRs.
type EncoderConfig struct {
	Encoder       EncoderInfo // "" = libx264
	Width, Height int         // even, positive
	FPS           int
	BitrateKbps   int
	GOP           int    // frames between periodic IDRs
	Preset        string // libx264 preset (default the ladder's)
	Profile       string // "baseline" (default) or "main"
	Threads       int    // 0 = libav's choice
}

// H264Encoder encodes pictures at a fixed frame rate into H.264 access units (Annex B).
// It is not safe for concurrent use.
type H264Encoder struct {
	enc  *h264Encoder
	tick time.Duration
	n    int64 // pictures sent
}

// NewH264Encoder opens the encoder cfg describes.
func NewH264Encoder(cfg EncoderConfig) (*H264Encoder, error) {
	if cfg.FPS <= 0 || cfg.BitrateKbps <= 0 || cfg.GOP <= 0 {
		return nil, fmt.Errorf("%w: encoder fps %d, %d kbit/s, gop %d (must be positive)",
			ErrBadConfig, cfg.FPS, cfg.BitrateKbps, cfg.GOP)
	}
	p := encoderParams{info: cfg.Encoder, width: cfg.Width, height: cfg.Height, kbps: cfg.BitrateKbps,
		fps: cfg.FPS, gop: cfg.GOP, preset: cmp.Or(cfg.Preset, defaultPreset),
		profile: cmp.Or(cfg.Profile, "baseline"), threads: cfg.Threads}
	enc, err := openH264Encoder(p)
	if err != nil {
		return nil, err
	}
	return &H264Encoder{enc: enc, tick: time.Second / time.Duration(cfg.FPS)}, nil
}

// PixelFormat is the format Encode wants its pictures in (yuv420p for libx264).
func (e *H264Encoder) PixelFormat() astiav.PixelFormat { return e.enc.pixFmt }

// Encode sends the next picture (at the encoder's size and pixel format; its PTS and
// picture type are set here: PTS the picture count over FPS) and returns the access units
// that came out, usually one. forceIDR makes this picture an IDR.
func (e *H264Encoder) Encode(f *astiav.Frame, forceIDR bool) ([]Encoded, error) {
	pts := time.Duration(e.n) * e.tick
	e.n++
	return e.enc.encode(f, frameMeta{pts: pts, dur: e.tick}, forceIDR)
}

// Close frees the encoder.
func (e *H264Encoder) Close() { e.enc.close() }
