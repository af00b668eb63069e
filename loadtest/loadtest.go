// Package loadtest is Glint's load generator (`glint loadtest`). It owns synthetic
// publishers and viewers that talk to a server over the public protocols only (WHIP,
// WHEP, /metrics, /api/rooms), and the measurement of what the server does under their
// load: SFU transit latency (from the server's glint_transit_seconds histogram),
// publisher-to-viewer latency (every packet carries its send time), packet loss, and the
// server's CPU and memory per viewer, at a series of viewer counts.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/glint-video/glint/config"
)

// Timeouts of the run's network steps.
const (
	connectTimeout = 20 * time.Second // the publisher's WHIP exchange and ICE/DTLS
	joinTimeout    = 30 * time.Second // one batch of viewers
	liveTimeout    = 10 * time.Second // the room showing the publisher's tracks
	closeTimeout   = 5 * time.Second  // one session's DELETE and close
	scrapeTimeout  = 5 * time.Second  // one GET /metrics
	settleTimeout  = 3 * time.Second  // for the packets sent before a mark to arrive
)

// Config is one load test.
type Config struct {
	URL          string        // the server's base URL, e.g. http://127.0.0.1:8080
	Room         string        // room to publish to and play from
	Token        string        // bearer token of the room, if it has one
	Viewers      []int         // viewer count of each step, e.g. 1, 100, 300
	Step         time.Duration // measurement time of each step
	Warmup       time.Duration // wait after viewers joined, before measuring
	BitrateKbps  int           // video bitrate of the synthetic stream
	FPS          int           // video frame rate
	JoinBatch    int           // viewers joined concurrently (default 20)
	LoopbackOnly bool          // WebRTC over 127.0.0.1 only (server on this machine)
	Progress     io.Writer     // a line per joined batch and per step; nil discards
}

// Validate checks the configuration and returns the first problem as a one-line error.
func (c *Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("url %q: want http://host:port", c.URL)
	case !config.ValidRoomName(c.Room):
		return fmt.Errorf("room %q: 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit", c.Room)
	case len(c.Viewers) == 0:
		return errors.New("viewers: want at least one step, e.g. 1,100,300")
	case slices.ContainsFunc(c.Viewers, func(n int) bool { return n < 1 || n > 100000 }):
		return fmt.Errorf("viewers %v: each step needs 1-100000 viewers", c.Viewers)
	case c.Step < 100*time.Millisecond:
		return fmt.Errorf("step %s: want at least 100ms", c.Step)
	case c.Warmup < 0:
		return fmt.Errorf("warmup %s: must not be negative", c.Warmup)
	case c.BitrateKbps < 50 || c.BitrateKbps > 100000:
		return fmt.Errorf("bitrate %d: want 50-100000 kbit/s", c.BitrateKbps)
	case c.FPS < 1 || c.FPS > 120:
		return fmt.Errorf("fps %d: want 1-120", c.FPS)
	case c.JoinBatch < 0:
		return fmt.Errorf("join batch %d: must not be negative", c.JoinBatch)
	}
	return nil
}

// Run publishes the synthetic stream to cfg.Room, measures a step without viewers (the
// baseline), then one step per cfg.Viewers entry, reusing the viewers of the previous
// step. It returns the report of every step it completed, also when it fails or ctx ends
// (with the error). All sessions are closed (DELETE) before it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.JoinBatch == 0 {
		cfg.JoinBatch = 20
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	base := strings.TrimRight(cfg.URL, "/")
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.JoinBatch
	defer transport.CloseIdleConnections()
	r := &runner{cfg: cfg, base: base, http: &http.Client{Transport: transport}, report: newReport(cfg), clock: &markClock{}}
	err := r.run(ctx)
	if err != nil {
		r.report.Error = err.Error()
	}
	return r.report, err
}

// runner is the state of one Run.
type runner struct {
	cfg    Config
	base   string
	http   *http.Client
	report *Report
	clock  *markClock // splits packet counts at the measurement's start and end
	pub    *publisher
	pool   *viewerPool
}

func (r *runner) run(ctx context.Context) error {
	if _, err := scrapeServer(ctx, r.http, r.base+"/metrics"); err != nil {
		return fmt.Errorf("server %s: %w", r.base, err)
	}
	connectCtx, cancel := context.WithTimeout(ctx, connectTimeout)
	pub, err := startPublisher(connectCtx, r.base+"/whip/"+r.cfg.Room, r.cfg, r.http, r.clock)
	cancel()
	if err != nil {
		return err
	}
	r.pub = pub
	r.pool = &viewerPool{cfg: r.cfg, whepURL: r.base + "/whep/" + r.cfg.Room, httpClient: r.http, clock: r.clock}
	defer r.closeAll(context.WithoutCancel(ctx))
	if err := r.waitLive(ctx); err != nil {
		return err
	}
	baseline, err := r.step(ctx, 0, nil)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	r.report.Baseline = baseline
	r.progressf("%s\n", baseline.line())
	for _, n := range r.cfg.Viewers {
		step, err := r.step(ctx, n, baseline)
		if err != nil {
			return fmt.Errorf("step %d viewers: %w", n, err)
		}
		r.report.Steps = append(r.report.Steps, *step)
		r.progressf("%s\n", step.line())
	}
	return nil
}

// closeAll ends the viewers, then the publisher.
func (r *runner) closeAll(ctx context.Context) {
	r.report.Publisher = r.publisherReport()
	r.pool.closeAll(ctx)
	closeCtx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	if err := r.pub.Close(closeCtx); err != nil {
		r.progressf("closing: %v\n", err)
	}
}

func (r *runner) progressf(format string, args ...any) {
	_, _ = fmt.Fprintf(r.cfg.Progress, format, args...)
}

// waitLive waits until the server lists the room with the publisher's video and audio,
// so that viewers get both tracks.
func (r *runner) waitLive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	for {
		live, err := roomLive(ctx, r.http, r.base+"/api/rooms/"+r.cfg.Room, r.cfg.Token)
		if err != nil {
			return err
		}
		if live {
			return nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("room %q never went live with video and audio: %w", r.cfg.Room, err)
		}
	}
}

// step brings the pool to n viewers, waits the warm-up and measures for cfg.Step.
func (r *runner) step(ctx context.Context, n int, baseline *Step) (*Step, error) {
	joinStart := time.Now()
	err := r.pool.resize(ctx, n, func(joined int) {
		if joined < n {
			r.progressf("  %d/%d viewers joined\n", joined, n)
		}
	})
	if err != nil {
		return nil, err
	}
	joined := time.Since(joinStart)
	if err := sleep(ctx, r.cfg.Warmup); err != nil {
		return nil, err
	}
	start, err := r.snapshot(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	end, err := r.snapshot(ctx, time.Unix(0, start.mark).Add(r.cfg.Step))
	if err != nil {
		return nil, err
	}
	step, err := newStep(n, start, end, baseline)
	if err != nil {
		return nil, err
	}
	step.JoinSeconds = joined.Seconds()
	return step, nil
}

// snapshot is every counter the measurement reads, at one mark.
type snapshot struct {
	mark      int64 // send time (unix ns) the packet counts are split at
	at        time.Time
	server    serverSample
	selfCPU   time.Duration
	machine   time.Duration // busy CPU time of the whole machine
	published uint64        // packets sent before mark
	viewers   viewerCounts
}

// snapshot sets a mark at about when, reads the server and this process at the mark, then
// the packet counters once the packets sent before it have arrived.
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
	if s.server, err = scrapeServer(ctx, r.http, r.base+"/metrics"); err != nil {
		return snapshot{}, err
	}
	counters := func(yield func(*packetCounter) bool) {
		for _, seq := range []iter.Seq[*packetCounter]{r.pub.counters, r.pool.counters} {
			for c := range seq {
				if !yield(c) {
					return
				}
			}
		}
	}
	if err := waitCrossed(ctx, s.mark, settleTimeout, counters); err != nil {
		return snapshot{}, err
	}
	for c := range r.pub.counters {
		packets, _, _ := c.at(s.mark)
		s.published += packets
	}
	s.viewers = r.pool.snapshot(s.mark)
	return s, nil
}

func (r *runner) publisherReport() PublisherReport {
	if r.pub == nil {
		return PublisherReport{}
	}
	s := &r.pub.stats
	return PublisherReport{
		Packets: s.video.packets.Load() + s.audio.packets.Load(), Bytes: s.video.bytes.Load() + s.audio.bytes.Load(),
		Keyframes: s.keyframes.Load(), KeyframeRequests: s.keyframeRequests.Load(),
	}
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
