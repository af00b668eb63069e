package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/sfu"
)

// A drain takes a node out of service without cutting its audience off: new WHIP/WHEP
// sessions are refused (503, Retry-After, Link rel="alternate" to the other nodes), every
// room's event stream gets {"kind":"drain","nodes":[...]} so that watch pages reconnect
// elsewhere, and the node's sessions end when the period is over (or as soon as no viewer is
// left).

// DrainInfo is the answer of POST /api/drain and the drain state.
type DrainInfo struct {
	Draining bool      `json:"draining"`
	Until    time.Time `json:"until,omitzero"` // when the node's sessions end
	Nodes    []string  `json:"nodes"`          // the other nodes' URLs, where viewers should go
}

// drainState is the server's drain (guarded by mu).
type drainState struct {
	mu    sync.Mutex
	info  DrainInfo
	ended chan struct{} // closed when the period is over and the sessions have ended
}

// Drain starts a drain of period (a drain already running keeps its end) and returns its
// state; done is closed once the node's sessions have ended.
func (s *Server) Drain(ctx context.Context, period time.Duration) (info DrainInfo, done <-chan struct{}) {
	nodes := s.otherNodes(ctx)
	s.drain.mu.Lock()
	if s.drain.info.Draining {
		info, done = s.drain.info, s.drain.ended
		s.drain.mu.Unlock()
		return info, done
	}
	ended := make(chan struct{})
	s.drain.info = DrainInfo{Draining: true, Until: time.Now().Add(period), Nodes: nodes}
	s.drain.ended = ended
	info = s.drain.info
	s.drain.mu.Unlock()
	s.log.Info("draining: refusing new sessions, telling viewers to move", "period", period, "nodes", nodes)
	s.opts.SFU.Announce(sfu.Event{Type: "drain", Data: map[string]any{"kind": "drain", "nodes": nodes, "until": info.Until}})
	go func() {
		defer close(ended)
		s.awaitViewersGone(period)
		n := s.opts.SFU.EndSessions()
		s.log.Info("drain over: sessions ended", "sessions", n)
	}()
	return info, ended
}

// awaitViewersGone returns when the period is over, the server shuts down, or no viewer is
// left on the node (they all moved: nothing to wait for).
func (s *Server) awaitViewersGone(period time.Duration) {
	end := time.NewTimer(period)
	defer end.Stop()
	check := time.NewTicker(250 * time.Millisecond)
	defer check.Stop()
	for s.opts.SFU.ViewerCount() > 0 {
		select {
		case <-end.C:
			return
		case <-s.opts.Context.Done():
			return
		case <-check.C:
		}
	}
}

// Draining reports the drain state.
func (s *Server) Draining() DrainInfo {
	s.drain.mu.Lock()
	defer s.drain.mu.Unlock()
	return s.drain.info
}

// otherNodes are the URLs of the cluster's other live nodes (none without a registry).
func (s *Server) otherNodes(ctx context.Context) []string {
	urls := []string{}
	if s.opts.Nodes == nil {
		return urls
	}
	nodes, err := s.opts.Nodes.Nodes(ctx)
	if err != nil {
		s.log.Warn("drain: node registry unavailable: viewers get no other node", "err", err.Error())
		return urls
	}
	for _, n := range nodes {
		if n.URL != "" && (s.opts.Directory == nil || n.ID != s.opts.Directory.Node()) {
			urls = append(urls, n.URL)
		}
	}
	return urls
}

// refuseDraining answers a new session's offer with 503 while the node drains (true).
func (s *Server) refuseDraining(w http.ResponseWriter, r *http.Request) bool {
	info := s.Draining()
	if !info.Draining {
		return false
	}
	retry := max(1, int(time.Until(info.Until).Seconds()+0.5))
	w.Header().Set("Retry-After", strconv.Itoa(min(retry, 5)))
	for _, u := range info.Nodes {
		w.Header().Add("Link", fmt.Sprintf(`<%s%s>; rel="alternate"`, u, r.URL.RequestURI()))
	}
	if len(info.Nodes) > 0 {
		w.Header().Set("Location", info.Nodes[0]+r.URL.RequestURI())
	}
	s.log.Info("request refused: node draining", "method", r.Method, "path", r.URL.Path)
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "this node is draining: use another node", "nodes": info.Nodes})
	return true
}

// DrainPeriod is how long POST /api/drain gives viewers unless its body says otherwise.
const DrainPeriod = 10 * time.Second

// handleDrain is POST /api/drain (admin): {"period":"10s"} optional.
func (s *Server) handleDrain(w http.ResponseWriter, r *http.Request) {
	period := s.opts.DrainPeriod
	if period <= 0 {
		period = DrainPeriod
	}
	var body struct {
		Period string `json:"period"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
			s.writeError(w, r, fail(http.StatusBadRequest, "body: %v (want {\"period\":\"10s\"} or nothing)", err))
			return
		}
	}
	if body.Period != "" {
		d, err := time.ParseDuration(body.Period)
		if err != nil || d < 0 || d > time.Hour {
			s.writeError(w, r, fail(http.StatusBadRequest, "period %q: a duration from 0s to 1h", body.Period))
			return
		}
		period = d
	}
	info, _ := s.Drain(r.Context(), period)
	writeJSON(w, http.StatusAccepted, info)
}

// NodeEntry is one node of GET /api/nodes.
type NodeEntry struct {
	cluster.NodeInfo
	Self bool `json:"self,omitempty"` // the node that answered
}

// handleNodes is GET /api/nodes: the cluster's live nodes with their URLs and load (an empty
// list without a cluster registry).
func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	out := []NodeEntry{}
	if s.opts.Nodes != nil {
		nodes, err := s.opts.Nodes.Nodes(r.Context())
		if err != nil {
			s.writeError(w, r, fmt.Errorf("node registry: %w", err))
			return
		}
		for _, n := range nodes {
			out = append(out, NodeEntry{NodeInfo: n, Self: s.opts.Directory != nil && n.ID == s.opts.Directory.Node()})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleSource is POST /api/rooms/{room}/source (admin): {"publisher":"primary|backup"}
// puts that publisher of a room with a backup on air.
func (s *Server) handleSource(w http.ResponseWriter, r *http.Request) {
	room, ok := s.roomOf(w, r)
	if !ok {
		return
	}
	var body struct {
		Publisher string `json:"publisher"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
		s.writeError(w, r, fail(http.StatusBadRequest, `body: %v (want {"publisher":"primary"} or {"publisher":"backup"})`, err))
		return
	}
	if err := s.opts.SFU.SetSource(room, body.Publisher); err != nil {
		s.writeError(w, r, err)
		return
	}
	info, _ := s.opts.SFU.Room(room)
	writeJSON(w, http.StatusOK, info)
}
