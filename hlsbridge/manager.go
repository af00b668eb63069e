// Package hlsbridge makes every live room of the SFU also live over LL-HLS. A Manager follows
// the SFU's rooms and runs one bridge per live room; a bridge subscribes to the room inside
// the process (sfu.SubscribeLocal), depacketizes the RTP (H.264 per RFC 6184, H.265, AV1,
// VP8, VP9, Opus; one frame-gate loop per RTP timestamp for H.264/H.265/AV1), puts both
// tracks on one clock, feeds the video to a transcoder.Ladder (an H.264, H.265 or AV1 source
// passed through as the top rung — H.265/AV1 with an H.264 rung of the source's size beside
// it — plus re-encoded rungs) and the Opus audio to a
// transcoder.AudioConverter (AAC), and writes the results to an hls.Stream served by an
// hls.Server under /hls/{room}/.
//
// Timing: each track is anchored on the arrival time of its first packets (the earliest
// arrivals of its first second) and follows its RTP timestamps from there, which keeps
// audio and video in sync. A sample's capture time (EXT-X-PROGRAM-DATE-TIME) is that
// mapping, i.e. packet arrival, unless the source's H.264 access units carry Glint's
// capture-time SEI (media.AppendCaptureSEI, as `glint loadtest` publishers send): then the
// mapping is moved by the SEI time minus the clock time of the latest frame that had one,
// so that PROGRAM-DATE-TIME is the capture time on every rendition (re-encoded ones, where
// the SEI itself is gone, included) and on audio. Passthrough renditions keep the SEI NAL
// units in their samples. Audio waits
// for the leading video rendition's first sample so that its segments line up. A publisher
// that reconnects (or a simulcast layer change) makes an EXT-X-DISCONTINUITY in the same
// stream, as does a change of resolution (with a new init segment). A room whose publisher
// stays away longer than Options.StopAfter ends its stream (EXT-X-ENDLIST), which stays
// served for Options.Linger.
//
// Keyframes: the re-encoded rungs get IDRs where the ladder puts segment boundaries, but
// those boundaries are the publisher's own keyframes whenever the source is passed through.
// A bridge therefore asks a WebRTC publisher for a keyframe once per segment, shortly before
// its end, when none came since the segment began (hlsbridge/keypace.go): a browser sends
// keyframes only when asked. An RTMP/SRT publisher cannot be asked: one with a GOP longer
// than the segment duration gets longer segments (the hls package cuts one without a
// keyframe half a second past the target duration rather than grow it further). After a
// lost packet a bridge drops video until the publisher's next keyframe.
//
// Errors stay inside their room: a corrupt NAL unit or frame is dropped, a failing ladder or
// audio converter is logged and rebuilt at the next keyframe, a panic in a bridge's pipeline
// is logged (with the room id) and resets that pipeline only.
package hlsbridge

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/transcoder"
)

// Options configure a Manager. SFU and Server are required; zero fields take the defaults.
type Options struct {
	SFU    *sfu.SFU
	Server *hls.Server // mounted at /hls/ by Register (or by the caller)
	// Front, when set, is mounted at /hls/ instead of Server (e.g. a relay.Shield in front
	// of it in a cluster).
	Front http.Handler
	HLS   hls.Config // segment and part durations, window
	// Encoder is the H.264 encoder for re-encoded rungs; zero means probe with
	// transcoder.ProbeH264Encoder when Run starts. With no usable encoder only
	// passthrough rungs run (H.264 publishers only).
	Encoder transcoder.EncoderInfo
	// Rooms gives each room's settings: its ladder (configured: --hls-ladder,
	// hls_room_ladders; nil Ladder: transcoder.DefaultLadder). Default: the defaults for
	// every room.
	Rooms RoomPolicy
	// Poll is how often the SFU's rooms are looked at (default 500 ms).
	Poll time.Duration
	// StopAfter is how long a room may stay without a live publisher before its bridge
	// stops and its stream ends (default 10 s); a publisher back sooner continues the
	// stream after a discontinuity.
	StopAfter time.Duration
	// Linger is how long an ended stream stays served (default 30 s).
	Linger time.Duration
	// Idle is how long an on-demand room (RoomSettings.HLSMode) re-encodes after the last
	// request for its HLS URLs could have been answered (its start + the block timeout;
	// default 1 min).
	Idle time.Duration
	// NoJoinKeyframes: a joining viewer starts from the newest keyframe there is instead of
	// asking the publisher for a fresh one (hlsbridge/join.go; --hls-join-keyframe=false).
	NoJoinKeyframes bool
	Log             *slog.Logger

	obs *observations // the Manager's, shared by its bridges
}

func (o *Options) fill() error {
	if o.SFU == nil || o.Server == nil {
		return errors.New("hlsbridge: Options.SFU and Options.Server are required")
	}
	if o.Rooms == nil {
		o.Rooms = func(string) config.RoomSettings { return config.RoomSettings{} }
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.StopAfter <= 0 {
		o.StopAfter = 10 * time.Second
	}
	if o.Linger <= 0 {
		o.Linger = 30 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = time.Minute
	}
	if o.HLS.SegmentDuration <= 0 {
		o.HLS.SegmentDuration = hls.DefaultSegmentDuration
	}
	if o.HLS.PartDuration <= 0 {
		o.HLS.PartDuration = hls.DefaultPartDuration
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.obs = &observations{}
	return nil
}

// RoomPolicy gives a room's settings, e.g. config.Config.RoomSettings.
type RoomPolicy func(room string) config.RoomSettings

// ladder returns room's rungs for a source of the given size: its configured ladder, else
// transcoder.DefaultLadder.
func (o *Options) ladder(room string, width, height int) []transcoder.Rung {
	l := o.Rooms(room).Ladder
	if l == nil {
		return transcoder.DefaultLadder(width, height)
	}
	specs := make([]transcoder.RungSpec, len(l.Rungs))
	for i, r := range l.Rungs {
		specs[i] = transcoder.RungSpec{Height: r.Height, BitrateKbps: r.Kbps}
	}
	return transcoder.CustomLadder(width, height, l.Source, specs)
}

// Manager runs a bridge for every live room of an SFU.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	encoder transcoder.EncoderInfo
	bridges map[string]*roomBridge
	ended   map[string]time.Time // rooms whose ended stream is still served, since when
	retry   map[string]time.Time // rooms whose bridge failed to start: not before
	live    sync.Map             // room → *bridge: bridges, read without mu by requested
}

// roomBridge is a running bridge and when its room was last seen live.
type roomBridge struct {
	b        *bridge
	lastLive time.Time
}

// NewManager checks opts and fills in the defaults; Run starts the work.
func NewManager(opts Options) (*Manager, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, log: opts.Log.With("component", "hlsbridge"),
		bridges: map[string]*roomBridge{}, ended: map[string]time.Time{}, retry: map[string]time.Time{}}
	opts.Server.OnRequest(m.requested)
	return m, nil
}

// Run probes the H.264 encoder (unless Options.Encoder names one), then follows the SFU's
// rooms until ctx ends; it then stops every bridge, ends and unregisters their streams, and
// returns nil.
func (m *Manager) Run(ctx context.Context) error {
	enc := m.opts.Encoder
	if enc.Name == "" {
		enc = transcoder.ProbeH264Encoder(m.log)
	}
	m.mu.Lock()
	m.encoder = enc
	m.mu.Unlock()
	if enc.Name == "" {
		m.log.Error("hlsbridge: no usable H.264 encoder: only passthrough renditions of H.264 publishers")
	}
	m.log.Info("hlsbridge: started", "encoder", enc.Name, "hardware", enc.Hardware,
		"segment", m.opts.HLS.SegmentDuration, "part", m.opts.HLS.PartDuration)
	t := time.NewTicker(m.opts.Poll)
	defer t.Stop()
	for {
		m.sync(ctx, time.Now())
		select {
		case <-ctx.Done():
			m.stopAll()
			return nil
		case <-t.C:
		}
	}
}

// Encoder returns the H.264 encoder in use (zero before Run has probed it).
func (m *Manager) Encoder() transcoder.EncoderInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.encoder
}

// Rooms returns the rooms with a running bridge, sorted.
func (m *Manager) Rooms() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.bridges))
	for name := range m.bridges {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// sync starts bridges for rooms that went live, stops those whose room has not been live
// for StopAfter, and unregisters streams that ended more than Linger ago.
func (m *Manager) sync(ctx context.Context, now time.Time) {
	live := map[string]bool{}
	for _, r := range m.opts.SFU.Rooms() {
		if r.Live && !r.Relayed { // a relayed room's origin transcodes it (relay.Shield serves it)
			live[r.Name] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range live {
		if rb := m.bridges[name]; rb != nil {
			rb.lastLive = now
			continue
		}
		if now.Before(m.retry[name]) || ctx.Err() != nil {
			continue
		}
		m.start(ctx, name, now)
	}
	for name, rb := range m.bridges {
		switch {
		case !live[name] && now.Sub(rb.lastLive) >= m.opts.StopAfter:
			rb.b.stop()
			delete(m.bridges, name)
			m.live.Delete(name)
			m.ended[name] = now
		case rb.b.idle(now) && rb.b.hasPassthrough():
			rb.b.park()
		case rb.b.idle(now) && ctx.Err() == nil:
			old := rb.b
			m.log.Info("hlsbridge: no HLS request for a while, bridge replaced by a parked one", "room", name)
			if m.start(ctx, name, now) {
				old.stop()
			}
		}
	}
	for name, at := range m.ended {
		if now.Sub(at) >= m.opts.Linger {
			m.opts.Server.Remove(name)
			delete(m.ended, name)
		}
	}
}

// start starts room's bridge (replacing the one it has, in the server too) and reports
// whether it did. m.mu must be held.
func (m *Manager) start(ctx context.Context, name string, now time.Time) bool {
	b, err := startBridge(ctx, &m.opts, m.encoder, m.log, name, m.onDemand(name))
	if err != nil {
		m.log.Warn("hlsbridge: cannot bridge room", "room", name, "err", err)
		m.retry[name] = now.Add(5 * time.Second)
		return false
	}
	delete(m.retry, name)
	delete(m.ended, name) // its new stream replaced the ended one in the server
	m.bridges[name] = &roomBridge{b: b, lastLive: now}
	m.live.Store(name, b)
	return true
}

// stopAll stops every bridge (in parallel) and unregisters every stream.
func (m *Manager) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var wg sync.WaitGroup
	for name, rb := range m.bridges {
		wg.Go(rb.b.stop)
		m.ended[name] = time.Now()
	}
	wg.Wait()
	for name := range m.ended {
		m.opts.Server.Remove(name)
	}
	m.bridges, m.ended = map[string]*roomBridge{}, map[string]time.Time{}
	m.live.Clear()
	m.log.Info("hlsbridge: stopped")
}
