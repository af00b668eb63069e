// Package demo is the demo publisher that `make run` starts into room
// "demo": an ffmpeg child process renders a moving test pattern with a
// wall clock (local time with milliseconds, to read glass-to-glass latency
// off a viewer's screen) and a tone, encodes it to H.264 and Opus, and sends
// it as RTP to loopback UDP ports; the demo forwards those packets over WHIP
// (package client) and publishes again whenever the server goes away.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"time"

	"github.com/pion/webrtc/v4"
)

// Options configures Run. Zero fields take the defaults below.
type Options struct {
	// WHIPURL is the endpoint to publish to, e.g.
	// "http://127.0.0.1:8080/whip/demo". Required.
	WHIPURL string
	// Token is the bearer token of the room, if it has one.
	Token string
	// Width and Height of the video (default 1280x720; rounded down to even).
	Width, Height int
	// FPS is the frame rate (default 30).
	FPS int
	// BitrateKbps is the video bitrate (default 1500).
	BitrateKbps int
	// FFmpeg is the path of the ffmpeg binary (default "ffmpeg" from PATH).
	FFmpeg string
	// Logger receives one line per event; ffmpeg's own output goes to it at
	// debug level. Default slog.Default().
	Logger *slog.Logger
	// LoopbackOnly restricts ICE to 127.0.0.1 (tests; a server on the same
	// machine).
	LoopbackOnly bool
	// CountdownEvery, when positive, posts a countdown timed event to the room
	// this often (POST /api/rooms/{room}/events, with Token).
	CountdownEvery time.Duration
}

// Defaults and timings of the publish loop.
const (
	defaultWidth       = 1280
	defaultHeight      = 720
	defaultFPS         = 30
	defaultBitrateKbps = 1500

	minBackoff     = 500 * time.Millisecond
	maxBackoff     = 10 * time.Second
	healthyAfter   = 30 * time.Second // an attempt this long resets the backoff
	connectTimeout = 15 * time.Second
	closeTimeout   = 3 * time.Second
)

func (o Options) withDefaults() (Options, error) {
	if o.WHIPURL == "" {
		return o, errors.New("no WHIP URL")
	}
	if o.Width <= 0 {
		o.Width = defaultWidth
	}
	if o.Height <= 0 {
		o.Height = defaultHeight
	}
	o.Width, o.Height = o.Width&^1, o.Height&^1 // yuv420p needs even sizes
	if o.Width == 0 || o.Height == 0 {
		return o, fmt.Errorf("video size %dx%d is too small", o.Width, o.Height)
	}
	if o.FPS <= 0 {
		o.FPS = defaultFPS
	}
	if o.BitrateKbps <= 0 {
		o.BitrateKbps = defaultBitrateKbps
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	path, err := exec.LookPath(o.FFmpeg)
	if err != nil {
		return o, fmt.Errorf("ffmpeg not found (install it, e.g. apt-get install ffmpeg, or set the path): %w", err)
	}
	o.FFmpeg = path
	return o, nil
}

// Run publishes the demo stream until ctx is done, then deletes the WHIP
// session and returns nil. When publishing fails (the server is down,
// answers with an error, or the connection drops) or ffmpeg exits, it logs
// why and publishes again after a backoff of 0.5 s doubling up to 10 s. It
// returns an error only for bad options or a missing ffmpeg.
func Run(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	log := opts.Logger.With("whip_url", opts.WHIPURL)
	log.Info("demo publisher starting", "size", fmt.Sprintf("%dx%d", opts.Width, opts.Height),
		"fps", opts.FPS, "bitrate_kbps", opts.BitrateKbps, "ffmpeg", opts.FFmpeg)

	if opts.CountdownEvery > 0 {
		done := make(chan struct{})
		cctx, stop := context.WithCancel(ctx)
		go func() { defer close(done); runCountdown(cctx, opts, log) }()
		defer func() { stop(); <-done }()
	}
	backoff := minBackoff
	for attempt := 1; ; attempt++ {
		started := time.Now()
		err := publishOnce(ctx, opts, log.With("attempt", attempt))
		if ctx.Err() != nil {
			log.Info("demo publisher stopped")
			return nil
		}
		if time.Since(started) >= healthyAfter {
			backoff = minBackoff
		}
		log.Warn("demo publish ended, publishing again", "attempt", attempt, "err", err, "backoff", backoff)
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			log.Info("demo publisher stopped")
			return nil
		case <-timer.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// newTracks makes the two tracks the ffmpeg output is written to. The H.264
// fmtp matches what x264 -profile:v baseline produces (constrained baseline;
// x264 picks the level from size and rate, and H.264 codec matching ignores
// the level) in packetization mode 1 (ffmpeg's RTP muxer uses FU-A).
func newTracks() (video, audio *webrtc.TrackLocalStaticRTP, err error) {
	video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeH264,
		ClockRate:   90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, "video", "glint-demo")
	if err != nil {
		return nil, nil, fmt.Errorf("new video track: %w", err)
	}
	audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
		MimeType:  webrtc.MimeTypeOpus,
		ClockRate: 48000,
		Channels:  2,
	}, "audio", "glint-demo")
	if err != nil {
		return nil, nil, fmt.Errorf("new audio track: %w", err)
	}
	return video, audio, nil
}
