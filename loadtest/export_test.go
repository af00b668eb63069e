package loadtest

import (
	"context"
	"net/http"
	"time"

	"github.com/asticode/go-astiav"
)

// StartLoopPublisher publishes a 640x360 30 fps loop (1 Mbit/s, capture SEI in every
// frame) plus Opus to room at baseURL, as a load test's publisher does; stop ends it.
func StartLoopPublisher(ctx context.Context, baseURL, room string) (stop func(), err error) {
	if astiav.GetLogLevel() > astiav.LogLevelError {
		astiav.SetLogLevel(astiav.LogLevelError)
	}
	cfg := Config{URL: baseURL, Room: room, Width: 640, Height: 360, BitrateKbps: 1000, FPS: 30, LoopbackOnly: true}.withDefaults()
	frames, err := preEncode(cfg.Width, cfg.Height, cfg.FPS, cfg.BitrateKbps, gopSeconds)
	if err != nil {
		return nil, err
	}
	opus, err := encodeOpusTone(1000/audioInterval, opusKbps)
	if err != nil {
		return nil, err
	}
	layers := []*videoLayer{newVideoLayer(layerSpecs(cfg)[0], &loopSource{frames: frames})}
	pub, err := startPublisher(ctx, room, roomURL(cfg.WHIPURL, room), cfg, http.DefaultClient, &markClock{}, layers, opus)
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = pub.Close(ctx)
	}, nil
}

// IsTerminal is isTerminal, for the command's tests.
var IsTerminal = isTerminal
