package loadtest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/loadtest/bare"
)

// RoomPlaceholder in a WHIP, WHEP or HLS URL template stands for the room name.
const RoomPlaceholder = "{room}"

// Config is one load test.
type Config struct {
	URL     string // the server's base URL, e.g. http://127.0.0.1:8080
	Room    string // room to publish to and play from; with several publishers, Room-1, Room-2, ...
	Token   string // bearer token of the rooms, if they have one
	WHIPURL string // publish URL template; default URL/whip/{room}
	WHEPURL string // play URL template; default URL/whep/{room}
	HLSURL  string // LL-HLS playlist URL template; default URL/hls/{room}/index.m3u8

	Publishers    int    // synthetic publishers, each in its own room (default 1)
	PublisherMode string // PublisherLive or PublisherLoop (default loop)
	Width, Height int    // picture size (default 1280x720)
	Simulcast     bool   // send three layers (rid h, m, l: full, half, quarter size) like a browser
	BitrateKbps   int    // video bitrate
	FPS           int    // video frame rate

	Viewers      []int  // WebRTC viewer count of each step, e.g. 1, 100, 300 (ignored with Capacity)
	HLSViewers   int    // LL-HLS viewers, joined at the first step and kept
	ViewerMode   string // ViewerLight (default), ViewerFull or ViewerBare
	MaxLayer     string // simulcast cap asked of the WHEP layer endpoint: l, m, h or auto; "" = none
	HLSRendition string // LL-HLS variant to play ("" = the highest bandwidth)
	// ViewerReports makes each bare viewer send an RTCP receiver report every interval
	// (bare.Options.ReceiverReports); 0 = none. Bare viewers only: light and full viewers
	// are pion clients that send pion's own RTCP.
	ViewerReports time.Duration
	// ViewerPoll is how often the bare viewers' sockets are read (bare.NewGroup); 0 =
	// bare.DefaultPollInterval. Latency is unaffected (kernel receive times); a shorter
	// interval costs the generator more system calls that find nothing.
	ViewerPoll time.Duration

	Step      time.Duration // measurement time of each step
	Warmup    time.Duration // wait after viewers joined, before measuring
	JoinBatch int           // viewers joined concurrently (default 20)
	RampRate  float64       // viewers joined per second at most (0 = as fast as batches go)

	Capacity       bool          // ramp WebRTC viewers by CapacityStep until a threshold is crossed
	CapacityStep   int           // viewers added per step in capacity mode (default 50)
	MaxViewers     int           // capacity mode stops here (default 2000)
	MaxLatencyP95  time.Duration // capacity threshold on WebRTC latency p95 (default 400ms)
	MaxLossPercent float64       // capacity threshold on WebRTC loss (default 1%)

	ServerPID int // sample this process's CPU and RSS from /proc (server on this machine)
	// ViewerURLs makes a cluster run: the base URLs of the nodes the WebRTC viewers play
	// from, in turn (viewer i from ViewerURLs[i mod len]); the publishers keep URL. Each
	// node is measured on its own (NodeStats).
	ViewerURLs []string
	// ServerPIDs are the nodes' PIDs in a cluster run: URL's first, then each other
	// viewer URL's in order (0 = from its /metrics only). ServerPID is the first.
	ServerPIDs   []int
	MetricsURL   string // Prometheus /metrics of the server; default URL/metrics, tried and skipped if absent
	LoopbackOnly bool   // WebRTC over 127.0.0.1 only (server on this machine)

	Progress    io.Writer    // progress (a bar or lines); nil discards
	ProgressBar bool         // Progress is a terminal: draw a one-line bar instead of lines
	Logger      *slog.Logger // nil discards

	identity  *bare.Identity // the DTLS certificate all bare viewers of a run share
	bareGroup *bare.Group    // the group polling a bare viewer's socket (set per viewer)
}

// minViewerReports is the shortest interval of a bare viewer's receiver reports: RFC 3550
// (6.2) recommends 5 s at least, AVPF (RFC 4585) allows less and browsers send about one a
// second; more than ten a second would load the server with RTCP no real audience sends.
const minViewerReports = 100 * time.Millisecond

// maxViewerPoll is the longest bare-viewer poll interval: a socket's 1 MiB receive buffer
// holds about 3 s of 2.5 Mbit/s, so this leaves room for bursts at ten times the rate.
const maxViewerPoll = 250 * time.Millisecond

// withDefaults fills the zero values that have a default.
func (c Config) withDefaults() Config {
	c.Publishers = cmpOr(c.Publishers, 1)
	c.PublisherMode = cmpOr(c.PublisherMode, PublisherLoop)
	c.ViewerMode = cmpOr(c.ViewerMode, ViewerLight)
	c.Width, c.Height = cmpOr(c.Width, 1280), cmpOr(c.Height, 720)
	c.JoinBatch = cmpOr(c.JoinBatch, 20)
	c.ViewerPoll = cmpOr(c.ViewerPoll, bare.DefaultPollInterval)
	c.CapacityStep = cmpOr(c.CapacityStep, 50)
	c.MaxViewers = cmpOr(c.MaxViewers, 2000)
	c.MaxLatencyP95 = cmpOr(c.MaxLatencyP95, 400*time.Millisecond)
	c.MaxLossPercent = cmpOr(c.MaxLossPercent, 1)
	base := strings.TrimRight(c.URL, "/")
	c.WHIPURL = cmpOr(c.WHIPURL, base+"/whip/"+RoomPlaceholder)
	c.WHEPURL = cmpOr(c.WHEPURL, base+"/whep/"+RoomPlaceholder)
	c.HLSURL = cmpOr(c.HLSURL, base+"/hls/"+RoomPlaceholder+"/index.m3u8")
	if c.Capacity {
		c.Viewers = nil
		for n := c.CapacityStep; n <= c.MaxViewers; n += c.CapacityStep {
			c.Viewers = append(c.Viewers, n)
		}
	}
	return c
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Validate checks the configuration (defaults applied) and returns the first problem as
// a one-line error.
func (c *Config) Validate() error {
	d := c.withDefaults()
	u, err := url.Parse(d.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("url %q: want http://host:port", c.URL)
	case !config.ValidRoomName(d.Room):
		return fmt.Errorf("room %q: 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit", c.Room)
	case d.Publishers < 1 || d.Publishers > 100:
		return fmt.Errorf("publishers %d: want 1-100", c.Publishers)
	case d.PublisherMode != PublisherLive && d.PublisherMode != PublisherLoop:
		return fmt.Errorf("publisher %q: want live or loop", c.PublisherMode)
	case d.ViewerMode != ViewerLight && d.ViewerMode != ViewerFull && d.ViewerMode != ViewerBare:
		return fmt.Errorf("viewer %q: want light, full or bare", c.ViewerMode)
	case d.Capacity && (d.CapacityStep < 1 || d.MaxViewers < d.CapacityStep):
		return fmt.Errorf("capacity step %d, max viewers %d: want 1 <= step <= max", d.CapacityStep, d.MaxViewers)
	case !slices.ContainsFunc(d.Viewers, func(n int) bool { return n > 0 }) && d.HLSViewers == 0:
		return errors.New("viewers: want at least one step, e.g. 1,100,300 (or --hls-viewers, or --capacity)")
	case slices.ContainsFunc(d.Viewers, func(n int) bool { return n < 0 || n > 100000 }):
		return fmt.Errorf("viewers %v: each step needs 0-100000 viewers", c.Viewers)
	case d.HLSViewers < 0 || d.HLSViewers > 100000:
		return fmt.Errorf("hls viewers %d: want 0-100000", c.HLSViewers)
	case d.Step < 100*time.Millisecond:
		return fmt.Errorf("step %s: want at least 100ms", c.Step)
	case d.Warmup < 0:
		return fmt.Errorf("warmup %s: must not be negative", c.Warmup)
	case d.BitrateKbps < 50 || d.BitrateKbps > 100000:
		return fmt.Errorf("bitrate %d: want 50-100000 kbit/s", c.BitrateKbps)
	case d.FPS < 1 || d.FPS > 120:
		return fmt.Errorf("fps %d: want 1-120", c.FPS)
	case d.Width < 16 || d.Height < 16 || d.Width%2 != 0 || d.Height%2 != 0 || d.Width > 7680 || d.Height > 4320:
		return fmt.Errorf("size %dx%d: want even sizes from 16x16 to 7680x4320", d.Width, d.Height)
	case d.JoinBatch < 0 || d.RampRate < 0:
		return fmt.Errorf("join batch %d, ramp rate %g: must not be negative", c.JoinBatch, c.RampRate)
	case d.MaxLatencyP95 < 0 || d.MaxLossPercent < 0:
		return errors.New("capacity thresholds must not be negative")
	case d.ViewerReports < 0:
		return fmt.Errorf("viewer reports %s: must not be negative (0 = none)", c.ViewerReports)
	case d.ViewerReports > 0 && d.ViewerReports < minViewerReports:
		return fmt.Errorf("viewer reports %s: too frequent, want 0 (none) or at least %s", c.ViewerReports, minViewerReports)
	case d.ViewerPoll < time.Millisecond || d.ViewerPoll > maxViewerPoll:
		return fmt.Errorf("viewer poll %s: want 1ms-%s (0 = %s)", c.ViewerPoll, maxViewerPoll, bare.DefaultPollInterval)
	case d.ViewerReports > 0 && d.ViewerMode != ViewerBare:
		return fmt.Errorf("viewer reports: only bare viewers send them on request (--viewer bare); %s viewers send pion's own RTCP", d.ViewerMode)
	case d.MaxLayer != "" && !slices.Contains([]string{"l", "m", "h", "auto"}, d.MaxLayer):
		return fmt.Errorf("max layer %q: want l, m, h or auto", c.MaxLayer)
	case d.ServerPID < 0:
		return fmt.Errorf("server pid %d: must not be negative", c.ServerPID)
	}
	if err := d.validateCluster(); err != nil {
		return err
	}
	for name, tmpl := range map[string]string{"whip-url": d.WHIPURL, "whep-url": d.WHEPURL, "hls-url": d.HLSURL, "metrics-url": d.MetricsURL} {
		if tmpl == "" {
			continue
		}
		if u, err := url.Parse(strings.ReplaceAll(tmpl, RoomPlaceholder, "x")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s %q: want http(s)://host/path", name, tmpl)
		}
		if name != "metrics-url" && d.Publishers > 1 && !strings.Contains(tmpl, RoomPlaceholder) {
			return fmt.Errorf("%s %q: with %d publishers it needs %s where each room's name goes", name, tmpl, d.Publishers, RoomPlaceholder)
		}
	}
	return nil
}

// roomName is the room of publisher i (0-based): Room alone, else Room-1, Room-2, ...
func (c *Config) roomName(i int) string {
	if c.Publishers <= 1 {
		return c.Room
	}
	return c.Room + "-" + strconv.Itoa(i+1)
}

// roomURL fills a URL template with a room name.
func roomURL(tmpl, room string) string {
	return strings.ReplaceAll(tmpl, RoomPlaceholder, url.PathEscape(room))
}
