// Package signaling owns Glint's HTTP signaling: WHIP (RFC 9725) publish and WHEP
// (draft-ietf-wish-whep) play endpoints with trickle ICE / ICE restart PATCH and DELETE,
// CORS for browsers, and the room API with Server-Sent Events. Who may call them is
// checked in front of it by auth.Authorizer.Protect; a WHEP session honours its grant's
// layer cap and ends at its expiry (grant.go). It admits sessions and event streams through
// the per-client counts of package limits.
package signaling

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/sfu"
)

// MaxBodyBytes bounds SDP offers and sdpfrag bodies.
const MaxBodyBytes = 64 << 10

// Media types of the protocol bodies.
const (
	typeSDP     = "application/sdp"
	typeSDPFrag = "application/trickle-ice-sdpfrag"
)

// Options configure the signaling server.
type Options struct {
	SFU        *sfu.SFU
	ICEServers []string // announced in Link rel="ice-server" headers
	CORSOrigin string
	Logger     *slog.Logger
	// Context ends long-lived responses (event streams) at shutdown.
	Context context.Context
	// Directory and Nodes, in a cluster, locate the node that owns a room: a WHIP publish of
	// a room owned by another node is redirected there (307). Nil Nodes: one node.
	Directory cluster.Directory
	Nodes     cluster.Registry
	// Admission limits sessions and event streams per client (zero: unlimited).
	Admission Admission
	// ClusterSecret, when set, is the bearer token of the other nodes' relays: a WHEP
	// request with it is a relay subscriber (every layer, not a viewer, no room token needed).
	ClusterSecret string
	// Relays brings rooms live on other nodes here before a WHEP session (package relay);
	// nil on a node alone.
	Relays Relays
	// DrainPeriod is how long POST /api/drain lets viewers move (0: DrainPeriod).
	DrainPeriod time.Duration
}

// Server serves the signaling endpoints.
type Server struct {
	opts  Options
	log   *slog.Logger
	drain drainState // drain.go
}

// New returns a signaling server.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CORSOrigin == "" {
		opts.CORSOrigin = "*"
	}
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	return &Server{opts: opts, log: opts.Logger}
}

// Register adds the endpoints to mux.
func (s *Server) Register(mux *http.ServeMux) {
	for _, ep := range []struct {
		prefix string
		role   sfu.Role
	}{{"/whip/", sfu.RolePublisher}, {"/whep/", sfu.RoleViewer}} {
		mux.Handle("POST "+ep.prefix+"{room}", s.cors(s.handleOffer(ep.role)))
		mux.Handle("OPTIONS "+ep.prefix+"{room}", s.cors(http.HandlerFunc(s.handleOptions)))
		mux.Handle("PATCH "+ep.prefix+"{room}/{session}", s.cors(s.handlePatch(ep.role)))
		mux.Handle("DELETE "+ep.prefix+"{room}/{session}", s.cors(s.handleDelete(ep.role)))
		mux.Handle("OPTIONS "+ep.prefix+"{room}/{session}", s.cors(http.HandlerFunc(s.handleOptions)))
	}
	mux.Handle("POST /whep/{room}/{session}/layer", s.cors(http.HandlerFunc(s.handleLayer)))
	mux.Handle("OPTIONS /whep/{room}/{session}/layer", s.cors(http.HandlerFunc(s.handleOptions)))
	mux.Handle("GET /api/rooms", s.cors(http.HandlerFunc(s.handleRooms)))
	mux.Handle("GET /api/rooms/{room}", s.cors(http.HandlerFunc(s.handleRoom)))
	mux.Handle("GET /api/rooms/{room}/events", s.cors(http.HandlerFunc(s.handleEvents)))
	mux.Handle("GET /api/sessions/{session}", s.cors(http.HandlerFunc(s.handleSession)))
	mux.Handle("GET /api/time", s.cors(http.HandlerFunc(s.handleTime)))
	mux.Handle("OPTIONS /api/", s.cors(http.HandlerFunc(s.handleOptions)))
	mux.Handle("POST /api/drain", s.cors(http.HandlerFunc(s.handleDrain)))
	mux.Handle("GET /api/nodes", s.cors(http.HandlerFunc(s.handleNodes)))
	mux.Handle("POST /api/rooms/{room}/source", s.cors(http.HandlerFunc(s.handleSource)))
}

func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", s.opts.CORSOrigin)
		h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		h.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch, Accept-Post")
		h.Set("Access-Control-Max-Age", "600")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Accept-Post", typeSDP)
	w.Header().Set("Accept-Patch", typeSDPFrag)
	s.setLinkHeaders(w)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setLinkHeaders(w http.ResponseWriter) {
	for _, u := range s.opts.ICEServers {
		w.Header().Add("Link", fmt.Sprintf(`<%s>; rel="ice-server"`, u))
	}
}

// bearerIs reports whether the request's bearer token is want (compared in constant time).
func bearerIs(r *http.Request, want string) bool {
	got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return found && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) == 1
}

// httpError is an error with the status it answers.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// writeError answers err as JSON with the status it maps to.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := statusOf(err), err.Error()
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="glint"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	if _, limited := limitStatus(err); status >= 500 && !limited {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		switch {
		case errors.Is(err, cluster.ErrUnavailable):
			msg = cluster.ErrUnavailable.Error() // the cause is in the log
			w.Header().Set("Retry-After", "2")
		case status == http.StatusInternalServerError:
			msg = "internal error" // a bug: its details stay in the log
		}
	} else {
		s.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "reason", msg)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func statusOf(err error) int {
	var he *httpError
	var sdpErr *sfu.SDPError
	var codecErr *sfu.CodecError
	var tooBig *http.MaxBytesError
	if status, ok := limitStatus(err); ok {
		return status
	}
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &sdpErr):
		return http.StatusBadRequest
	case errors.As(err, &codecErr):
		return http.StatusNotAcceptable
	case errors.Is(err, sfu.ErrRoomBusy):
		return http.StatusConflict
	case errors.Is(err, sfu.ErrNoPublisher):
		return http.StatusNotFound
	case errors.Is(err, sfu.ErrBadSource):
		return http.StatusBadRequest
	case errors.Is(err, sfu.ErrNoBackup):
		return http.StatusConflict
	case errors.Is(err, sfu.ErrClosed), errors.Is(err, cluster.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody checks the Content-Type and reads at most MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request, wantType string) (string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != wantType {
		return "", fail(http.StatusUnsupportedMediaType, "Content-Type must be %s, got %q", wantType, r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", fail(http.StatusRequestEntityTooLarge, "body over %d bytes", MaxBodyBytes)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return "", fail(http.StatusRequestTimeout, "body not received in time")
		}
		return "", fail(http.StatusBadRequest, "read body: %v", err)
	}
	return string(body), nil
}

// roomFrom validates the {room} path value.
func roomFrom(r *http.Request) (string, error) {
	room := r.PathValue("room")
	if !config.ValidRoomName(room) {
		return "", fail(http.StatusBadRequest, "invalid room name %.70q: 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit", room)
	}
	return room, nil
}

func stringReader(s string) io.Reader { return strings.NewReader(s) }
