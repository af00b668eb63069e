// Package dashboard owns the operator's view of a node: GET /api/dashboard (a Report of
// every node: rooms, publishers, viewers per protocol and layer, latencies, transcoder
// speed, load and recent errors, as cumulative counters the page turns into rates) and the
// ring of recent WARN/ERROR log records (RecentErrors, a slog.Handler wrapper). The page
// itself is web's /dashboard; both are admin-only (Options.Allow).
package dashboard

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/hlsbridge"
	"github.com/glint-video/glint/ingest"
	"github.com/glint-video/glint/sfu"
)

// Options say what the dashboard reads. SFU is required; nil Ingest, HLS or Bridges mean
// those services are off.
type Options struct {
	Node    string // this node's id (cluster.DefaultNode alone)
	SFU     *sfu.SFU
	Ingest  *ingest.Server
	HLS     *hls.Server
	Bridges *hlsbridge.Manager
	Errors  *RecentErrors
	// Allow decides who may read the dashboard (an admin); default: loopback clients only.
	Allow func(*http.Request) bool
	// Registry, in a cluster, lists every node with its load (Report.Cluster); nil alone.
	Registry cluster.Registry
}

// Dashboard serves GET /api/dashboard.
type Dashboard struct {
	opts    Options
	started time.Time
}

// New returns the dashboard of one node.
func New(opts Options) *Dashboard {
	if opts.Allow == nil {
		opts.Allow = Loopback
	}
	return &Dashboard{opts: opts, started: time.Now()}
}

// Loopback allows requests from a loopback address only: the default admin check while no
// admin authentication is configured. A request that a proxy forwarded (Forwarded,
// X-Forwarded-For or X-Real-IP set) is refused: behind a reverse proxy on the same host every
// client would otherwise come from loopback.
func Loopback(r *http.Request) bool {
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Guard answers 403 to requests Allow refuses and passes the others to next.
func (d *Dashboard) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.opts.Allow(r) {
			http.Error(w, "403 forbidden: the dashboard is for administrators", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Register mounts GET /api/dashboard on mux, behind Allow.
func (d *Dashboard) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/dashboard", d.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(Report{Time: time.Now(), Nodes: []NodeReport{d.Node()}, Cluster: d.cluster(r.Context())})
	})))
}

// Node returns this node's report.
func (d *Dashboard) Node() NodeReport {
	o := d.opts
	t := o.SFU.Totals()
	n := NodeReport{Node: o.Node, Time: time.Now(), Load: load(d.started), Rooms: []RoomReport{}, Errors: []Record{},
		Totals: Totals{Rooms: t.Rooms, LiveRooms: t.LiveRooms, Publishers: t.Publishers, WebRTCViewers: t.Viewers,
			BytesIn: t.BytesIn, BytesOut: t.BytesOut},
		Latency: Latencies{Transit: transit(t)}}
	if o.Errors != nil {
		n.Errors = o.Errors.Records()
	}
	rooms := d.rooms()
	if o.HLS != nil {
		var part hls.StreamStats
		for _, st := range o.HLS.Stats() {
			if r := rooms[st.Room]; r != nil {
				r.HLS, r.Viewers.HLS = hlsRoom(st), st.BlockedNow
			}
			n.Totals.HLSViewers += st.BlockedNow
			part.PartLatency.Add(st.PartLatency)
		}
		n.Latency.HLSPart = latencyOf(part.PartLatency)
	}
	if o.Bridges != nil {
		enc := o.Bridges.Encoder()
		n.Encoder = Encoder{Name: enc.Name, Hardware: enc.Hardware}
		n.Latency.CaptureToServer = latencyOf(o.Bridges.CaptureToServer())
		for _, rs := range o.Bridges.Stats() {
			if r := rooms[rs.Room]; r != nil {
				r.Transcoder = transcoderReport(rs)
			}
		}
	}
	for _, r := range rooms {
		n.Rooms = append(n.Rooms, *r)
	}
	sort.Slice(n.Rooms, func(i, j int) bool { return n.Rooms[i].Room < n.Rooms[j].Room })
	return n
}

// rooms gathers the SFU's rooms with their sessions' counters and their ingest publishers.
func (d *Dashboard) rooms() map[string]*RoomReport {
	totals := d.opts.SFU.RoomTotals()
	out := map[string]*RoomReport{}
	for _, info := range d.opts.SFU.Rooms() {
		t := totals[info.Name]
		r := &RoomReport{Room: info.Name, Live: info.Live, Since: info.Since, Layers: map[string]int{},
			Viewers: Viewers{WebRTC: t.Viewers}, BytesIn: t.BytesIn, BytesOut: t.BytesOut}
		for layer, v := range t.ViewersByLayer {
			r.Layers[layerName(layer)] = v
		}
		if t.PausedViewers > 0 {
			r.Layers["paused"] = t.PausedViewers
		}
		if t.Publishers > 0 {
			r.Publisher = &Publisher{Protocol: "webrtc"}
		}
		out[info.Name] = r
	}
	if d.opts.Ingest != nil {
		for _, st := range d.opts.Ingest.Status() {
			if r := out[st.Room]; r != nil {
				x := st.Stats
				r.Publisher = &Publisher{Protocol: st.Protocol, Video: st.Video, Audio: st.Audio, Mode: st.Mode, Ingest: &x}
			}
		}
	}
	return out
}

// layerName names a simulcast layer for the page ("" is a single-layer source).
func layerName(layer string) string {
	if layer == "" {
		return "single"
	}
	return layer
}

// cluster lists the registry's nodes (nil alone, or when the registry does not answer in
// time: the report then shows this node only).
func (d *Dashboard) cluster(ctx context.Context) []cluster.NodeInfo {
	if d.opts.Registry == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	nodes, err := d.opts.Registry.Nodes(ctx)
	if err != nil {
		return nil
	}
	return nodes
}
