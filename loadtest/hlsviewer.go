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
type hlsViewer struct {
	roomIdx int
	fs      *frameStats
	rx      rxCounters // bytes only
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

func (v *hlsViewer) stats() *frameStats    { return v.fs }
func (v *hlsViewer) room() int             { return v.roomIdx }
func (v *hlsViewer) counters() *rxCounters { return &v.rx }

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
