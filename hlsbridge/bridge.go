package hlsbridge

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/media"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/transcoder"
)

// packet is a copy of one sfu.LocalPacket, queued for a pipeline.
type packet struct {
	mime          string
	data          []byte
	discontinuity bool
	arrival       time.Time
}

// pipeline is the video or audio half of a bridge. Its methods run on one goroutine.
type pipeline interface {
	push(p packet, h *media.RTPView)
	reset() // after a panic: free what it holds and start again at the next keyframe
	close()
}

// Queue sizes: several seconds of media, so that a slow encode does not lose packets.
const (
	videoQueue = 2048
	audioQueue = 512
)

// bridge is one room's LL-HLS output: a local subscription, a video and an audio pipeline
// on their own goroutines, and the hls.Stream they write.
type bridge struct {
	room    string
	log     *slog.Logger
	opts    *Options
	encoder transcoder.EncoderInfo
	epoch   time.Time // the bridge's clock starts here
	stream  *hls.Stream
	sub     atomic.Pointer[sfu.LocalSubscriber] // set once subscribed; media may come first
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	queues  map[string]chan packet
	dropped atomic.Int64 // packets lost to a full queue
	// ladder is the video pipeline's current ladder (nil before the first keyframe), for
	// Manager.Stats.
	ladder atomic.Pointer[transcoder.Ladder]

	// captureOffset (nanoseconds) maps the bridge's clock to capture time: zero for a
	// source without capture-time SEIs (capture time is then arrival, the clock itself),
	// else the SEI time of the latest video frame that had one minus its clock time. Set by
	// the video pipeline, read by both, so that every rendition and the audio share it.
	captureOffset atomic.Int64
	onAir         atomic.Int64 // capture time of the newest video frame, unix nanos
	onAirAt       atomic.Int64 // when it arrived, unix nanos (0: none yet)
	sawVideo      atomic.Bool
	leading       atomic.Bool // the leading video rendition has started
	joins         joinRequests
	warned        rateLimited
	demand        onDemand   // on-demand rooms (ondemand.go)
	alt           *alternate // the H.264 alternate WebRTC video of an H.265/AV1 room (alternate.go)
}

// startBridge creates the room's stream, registers it with the server and subscribes. An
// on-demand bridge starts parked.
func startBridge(ctx context.Context, opts *Options, enc transcoder.EncoderInfo, log *slog.Logger, room string, onDemand bool) (*bridge, error) {
	ctx, cancel := context.WithCancel(ctx)
	b := &bridge{
		room: room, log: log.With("room", room), opts: opts, encoder: enc, epoch: time.Now(),
		cancel: cancel,
		queues: map[string]chan packet{"video": make(chan packet, videoQueue), "audio": make(chan packet, audioQueue)},
	}
	b.alt = newAlternate(b)
	b.demand.enabled = onDemand
	b.demand.parked.Store(onDemand)
	cfg := opts.HLS
	cfg.Sink = b.sink(cfg.Sink)
	b.stream = hls.NewStream(room, cfg, opts.Log)
	if !opts.NoJoinKeyframes {
		b.stream.OnJoin(b.joins.viewerJoined)
	}
	sub, err := opts.SFU.SubscribeLocal(ctx, room, b.handle)
	if err != nil {
		cancel()
		b.stream.Close()
		return nil, fmt.Errorf("hlsbridge: subscribe: %w", err)
	}
	b.sub.Store(sub)
	opts.Server.Add(room, b.stream)
	for kind, p := range map[string]pipeline{"video": newVideoPipe(b), "audio": newAudioPipe(b)} {
		b.wg.Add(1)
		go b.run(ctx, kind, p)
	}
	b.log.Info("hlsbridge: room bridged", "encoder", enc.Name, "hardware", enc.Hardware, "on_demand", onDemand)
	return b, nil
}

// handle queues a copy of p for its pipeline; it never blocks the SFU's reader. A packet
// that finds its queue full is dropped, which the depacketizer then sees as a loss.
func (b *bridge) handle(p sfu.LocalPacket) {
	q := b.queues[p.Kind]
	if q == nil {
		return
	}
	pkt := packet{mime: p.Codec.MimeType, data: append([]byte(nil), p.Data...),
		discontinuity: p.Discontinuity, arrival: p.Arrival}
	select {
	case q <- pkt:
	default:
		if n := b.dropped.Add(1); n == 1 || n%1000 == 0 {
			b.log.Warn("hlsbridge: pipeline behind, packets dropped", "kind", p.Kind, "dropped", n)
		}
	}
}

// run feeds one pipeline until ctx ends, then closes it.
func (b *bridge) run(ctx context.Context, kind string, p pipeline) {
	defer b.wg.Done()
	defer p.close()
	q := b.queues[kind]
	var h media.RTPView
	for {
		select {
		case <-ctx.Done():
			return
		case pkt := <-q:
			if err := h.ParseRTP(pkt.data); err != nil {
				b.warned.warn(b.log, "hlsbridge: bad RTP packet dropped", "kind", kind, "err", err)
				continue
			}
			b.safePush(kind, p, pkt, &h)
		}
	}
}

// safePush keeps a bug in one room's pipeline from taking the process down: the panic is
// logged and the pipeline starts again at the next keyframe.
func (b *bridge) safePush(kind string, p pipeline, pkt packet, h *media.RTPView) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("hlsbridge: pipeline panic, pipeline reset", "kind", kind, "panic", r, "stack", string(debug.Stack()))
			p.reset()
		}
	}()
	p.push(pkt, h)
}

// leaderStarted notes that the leading video rendition wrote its first sample: audio
// may start (aligned to its segments).
func (b *bridge) leaderStarted() { b.leading.Store(true) }

func (b *bridge) isLeading() bool { return b.leading.Load() }

// since returns t on the bridge's clock.
func (b *bridge) since(t time.Time) time.Duration { return t.Sub(b.epoch) }

// captureTime returns the capture wall-clock time of a time on the bridge's clock: the
// arrival time it was anchored on, moved by the capture offset of a SEI-stamped source.
func (b *bridge) captureTime(d time.Duration) time.Time {
	return b.epoch.Add(d + time.Duration(b.captureOffset.Load()))
}

// noteCapture aligns the capture clock on a video frame's capture-time SEI, if it has one.
func (b *bridge) noteCapture(f timedFrame) {
	if !f.capture.IsZero() {
		b.opts.obs.captureToServer.Observe(f.last.Sub(f.capture))
		b.captureOffset.Store(int64(f.capture.Sub(b.epoch.Add(f.pts))))
	}
}

// stop ends the subscription and the pipelines (freeing every libav object), then ends
// the stream: pending samples are packaged and the playlists get EXT-X-ENDLIST.
func (b *bridge) stop() {
	b.sub.Load().Close()
	b.cancel()
	b.wg.Wait()
	b.stream.Close()
	b.log.Info("hlsbridge: room bridge stopped", "queue_drops", b.dropped.Load())
}

// rateLimited logs a recurring warning at most once every 5 seconds, with a count.
type rateLimited struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (r *rateLimited) warn(log *slog.Logger, msg string, args ...any) {
	r.mu.Lock()
	if time.Since(r.last) < 5*time.Second {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	if r.suppressed > 0 {
		args = append(args, "suppressed", r.suppressed)
	}
	r.last, r.suppressed = time.Now(), 0
	r.mu.Unlock()
	log.Warn(msg, args...)
}

// requestKeyframe asks the room's publisher for a keyframe (nothing before the bridge has
// subscribed, or for a publisher that cannot be asked).
func (b *bridge) requestKeyframe() {
	if sub := b.sub.Load(); sub != nil {
		sub.RequestKeyframe()
	}
}
