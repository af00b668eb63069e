package loadtest

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/glint-video/glint/loadtest/llhls"
)

// hlsViewer is one LL-HLS player (package llhls: blocking playlist reloads, part
// downloads, fMP4 samples) whose frames feed the same statistics as a WebRTC viewer's.
// It also measures each part: capture of its last frame → the part downloaded, which with
// preload-hinted requests is when the origin published it ("part available").
type hlsViewer struct {
	roomIdx int
	fs      *frameStats
	rx      rxCounters // bytes only
	parts   latencyHistogram
	cancel  context.CancelFunc
	done    chan struct{}

	mu  sync.Mutex
	err error // why Run returned
}

// startHLS starts playing playlistURL; the player runs until close.
func startHLS(ctx context.Context, playlistURL string, roomIdx int, cfg Config, httpClient *http.Client, clock *markClock, log *slog.Logger) *hlsViewer {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	v := &hlsViewer{roomIdx: roomIdx, fs: newFrameStats(clock, hlsPlayoutBuffer), cancel: cancel, done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(v.done)
		var part partTracker
		err := llhls.Run(ctx, llhls.Config{
			URL: playlistURL, HTTPClient: httpClient, Logger: log, Rendition: cfg.HLSRendition,
			OnJoin: func(first time.Time) { v.fs.join(first.Sub(start)) },
			OnFrame: func(f llhls.Frame) {
				var captured int64
				if f.HasCapture {
					captured = f.Captured.UnixNano()
				}
				v.rx.bytes.Add(uint64(f.Bytes))
				v.fs.frame(f.Arrived.UnixNano(), captured, f.PTS, f.Bytes)
				if last, ok := part.next(f); ok && last.HasCapture {
					if _, joined := v.fs.joined(); joined {
						v.parts.observe(last.Arrived.Sub(last.Captured).Nanoseconds())
					}
				}
			},
		})
		if err != nil && ctx.Err() == nil {
			log.Warn("loadtest: LL-HLS viewer stopped", "url", playlistURL, "err", err)
		}
		v.mu.Lock()
		v.err = err
		v.mu.Unlock()
	}()
	return v
}

func (v *hlsViewer) stats() *frameStats             { return v.fs }
func (v *hlsViewer) partLatency() *latencyHistogram { return &v.parts }
func (v *hlsViewer) room() int                      { return v.roomIdx }
func (v *hlsViewer) counters() *rxCounters          { return &v.rx }

func (v *hlsViewer) alive() bool {
	select {
	case <-v.done:
		return false
	default:
		return true
	}
}

func (v *hlsViewer) close(ctx context.Context) {
	v.cancel()
	select {
	case <-v.done:
	case <-ctx.Done():
	}
}

// partTracker finds the last frame of each part: the frames of one part share their
// Arrived time.
type partTracker struct {
	have bool
	last llhls.Frame
}

// next takes the next frame and returns the last frame of the previous part when f
// starts a new one.
func (p *partTracker) next(f llhls.Frame) (llhls.Frame, bool) {
	prev, had := p.last, p.have
	p.last, p.have = f, true
	return prev, had && !prev.Arrived.Equal(f.Arrived)
}
