package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// A cluster run (Config.ViewerURLs) publishes to URL and spreads the WebRTC viewers over
// several nodes in turn: viewer i plays from ViewerURLs[i mod len]. Each node is sampled on
// its own (its /metrics, and its PID when given), the step's server totals are the sums over
// the nodes, and each node gets its own row: its viewers' latency and frames, its CPU, RSS
// and relays.

// NodeStats is one node of a cluster run during a step.
type NodeStats struct {
	URL     string       `json:"url"`
	Publish bool         `json:"publish,omitempty"` // the node the publishers publish to (URL)
	Viewers int          `json:"viewers"`           // WebRTC viewers the load test plays from it
	WebRTC  *ClientStats `json:"webrtc,omitempty"`  // what those viewers saw

	ServerCPUPercent          float64 `json:"server_cpu_percent"`
	ServerCPUPerViewerPercent float64 `json:"server_cpu_per_viewer_percent"` // over its own baseline
	ServerRSSBytes            int64   `json:"server_rss_bytes"`
	ServerViewers             *int    `json:"server_viewers,omitempty"` // glint_subscribers
	ServerPacketsOutPerSec    float64 `json:"server_packets_out_per_sec,omitempty"`
	TransitP99Ms              float64 `json:"transit_p99_ms,omitempty"`
	// Relays: glint_relays{direction="in"} (rooms it relays from other nodes) and "out"
	// (other nodes' relays of its rooms); from GET /api/relays: RelayUpstreams, room → the
	// node it is relayed from, and RelayConnects, the upstream sessions its relays opened so
	// far (more than one per relay: reconnects).
	RelaysIn       int               `json:"relays_in"`
	RelaysOut      int               `json:"relays_out"`
	RelayUpstreams map[string]string `json:"relay_upstreams,omitempty"`
	RelayConnects  int64             `json:"relay_connects,omitempty"`
}

// clusterNode is one node of a cluster run.
type clusterNode struct {
	base  string // base URL, no trailing slash
	whep  string // play URL template
	probe *serverProbe
}

// nodeURLs are the nodes of a cluster run: URL first, then each other viewer URL, in the
// order given; nil without ViewerURLs.
func (c *Config) nodeURLs() []string {
	if len(c.ViewerURLs) == 0 {
		return nil
	}
	nodes := []string{strings.TrimRight(c.URL, "/")}
	for _, u := range c.ViewerURLs {
		if u = strings.TrimRight(u, "/"); !slices.Contains(nodes, u) {
			nodes = append(nodes, u)
		}
	}
	return nodes
}

// validateCluster checks the cluster options (defaults applied).
func (c *Config) validateCluster() error {
	nodes := c.nodeURLs()
	for _, u := range c.ViewerURLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" {
			return fmt.Errorf("viewer url %q: want a node's base URL, http(s)://host:port", u)
		}
	}
	switch {
	case len(nodes) == 0 && len(c.ServerPIDs) > 1:
		return fmt.Errorf("server pid: %d PIDs need as many nodes (--viewer-url)", len(c.ServerPIDs))
	case len(c.ServerPIDs) > len(nodes) && len(nodes) > 0:
		return fmt.Errorf("server pid: %d PIDs for %d nodes (--url, then each other --viewer-url)", len(c.ServerPIDs), len(nodes))
	case slices.ContainsFunc(c.ServerPIDs, func(p int) bool { return p < 0 }):
		return fmt.Errorf("server pid %v: must not be negative", c.ServerPIDs)
	case len(nodes) > 0 && c.Capacity:
		return fmt.Errorf("capacity mode measures one server; with --viewer-url give --viewers steps")
	case len(nodes) > 0 && c.WHEPURL != strings.TrimRight(c.URL, "/")+"/whep/"+RoomPlaceholder:
		return fmt.Errorf("whep-url %q: with --viewer-url each node's play URL is its base URL + /whep/{room}", c.WHEPURL)
	}
	return nil
}

// nodePID is node i's PID (0 = sample it from its /metrics only).
func (c *Config) nodePID(i int) int {
	if i < len(c.ServerPIDs) {
		return c.ServerPIDs[i]
	}
	if i == 0 {
		return c.ServerPID
	}
	return 0
}

// setupNodes makes the probes of a cluster run's nodes (node 0's is r.probe) and checks
// that each answers; a node without /metrics is sampled by PID only.
func (r *runner) setupNodes(ctx context.Context) error {
	for i, base := range r.cfg.nodeURLs() {
		n := &clusterNode{base: base, whep: base + "/whep/" + RoomPlaceholder, probe: r.probe}
		if i > 0 {
			n.probe = &serverProbe{http: r.http, metricsURL: base + "/metrics", pid: r.cfg.nodePID(i)}
			if s, err := scrapeServer(ctx, r.http, n.probe.metricsURL); err != nil || !s.haveProcess {
				n.probe.metricsURL = ""
			}
			if _, err := n.probe.sample(ctx); err != nil {
				return fmt.Errorf("node %s: %w", base, err)
			}
		}
		r.nodes = append(r.nodes, n)
	}
	r.viewerNodes = nil
	for _, u := range r.cfg.ViewerURLs {
		r.viewerNodes = append(r.viewerNodes, slices.IndexFunc(r.nodes, func(n *clusterNode) bool { return n.base == strings.TrimRight(u, "/") }))
	}
	return nil
}

// viewerNode is the node WebRTC viewer i plays from (0 outside a cluster run).
func (r *runner) viewerNode(i int) int {
	if len(r.viewerNodes) == 0 {
		return 0
	}
	return r.viewerNodes[i%len(r.viewerNodes)]
}

// sampleNodes reads every node once (same order as r.nodes).
func (r *runner) sampleNodes(ctx context.Context) ([]serverSample, error) {
	out := make([]serverSample, len(r.nodes))
	for i, n := range r.nodes {
		s, err := n.probe.sample(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.base, err)
		}
		out[i] = s
	}
	return out, nil
}

// sumSamples is the cluster as one server: CPU, memory, viewers and counters added; the
// transit histograms merged when every node has the same buckets.
func sumSamples(samples []serverSample) serverSample {
	var t serverSample
	t.haveProcess = len(samples) > 0
	for i, s := range samples {
		t.haveProcess = t.haveProcess && s.haveProcess
		t.haveViewers = t.haveViewers || s.haveViewers
		t.cpuSeconds += s.cpuSeconds
		t.rssBytes += s.rssBytes
		t.packetsOut += s.packetsOut
		t.viewers += s.viewers
		t.skips += s.skips
		t.retransmit += s.retransmit
		t.hlsRequests += s.hlsRequests
		t.relaysIn += s.relaysIn
		t.relaysOut += s.relaysOut
		switch {
		case i == 0:
			t.transit = slices.Clone(s.transit)
		case len(s.transit) != len(t.transit):
			t.transit = nil
		default:
			for j, b := range s.transit {
				if t.transit == nil || t.transit[j].le != b.le {
					t.transit = nil
					break
				}
				t.transit[j].count += b.count
			}
		}
	}
	return t
}

// viewersOn counts the first n WebRTC viewers that play from node k.
func (r *runner) viewersOn(k, n int) int {
	count := 0
	for i := range n {
		if r.viewerNode(i) == k {
			count++
		}
	}
	return count
}

// nodeStats computes each node's part of a step: its viewers' statistics (those from index
// from on joined in this step) and its server figures over its own baseline.
func (r *runner) nodeStats(ctx context.Context, n, from int, a, b *snapshot, baseline *Step) ([]NodeStats, error) {
	out := make([]NodeStats, len(r.nodes))
	for k, node := range r.nodes {
		na, nb := *a, *b
		na.server, nb.server = a.nodes[k], b.nodes[k]
		var base *Step
		if baseline != nil && k < len(baseline.Nodes) {
			bn := baseline.Nodes[k]
			base = &Step{ServerCPUPercent: bn.ServerCPUPercent, ServerRSSBytes: bn.ServerRSSBytes}
		}
		viewers := r.viewersOn(k, n)
		s, err := newStep(viewers, 0, na, nb, base)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", node.base, err)
		}
		ns := NodeStats{
			URL: node.base, Publish: k == 0, Viewers: viewers,
			ServerCPUPercent: s.ServerCPUPercent, ServerCPUPerViewerPercent: s.ServerCPUPerViewerPercent,
			ServerRSSBytes: s.ServerRSSBytes, ServerViewers: s.ServerViewers, ServerPacketsOutPerSec: s.ServerPacketsOutPerSec,
			TransitP99Ms: s.TransitP99Ms, RelaysIn: int(nb.server.relaysIn), RelaysOut: int(nb.server.relaysOut),
		}
		ns.WebRTC = clientStats(viewers, r.viewersOn(k, from), &na, &nb, &a.webrtcNodes[k], &b.webrtcNodes[k], true)
		if ns.RelaysIn > 0 {
			ns.RelayUpstreams, ns.RelayConnects = fetchRelays(ctx, r.http, node.base+"/api/relays", r.cfg.Token)
		}
		out[k] = ns
	}
	return out, nil
}

// nodeSnapshots reads the WebRTC viewers' counters at mark, per node.
func (r *runner) nodeSnapshots(mark int64) []poolCounts {
	out := make([]poolCounts, len(r.nodes))
	for k := range r.nodes {
		out[k] = r.webrtc.snapshotWhere(mark, func(i int) bool { return r.viewerNode(i) == k })
	}
	return out
}

// fetchRelays GETs a node's /api/relays (relay.Info by room) and returns room → upstream
// node and the upstream sessions opened by all its relays; nil when the node does not answer
// it (not Glint, or the API needs a role the token lacks): the counts from /metrics still show.
func fetchRelays(ctx context.Context, httpClient *http.Client, apiURL, token string) (upstreams map[string]string, connects int64) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL, nil)
	if err != nil {
		return nil, 0
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, 0
	}
	defer func() { _ = resp.Body.Close() }()
	var relays map[string]struct {
		Upstream string `json:"upstream"`
		Connects int64  `json:"connects"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&relays) != nil {
		return nil, 0
	}
	upstreams = make(map[string]string, len(relays))
	for room, info := range relays {
		upstreams[room] = info.Upstream
		connects += info.Connects
	}
	return upstreams, connects
}

// relaySummary is "room ← upstream" for each relay, sorted; "-" for none.
func (n *NodeStats) relaySummary() string {
	if len(n.RelayUpstreams) == 0 {
		return "-"
	}
	var parts []string
	for room, up := range n.RelayUpstreams {
		parts = append(parts, room+" <- "+up)
	}
	sort.Strings(parts)
	return fmt.Sprintf("%s (%d upstream sessions opened)", strings.Join(parts, ", "), n.RelayConnects)
}

// nodeLines is a cluster step's progress: a line per node ("" for one server).
func (s *Step) nodeLines() string {
	var b strings.Builder
	for _, n := range s.Nodes {
		fmt.Fprintf(&b, "\n  node %s: %d viewers", n.URL, n.Viewers)
		if c := n.WebRTC; c != nil {
			fmt.Fprintf(&b, " (%d alive), latency p50 %.0f p95 %.0f ms, frames %.1f%%", c.Alive, c.LatencyP50Ms, c.LatencyP95Ms, c.FramesPercent)
		}
		fmt.Fprintf(&b, ", server CPU %.1f%%, RSS %.1f MB, relays in %d out %d", n.ServerCPUPercent, mb(n.ServerRSSBytes), n.RelaysIn, n.RelaysOut)
	}
	return b.String()
}
