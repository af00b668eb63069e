// Package loadtest is Glint's load generator (`glint loadtest`). It owns synthetic
// publishers (real H.264 from libx264 with a capture-time SEI in every access unit, plus
// Opus) and viewers (WebRTC over WHEP: pion, or the far cheaper receive-only viewers of
// loadtest/bare; LL-HLS) that talk to a server over the public protocols only, and the
// measurement of what they see at a series of viewer counts: latency from capture to a
// complete frame, join time, frames received against sent, freezes, loss, bitrate; the
// server's CPU and memory (from /metrics or /proc) and the load generator's own CPU. A
// capacity mode ramps viewers until latency or loss crosses a threshold. LL-HLS viewers also
// measure when each part became available on the origin.
//
// The publishers encode with transcoder's H.264 encoder (transcoder.NewH264Encoder) and
// publish with package client (keyframe requests through client.Options.OnRTCP).
// ParseFlags and Command are `glint loadtest`'s command line; cmd/glint only calls Command.
package loadtest

import (
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/glint-video/glint/loadtest/bare"
)

// Timeouts of the run's network steps.
const (
	connectTimeout   = 20 * time.Second // one publisher's WHIP exchange and ICE/DTLS
	joinTimeout      = 30 * time.Second // one batch of viewers
	liveTimeout      = 10 * time.Second // the room showing the publisher's tracks
	unknownRoomsWait = 3 * time.Second  // a server without Glint's /api/rooms: wait this long instead
	closeTimeout     = 5 * time.Second  // one session's DELETE and close
	scrapeTimeout    = 5 * time.Second  // one GET /metrics
	settleTimeout    = 3 * time.Second  // for the frames captured before a mark to arrive (WebRTC)
	settleTimeoutHLS = 10 * time.Second // the same with LL-HLS viewers, seconds behind
)

// Run publishes the synthetic streams, measures a step without viewers (the baseline),
// then one step per viewer count, reusing the viewers of the previous step. It returns the
// report of every step it completed, also when it fails or ctx ends (with the error). All
// sessions are closed before it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var groups []*bare.Group
	if cfg.ViewerMode == ViewerBare {
		id, err := bare.NewIdentity()
		if err != nil {
			return nil, err
		}
		cfg.identity = id
		for range runtime.GOMAXPROCS(0) { // one polling goroutine per core
			groups = append(groups, bare.NewGroup(cfg.ViewerPoll))
		}
		defer func() {
			for _, g := range groups {
				g.Close() // after r.run closed the viewers
			}
		}()
	}
	// libx264 and libopus print their settings and statistics at info level; the load
	// generator's stderr belongs to its progress.
	if astiav.GetLogLevel() > astiav.LogLevelError {
		astiav.SetLogLevel(astiav.LogLevelError)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.JoinBatch + 2*cfg.HLSViewers
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Transport: transport}
	r := &runner{
		cfg: cfg, http: httpClient, report: newReport(cfg), clock: &markClock{}, bareGroups: groups,
		bar: newProgress(cfg.Progress, cfg.ProgressBar, len(cfg.Viewers)+1),
	}
	r.probe = &serverProbe{http: httpClient, metricsURL: cfg.MetricsURL, required: cfg.MetricsURL != "", pid: cfg.ServerPID}
	if r.probe.metricsURL == "" {
		r.probe.metricsURL = strings.TrimRight(cfg.URL, "/") + "/metrics"
	}
	err := r.run(ctx)
	r.bar.finish()
	if err != nil {
		r.report.Error = err.Error()
	}
	return r.report, err
}

// runner is the state of one Run.
type runner struct {
	cfg         Config
	http        *http.Client
	report      *Report
	clock       *markClock // splits frame counts at the measurement's start and end
	probe       *serverProbe
	bar         *progress
	pubs        []*publisher
	webrtc, hls *viewerPool
	bareGroups  []*bare.Group  // bare mode: polling goroutines, viewers spread over them
	nodes       []*clusterNode // a cluster run's nodes (node 0 publishes); nil for one server
	viewerNodes []int          // the node of each ViewerURLs entry
}

func (r *runner) run(ctx context.Context) error {
	if err := r.reachable(ctx); err != nil {
		return err
	}
	if !r.probe.required {
		if s, err := scrapeServer(ctx, r.http, r.probe.metricsURL); err != nil || !s.haveProcess {
			r.probe.metricsURL = "" // not a server with /metrics there: do not ask again
		}
	}
	if _, err := r.probe.sample(ctx); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := r.setupNodes(ctx); err != nil {
		return err
	}
	r.webrtc = &viewerPool{kind: KindWebRTC, batch: r.cfg.JoinBatch, rampRate: r.cfg.RampRate, join: r.joinWebRTC}
	r.hls = &viewerPool{kind: KindLLHLS, batch: r.cfg.JoinBatch, rampRate: r.cfg.RampRate, join: r.joinHLS}
	defer r.closeAll(context.WithoutCancel(ctx))
	if err := r.startPublishers(ctx); err != nil {
		return err
	}
	if err := r.waitLive(ctx); err != nil {
		return err
	}
	baseline, err := r.step(ctx, 0, 0, nil)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	r.report.Baseline = baseline
	r.bar.line(baseline.line())
	for _, n := range r.cfg.Viewers {
		step, err := r.step(ctx, n, r.cfg.HLSViewers, baseline)
		if err != nil {
			return fmt.Errorf("step %d viewers: %w", n, err)
		}
		r.report.Steps = append(r.report.Steps, *step)
		r.bar.line(step.line())
		if r.cfg.Capacity && !r.holds(step) {
			break
		}
	}
	if r.cfg.Capacity {
		r.report.Capacity = r.capacityResult()
	}
	return nil
}

// reachable fails fast when nothing answers at the first publish URL (any HTTP answer
// to OPTIONS will do).
func (r *runner) reachable(ctx context.Context) error {
	target := roomURL(r.cfg.WHIPURL, r.cfg.roomName(0))
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, target, nil)
	if err != nil {
		return fmt.Errorf("server %s: %w", target, err)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("server unreachable: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.Body.Close()
}

// startPublishers connects one publisher per room; the loop mode encodes its video once.
func (r *runner) startPublishers(ctx context.Context) error {
	specs := layerSpecs(r.cfg)
	loops := map[string][]accessUnit{}
	if r.cfg.PublisherMode == PublisherLoop {
		for _, spec := range specs {
			r.bar.status("encoding %d s of %dx%d video to loop", gopSeconds, spec.width, spec.height)
			frames, err := preEncode(spec.width, spec.height, r.cfg.FPS, spec.kbps, gopSeconds)
			if err != nil {
				return fmt.Errorf("publisher: %w", err)
			}
			loops[spec.rid] = frames
		}
	}
	opus, err := encodeOpusTone(1000/audioInterval, opusKbps)
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	for i := range r.cfg.Publishers {
		layers, err := r.newLayers(specs, loops)
		if err != nil {
			return fmt.Errorf("publisher: %w", err)
		}
		room := r.cfg.roomName(i)
		r.bar.status("publishing to %s", room)
		connectCtx, cancel := context.WithTimeout(ctx, connectTimeout)
		pub, err := startPublisher(connectCtx, room, roomURL(r.cfg.WHIPURL, room), r.cfg, r.http, r.clock, layers, opus)
		cancel()
		if err != nil {
			return err
		}
		r.pubs = append(r.pubs, pub)
	}
	return nil
}

// newLayers makes one publisher's video layers: loop sources over the shared
// pre-encoded frames, or live encoders.
func (r *runner) newLayers(specs []layerSpec, loops map[string][]accessUnit) ([]*videoLayer, error) {
	var layers []*videoLayer
	for _, spec := range specs {
		var source videoSource = &loopSource{frames: loops[spec.rid]}
		if r.cfg.PublisherMode == PublisherLive {
			live, err := newLiveSource(spec.width, spec.height, r.cfg.FPS, spec.kbps)
			if err != nil {
				for _, l := range layers {
					l.source.close()
				}
				return nil, err
			}
			source = live
		}
		layers = append(layers, newVideoLayer(spec, source))
	}
	return layers, nil
}

func (r *runner) joinWebRTC(ctx context.Context, i int) (member, error) {
	room := i % len(r.pubs)
	cfg := r.cfg
	if len(r.bareGroups) > 0 {
		cfg.bareGroup = r.bareGroups[i%len(r.bareGroups)]
	}
	whep := r.cfg.WHEPURL
	if len(r.nodes) > 0 {
		whep = r.nodes[r.viewerNode(i)].whep
	}
	return joinWebRTC(ctx, roomURL(whep, r.cfg.roomName(room)), room, cfg, r.http, r.clock)
}

func (r *runner) joinHLS(ctx context.Context, i int) (member, error) {
	room := i % len(r.pubs)
	return startHLS(ctx, roomURL(r.cfg.HLSURL, r.cfg.roomName(room)), room, r.cfg, r.http, r.clock, r.cfg.Logger), nil
}

// closeAll ends the viewers, then the publishers.
func (r *runner) closeAll(ctx context.Context) {
	r.bar.status("closing")
	r.webrtc.closeAll(ctx)
	r.hls.closeAll(ctx)
	for _, p := range r.pubs {
		r.report.Publishers = append(r.report.Publishers, p.report())
		closeCtx, cancel := context.WithTimeout(ctx, closeTimeout)
		if err := p.Close(closeCtx); err != nil {
			r.cfg.Logger.Warn("loadtest: closing publisher", "room", p.room, "err", err)
		}
		cancel()
	}
}

// waitLive waits until the server lists every room with video and audio, so that
// viewers get both tracks. A server without Glint's room API gets a fixed wait instead.
func (r *runner) waitLive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	start := time.Now()
	base := strings.TrimRight(r.cfg.URL, "/")
	for i := range r.pubs {
		room := r.cfg.roomName(i)
		r.bar.status("waiting for room %s to go live", room)
		for {
			live, err := roomLive(ctx, r.http, base+"/api/rooms/"+room, r.cfg.Token)
			if err != nil || live {
				break // err: not Glint's API; go on and let the viewers find out
			}
			if time.Since(start) > unknownRoomsWait {
				break
			}
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return fmt.Errorf("room %q never went live with video and audio: %w", room, err)
			}
		}
		if err := r.pubs[i].err(); err != nil {
			return fmt.Errorf("publisher %s: %w", room, err)
		}
	}
	return nil
}

// snapshot is every counter the measurement reads, at one mark.
type snapshot struct {
	mark        int64 // capture time (Unix ns) the frame counts are split at
	at          time.Time
	server      serverSample
	selfCPU     time.Duration
	machine     time.Duration // busy CPU time of the whole machine
	published   []uint64      // frames captured before mark, per publisher
	webrtc, hls poolCounts
	nodes       []serverSample // a cluster run: each node (server is their sum)
	webrtcNodes []poolCounts   // a cluster run: the WebRTC viewers of each node
}

// snapshot sets a mark at about when, reads the server and this process at the mark, then
// the frame counters once the frames captured before it have arrived.
func (r *runner) snapshot(ctx context.Context, when time.Time) (snapshot, error) {
	if err := sleep(ctx, time.Until(when)-markLead); err != nil {
		return snapshot{}, err
	}
	s := snapshot{mark: r.clock.setMark()}
	if err := sleep(ctx, time.Until(time.Unix(0, s.mark))); err != nil {
		return snapshot{}, err
	}
	var err error
	s.at, s.selfCPU, s.machine = time.Now(), selfCPU(), machineCPU()
	if len(r.nodes) > 0 {
		if s.nodes, err = r.sampleNodes(ctx); err != nil {
			return snapshot{}, err
		}
		s.server = sumSamples(s.nodes)
	} else if s.server, err = r.probe.sample(ctx); err != nil {
		return snapshot{}, err
	}
	settle := settleTimeout
	if len(r.hls.members) > 0 {
		settle = settleTimeoutHLS
	}
	counters := func(yield func(*packetCounter) bool) {
		for _, seq := range []iter.Seq[*packetCounter]{r.publisherCounters, r.webrtc.frameCounters, r.hls.frameCounters} {
			for c := range seq {
				if !yield(c) {
					return
				}
			}
		}
	}
	if err := waitCrossed(ctx, s.mark, settle, counters); err != nil {
		return snapshot{}, err
	}
	for _, p := range r.pubs {
		frames, _, _ := p.stats.frames.at(s.mark)
		s.published = append(s.published, frames)
	}
	s.webrtc, s.hls = r.webrtc.snapshot(s.mark), r.hls.snapshot(s.mark)
	if len(r.nodes) > 0 {
		s.webrtcNodes = r.nodeSnapshots(s.mark)
	}
	return s, nil
}

func (r *runner) publisherCounters(yield func(*packetCounter) bool) {
	for _, p := range r.pubs {
		if !yield(&p.stats.frames) {
			return
		}
	}
}

// holds reports whether a capacity step stayed within the thresholds.
func (r *runner) holds(s *Step) bool {
	w := s.WebRTC
	ok := w != nil && w.Alive == w.Viewers && w.LatencyP95Ms <= ms(r.cfg.MaxLatencyP95) && w.LossPercent <= r.cfg.MaxLossPercent
	s.Held = &ok
	return ok
}

func (r *runner) capacityResult() *CapacityResult {
	c := &CapacityResult{MaxLatencyP95Ms: ms(r.cfg.MaxLatencyP95), MaxLossPercent: r.cfg.MaxLossPercent}
	for _, s := range r.report.Steps {
		if s.Held != nil && *s.Held {
			c.MaxViewersHeld = max(c.MaxViewersHeld, s.Viewers)
		}
	}
	if i := slices.IndexFunc(r.report.Steps, func(s Step) bool { return s.Held != nil && !*s.Held }); i >= 0 {
		s := r.report.Steps[i]
		c.FailedAt = s.Viewers
		c.Reason = fmt.Sprintf("at %d viewers: latency p95 %.0f ms (max %.0f), loss %.2f%% (max %.2f), %d of %d alive",
			s.Viewers, s.WebRTC.LatencyP95Ms, c.MaxLatencyP95Ms, s.WebRTC.LossPercent, c.MaxLossPercent, s.WebRTC.Alive, s.WebRTC.Viewers)
	} else {
		c.Reason = fmt.Sprintf("held every step up to %d viewers", r.cfg.MaxViewers)
	}
	return c
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
