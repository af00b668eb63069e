package hls

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/internal/stats"
)

// requestKind is what an /hls/ request asked for, for the request counters.
type requestKind int

const (
	reqMultivariant     requestKind = iota
	reqPlaylist                     // a media playlist without _HLS_msn
	reqBlockingPlaylist             // a blocking reload (_HLS_msn)
	reqPart
	reqSegment
	reqInit
	numRequestKinds
)

var requestKindNames = [numRequestKinds]string{"multivariant", "playlist", "playlist_blocking", "part", "segment", "init"}

// streamStats are one Stream's counters, kept in atomics by the request handlers and the
// writer, read at scrape time (Server.Stats, Server.Collectors).
type streamStats struct {
	requests      [numRequestKinds]atomic.Uint64
	blockedNow    atomic.Int64  // requests waiting for a part right now (≈ LL-HLS players)
	blocked       atomic.Uint64 // requests that had to wait
	blockTimeouts atomic.Uint64 // of those, answered 503 when the wait ran out
	renders       atomic.Uint64 // media playlists rendered
	cacheHits     atomic.Uint64 // media playlist requests answered from the rendered copy
	// joinHolds: first playlists held for a fresh start (Stream.OnJoin); joinHoldTimeouts:
	// of those, answered when joinWait ran out.
	joinHolds, joinHoldTimeouts atomic.Uint64
	partLatency                 [2]stats.Latency
}

// StreamStats are a Stream's counters as Server.Stats reports them.
type StreamStats struct {
	Room     string
	Requests map[string]uint64 // by kind: multivariant, playlist, playlist_blocking, part, segment, init
	// BlockedNow are requests waiting for a part now (LL-HLS players hold about one each).
	BlockedNow             int64
	Blocked, BlockTimeouts uint64
	Renders, CacheHits     uint64
	// JoinHolds are first playlists held for a fresh start position (Stream.OnJoin);
	// JoinHoldTimeouts, of those, answered when the bound ran out.
	JoinHolds, JoinHoldTimeouts uint64
	// PartLatency is, per video and audio sample, its capture time (PROGRAM-DATE-TIME's
	// source: the capture-time SEI, else arrival) to the moment its part was published.
	PartLatency, AudioPartLatency stats.LatencySnapshot
}

func (st *streamStats) snapshot(room string) StreamStats {
	out := StreamStats{Room: room, Requests: make(map[string]uint64, numRequestKinds),
		BlockedNow: st.blockedNow.Load(), Blocked: st.blocked.Load(), BlockTimeouts: st.blockTimeouts.Load(),
		Renders: st.renders.Load(), CacheHits: st.cacheHits.Load(),
		JoinHolds: st.joinHolds.Load(), JoinHoldTimeouts: st.joinHoldTimeouts.Load(),
		PartLatency: st.partLatency[0].Snapshot(), AudioPartLatency: st.partLatency[1].Snapshot()}
	for k, name := range requestKindNames {
		out.Requests[name] = st.requests[k].Load()
	}
	return out
}

// notePartLatency counts the samples of a part published now (t.mu held).
func (t *Track) notePartLatency(captures []time.Time) {
	now, h := time.Now(), &t.s.stats.partLatency[boolIndex(t.audio)]
	for _, c := range captures {
		h.Observe(now.Sub(c))
	}
}

// Stats returns the counters of every served Stream, by room name.
func (sv *Server) Stats() []StreamStats {
	sv.mu.RLock()
	out := make([]StreamStats, 0, len(sv.rooms))
	for room, s := range sv.rooms {
		out = append(out, s.stats.snapshot(room))
	}
	sv.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out
}

// retiredLatency keeps the part latencies of removed streams, so the node's histogram
// never goes down.
type retiredLatency struct {
	mu  sync.Mutex
	sum [2]stats.LatencySnapshot
}

func (r *retiredLatency) add(s *Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.sum {
		r.sum[i].Add(s.stats.partLatency[i].Snapshot())
	}
}

func (r *retiredLatency) get() [2]stats.LatencySnapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sum
}

// Collectors returns the LL-HLS metrics (per room where labelled), read at scrape time.
func (sv *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{hlsCollector{sv}}
}

type hlsCollector struct{ sv *Server }

var (
	descRequests      = prometheus.NewDesc("glint_hls_requests_total", "LL-HLS requests by room and kind (multivariant, playlist, playlist_blocking, part, segment, init) since the room's stream started.", []string{"room", "kind"}, nil)
	descBlockedNow    = prometheus.NewDesc("glint_hls_blocked_requests", "Requests waiting for a part or segment now (blocking reloads and preload hints; an LL-HLS player holds about one).", []string{"room"}, nil)
	descBlocked       = prometheus.NewDesc("glint_hls_blocked_waits_total", "Requests that waited for a part or segment.", []string{"room"}, nil)
	descBlockTimeouts = prometheus.NewDesc("glint_hls_block_timeouts_total", "Waiting requests answered 503 because the part did not come in time.", []string{"room"}, nil)
	descRenders       = prometheus.NewDesc("glint_hls_playlist_renders_total", "Media playlists rendered (once per new part and variant).", []string{"room"}, nil)
	descCacheHits     = prometheus.NewDesc("glint_hls_playlist_cache_hits_total", "Media playlist requests answered from the copy rendered for the current part.", []string{"room"}, nil)
	descJoinHolds     = prometheus.NewDesc("glint_hls_join_holds_total", "New viewers' first media playlists held until their start position fell in a fresh independent part.", []string{"room"}, nil)
	descJoinTimeouts  = prometheus.NewDesc("glint_hls_join_hold_timeouts_total", "Held first playlists answered when the bound ran out (no fresh keyframe in time).", []string{"room"}, nil)
	descPartLatency   = prometheus.NewDesc("glint_hls_part_latency_seconds", "Per sample: capture time (capture-time SEI, else arrival) to its LL-HLS part being published on this node.", []string{"kind"}, nil)
	descHLSStreams    = prometheus.NewDesc("glint_hls_streams", "LL-HLS streams served (live or ended and lingering).", nil, nil)
)

func (c hlsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descBlockedNow, descBlocked, descBlockTimeouts, descRenders, descCacheHits, descJoinHolds, descJoinTimeouts, descPartLatency, descHLSStreams} {
		ch <- d
	}
}

func (c hlsCollector) Collect(ch chan<- prometheus.Metric) {
	all := c.sv.Stats()
	latency := c.sv.retired.get()
	for _, st := range all {
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{st.Room}, labels...)...)
		}
		for _, kind := range requestKindNames {
			counter(descRequests, st.Requests[kind], kind)
		}
		ch <- prometheus.MustNewConstMetric(descBlockedNow, prometheus.GaugeValue, float64(st.BlockedNow), st.Room)
		counter(descBlocked, st.Blocked)
		counter(descBlockTimeouts, st.BlockTimeouts)
		counter(descRenders, st.Renders)
		counter(descCacheHits, st.CacheHits)
		counter(descJoinHolds, st.JoinHolds)
		counter(descJoinTimeouts, st.JoinHoldTimeouts)
		latency[0].Add(st.PartLatency)
		latency[1].Add(st.AudioPartLatency)
	}
	ch <- latency[0].Metric(descPartLatency, "video")
	ch <- latency[1].Metric(descPartLatency, "audio")
	ch <- prometheus.MustNewConstMetric(descHLSStreams, prometheus.GaugeValue, float64(len(all)))
}
