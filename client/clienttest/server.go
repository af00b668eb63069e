// Package clienttest is a throw-away WHIP/WHEP server for tests: an
// httptest server whose sessions are pion answerers on 127.0.0.1. It records
// every signaling request and counts the RTP it receives from publishers,
// and sends synthetic VP8 and Opus RTP to viewers. It is not Glint's server;
// it exists to test clients (package client, the demo, the load tester)
// without one.
package clienttest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/glint-video/glint/client"
	"github.com/glint-video/glint/media"
)

// Config changes how the server answers.
type Config struct {
	// RejectStatus, when non-zero, answers every offer with this status and
	// RejectBody instead of creating a session.
	RejectStatus int
	RejectBody   string
	// AbsoluteLocation makes the Location header an absolute URL; by default
	// it is a path relative to the server ("/whip/{room}/{id}").
	AbsoluteLocation bool
	// Token, when set, is the bearer token every request must carry (401
	// otherwise).
	Token string
}

// Request is one signaling request the server received.
type Request struct {
	Method        string
	Path          string
	ContentType   string
	Authorization string
}

// Server is a fake WHIP/WHEP server. Its zero value is not usable; call
// NewServer.
type Server struct {
	// URL is the base URL, e.g. "http://127.0.0.1:41234".
	URL string

	cfg    Config
	http   *httptest.Server
	ctx    context.Context // ends when the server closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // reader and writer goroutines of all sessions

	mu        sync.Mutex
	closed    bool
	nextID    int
	sessions  map[string]*webrtc.PeerConnection
	requests  []Request
	packets   map[string]int  // received RTP packets per MIME type (lower case)
	nalTypes  map[uint8]int   // H.264 NAL units seen, by type
	connected map[string]bool // session ids that reached connected
	videoIn   []publishedVideo
}

// NewServer starts a server that tb cleans up.
func NewServer(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		ctx:       ctx,
		cancel:    cancel,
		sessions:  map[string]*webrtc.PeerConnection{},
		packets:   map[string]int{},
		nalTypes:  map[uint8]int{},
		connected: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{proto}/{room}", s.handleOffer)
	mux.HandleFunc("DELETE /{proto}/{room}/{id}", s.handleDelete)
	s.http = httptest.NewServer(mux)
	s.URL = s.http.URL
	tb.Cleanup(s.Close)
	return s
}

// WHIPURL is the publish endpoint of room.
func (s *Server) WHIPURL(room string) string { return s.URL + "/whip/" + room }

// WHEPURL is the play endpoint of room.
func (s *Server) WHEPURL(room string) string { return s.URL + "/whep/" + room }

// Close ends every session, waits for their goroutines and stops the HTTP
// server. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	sessions := s.sessions
	s.sessions = map[string]*webrtc.PeerConnection{}
	s.mu.Unlock()

	s.http.Close()
	s.cancel()
	for _, pc := range sessions {
		_ = pc.GracefulClose()
	}
	s.wg.Wait()
}

// DropSessions closes every session's PeerConnection without being asked,
// as a server that stops or loses its state would; a DELETE for one of
// them afterwards gets 404.
func (s *Server) DropSessions() {
	s.mu.Lock()
	sessions := s.sessions
	s.sessions = map[string]*webrtc.PeerConnection{}
	s.mu.Unlock()
	for _, pc := range sessions {
		_ = pc.GracefulClose()
	}
}

// Requests returns the signaling requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Packets is the number of RTP packets received with the given MIME type
// (for example webrtc.MimeTypeH264), over all sessions.
func (s *Server) Packets(mimeType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.packets[strings.ToLower(mimeType)]
}

// H264KeyframeSeen reports whether an IDR slice (NAL type 5) or an SPS
// (type 7) arrived in any H.264 packet.
func (s *Server) H264KeyframeSeen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nalTypes[5] > 0 || s.nalTypes[7] > 0
}

// H264NALUnits is how many H.264 NAL units of the given type (5 IDR slice,
// 7 SPS, 8 PPS, ...) began in received packets, over all sessions.
func (s *Server) H264NALUnits(nalType uint8) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nalTypes[nalType]
}

// ConnectedSessions is how many sessions have reached the connected state.
func (s *Server) ConnectedSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.connected)
}

// Sessions is the number of sessions not yet deleted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Server) record(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method:        r.Method,
		Path:          r.URL.Path,
		ContentType:   r.Header.Get("Content-Type"),
		Authorization: r.Header.Get("Authorization"),
	})
}

func (s *Server) authorized(r *http.Request) bool {
	return s.cfg.Token == "" || r.Header.Get("Authorization") == "Bearer "+s.cfg.Token
}

func (s *Server) handleOffer(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	proto := r.PathValue("proto")
	switch {
	case proto != "whip" && proto != "whep":
		http.NotFound(w, r)
		return
	case !s.authorized(r):
		http.Error(w, `{"error":"missing or wrong token"}`, http.StatusUnauthorized)
		return
	case s.cfg.RejectStatus != 0:
		http.Error(w, s.cfg.RejectBody, s.cfg.RejectStatus)
		return
	case r.Header.Get("Content-Type") != "application/sdp":
		http.Error(w, `{"error":"want application/sdp"}`, http.StatusUnsupportedMediaType)
		return
	}
	offer, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || len(offer) == 0 {
		http.Error(w, `{"error":"empty offer"}`, http.StatusBadRequest)
		return
	}

	s.mu.Lock()
	s.nextID++
	id := fmt.Sprintf("s%d", s.nextID)
	s.mu.Unlock()

	answer, err := s.answer(id, proto, string(offer))
	if err != nil {
		http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusBadRequest)
		return
	}
	location := "/" + proto + "/" + r.PathValue("room") + "/" + id
	if s.cfg.AbsoluteLocation {
		location = s.URL + location
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	if !s.authorized(r) {
		http.Error(w, `{"error":"missing or wrong token"}`, http.StatusUnauthorized)
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	pc, ok := s.sessions[id]
	delete(s.sessions, id)
	s.mu.Unlock()
	if !ok {
		http.Error(w, `{"error":"no such session"}`, http.StatusNotFound)
		return
	}
	_ = pc.GracefulClose()
	w.WriteHeader(http.StatusOK)
}

// answer creates the session's PeerConnection and returns its SDP answer;
// on failure the session is dropped again.
func (s *Server) answer(id, proto, offer string) (string, error) {
	sdp, err := s.startSession(id, proto, offer)
	if err != nil {
		s.mu.Lock()
		pc := s.sessions[id]
		delete(s.sessions, id)
		s.mu.Unlock()
		if pc != nil {
			_ = pc.GracefulClose()
		}
	}
	return sdp, err
}

func (s *Server) startSession(id, proto, offer string) (string, error) {
	pc, err := newLoopbackPeerConnection()
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = pc.Close()
		return "", fmt.Errorf("server closed")
	}
	s.sessions[id] = pc
	s.mu.Unlock()

	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		if state == webrtc.PeerConnectionStateConnected {
			s.mu.Lock()
			s.connected[id] = true
			s.mu.Unlock()
		}
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s.addPublishedVideo(pc, track)
		s.goTracked(func() { s.countPackets(track) })
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("set remote description: %w", err)
	}
	if proto == "whep" {
		if err := s.addSyntheticTracks(pc); err != nil {
			return "", err
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("create answer: %w", err)
	}
	return client.GatherLocal(context.Background(), pc, answer)
}

// goTracked runs fn in a goroutine that Close waits for, unless closed.
func (s *Server) goTracked(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// countPackets reads a publisher's track until it ends.
func (s *Server) countPackets(track *webrtc.TrackRemote) {
	mime := strings.ToLower(track.Codec().MimeType)
	isH264 := mime == strings.ToLower(webrtc.MimeTypeH264)
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.packets[mime]++
		if isH264 {
			for _, t := range media.H264PayloadNALTypes(pkt.Payload) {
				s.nalTypes[t]++
			}
		}
		s.mu.Unlock()
	}
}
